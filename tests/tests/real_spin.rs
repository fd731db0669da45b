//! The scenarios under a real `spin up` of the app, once per store: spin.toml (Spin's
//! key-value store), spin.redis.toml (a real `redis-server`) and spin.cloud.toml (Spin's
//! SQLite database). Scenarios that move the clock stay with the other two runners.

use siyu_tests::scenarios;
use siyu_tests::spin_up::{shared, Flavour, RealClock};

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

/// The races, on each store under real Spin (their outcome does not depend on the day, so
/// the scenarios' habitual test clock gives way to the real one).
macro_rules! races_on {
    ($module:ident, $flavour:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn two_hundred_concurrent_orders_for_one_new_customer_are_all_counted() {
                scenarios::concurrent_orders_for_one_customer_are_all_counted(
                    shared($flavour),
                    200,
                );
            }

            #[test]
            fn five_hundred_concurrent_issues_on_a_quota_of_a_hundred_issue_a_hundred() {
                scenarios::concurrent_issues_never_pass_the_quota(
                    &RealClock(shared($flavour)),
                    500,
                    100,
                );
            }

            #[test]
            fn one_customers_limit_and_an_idempotency_key_raced_twenty_times_hold() {
                scenarios::concurrent_issues_for_one_customer_keep_the_limit(
                    &RealClock(shared($flavour)),
                    50,
                );
            }

            #[test]
            fn two_hundred_concurrent_scans_are_all_counted() {
                scenarios::concurrent_scans_are_all_counted(shared($flavour), 200);
            }

            #[test]
            fn a_hundred_concurrent_tag_changes_on_one_customer_are_all_kept() {
                scenarios::concurrent_tag_changes_on_one_customer_are_all_kept(
                    &RealClock(shared($flavour)),
                    100,
                );
            }
        }
    };
}

races_on!(key_value_races, Flavour::KeyValue);
races_on!(redis_races, Flavour::Redis);
races_on!(sqlite_database_races, Flavour::Sqlite);

/// Two `spin up` processes on one Redis, requests alternating between them: the scale-out
/// setup (SpinKube replicas) keeps every race exact.
mod two_processes_on_one_redis {
    use super::*;
    use siyu_tests::spin_up::Alternating;

    #[test]
    fn the_races_stay_exact_across_processes() {
        let app = &RealClock(Alternating::two_on_one_redis());
        scenarios::concurrent_orders_for_one_customer_are_all_counted(app, 200);
        scenarios::concurrent_issues_never_pass_the_quota(app, 500, 100);
        scenarios::concurrent_issues_for_one_customer_keep_the_limit(app, 50);
        scenarios::concurrent_scans_are_all_counted(app, 200);
    }

    #[test]
    fn one_process_reads_what_the_other_wrote() {
        scenarios::a_signed_shopify_order_creates_the_customer(Alternating::two_on_one_redis());
        scenarios::duplicate_deliveries_change_nothing_the_second_time(
            Alternating::two_on_one_redis(),
        );
    }
}

/// What each flavour's components import, against what each host provides: the Redis and
/// SQLite-database flavours import no key-value interface at all; the SQLite-database flavour
/// loads on Fermyon Cloud, the Redis flavour on Fermyon Cloud and Akamai Functions.
#[test]
fn each_flavour_imports_only_what_its_hosts_provide() {
    use siyu_tests::host::componentize::*;
    use siyu_tests::routes::{workspace_root, Manifest};
    for flavour in Flavour::ALL {
        siyu_tests::spin_up::build(flavour);
        let manifest = Manifest::load_file(flavour.manifest());
        let mut shared_imports: Option<Vec<String>> = None;
        for component in &manifest.components {
            let module = std::fs::read(workspace_root().join(&component.source)).unwrap();
            let mut imports = imports(&componentize(&module).unwrap()).unwrap();
            imports.retain(|i| !i.starts_with("wasi:cli") && !i.starts_with("wasi:io"));
            imports.sort();
            let what = format!("{} in {}", component.name, flavour.manifest());
            assert!(beyond_spin3(&imports).is_empty(), "{what}: {imports:?}");
            match flavour {
                Flavour::KeyValue => {}
                Flavour::Redis => {
                    assert!(
                        key_value_imports(&imports).is_empty(),
                        "{what}: {imports:?}"
                    );
                    assert!(missing_on_akamai_functions(&imports).is_empty(), "{what}");
                    assert!(missing_on_fermyon_cloud(&imports).is_empty(), "{what}");
                }
                Flavour::Sqlite => {
                    assert!(
                        key_value_imports(&imports).is_empty(),
                        "{what}: {imports:?}"
                    );
                    assert!(missing_on_fermyon_cloud(&imports).is_empty(), "{what}");
                }
            }
            if component.name == "ingest" {
                shared_imports = Some(imports);
            }
        }
        // Printed for the record (`cargo test … -- --nocapture`).
        println!(
            "{}: ingest imports {:?}",
            flavour.manifest(),
            shared_imports.unwrap_or_default()
        );
    }
}
