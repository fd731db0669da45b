//! The scenarios under a real `spin up` of the app, once per store: spin.toml (Spin's
//! key-value store), spin.redis.toml (a real `redis-server`) and spin.cloud.toml (Spin's
//! SQLite database). Scenarios that move the clock stay with the other two runners.

use siyu_tests::client::Client;
use siyu_tests::scenarios;
use siyu_tests::spin_up::{shared, Flavour, RealClock};

/// Runs a scenario on the flavour's shared `spin up` (the Redis one skips without Redis).
fn on(flavour: Flavour, scenario: fn(&dyn Client)) {
    if let Some(app) = shared(flavour) {
        scenario(app);
    }
}

/// The same for a scenario whose outcome does not depend on the day it plays (the races, and
/// `each_clock_tolerant_scenario`): the real clock serves.
fn race_on(flavour: Flavour, race: impl FnOnce(&dyn Client)) {
    if let Some(app) = shared(flavour) {
        race(&RealClock(app));
    }
}

macro_rules! on_real_spin {
    ($($name:ident),* $(,)?) => {
        mod key_value {
            use super::*;
            $(
                #[test]
                fn $name() {
                    on(Flavour::KeyValue, scenarios::$name);
                }
            )*
        }
        mod redis {
            use super::*;
            $(
                #[test]
                fn $name() {
                    on(Flavour::Redis, scenarios::$name);
                }
            )*
        }
        mod sqlite_database {
            use super::*;
            $(
                #[test]
                fn $name() {
                    on(Flavour::Sqlite, scenarios::$name);
                }
            )*
        }
    };
}

siyu_tests::each_scenario!(on_real_spin);

/// The scenarios that set the test clock out of habit, on every store with the real clock.
macro_rules! on_real_spin_with_the_real_clock {
    ($($name:ident),* $(,)?) => {
        mod on_the_real_clock {
            use super::*;
            $(
                #[test]
                fn $name() {
                    for flavour in Flavour::ALL {
                        race_on(flavour, scenarios::$name);
                    }
                }
            )*
        }
    };
}

siyu_tests::each_clock_tolerant_scenario!(on_real_spin_with_the_real_clock);

/// The races, on each store under real Spin (their outcome does not depend on the day, so
/// the scenarios' habitual test clock gives way to the real one).
macro_rules! races_on_real_spin {
    ($($name:ident),* $(,)?) => {
        mod key_value_races {
            use super::*;
            $(
                #[test]
                fn $name() {
                    race_on(Flavour::KeyValue, scenarios::$name);
                }
            )*
        }
        mod redis_races {
            use super::*;
            $(
                #[test]
                fn $name() {
                    race_on(Flavour::Redis, scenarios::$name);
                }
            )*
        }
        mod sqlite_database_races {
            use super::*;
            $(
                #[test]
                fn $name() {
                    race_on(Flavour::Sqlite, scenarios::$name);
                }
            )*
        }

        /// Two `spin up` processes on one Redis, requests alternating between them: the
        /// scale-out setup (SpinKube replicas) keeps every race exact.
        #[test]
        fn the_races_stay_exact_across_two_processes_on_one_redis() {
            let Some(pair) = siyu_tests::spin_up::Alternating::two_on_one_redis() else {
                return;
            };
            let app = &RealClock(pair);
            $(scenarios::$name(app);)*
        }
    };
}

siyu_tests::each_race!(races_on_real_spin);

/// Two `spin up` processes on one Redis: what one writes, the other reads.
mod two_processes_on_one_redis {
    use super::*;
    use siyu_tests::spin_up::Alternating;

    #[test]
    fn one_process_reads_what_the_other_wrote() {
        let Some(pair) = Alternating::two_on_one_redis() else {
            return;
        };
        scenarios::a_signed_shopify_order_creates_the_customer(pair);
        scenarios::duplicate_deliveries_change_nothing_the_second_time(pair);
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
        siyu_tests::spin_up::build(flavour); // building needs no Redis
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
                    assert!(
                        missing_on(&imports, LACKING_ON_AKAMAI_FUNCTIONS).is_empty(),
                        "{what}"
                    );
                    assert!(
                        missing_on(&imports, LACKING_ON_FERMYON_CLOUD).is_empty(),
                        "{what}"
                    );
                }
                Flavour::Sqlite => {
                    assert!(
                        key_value_imports(&imports).is_empty(),
                        "{what}: {imports:?}"
                    );
                    assert!(
                        missing_on(&imports, LACKING_ON_FERMYON_CLOUD).is_empty(),
                        "{what}"
                    );
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

/// Deployments set up their own way (issue 21), each a `spin up` of its own: the shared ones
/// would let a dispatch of every shop reach the other tests' shops.
mod deployments {
    use super::*;
    use siyu_tests::redis_server::RedisServer;
    use siyu_tests::spin_up::{non_loopback_address, Launch, SpinUp};
    use std::sync::Arc;

    /// The flavour started as `launch` says (None: the Redis flavour without Redis).
    fn start(flavour: Flavour, launch: &Launch) -> Option<Result<SpinUp, String>> {
        let redis = match flavour {
            Flavour::Redis if !siyu_tests::redis_server::available() => return None,
            Flavour::Redis => Some(Arc::new(RedisServer::start())),
            _ => None,
        };
        Some(SpinUp::start_as(flavour, redis, launch))
    }

    /// spin.toml with its published development secrets, listening on every interface,
    /// reached from this machine and through its non-loopback address.
    #[test]
    fn published_development_secrets_serve_only_this_machine() {
        let Some(address) = non_loopback_address() else {
            eprintln!("skipped: this machine has no address but loopback to come from");
            return;
        };
        let launch = Launch {
            every_interface: true,
            without_secrets: true,
            ..Launch::default()
        };
        let app = start(Flavour::KeyValue, &launch).unwrap().unwrap();
        let remote = app.reached_at(&address.to_string());
        scenarios::published_development_secrets_serve_only_this_machine(&app, &remote);
        assert!(
            app.component_stderr()
                .contains("published development secrets"),
            "the log warns of the published secrets"
        );
    }

    /// The production manifests declare the secrets required, without defaults: Spin will
    /// not start them with any secret unset.
    #[test]
    fn production_manifests_refuse_to_start_without_their_secrets() {
        for flavour in [Flavour::Redis, Flavour::Sqlite] {
            let launch = Launch {
                without_secrets: true,
                ..Launch::default()
            };
            let Some(started) = start(flavour, &launch) else {
                continue;
            };
            let Err(refused) = started else {
                panic!("{} started without its secrets", flavour.manifest());
            };
            for secret in ["operator_token", "pii_pepper", "scheduler_token"] {
                assert!(refused.contains(secret), "{refused}");
            }
        }
    }

    /// As the production manifests are by default, behind one proxy setting X-Forwarded-For.
    fn hardened(flavour: Flavour) {
        let launch = Launch {
            variables: vec![
                ("allow_private_delivery", "false".into()),
                ("trusted_client_header", "x-forwarded-for".into()),
                ("trusted_proxy_hops", "1".into()),
            ],
            ..Launch::default()
        };
        let Some(app) = start(flavour, &launch) else {
            return;
        };
        let app = app.unwrap();
        scenarios::private_delivery_urls_are_refused_where_not_allowed(&app);
        scenarios::behind_a_trusted_proxy_each_shopper_has_their_own_bucket(&app);
    }

    /// Each on an instance of its own: a dispatch of every shop reaches every shop it holds.
    fn dispatch_isolation(flavour: Flavour) {
        for scenario in [
            scenarios::one_shops_broken_receiver_does_not_hold_up_the_others,
            scenarios::a_slow_receiver_takes_only_its_share_of_a_dispatch,
        ] {
            let Some(app) = start(flavour, &Launch::default()) else {
                return;
            };
            scenario(&app.unwrap());
        }
    }

    #[test]
    fn hardened_key_value() {
        hardened(Flavour::KeyValue);
    }

    #[test]
    fn hardened_redis() {
        hardened(Flavour::Redis);
    }

    #[test]
    fn hardened_cloud() {
        hardened(Flavour::Sqlite);
    }

    #[test]
    fn dispatch_isolation_key_value() {
        dispatch_isolation(Flavour::KeyValue);
    }

    #[test]
    fn dispatch_isolation_redis() {
        dispatch_isolation(Flavour::Redis);
    }

    #[test]
    fn dispatch_isolation_cloud() {
        dispatch_isolation(Flavour::Sqlite);
    }

    /// The scheduler's scenarios, each on an instance of its own: its call reaches every
    /// shop of the store.
    fn scheduler(flavour: Flavour) {
        for scenario in [
            scenarios::one_scheduler_call_runs_every_shops_due_work,
            scenarios::a_backlog_larger_than_one_call_goes_out_over_calls_without_starving_others,
            scenarios::two_scheduler_calls_at_once_never_do_the_same_work_twice,
        ] {
            let Some(app) = start(flavour, &Launch::default()) else {
                return;
            };
            scenario(&app.unwrap());
        }
    }

    #[test]
    fn scheduler_key_value() {
        scheduler(Flavour::KeyValue);
    }

    #[test]
    fn scheduler_redis() {
        scheduler(Flavour::Redis);
    }

    #[test]
    fn scheduler_cloud() {
        scheduler(Flavour::Sqlite);
    }

    /// "I ran `spin build --up` and nothing else": ordinary requests deliver a due reminder
    /// and run the tagging pass, with no scheduler calling. spin.toml as it ships (its
    /// `self_schedule` default); the other stores with the variable turned on.
    fn schedules_itself(flavour: Flavour) {
        let mut launch = Launch {
            self_scheduling: true,
            ..Launch::default()
        };
        if flavour != Flavour::KeyValue {
            launch.variables.push(("self_schedule", "true".into()));
        }
        let Some(app) = start(flavour, &launch) else {
            return;
        };
        let app = app.unwrap();
        scenarios::a_due_reminder_goes_out_with_no_scheduler_calling(&app);
    }

    #[test]
    fn schedules_itself_key_value() {
        schedules_itself(Flavour::KeyValue);
    }

    #[test]
    fn schedules_itself_redis() {
        schedules_itself(Flavour::Redis);
    }

    #[test]
    fn schedules_itself_cloud() {
        schedules_itself(Flavour::Sqlite);
    }

    /// deploy/scheduler-cronjob.yaml's container command, as Kubernetes runs it (the token
    /// filled in from the Secret, the Service's address replaced by this instance's), runs
    /// every shop's jobs: the set-up README gives for SpinKube works as written.
    #[test]
    fn the_spinkube_cronjob_runs_the_jobs() {
        let text = std::fs::read_to_string(
            siyu_tests::routes::workspace_root().join("deploy/scheduler-cronjob.yaml"),
        )
        .expect("deploy/scheduler-cronjob.yaml");
        assert!(text.contains("schedule: \"* * * * *\""), "every minute");
        let args_line = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("args:"))
            .expect("the container's args");
        let args: Vec<String> =
            serde_json::from_str(args_line.trim()).expect("args as a flow list");
        let app = start(Flavour::KeyValue, &Launch::default())
            .unwrap()
            .unwrap();
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                a.replace("$(SCHEDULER_TOKEN)", siyu_tests::app::SCHEDULER_TOKEN)
                    .replace("http://siyu/", &format!("{}/", app.base))
            })
            .collect();
        let out = std::process::Command::new("curl")
            .args(&args)
            .output()
            .expect("curl runs (apt install curl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["caught_up"], true, "{report}");
        // What an operator finds in the log: the call's line, and one line per job.
        let logs = app.component_stderr();
        for wanted in [
            "\"component\":\"jobs\"",
            "\"route\":\"/api/jobs/run\"",
            "\"request_id\":",
            "\"job\":\"reminders\"",
            "\"job\":\"tagging\"",
            "\"scheduler\":\"scheduler\"",
        ] {
            assert!(logs.contains(wanted), "{wanted} not in the log");
        }
        assert!(
            !logs.contains(siyu_tests::app::SCHEDULER_TOKEN),
            "a token in the log"
        );
        // With a wrong token the Job fails, and says why.
        let wrong: Vec<String> = args
            .iter()
            .map(|a| a.replace(siyu_tests::app::SCHEDULER_TOKEN, "wrong"))
            .collect();
        let out = std::process::Command::new("curl")
            .args(&wrong)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("unauthorized"));
    }
}
