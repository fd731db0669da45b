//! The key-value store behind the test host: one SQLite database shared by all components,
//! with Spin's semantics — one connection used one operation at a time, counters stored as
//! 8-byte little-endian integers, compare-and-swap by comparing the value read.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

pub struct SqliteKv {
    conn: Mutex<Connection>,
}

pub type KvResult<T> = Result<T, String>;

fn err(e: rusqlite::Error) -> String {
    e.to_string()
}

impl SqliteKv {
    /// A database file (as `spin up` keeps `.spin/sqlite_key_value.db`).
    pub fn open(path: &Path) -> KvResult<Self> {
        Self::from_connection(Connection::open(path).map_err(err)?)
    }

    pub fn in_memory() -> KvResult<Self> {
        Self::from_connection(Connection::open_in_memory().map_err(err)?)
    }

    fn from_connection(conn: Connection) -> KvResult<Self> {
        // Spin's own schema and SQLite's default journal and sync settings, so a write costs
        // here what it costs under `spin up`.
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                 store TEXT NOT NULL,
                 key   TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (store, key)
             );",
        )
        .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Turns SQLite's sync to disk off (bulk fills in benchmarks) or back to its default.
    pub fn set_synchronous(&self, on: bool) -> KvResult<()> {
        let mode = if on { "FULL" } else { "OFF" };
        self.conn()
            .execute_batch(&format!("PRAGMA synchronous = {mode};"))
            .map_err(err)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.conn()
            .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .map_err(err)?
            .query_row(params![store, key], |row| row.get(0))
            .optional()
            .map_err(err)
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )
            .map_err(err)?
            .execute(params![store, key, value])
            .map(drop)
            .map_err(err)
    }

    pub fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        self.conn()
            .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .map_err(err)?
            .execute(params![store, key])
            .map(drop)
            .map_err(err)
    }

    pub fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![store], |row| row.get(0))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Keys starting with `prefix` and their values, for tests that inspect what was stored.
    pub fn dump_prefix(&self, store: &str, prefix: &str) -> KvResult<Vec<(String, Vec<u8>)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, value FROM spin_key_value WHERE store = ?1 AND substr(key, 1, length(?2)) = ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![store, prefix], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    pub fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let current: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                params![store, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        let value = match current {
            None => 0,
            Some(bytes) => i64::from_le_bytes(
                bytes
                    .try_into()
                    .map_err(|_| format!("{key} does not hold a counter"))?,
            ),
        };
        let next = value
            .checked_add(delta)
            .ok_or_else(|| format!("{key} overflows"))?;
        tx.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            params![store, key, next.to_le_bytes().to_vec()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(next)
    }

    /// Spin 4.0.2's swap, defect included: from a value read (`Some`), a conditional
    /// `UPDATE … WHERE value = old`; from a key read as absent (`None`), an unconditional
    /// upsert that succeeds whatever was written meanwhile. True if a row was written.
    pub fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let conn = self.conn();
        let changed = match expected {
            Some(old) => conn
                .prepare_cached(
                    "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
                )
                .map_err(err)?
                .execute(params![store, key, old, new])
                .map_err(err)?,
            None => conn
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )
                .map_err(err)?
                .execute(params![store, key, new])
                .map_err(err)?,
        };
        Ok(changed == 1)
    }

    /// A shop's records as the app sees them: each register of the key-value flavour
    /// (see siyu-spin-glue's kv module) replaced by the version it names; version bytes no
    /// register names are listed under their own keys, so nothing stored is hidden.
    pub fn dump_logical(&self, store: &str, prefix: &str) -> KvResult<Vec<(String, Vec<u8>)>> {
        Ok(resolve_registers(self.dump_prefix(store, prefix)?))
    }
}

/// Resolves the key-value flavour's registers (a key holding a counter-shaped version
/// number, the bytes under `{key}\u{1f}{version:x}`) into the values they name.
pub fn resolve_registers(rows: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let versions: std::collections::HashMap<String, Vec<u8>> = rows
        .iter()
        .filter(|(k, _)| k.contains('\u{1f}'))
        .cloned()
        .collect();
    let mut named = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (key, value) in &rows {
        if key.contains('\u{1f}') {
            continue;
        }
        let version = siyu::store::decode_counter(key, value).ok();
        match version.map(|v| format!("{key}\u{1f}{v:x}")) {
            Some(version_key) if versions.contains_key(&version_key) => {
                out.push((key.clone(), versions[&version_key].clone()));
                named.insert(version_key);
            }
            // Version 0 is a register with no value; anything else is a counter.
            Some(_) if version == Some(0) && value.len() == 8 => {}
            _ => out.push((key.clone(), value.clone())),
        }
    }
    out.extend(versions.into_iter().filter(|(k, _)| !named.contains(k)));
    out
}

/// Spin's key-value operations over the same SQLite database (the defect included), for
/// benchmarks that fill the store from the host side with the code the components run:
/// `siyu::store::RegisterStore::new(SqliteSpinKv { .. })`.
pub struct SqliteSpinKv<'a> {
    pub kv: &'a SqliteKv,
    pub label: &'a str,
}

fn backend(e: String) -> siyu::store::StoreError {
    siyu::store::StoreError::Backend(e)
}

impl siyu::store::SpinKv for SqliteSpinKv<'_> {
    type Cas = (String, Option<Vec<u8>>);

    fn get(&self, key: &str) -> siyu::store::StoreResult<Option<Vec<u8>>> {
        self.kv.get(self.label, key).map_err(backend)
    }

    fn set(&self, key: &str, value: &[u8]) -> siyu::store::StoreResult<()> {
        self.kv.set(self.label, key, value).map_err(backend)
    }

    fn delete(&self, key: &str) -> siyu::store::StoreResult<()> {
        self.kv.delete(self.label, key).map_err(backend)
    }

    fn increment(&self, key: &str, delta: i64) -> siyu::store::StoreResult<i64> {
        self.kv.increment(self.label, key, delta).map_err(backend)
    }

    fn cas_open(&self, key: &str) -> siyu::store::StoreResult<(Self::Cas, Option<Vec<u8>>)> {
        let current = self.get(key)?;
        Ok(((key.to_string(), current.clone()), current))
    }

    fn cas_swap(
        &self,
        (key, seen): Self::Cas,
        value: &[u8],
    ) -> siyu::store::StoreResult<siyu::store::SwapOutcome> {
        let swapped = self
            .kv
            .swap(self.label, &key, seen.as_deref(), value)
            .map_err(backend)?;
        Ok(if swapped {
            siyu::store::SwapOutcome::Swapped
        } else {
            siyu::store::SwapOutcome::Failed
        })
    }
}
