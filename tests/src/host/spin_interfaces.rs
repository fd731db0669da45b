//! Host side of the Spin interfaces the components import: `fermyon:spin/key-value`,
//! `fermyon:spin/variables` and `wasi:keyvalue` store + atomics, backed by `SqliteKv`.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::state::HostState;

wasmtime::component::bindgen!({
    path: "wit",
    world: "fermyon:spin/host",
    with: {
        "fermyon:spin/key-value.store": OpenStore,
        "wasi:keyvalue/store.bucket": OpenBucket,
        "wasi:keyvalue/atomics.cas": CasHandle,
    },
});

use fermyon::spin::{key_value, variables};
use wasi::keyvalue::{atomics, store};

/// A store opened through `fermyon:spin/key-value`.
pub struct OpenStore {
    label: String,
}

/// A bucket opened through `wasi:keyvalue/store`.
pub struct OpenBucket {
    label: String,
}

trait Labelled: Send + 'static {
    fn label(&self) -> &str;
}

impl Labelled for OpenStore {
    fn label(&self) -> &str {
        &self.label
    }
}

impl Labelled for OpenBucket {
    fn label(&self) -> &str {
        &self.label
    }
}

/// A compare-and-swap in progress: the key and the value `current` returned.
pub struct CasHandle {
    label: String,
    key: String,
    seen: Option<Option<Vec<u8>>>,
}

pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    key_value::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    variables::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    store::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    atomics::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl HostState {
    fn allowed(&self, label: &str) -> bool {
        self.key_value_stores.iter().any(|s| s == label)
    }

    fn label_of<T: Labelled>(&self, res: &Resource<T>) -> Result<String, String> {
        self.table
            .get(res)
            .map(|s| s.label().to_string())
            .map_err(|e| e.to_string())
    }

    // The operations both key-value interfaces share, counted per request.

    fn read<T: Labelled>(
        &mut self,
        res: &Resource<T>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        let label = self.label_of(res)?;
        self.ops.reads += 1;
        self.kv.get(&label, key)
    }

    fn write<T: Labelled>(
        &mut self,
        res: &Resource<T>,
        key: &str,
        value: &[u8],
    ) -> Result<(), String> {
        let label = self.label_of(res)?;
        self.ops.writes += 1;
        self.kv.set(&label, key, value)
    }

    fn remove<T: Labelled>(&mut self, res: &Resource<T>, key: &str) -> Result<(), String> {
        let label = self.label_of(res)?;
        self.ops.writes += 1;
        self.kv.delete(&label, key)
    }

    fn list<T: Labelled>(&mut self, res: &Resource<T>) -> Result<Vec<String>, String> {
        let label = self.label_of(res)?;
        self.ops.key_listings += 1;
        self.kv.keys(&label)
    }
}

// ---------------------------------------------------------------- fermyon:spin/key-value

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, key_value::Error> {
        if !self.allowed(&label) {
            return Err(key_value::Error::AccessDenied);
        }
        self.table
            .push(OpenStore { label })
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }

    fn get(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        self.read(&s, &key).map_err(key_value::Error::Other)
    }

    fn set(
        &mut self,
        s: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        self.write(&s, &key, &value)
            .map_err(key_value::Error::Other)
    }

    fn delete(&mut self, s: Resource<OpenStore>, key: String) -> Result<(), key_value::Error> {
        self.remove(&s, &key).map_err(key_value::Error::Other)
    }

    fn exists(&mut self, s: Resource<OpenStore>, key: String) -> Result<bool, key_value::Error> {
        self.read(&s, &key)
            .map(|v| v.is_some())
            .map_err(key_value::Error::Other)
    }

    fn get_keys(&mut self, s: Resource<OpenStore>) -> Result<Vec<String>, key_value::Error> {
        self.list(&s).map_err(key_value::Error::Other)
    }

    fn drop(&mut self, s: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- fermyon:spin/variables

impl variables::Host for HostState {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name))
    }
}

// ---------------------------------------------------------------- wasi:keyvalue/store

impl store::Host for HostState {
    fn open(&mut self, identifier: String) -> Result<Resource<OpenBucket>, store::Error> {
        if !self.allowed(&identifier) {
            return Err(store::Error::AccessDenied);
        }
        self.table
            .push(OpenBucket { label: identifier })
            .map_err(|e| store::Error::Other(e.to_string()))
    }
}

impl store::HostBucket for HostState {
    fn get(
        &mut self,
        b: Resource<OpenBucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        self.read(&b, &key).map_err(store::Error::Other)
    }

    fn set(
        &mut self,
        b: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        self.write(&b, &key, &value).map_err(store::Error::Other)
    }

    fn delete(&mut self, b: Resource<OpenBucket>, key: String) -> Result<(), store::Error> {
        self.remove(&b, &key).map_err(store::Error::Other)
    }

    fn exists(&mut self, b: Resource<OpenBucket>, key: String) -> Result<bool, store::Error> {
        self.read(&b, &key)
            .map(|v| v.is_some())
            .map_err(store::Error::Other)
    }

    fn list_keys(
        &mut self,
        b: Resource<OpenBucket>,
        _cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        let keys = self.list(&b).map_err(store::Error::Other)?;
        Ok(store::KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, b: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- wasi:keyvalue/atomics

impl atomics::Host for HostState {
    fn increment(
        &mut self,
        b: Resource<OpenBucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        let label = self.label_of(&b).map_err(store::Error::Other)?;
        self.ops.writes += 1;
        self.kv
            .increment(&label, &key, delta)
            .map_err(store::Error::Other)
    }

    fn swap(&mut self, cas: Resource<CasHandle>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let handle = self
            .table
            .delete(cas)
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        // Like Spin: a swap without a prior `current` counts as one from an absent key.
        let expected = handle.seen.clone().flatten();
        // A pause between `current` and the swap widens the window other writers race in.
        if let Some(pause) = self.cas_pause {
            std::thread::sleep(pause);
        }
        self.ops.writes += 1;
        let swapped = self
            .kv
            .swap(&handle.label, &handle.key, expected.as_deref(), &value)
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e)))?;
        if swapped {
            return Ok(());
        }
        let retry = self
            .table
            .push(CasHandle {
                label: handle.label,
                key: handle.key,
                seen: None,
            })
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        Err(atomics::CasError::CasFailed(retry))
    }
}

impl atomics::HostCas for HostState {
    fn new(
        &mut self,
        b: Resource<OpenBucket>,
        key: String,
    ) -> Result<Resource<CasHandle>, store::Error> {
        let label = self.label_of(&b).map_err(store::Error::Other)?;
        self.table
            .push(CasHandle {
                label,
                key,
                seen: None,
            })
            .map_err(|e| store::Error::Other(e.to_string()))
    }

    fn current(&mut self, cas: Resource<CasHandle>) -> Result<Option<Vec<u8>>, store::Error> {
        let (label, key) = {
            let handle = self
                .table
                .get(&cas)
                .map_err(|e| store::Error::Other(e.to_string()))?;
            (handle.label.clone(), handle.key.clone())
        };
        self.ops.reads += 1;
        let value = self.kv.get(&label, &key).map_err(store::Error::Other)?;
        let handle = self
            .table
            .get_mut(&cas)
            .map_err(|e| store::Error::Other(e.to_string()))?;
        handle.seen = Some(value.clone());
        Ok(value)
    }

    fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
