//! Operation counts of one request, whatever the backend does underneath.

use super::{OpCounts, Store, StoreResult};

/// Counts the operations a request makes through the `Store` trait (a compare-and-swap is a
/// read, and a write when it succeeds), whatever the backend does underneath, so a request's
/// cost reads the same on every store.
pub struct CountingStore<'a> {
    inner: &'a dyn Store,
    reads: std::cell::Cell<u64>,
    writes: std::cell::Cell<u64>,
}

impl<'a> CountingStore<'a> {
    pub fn new(inner: &'a dyn Store) -> Self {
        Self {
            inner,
            reads: Default::default(),
            writes: Default::default(),
        }
    }

    pub fn op_counts(&self) -> OpCounts {
        OpCounts {
            reads: self.reads.get(),
            writes: self.writes.get(),
        }
    }

    fn read(&self) {
        self.reads.set(self.reads.get() + 1);
    }

    fn write(&self) {
        self.writes.set(self.writes.get() + 1);
    }
}

impl Store for CountingStore<'_> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read();
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.write();
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.write();
        self.inner.delete(key)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.write();
        self.inner.increment(key, delta)
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        self.read();
        self.inner.counter(key)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        self.read();
        let swapped = self.inner.compare_and_swap(key, expected, new)?;
        if swapped {
            self.write();
        }
        Ok(swapped)
    }
}
