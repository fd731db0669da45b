//! The scenarios under a real `spin up` of the app, once per store: spin.toml (Spin's
//! key-value store), spin.redis.toml (a real `redis-server`) and spin.cloud.toml (Spin's
//! SQLite database). Scenarios that move the clock stay with the other two runners.

use siyu_tests::scenarios;
use siyu_tests::spin_up::{shared, Flavour};

macro_rules! on_real_spin {
    ($($name:ident),* $(,)?) => {
        mod key_value {
            use super::*;
            $(
                #[test]
                fn $name() {
                    scenarios::$name(shared(Flavour::KeyValue));
                }
            )*
        }
        mod redis {
            use super::*;
            $(
                #[test]
                fn $name() {
                    scenarios::$name(shared(Flavour::Redis));
                }
            )*
        }
        mod sqlite_database {
            use super::*;
            $(
                #[test]
                fn $name() {
                    scenarios::$name(shared(Flavour::Sqlite));
                }
            )*
        }
    };
}

siyu_tests::each_scenario!(on_real_spin);
