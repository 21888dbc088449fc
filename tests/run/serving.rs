//! Guarantee 13: on a served call the caller gets the served candidate's value, `Err` or panic
//! payload unchanged, or the control's on fallback; keys outside the share get the control's,
//! as in guarantee 1. A tripped guard sends every key back to the control at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::guard::GuardRails;
use darklaunch::publish::Recorder;
use darklaunch::{ConfigError, Experiment, Sampler, ServeShare, Verdict};
use proptest::prelude::*;

use super::control_unchanged::{act, observe, perform, quiet_panics, Act, Seen};

fn experiment(share: f64, sampled: f64, propagate: bool) -> Experiment<i64, String> {
    Experiment::builder("serving")
        .sampler(Sampler::percent(sampled))
        .serve(ServeShare::new(share))
        .propagate_served_errors(propagate)
        .publisher(|_: &darklaunch::ExperimentResult<i64, String>| {})
        .build()
        .unwrap()
}

/// What the caller must see: the served candidate's outcome when it reaches the caller (its
/// value always; its `Err` or panic when propagated), otherwise the control's.
fn expected(served: bool, propagate: bool, control: &Act, candidate: &Act) -> Seen {
    let candidate_reaches = match candidate {
        Act::Value(_) => true,
        Act::Err(_) | Act::Panic(_) | Act::PanicText(_) => propagate,
    };
    if served && candidate_reaches {
        observe(|| perform(candidate))
    } else {
        observe(|| perform(control))
    }
}

/// The served + fallback counts add up to the served calls, and a fallback is counted exactly
/// when the caller got the control's outcome.
fn check_counts(
    experiment: &Experiment<i64, String>,
    served: bool,
    propagate: bool,
    candidate: &Act,
) -> Result<(), TestCaseError> {
    let stats = experiment.stats();
    let falls_back = !matches!(candidate, Act::Value(_)) && !propagate;
    prop_assert_eq!(stats.served, u64::from(served && !falls_back));
    prop_assert_eq!(stats.fallbacks, u64::from(served && falls_back));
    prop_assert!(stats.reconciles(), "{:?}", stats);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn run_serves_the_candidates_outcome_or_falls_back_to_the_controls(
        control in act(),
        candidate in act(),
        served in any::<bool>(),
        sampled in prop_oneof![Just(0.0), Just(100.0)],
        propagate in any::<bool>(),
    ) {
        quiet_panics();
        let experiment = experiment(if served { 100.0 } else { 0.0 }, sampled, propagate);
        let seen = observe(|| experiment.run(|| perform(&control), || perform(&candidate)));
        prop_assert_eq!(seen, expected(served, propagate, &control, &candidate));
        check_counts(&experiment, served, propagate, &candidate)?;
        prop_assert_eq!(experiment.stats().sampled, u64::from(sampled > 0.0));
    }

    #[test]
    fn run_async_serves_the_candidates_outcome_or_falls_back_to_the_controls(
        control in act(),
        candidate in act(),
        served in any::<bool>(),
        sampled in prop_oneof![Just(0.0), Just(100.0)],
        propagate in any::<bool>(),
        yields in 0..3usize,
    ) {
        quiet_panics();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let experiment = experiment(if served { 100.0 } else { 0.0 }, sampled, propagate);
        let seen = observe(|| runtime.block_on(experiment.run_async(
            async { perform(&control) },
            async {
                for _ in 0..yields { tokio::task::yield_now().await }
                perform(&candidate)
            },
        )));
        prop_assert_eq!(seen, expected(served, propagate, &control, &candidate));
        check_counts(&experiment, served, propagate, &candidate)?;
    }

    #[test]
    fn run_detached_serves_the_candidates_outcome_or_falls_back_to_the_controls(
        control in act(),
        candidate in act(),
        served in any::<bool>(),
        sampled in prop_oneof![Just(0.0), Just(100.0)],
        propagate in any::<bool>(),
    ) {
        quiet_panics();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let experiment = experiment(if served { 100.0 } else { 0.0 }, sampled, propagate);
        let owned = candidate.clone();
        let seen = observe(|| runtime.block_on(experiment.run_detached(
            async { perform(&control) },
            async move { perform(&owned) },
        )));
        prop_assert!(runtime.block_on(experiment.flush(Duration::from_secs(5))).is_complete());
        prop_assert_eq!(seen, expected(served, propagate, &control, &candidate));
        check_counts(&experiment, served, propagate, &candidate)?;
    }

    /// Keyed trials: a key inside the share gets the served candidate's outcome, one outside
    /// gets the control's, and which keys are inside never changes.
    #[test]
    fn keys_outside_the_share_get_the_controls_outcome(
        control in act(),
        candidate in act(),
        key in any::<u32>(),
        propagate in any::<bool>(),
    ) {
        quiet_panics();
        let experiment: Experiment<i64, String> = Experiment::builder("serving-keys")
            .serve_candidate("v3", ServeShare::new(50.0))
            .propagate_served_errors(propagate)
            .build()
            .unwrap();
        let call = || {
            observe(|| {
                experiment
                    .trial()
                    .key(key)
                    .control(|| perform(&control))
                    .candidate("v2", || Ok(0))
                    .candidate("v3", || perform(&candidate))
                    .run()
            })
        };
        let first = call();
        let served = experiment.stats().served + experiment.stats().fallbacks == 1;
        prop_assert_eq!(&first, &expected(served, propagate, &control, &candidate));
        // Sticky: the same key gets the same answer again.
        prop_assert_eq!(call(), first);
        let stats = experiment.stats();
        prop_assert_eq!(stats.served + stats.fallbacks, if served { 2 } else { 0 });
    }
}

#[test]
fn a_share_of_keys_is_served_and_sampled_calls_are_still_compared() {
    let recorder = Recorder::new();
    let share = ServeShare::new(30.0);
    let experiment: Experiment<u64> = Experiment::builder("serve-share")
        .serve_candidate("v3", share.clone())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let run = |user: u64| {
        experiment
            .trial()
            .key(user)
            .control(|| 1)
            .candidate("v3", || 2)
            .run()
    };
    let served: Vec<bool> = (0..10_000).map(|user| run(user) == 2).collect();
    let count = served.iter().filter(|s| **s).count();
    assert!(
        (2_800..3_200).contains(&count),
        "{count} of 10,000 keys served at 30 %"
    );
    // Every call was sampled: each is published, served ones marked so, and compared.
    let results = recorder.take();
    assert_eq!(results.len(), 10_000);
    for (result, served) in results.iter().zip(&served) {
        assert_eq!(result.served().is_some(), *served);
        if let Some(call) = result.served() {
            assert_eq!((call.candidate(), call.fell_back()), ("v3", false));
        }
        assert_eq!(result.candidate("v3").unwrap().verdict(), Verdict::Mismatch);
    }
    // Raising the share keeps every served key served.
    share.set_percent(60.0).unwrap();
    for (user, was_served) in served.iter().enumerate() {
        if *was_served {
            assert_eq!(
                run(user as u64),
                2,
                "key {user} left the share when it grew"
            );
        }
    }
    let stats = experiment.stats();
    assert_eq!(stats.mismatched, stats.sampled);
}

#[test]
fn a_tripped_guard_sends_every_key_back_to_the_control_at_once() {
    let experiment: Experiment<u64> = Experiment::builder("serve-guarded")
        .serve(ServeShare::new(100.0))
        .guard(GuardRails::new().cool_down(Duration::from_secs(3600)))
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 2), 2);
    let guard = experiment.guard("candidate").unwrap();
    guard.trip();
    let ran = AtomicUsize::new(0);
    for _ in 0..1_000 {
        let value = experiment.run(
            || 1,
            || {
                ran.fetch_add(1, Ordering::Relaxed);
                2
            },
        );
        assert_eq!(value, 1);
    }
    assert_eq!(
        ran.load(Ordering::Relaxed),
        0,
        "a tripped candidate never runs"
    );
    guard.reset();
    assert_eq!(experiment.run(|| 1, || 2), 2);
    let stats = experiment.stats();
    assert_eq!(
        (stats.served, stats.guard_trips, stats.guard_rearms),
        (2, 1, 1)
    );
    assert_eq!(stats.guard_held, 1_000);
}

#[tokio::test(start_paused = true)]
async fn a_served_candidate_that_times_out_falls_back_at_the_timeout() {
    for sampled in [0.0, 100.0] {
        let experiment: Experiment<u64> = Experiment::builder("serve-timeout")
            .sampler(Sampler::percent(sampled))
            .serve(ServeShare::new(100.0))
            .propagate_served_errors(true)
            .candidate_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let start = tokio::time::Instant::now();
        let value = experiment
            .run_async(async { 1 }, std::future::pending::<u64>())
            .await;
        assert_eq!(
            value, 1,
            "a timeout always falls back, even when errors propagate"
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(50),
            "sampled {sampled}"
        );
        let stats = experiment.stats();
        assert_eq!((stats.served, stats.fallbacks), (0, 1));
        if sampled > 0.0 {
            assert_eq!(stats.timeouts, 1);
        }
    }
}

#[test]
fn a_served_candidates_value_is_returned_unchanged_by_clean() {
    let recorder = Recorder::new();
    let experiment: Experiment<String> = Experiment::builder("serve-clean")
        .serve(ServeShare::new(100.0))
        .clean(|value: &String| value.replace("secret", "***"))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment.run(|| "old secret".to_string(), || "new secret".to_string());
    assert_eq!(
        value, "new secret",
        "clean applies to what is published, not to the caller"
    );
    let result = &recorder.results()[0];
    assert_eq!(
        result.candidates()[0]
            .observation()
            .value()
            .map(String::as_str),
        Some("new ***")
    );
}

#[test]
fn bad_serving_settings_are_config_errors() {
    let bad_share = Experiment::<u8>::builder("bad-share")
        .serve(ServeShare::new(150.0))
        .build()
        .unwrap_err();
    assert_eq!(bad_share, ConfigError::InvalidServeShare { value: 150.0 });
    let control = Experiment::<u8>::builder("serve-control")
        .serve_candidate("control", ServeShare::new(5.0))
        .build()
        .unwrap_err();
    assert!(control.to_string().contains("control's name"), "{control}");
    let blank = Experiment::<u8>::builder("serve-blank")
        .serve_candidate(" ", ServeShare::new(5.0))
        .build()
        .unwrap_err();
    assert!(blank.to_string().contains("blank"), "{blank}");
}

#[test]
fn serving_from_many_threads_counts_every_call_exactly() {
    let experiment: Experiment<u64, String> = Experiment::builder("serve-threads")
        .sampler(Sampler::percent(50.0))
        .serve(ServeShare::new(100.0))
        .build()
        .unwrap();
    let wrong = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let experiment = experiment.clone();
            let wrong = wrong.clone();
            std::thread::spawn(move || {
                for call in 0..5_000u64 {
                    let fails = call % 4 == thread;
                    let value = experiment.run(
                        || Ok(1),
                        || {
                            if fails {
                                Err("down".to_string())
                            } else {
                                Ok(2)
                            }
                        },
                    );
                    if value != Ok(if fails { 1 } else { 2 }) {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(wrong.load(Ordering::Relaxed), 0);
    let stats = experiment.stats();
    assert_eq!(stats.runs, 20_000);
    assert_eq!((stats.served, stats.fallbacks), (15_000, 5_000));
    assert!(stats.reconciles());
}

/// Every run form serves: the served candidate's value reaches the caller, its `Err` falls
/// back to the control's (or reaches the caller when propagated), sampled or not.
#[test]
fn every_run_form_serves_and_falls_back() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for sampled in [0.0, 100.0] {
        for propagate in [false, true] {
            let experiment: Experiment<u64, String> = Experiment::builder("serve-forms")
                .sampler(Sampler::percent(sampled))
                .serve_candidate("v3", ServeShare::new(100.0))
                .propagate_served_errors(propagate)
                .build()
                .unwrap();
            let one: Experiment<u64, String> = Experiment::builder("serve-forms-one")
                .sampler(Sampler::percent(sampled))
                .serve(ServeShare::new(100.0))
                .propagate_served_errors(propagate)
                .build()
                .unwrap();
            let error = if propagate {
                Err("v3 down".to_string())
            } else {
                Ok(1)
            };
            for (fails, expected) in [(false, Ok(3)), (true, error)] {
                let v3 = move || {
                    if fails {
                        Err("v3 down".to_string())
                    } else {
                        Ok(3)
                    }
                };
                let forms: Vec<(&str, Result<u64, String>)> = vec![
                    ("run", one.run(|| Ok(1), v3)),
                    (
                        "run_detached_blocking",
                        one.run_detached_blocking(|| Ok(1), v3),
                    ),
                    (
                        "run_async",
                        runtime.block_on(one.run_async(async { Ok(1) }, async move { v3() })),
                    ),
                    (
                        "run_detached",
                        runtime.block_on(one.run_detached(async { Ok(1) }, async move { v3() })),
                    ),
                    (
                        "trial().run",
                        experiment
                            .trial()
                            .control(|| Ok(1))
                            .candidate("v2", || Ok(2))
                            .candidate("v3", v3)
                            .run(),
                    ),
                    (
                        "trial().run_detached_blocking",
                        experiment
                            .trial()
                            .control(|| Ok(1))
                            .candidate("v2", || Ok(2))
                            .candidate("v3", v3)
                            .run_detached_blocking(),
                    ),
                    (
                        "trial().run_async",
                        runtime.block_on(
                            experiment
                                .trial()
                                .control(async { Ok(1) })
                                .candidate("v2", async { Ok(2) })
                                .candidate("v3", async move { v3() })
                                .run_async(),
                        ),
                    ),
                    (
                        "trial().run_detached",
                        runtime.block_on(
                            experiment
                                .trial()
                                .control(async { Ok(1) })
                                .candidate("v2", async { Ok(2) })
                                .candidate("v3", async move { v3() })
                                .run_detached(),
                        ),
                    ),
                ];
                for (form, got) in forms {
                    assert_eq!(
                        got, expected,
                        "{form}, sampled {sampled}, propagate {propagate}, fails {fails}"
                    );
                }
            }
            for experiment in [&experiment, &one] {
                assert!(runtime
                    .block_on(experiment.flush(Duration::from_secs(5)))
                    .is_complete());
                let stats = experiment.stats();
                assert_eq!(stats.served + stats.fallbacks, 8, "{stats:?}");
                assert_eq!(stats.fallbacks, if propagate { 0 } else { 4 });
                assert!(stats.reconciles());
            }
        }
    }
}
