//! Spin's SQLite database `default` (spin.cloud.toml): Fermyon Cloud's built-in database, a
//! file under `spin up`. Values and counters are rows of two tables; every conditional write
//! is one statement (`INSERT … ON CONFLICT DO NOTHING`, `UPDATE … WHERE value = ?`, counters
//! `… DO UPDATE SET n = n + ?`), answering with `RETURNING` whether it wrote — exact by
//! construction, with no multi-statement transaction.

use std::cell::OnceCell;

use siyu::store::{check_key, Store, StoreError, StoreResult};
use spin_sdk::sqlite::{Connection, QueryResult, Value};

use crate::backend;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS siyu_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID; \
     CREATE TABLE IF NOT EXISTS siyu_counter (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID";

/// How long one statement waits for another connection's write lock, and how often.
const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000";
const MAX_BUSY_RETRIES: u32 = 20;

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("busy")
}

#[derive(Default)]
pub struct SqliteStore {
    connection: OnceCell<Connection>,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn blob(bytes: &[u8]) -> Value {
    Value::Blob(bytes.to_vec())
}

impl SqliteStore {
    fn connection(&self) -> StoreResult<&Connection> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open_default().map_err(backend)?;
        Ok(self.connection.get_or_init(|| connection))
    }

    /// Runs one statement. On a database that has no tables yet, makes them and runs it
    /// again (creating them up front would cost every request a statement). When another
    /// connection holds the file's write lock (`spin up` opens one connection per request and
    /// sets no busy timeout), waits for it: the first time by giving this connection a busy
    /// timeout, then by retrying — a statement refused as busy changed nothing.
    fn execute(&self, statement: &str, params: &[Value]) -> StoreResult<QueryResult> {
        let connection = self.connection()?;
        let mut waited = false;
        for _ in 0..MAX_BUSY_RETRIES {
            match connection.execute(statement, params) {
                Ok(result) => return Ok(result),
                Err(e) => {
                    let message = format!("{e:?}");
                    if message.contains("no such table") {
                        for create in SCHEMA.split("; ") {
                            self.wait_if_busy(connection, create)?;
                        }
                    } else if is_busy(&message) {
                        if !waited {
                            // Not every database takes the pragma (a remote one may not).
                            let _ = connection.execute(BUSY_TIMEOUT, &[]);
                            waited = true;
                        } else {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                    } else {
                        return Err(backend(e));
                    }
                }
            }
        }
        Err(StoreError::Contention(
            "the SQLite database stays locked".into(),
        ))
    }

    fn wait_if_busy(&self, connection: &Connection, statement: &str) -> StoreResult<()> {
        for _ in 0..MAX_BUSY_RETRIES {
            match connection.execute(statement, &[]) {
                Ok(_) => return Ok(()),
                Err(e) if is_busy(&format!("{e:?}")) => {
                    let _ = connection.execute(BUSY_TIMEOUT, &[]);
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Contention(
            "the SQLite database stays locked".into(),
        ))
    }

    /// True if a `… RETURNING 1` statement wrote its row.
    fn wrote(&self, statement: &str, params: &[Value]) -> StoreResult<bool> {
        Ok(!self.execute(statement, params)?.rows.is_empty())
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        let result = self.execute("SELECT value FROM siyu_kv WHERE key = ?", &[text(key)])?;
        match result.rows.first().and_then(|row| row.values.first()) {
            None => Ok(None),
            Some(Value::Blob(bytes)) => Ok(Some(bytes.clone())),
            Some(_) => Err(StoreError::Corrupt(key.to_string())),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check_key(key)?;
        self.execute(
            "INSERT INTO siyu_kv (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[text(key), blob(value)],
        )
        .map(drop)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        self.execute("DELETE FROM siyu_kv WHERE key = ?", &[text(key)])?;
        self.execute("DELETE FROM siyu_counter WHERE key = ?", &[text(key)])
            .map(drop)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        check_key(key)?;
        let result = self.execute(
            "INSERT INTO siyu_counter (key, n) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET n = n + excluded.n RETURNING n",
            &[text(key), Value::Integer(delta)],
        )?;
        result
            .rows
            .first()
            .and_then(|row| row.get::<i64>(0))
            .ok_or_else(|| StoreError::Corrupt(key.to_string()))
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        check_key(key)?;
        let result = self.execute("SELECT n FROM siyu_counter WHERE key = ?", &[text(key)])?;
        match result.rows.first() {
            None => Ok(0),
            Some(row) => row
                .get::<i64>(0)
                .ok_or_else(|| StoreError::Corrupt(key.to_string())),
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        check_key(key)?;
        match expected {
            None => self.wrote(
                "INSERT INTO siyu_kv (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO NOTHING RETURNING 1",
                &[text(key), blob(new)],
            ),
            Some(old) => self.wrote(
                "UPDATE siyu_kv SET value = ? WHERE key = ? AND value = ? RETURNING 1",
                &[blob(new), text(key), blob(old)],
            ),
        }
    }
}
