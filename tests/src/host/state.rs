//! What one request's `Store` holds: WASI and wasi:http contexts, the shared key-value
//! database, the component's variables, and counts of the key-value operations it made.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::kv::SqliteKv;
use super::outbound::OutboundPolicy;

/// Key-value operations one request made; deterministic, unlike timings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvOps {
    pub reads: u64,
    pub writes: u64,
    /// Calls that list every key (`get-keys`, `list-keys`): Siyu must never make one.
    pub key_listings: u64,
}

pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) kv: Arc<SqliteKv>,
    pub(crate) variables: Arc<HashMap<String, String>>,
    pub(crate) key_value_stores: Arc<Vec<String>>,
    pub(crate) outbound: OutboundPolicy,
    pub(crate) ops: KvOps,
    /// Sleep between a compare-and-swap's `current` and its swap (see `WasmAppOptions`).
    pub(crate) cas_pause: Option<std::time::Duration>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
