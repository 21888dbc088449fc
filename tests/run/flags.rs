//! Rates from a feature-flag service through the real OpenFeature SDK (`open-feature`), with
//! darklaunch's in-memory provider: a changed flag changes the rate within one poll interval;
//! the kill flag stops new candidates and serving; a failing, missing, panicking or hanging
//! flag keeps the last good value and is reported once; bad values are refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use darklaunch::flags::{FlagRates, FlagValue, InMemoryFlags};
use darklaunch::{CallbackError, Experiment, Operation, Sampler, SamplerHandle, ServeShare};
use open_feature::OpenFeature;

const INTERVAL: Duration = Duration::from_millis(100);

struct Setup {
    flags: InMemoryFlags,
    experiment: Experiment<u64>,
    sampling: SamplerHandle,
    share: ServeShare,
    errors: Arc<Mutex<Vec<String>>>,
    rates: FlagRates<u64, std::convert::Infallible>,
}

/// An experiment with a runtime sampler and a serving share, fed by three flags of a provider
/// registered under `name`.
async fn setup(name: &str) -> Setup {
    let flags = InMemoryFlags::new();
    flags.set("sample", FlagValue::Float(5.0));
    flags.set("serve", FlagValue::Float(0.0));
    flags.set("kill", FlagValue::Bool(false));
    let client = {
        let mut api = OpenFeature::singleton_mut().await;
        api.set_named_provider(name, flags.clone()).await;
        api.create_named_client(name)
    };
    let (sampler, sampling) = Sampler::runtime_keyed(0.0);
    let share = ServeShare::new(0.0);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let experiment: Experiment<u64> = Experiment::builder(name)
        .sampler(sampler)
        .serve(share.clone())
        .on_error(move |error: &CallbackError| {
            assert_eq!(error.operation, Operation::Flags, "{error:?}");
            seen.lock().unwrap().push(error.message.clone());
        })
        .build()
        .unwrap();
    let rates = FlagRates::new(client, &experiment)
        .sampling_percent("sample", sampling.clone())
        .serving_share("serve", share.clone())
        .kill_switch("kill", sampling.clone())
        .poll_interval(INTERVAL)
        .evaluation_timeout(Duration::from_millis(50));
    Setup {
        flags,
        experiment,
        sampling,
        share,
        errors,
        rates,
    }
}

/// Runs 10,000 keyed calls; returns (sampled, served) among them.
fn traffic(experiment: &Experiment<u64>) -> (u64, u64) {
    let before = experiment.stats();
    for user in 0..10_000u64 {
        experiment
            .trial()
            .key(user)
            .control(|| 1)
            .candidate("candidate", || 1)
            .run();
    }
    let after = experiment.stats();
    (after.sampled - before.sampled, after.served - before.served)
}

#[tokio::test(start_paused = true)]
async fn a_changed_flag_changes_the_rate_within_one_poll_interval() {
    let Setup {
        flags,
        experiment,
        sampling,
        share,
        rates,
        errors,
    } = setup("flags-rate").await;
    let poller = rates.spawn(&tokio::runtime::Handle::current());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(sampling.percent(), 5.0, "the first poll is at once");
    let (sampled, served) = traffic(&experiment);
    assert!(
        (400..600).contains(&sampled),
        "{sampled} of 10,000 sampled at 5 %"
    );
    assert_eq!(served, 0);

    flags.set("sample", FlagValue::Float(50.0));
    flags.set("serve", FlagValue::Float(20.0));
    tokio::time::sleep(INTERVAL).await;
    assert_eq!((sampling.percent(), share.percent()), (50.0, 20.0));
    let (sampled, served) = traffic(&experiment);
    assert!(
        (4_700..5_300).contains(&sampled),
        "{sampled} of 10,000 sampled at 50 %"
    );
    assert!(
        (1_800..2_200).contains(&served),
        "{served} of 10,000 keys served at 20 %"
    );

    drop(poller);
    flags.set("sample", FlagValue::Float(1.0));
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(sampling.percent(), 50.0, "a dropped poller polls no more");
    assert!(errors.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_kill_flag_stops_new_candidates_and_serving_until_it_is_off() {
    let setup = setup("flags-kill").await;
    setup.flags.set("serve", FlagValue::Float(50.0));
    setup.rates.poll_once().await;
    let ran = AtomicU64::new(0);
    let call = |user: u64| {
        setup
            .experiment
            .trial()
            .key(user)
            .control(|| 1)
            .candidate("candidate", || {
                ran.fetch_add(1, Ordering::Relaxed);
                2
            })
            .run()
    };
    assert!(
        (0..1_000).any(|user| call(user) == 2),
        "some keys are served"
    );

    setup.flags.set("kill", FlagValue::Bool(true));
    // A serving change while killed is remembered, not applied.
    setup.flags.set("serve", FlagValue::Float(60.0));
    setup.rates.poll_once().await;
    assert!(setup.sampling.is_killed());
    assert_eq!(setup.share.percent(), 0.0);
    ran.store(0, Ordering::Relaxed);
    for user in 0..1_000 {
        assert_eq!(call(user), 1, "killed: every key gets the control's");
    }
    assert_eq!(ran.load(Ordering::Relaxed), 0, "killed: no candidate runs");

    setup.flags.set("kill", FlagValue::Bool(false));
    setup.rates.poll_once().await;
    assert!(!setup.sampling.is_killed());
    assert_eq!(
        (setup.sampling.percent(), setup.share.percent()),
        (5.0, 60.0)
    );
    assert!(setup.errors.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_flag_keeps_its_last_value_and_is_reported_once_until_it_recovers() {
    let setup = setup("flags-failing").await;
    setup.rates.poll_once().await;
    assert_eq!(setup.sampling.percent(), 5.0);
    let reports = || setup.errors.lock().unwrap().len();

    for failure in [
        FlagValue::Failing("flag service down".into()),
        FlagValue::Bool(true), // another type
        FlagValue::Panicking,
        FlagValue::Hanging,
    ] {
        setup.flags.set("sample", failure.clone());
        let before = reports();
        for _ in 0..3 {
            setup.rates.poll_once().await;
        }
        assert_eq!(
            setup.sampling.percent(),
            5.0,
            "{failure:?}: the last good value stays"
        );
        assert_eq!(reports(), before + 1, "{failure:?}: reported once");
        // It recovers, and a later failure is reported again.
        setup.flags.set("sample", FlagValue::Float(5.0));
        setup.rates.poll_once().await;
        assert_eq!(reports(), before + 1);
    }
    setup.flags.remove("sample");
    setup.rates.poll_once().await;
    assert_eq!(
        setup.sampling.percent(),
        5.0,
        "a missing flag keeps the last value too"
    );
    let messages = setup.errors.lock().unwrap().clone();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert!(messages[0].contains("flag service down"), "{messages:?}");
    assert!(messages[2].contains("panicked"), "{messages:?}");
    assert!(
        messages[3].contains("no answer within 50ms"),
        "{messages:?}"
    );
    assert!(messages[4].contains("FlagNotFound"), "{messages:?}");
    assert_eq!(
        setup
            .experiment
            .stats()
            .callback_errors_by(Operation::Flags),
        5
    );
}

#[tokio::test(start_paused = true)]
async fn bad_values_are_refused_with_a_clear_message() {
    let setup = setup("flags-bad-values").await;
    setup.rates.poll_once().await;
    for bad in [f64::NAN, -1.0, 150.0] {
        setup.flags.set("sample", FlagValue::Float(bad));
        setup.flags.set("serve", FlagValue::Float(bad));
        setup.rates.poll_once().await;
        assert_eq!(setup.sampling.percent(), 5.0);
        assert_eq!(setup.share.percent(), 0.0);
        setup.flags.set("sample", FlagValue::Float(5.0));
        setup.flags.set("serve", FlagValue::Float(0.0));
        setup.rates.poll_once().await;
    }
    let messages = setup.errors.lock().unwrap().clone();
    assert_eq!(messages.len(), 6, "{messages:?}");
    assert!(messages[0].contains("value NaN refused: sampling percentage NaN is invalid"));
    assert!(messages[1].contains("value NaN refused: serving share NaN is invalid"));
    assert!(messages[5].contains("\"serve\""), "{messages:?}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_never_stops_the_poller() {
    let setup = setup("flags-panicking").await;
    crate::common::silence_expected_panics(&["in-memory flag"]);
    setup.flags.set("sample", FlagValue::Panicking);
    let sampling = setup.sampling.clone();
    let flags = setup.flags.clone();
    let poller = setup.rates.spawn(&tokio::runtime::Handle::current());
    tokio::time::sleep(INTERVAL * 3).await;
    flags.set("sample", FlagValue::Float(40.0));
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(sampling.percent(), 40.0, "polling went on after the panics");
    assert_eq!(setup.errors.lock().unwrap().len(), 1);
    poller.stop();
}
