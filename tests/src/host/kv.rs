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

    /// Writes `new` if the key still holds `expected` (None: absent). True if written.
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
                     ON CONFLICT (store, key) DO NOTHING",
                )
                .map_err(err)?
                .execute(params![store, key, new])
                .map_err(err)?,
        };
        Ok(changed == 1)
    }
}

/// Siyu's storage trait over the same SQLite database, for benchmarks that fill the store
/// quickly from the host side with the same code the components run.
pub struct SqliteStore<'a> {
    pub kv: &'a SqliteKv,
    pub label: &'a str,
}

fn backend(e: String) -> siyu::store::StoreError {
    siyu::store::StoreError::Backend(e)
}

impl siyu::store::Store for SqliteStore<'_> {
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

    fn counter(&self, key: &str) -> siyu::store::StoreResult<i64> {
        match self.kv.get(self.label, key).map_err(backend)? {
            None => Ok(0),
            Some(bytes) => siyu::store::decode_counter(key, &bytes),
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> siyu::store::StoreResult<bool> {
        self.kv
            .swap(self.label, key, expected, new)
            .map_err(backend)
    }
}
