//! Redis or Valkey through Spin's outbound Redis (spin.redis.toml): the production and
//! scale-out store. Every operation names one key (so Redis Cluster works); a
//! compare-and-swap is one server-side script or `SET … NX`, counters are `INCRBY`. No
//! key-value import at all, so the same component loads on every Spin host.

use std::cell::OnceCell;

use siyu::store::{check_key, counter_or_zero, Store, StoreError, StoreResult};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::backend;

/// Swaps KEYS[1] from ARGV[1] to ARGV[2] if it still holds ARGV[1]; 1 if written.
const SWAP_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

pub struct RedisStore {
    address: Option<String>,
    connection: OnceCell<Connection>,
}

impl RedisStore {
    /// `address`: the `redis_url` variable (`redis://host:port`).
    pub fn new(address: Option<String>) -> Self {
        Self {
            address,
            connection: OnceCell::new(),
        }
    }

    fn connection(&self) -> StoreResult<&Connection> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let address = self
            .address
            .as_deref()
            .ok_or_else(|| StoreError::Backend("the redis_url variable is not set".into()))?;
        let connection = Connection::open(address).map_err(backend)?;
        Ok(self.connection.get_or_init(|| connection))
    }

    fn execute(&self, command: &str, args: &[RedisParameter]) -> StoreResult<Vec<RedisResult>> {
        self.connection()?.execute(command, args).map_err(backend)
    }
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

fn unexpected(command: &str, results: &[RedisResult]) -> StoreError {
    StoreError::Backend(format!("unexpected answer to {command}: {results:?}"))
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        self.connection()?.get(key).map_err(backend)
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check_key(key)?;
        self.connection()?.set(key, value).map_err(backend)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        self.connection()?
            .del(&[key.to_string()])
            .map(drop)
            .map_err(backend)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        check_key(key)?;
        let results = self.execute(
            "INCRBY",
            &[binary(key.as_bytes()), RedisParameter::Int64(delta)],
        )?;
        match results.as_slice() {
            [RedisResult::Int64(n)] => Ok(*n),
            _ => Err(unexpected("INCRBY", &results)),
        }
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        counter_or_zero(key, self.get(key)?)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        check_key(key)?;
        match expected {
            None => {
                let results =
                    self.execute("SET", &[binary(key.as_bytes()), binary(new), binary(b"NX")])?;
                match results.as_slice() {
                    [RedisResult::Status(ok)] if ok == "OK" => Ok(true),
                    [RedisResult::Nil] | [] => Ok(false),
                    _ => Err(unexpected("SET NX", &results)),
                }
            }
            Some(old) => {
                let results = self.execute(
                    "EVAL",
                    &[
                        binary(SWAP_SCRIPT.as_bytes()),
                        RedisParameter::Int64(1),
                        binary(key.as_bytes()),
                        binary(old),
                        binary(new),
                    ],
                )?;
                match results.as_slice() {
                    [RedisResult::Int64(1)] => Ok(true),
                    [RedisResult::Int64(0)] => Ok(false),
                    _ => Err(unexpected("EVAL", &results)),
                }
            }
        }
    }
}
