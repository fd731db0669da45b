//! One conformance suite for every store behind `siyu::store::Store`: the in-memory store and
//! `RegisterStore` over Spin's (defective) SQLite semantics in-process, and each flavour's
//! store inside a real `spin up`, driven through the `fixture-store-probe` component.

use std::sync::atomic::{AtomicU32, Ordering};

use siyu::store::Store;

/// The `Store` operations, wherever the store runs. Panics on a backend error.
pub trait StoreUnderTest: Sync {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn set(&self, key: &str, value: &[u8]);
    fn delete(&self, key: &str);
    fn increment(&self, key: &str, delta: i64) -> i64;
    fn counter(&self, key: &str) -> i64;
    /// A compare-and-swap; None when the store could not tell whether it was applied (it
    /// answered contention).
    fn try_cas(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Option<bool>;

    /// A compare-and-swap where nothing races it, so its outcome is known.
    fn cas(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> bool {
        self.try_cas(key, expected, new)
            .expect("an uncontended swap has a known outcome")
    }
}

/// A store in this process.
pub struct InProcess<S>(pub S);

impl<S: Store + Sync> StoreUnderTest for InProcess<S> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key).unwrap()
    }
    fn set(&self, key: &str, value: &[u8]) {
        self.0.set(key, value).unwrap()
    }
    fn delete(&self, key: &str) {
        self.0.delete(key).unwrap()
    }
    fn increment(&self, key: &str, delta: i64) -> i64 {
        self.0.increment(key, delta).unwrap()
    }
    fn counter(&self, key: &str) -> i64 {
        self.0.counter(key).unwrap()
    }
    fn try_cas(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Option<bool> {
        match self.0.compare_and_swap(key, expected, new) {
            Ok(swapped) => Some(swapped),
            Err(siyu::store::StoreError::Contention(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A flavour's store inside `spin up`, through the probe component at `/_store/…`.
pub struct Probe<'a> {
    pub base: String,
    pub agent: &'a ureq::Agent,
}

impl Probe<'_> {
    fn call(&self, method: &str, op: &str, query: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (status, body) = self.send(method, op, query, body);
        assert!(
            status < 500,
            "probe {op}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        (status, body)
    }

    fn send(&self, method: &str, op: &str, query: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let url = format!("{}/_store/{op}?{query}", self.base);
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(body.to_vec())
            .unwrap();
        let response = self.agent.run(request).expect("the probe answers");
        let status = response.status().as_u16();
        let body = response.into_body().read_to_vec().unwrap();
        (status, body)
    }

    fn key(key: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("key", key)
            .finish()
    }

    fn number(body: Vec<u8>) -> i64 {
        String::from_utf8(body).unwrap().parse().unwrap()
    }
}

impl StoreUnderTest for Probe<'_> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.call("GET", "get", &Self::key(key), b"") {
            (200, body) => Some(body),
            _ => None,
        }
    }
    fn set(&self, key: &str, value: &[u8]) {
        self.call("POST", "set", &Self::key(key), value);
    }
    fn delete(&self, key: &str) {
        self.call("POST", "delete", &Self::key(key), b"");
    }
    fn increment(&self, key: &str, delta: i64) -> i64 {
        let query = format!("{}&delta={delta}", Self::key(key));
        Self::number(self.call("POST", "increment", &query, b"").1)
    }
    fn counter(&self, key: &str) -> i64 {
        Self::number(self.call("GET", "counter", &Self::key(key), b"").1)
    }
    fn try_cas(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Option<bool> {
        let mut query = Self::key(key);
        if let Some(expected) = expected {
            query.push_str(&format!("&expected={}", hex::encode(expected)));
        }
        match self.send("POST", "cas", &query, new) {
            (503, _) => None,
            (status, body) => {
                assert!(status < 500, "probe cas: {status}");
                Some(body == b"true")
            }
        }
    }
}

/// The suite. `prefix` keeps runs on one store apart.
pub fn conforms(store: &dyn StoreUnderTest, prefix: &str) {
    let key = |name: &str| format!("{prefix}/{name}");

    // get / set / delete
    assert_eq!(store.get(&key("a")), None);
    store.set(&key("a"), b"one");
    assert_eq!(store.get(&key("a")).as_deref(), Some(&b"one"[..]));
    store.set(&key("a"), b"two");
    assert_eq!(store.get(&key("a")).as_deref(), Some(&b"two"[..]));
    store.delete(&key("a"));
    assert_eq!(store.get(&key("a")), None);
    store.delete(&key("never-there"));

    // increment / counter
    assert_eq!(store.counter(&key("n")), 0);
    assert_eq!(store.increment(&key("n"), 5), 5);
    assert_eq!(store.increment(&key("n"), -2), 3);
    assert_eq!(store.counter(&key("n")), 3);

    // compare-and-swap from absent and from present
    assert!(store.cas(&key("c"), None, b"first"));
    assert!(
        !store.cas(&key("c"), None, b"second"),
        "a swap from absent on a present key"
    );
    assert!(!store.cas(&key("c"), Some(b"other"), b"second"));
    assert!(store.cas(&key("c"), Some(b"first"), b"second"));
    assert_eq!(store.get(&key("c")).as_deref(), Some(&b"second"[..]));
    store.delete(&key("c"));
    assert!(
        store.cas(&key("c"), None, b"again"),
        "a deleted key is absent again"
    );

    // 100 concurrent creators of one key: exactly one wins, and its value stays. A creator
    // the store could not answer (contention) may be the one.
    let winners = AtomicU32::new(0);
    let won_with = std::sync::Mutex::new(Vec::new());
    let unknown = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for i in 0..100u32 {
            let (winners, won_with, unknown) = (&winners, &won_with, &unknown);
            s.spawn(move || {
                let value = format!("creator {i}").into_bytes();
                match store.try_cas(&key("race"), None, &value) {
                    Some(true) => {
                        winners.fetch_add(1, Ordering::Relaxed);
                        won_with.lock().unwrap().push(value);
                    }
                    Some(false) => {}
                    None => unknown.lock().unwrap().push(value),
                }
            });
        }
    });
    let (winners, unknown) = (winners.into_inner(), unknown.into_inner().unwrap());
    let kept = store.get(&key("race"));
    assert!(
        winners <= 1,
        "concurrent creators of one key: {winners} won"
    );
    match won_with.into_inner().unwrap().pop() {
        Some(value) => assert_eq!(kept, Some(value)),
        None => assert!(kept.is_some_and(|v| unknown.contains(&v))),
    }

    // 100 concurrent increments: exact.
    std::thread::scope(|s| {
        for _ in 0..100 {
            s.spawn(|| store.increment(&key("hits"), 1));
        }
    });
    assert_eq!(store.counter(&key("hits")), 100);

    // 50 concurrent read-modify-writes by compare-and-swap, each appending its token: none
    // lost, none applied twice. A swap the store could not answer is checked by reading.
    std::thread::scope(|s| {
        for writer in 0..50u32 {
            s.spawn(move || loop {
                let token = format!("w{writer}");
                let current = store.get(&key("tokens"));
                let mut next = current.clone().unwrap_or_default();
                next.extend_from_slice(format!("{token};").as_bytes());
                let landed = match store.try_cas(&key("tokens"), current.as_deref(), &next) {
                    Some(swapped) => swapped,
                    None => store.get(&key("tokens")).is_some_and(|v| {
                        String::from_utf8(v)
                            .unwrap()
                            .split_terminator(';')
                            .any(|t| t == token)
                    }),
                };
                if landed {
                    break;
                }
            });
        }
    });
    let tokens = String::from_utf8(store.get(&key("tokens")).unwrap()).unwrap();
    let mut written: Vec<&str> = tokens.split_terminator(';').collect();
    let count = written.len();
    written.sort();
    written.dedup();
    assert_eq!(
        (count, written.len()),
        (50, 50),
        "every writer once: {tokens}"
    );
}
