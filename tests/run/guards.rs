//! Guard rails (guarantee 13's "a tripped guard stops a candidate at once"): a candidate whose
//! error rate jumps trips its guard within the bound its window gives, in every run form; a
//! clean one never trips; the latency guard compares the candidate with the control on the
//! same runs; every trip and re-arm is announced exactly once; the half-open probe runs only
//! its share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::guard::{GuardEventKind, GuardRails, GuardReason, GuardStatus};
use darklaunch::publish::Recorder;
use darklaunch::{Candidates, Clock, ConfigError, Experiment, ManualClock, Sampler};

/// Calls before the candidate's error rate jumps from 0 to 30 %.
const JUMP: u64 = 10_000;
const WINDOW: u64 = 1_000;
const LIMIT: f64 = 0.1;
const RATE: f64 = 0.3;

fn rails() -> GuardRails {
    GuardRails::new()
        .max_error_rate(LIMIT)
        .window(WINDOW)
        .min_runs(100)
        .cool_down(Duration::from_secs(3_600))
}

/// The bound on when the guard trips, counted in calls after the jump. The window is judged
/// each time one of its eight buckets fills (every `WINDOW / 8` runs), over its last `WINDOW`
/// runs; errors come at exactly `RATE` (3 in every 10 calls). So the guard can trip only once
/// more than `LIMIT × WINDOW` errors are in the window, after `needed` calls, and must have
/// tripped at the first judgement after that.
fn trip_bounds() -> (u64, u64) {
    let needed = (LIMIT * WINDOW as f64 / RATE).floor() as u64 + 1;
    let bucket = WINDOW / 8;
    (needed, needed.div_ceil(bucket) * bucket)
}

/// Whether call `call` of the candidate errs: never before the jump, 3 in 10 after.
fn errs(call: u64) -> bool {
    call >= JUMP && (call - JUMP) % 10 < 3
}

fn guarded(recorder: &Recorder<u64, String>) -> Experiment<u64, String> {
    Experiment::builder("guard-jump")
        .guard(rails())
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

/// Checks that the candidate ran on every call up to the earliest possible trip, stopped no
/// later than the bound (+ `slack` calls whose results were still being judged), and that the
/// trip was announced once, for the error rate.
fn check_trip(
    experiment: &Experiment<u64, String>,
    recorder: &Recorder<u64, String>,
    candidate_calls: u64,
    slack: u64,
) {
    let (needed, bound) = trip_bounds();
    assert!(
        candidate_calls >= JUMP + needed,
        "tripped after {} calls past the jump: too early (fewer than {needed})",
        candidate_calls.saturating_sub(JUMP)
    );
    assert!(
        candidate_calls <= JUMP + bound + slack,
        "still running {} calls past the jump (bound {bound} + {slack})",
        candidate_calls - JUMP
    );
    let guard = experiment.guard("candidate").unwrap();
    assert_eq!(
        guard.status(),
        GuardStatus::Tripped {
            reason: GuardReason::ErrorRate
        }
    );
    let events = recorder.guard_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        (
            event.kind,
            event.reason,
            &*event.candidate,
            &*event.experiment
        ),
        (
            GuardEventKind::Tripped,
            GuardReason::ErrorRate,
            "candidate",
            "guard-jump"
        )
    );
    assert!(
        event.observed > LIMIT && event.threshold == LIMIT,
        "{event:?}"
    );
    assert_eq!((event.runs, event.window), (WINDOW, WINDOW));
    let stats = experiment.stats();
    assert_eq!((stats.guard_trips, stats.guard_rearms), (1, 0));
    assert_eq!(stats.guard_held, stats.runs - candidate_calls);
    assert!(stats.reconciles(), "{stats:?}");
}

const CALLS: u64 = JUMP + 2_000;

#[test]
fn run_trips_on_an_error_rate_jump_within_the_windows_bound() {
    let recorder = Recorder::new();
    let experiment = guarded(&recorder);
    let ran = AtomicU64::new(0);
    for call in 0..CALLS {
        let value = experiment.run(
            || Ok(call),
            || {
                let index = ran.fetch_add(1, Ordering::Relaxed);
                if errs(index) {
                    Err("boom".to_string())
                } else {
                    Ok(call)
                }
            },
        );
        assert_eq!(value, Ok(call));
    }
    // Sync runs are judged on the caller's path: the trip is exact.
    let (_, bound) = trip_bounds();
    assert_eq!(ran.load(Ordering::Relaxed), JUMP + bound);
    check_trip(&experiment, &recorder, ran.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn run_async_trips_on_an_error_rate_jump_within_the_windows_bound() {
    let recorder = Recorder::new();
    let experiment = guarded(&recorder);
    let ran = AtomicU64::new(0);
    for call in 0..CALLS {
        let value = experiment
            .run_async(async { Ok(call) }, async {
                let index = ran.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
                if errs(index) {
                    Err("boom".to_string())
                } else {
                    Ok(call)
                }
            })
            .await;
        assert_eq!(value, Ok(call));
    }
    check_trip(&experiment, &recorder, ran.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_detached_trips_on_an_error_rate_jump_within_the_windows_bound() {
    let recorder = Recorder::new();
    let experiment = guarded(&recorder);
    let ran = Arc::new(AtomicU64::new(0));
    // Detached results are judged in the background: flushing every `EVERY` calls bounds
    // how many calls start before the run that trips the guard is judged.
    const EVERY: u64 = 25;
    for call in 0..CALLS {
        let ran = ran.clone();
        let value = experiment
            .run_detached(async { Ok(call) }, async move {
                let index = ran.fetch_add(1, Ordering::Relaxed);
                if errs(index) {
                    Err("boom".to_string())
                } else {
                    Ok(call)
                }
            })
            .await;
        assert_eq!(value, Ok(call));
        if call % EVERY == EVERY - 1 {
            assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
        }
    }
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    check_trip(&experiment, &recorder, ran.load(Ordering::Relaxed), EVERY);
}

#[tokio::test(flavor = "current_thread")]
async fn the_seam_trips_on_an_error_rate_jump_and_skips_held_runs() {
    let recorder = Recorder::new();
    let experiment = guarded(&recorder);
    let ran = Arc::new(AtomicU64::new(0));
    for call in 0..CALLS {
        let Some(run) = experiment.begin() else {
            unreachable!("every call is sampled");
        };
        let ran = ran.clone();
        let candidates = Candidates::new().candidate(async move {
            let index = ran.fetch_add(1, Ordering::Relaxed);
            if errs(index) {
                Err("boom".to_string())
            } else {
                Ok(call)
            }
        });
        let value = run.run_async(async { Ok(call) }, candidates).await;
        assert_eq!(value, Ok(call));
    }
    let calls = ran.load(Ordering::Relaxed);
    let (needed, bound) = trip_bounds();
    assert!((JUMP + needed..=JUMP + bound).contains(&calls), "{calls}");
    // The seam counts a run as sampled before its candidates are known: a held one is skipped.
    let stats = experiment.stats();
    assert_eq!(stats.skipped, CALLS - calls);
    assert_eq!(stats.guard_held, CALLS - calls);
    assert_eq!(recorder.guard_events().len(), 1);
}

#[test]
fn only_the_guarded_candidate_of_a_trial_stops() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64, String> = Experiment::builder("guard-trial")
        .guard_candidate("v2", rails())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let (v2, v3) = (AtomicU64::new(0), AtomicU64::new(0));
    for call in 0..CALLS {
        let value = experiment
            .trial()
            .control(|| Ok(call))
            .candidate("v2", || {
                let index = v2.fetch_add(1, Ordering::Relaxed);
                if errs(index) {
                    Err("boom".to_string())
                } else {
                    Ok(call)
                }
            })
            .candidate("v3", || {
                v3.fetch_add(1, Ordering::Relaxed);
                Err("v3 always fails, but has no guard".to_string())
            })
            .run();
        assert_eq!(value, Ok(call));
    }
    let (_, bound) = trip_bounds();
    assert_eq!(v2.load(Ordering::Relaxed), JUMP + bound);
    assert_eq!(
        v3.load(Ordering::Relaxed),
        CALLS,
        "the unguarded candidate went on"
    );
    assert!(experiment.guard("v3").is_none());
    let stats = experiment.stats();
    assert_eq!(
        stats.sampled, CALLS,
        "calls with one candidate left are still sampled"
    );
}

/// Every call's candidate equals the control: over 1,000,000 runs on the real clock, the
/// default guard (errors, timeouts, median latency 5× the control's) never trips.
#[test]
fn a_clean_candidate_never_trips_the_default_guard_in_a_million_runs() {
    let experiment: Experiment<u64> = Experiment::builder("guard-clean")
        .guard(GuardRails::default())
        .build()
        .unwrap();
    for call in 0..1_000_000u64 {
        experiment.run(|| call.wrapping_mul(3), || call.wrapping_mul(3));
    }
    let stats = experiment.stats();
    assert_eq!(stats.matched, 1_000_000);
    assert_eq!((stats.guard_trips, stats.guard_held), (0, 0));
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Armed
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_clean_async_candidate_never_trips_the_default_guard() {
    let experiment: Experiment<u64> = Experiment::builder("guard-clean-async")
        .guard(GuardRails::default())
        .build()
        .unwrap();
    for call in 0..200_000u64 {
        experiment.run_async(async { call }, async { call }).await;
        experiment
            .run_detached(async { call }, async move { call })
            .await;
        // On this one thread detached candidates run when the caller yields: let them, so
        // that none is shed over `max_in_flight`.
        if call % 500 == 499 {
            assert!(experiment
                .flush(Duration::from_secs(10))
                .await
                .is_complete());
        }
    }
    assert!(experiment
        .flush(Duration::from_secs(10))
        .await
        .is_complete());
    let stats = experiment.stats();
    assert_eq!((stats.matched, stats.guard_trips), (400_000, 0));
}

/// Control 1 ms, candidate `factor` × 1 ms, on a manual clock: exact durations.
fn latency_run(factor: u32, runs: u64) -> (Experiment<u64>, Recorder<u64>) {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("guard-latency")
        .clock(Clock::manual(&clock))
        .guard(
            GuardRails::new()
                .max_latency_ratio(2.0)
                .window(200)
                .min_runs(100),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let control = Duration::from_millis(1);
    for call in 0..runs {
        experiment.run(
            || {
                clock.advance(control);
                call
            },
            || {
                clock.advance(control * factor / 10);
                call
            },
        );
    }
    (experiment, recorder)
}

#[test]
fn a_candidate_ten_times_slower_than_the_control_trips_the_latency_guard() {
    let (experiment, recorder) = latency_run(100, 99);
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Armed
    );
    let (experiment, recorder_after) = {
        drop(recorder);
        latency_run(100, 100)
    };
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Tripped {
            reason: GuardReason::Latency
        },
        "tripped at the first judgement with 100 runs"
    );
    let events = recorder_after.guard_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].observed, events[0].threshold), (1.0, 0.5));
}

#[test]
fn a_candidate_one_point_one_times_slower_does_not_trip_it() {
    let (experiment, recorder) = latency_run(11, 10_000);
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Armed
    );
    assert!(recorder.guard_events().is_empty());
    assert_eq!(experiment.stats().guard_trips, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_latency_guard_pairs_detached_runs_too() {
    let clock = ManualClock::new();
    let experiment: Experiment<u64> = Experiment::builder("guard-latency-detached")
        .clock(Clock::manual(&clock))
        .guard(
            GuardRails::new()
                .max_latency_ratio(2.0)
                .window(200)
                .min_runs(100),
        )
        .build()
        .unwrap();
    for call in 0..100u64 {
        let candidate_clock = clock.clone();
        experiment
            .run_detached(
                async {
                    clock.advance(Duration::from_millis(1));
                    call
                },
                async move {
                    candidate_clock.advance(Duration::from_millis(10));
                    call
                },
            )
            .await;
        // On this one thread the candidate's task runs here, alone on the clock.
        assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    }
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Tripped {
            reason: GuardReason::Latency
        }
    );
}

/// Trips by hand, waits out the cool-down on a manual clock, and probes: the probe runs on
/// its share of sampled calls only, then re-arms a clean candidate, and a failing probe trips
/// it again; each event is announced exactly once.
#[test]
fn the_half_open_probe_runs_its_share_then_re_arms_or_trips_again() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: Experiment<u64, String> = Experiment::builder("guard-probe")
        .clock(Clock::manual(&clock))
        .guard(
            GuardRails::new()
                .max_error_rate(0.1)
                .window(1_000)
                .min_runs(1_000)
                .cool_down(Duration::from_secs(30))
                .probe_percent(10.0),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let guard = experiment.guard("candidate").unwrap();
    guard.trip();
    guard.trip(); // tripped already: nothing more
    let ran = AtomicU64::new(0);
    let call = |fail: bool| {
        experiment.run(
            || Ok(1),
            || {
                ran.fetch_add(1, Ordering::Relaxed);
                if fail {
                    Err("still broken".to_string())
                } else {
                    Ok(1)
                }
            },
        )
    };
    for _ in 0..1_000 {
        assert_eq!(call(false), Ok(1));
    }
    assert_eq!(
        ran.load(Ordering::Relaxed),
        0,
        "no run during the cool-down"
    );
    clock.advance(Duration::from_secs(30));
    // 5,000 probed calls at 10 %: 500 expected, σ ≈ 21; fewer than the 1,000 runs a
    // judgement needs, so the probe goes on throughout.
    for _ in 0..5_000 {
        assert_eq!(call(false), Ok(1));
    }
    let probed = ran.load(Ordering::Relaxed);
    assert!(
        (400..=600).contains(&probed),
        "{probed} of 5,000 probed at 10 %"
    );
    assert_eq!(guard.status(), GuardStatus::Probing);
    while guard.status() == GuardStatus::Probing {
        assert_eq!(call(false), Ok(1));
    }
    assert_eq!(guard.status(), GuardStatus::Armed);
    assert_eq!(
        ran.load(Ordering::Relaxed),
        1_000,
        "re-armed once 1,000 probe runs were judged"
    );
    // Armed: every call runs it again.
    let before = ran.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(call(false), Ok(1));
    }
    assert_eq!(ran.load(Ordering::Relaxed), before + 100);
    // A failing probe trips it again.
    guard.trip();
    clock.advance(Duration::from_secs(30));
    while guard.status()
        != (GuardStatus::Tripped {
            reason: GuardReason::ErrorRate,
        })
    {
        assert_eq!(call(true), Ok(1));
    }
    let kinds: Vec<_> = recorder
        .guard_events()
        .iter()
        .map(|event| (event.kind, event.reason))
        .collect();
    assert_eq!(
        kinds,
        [
            (GuardEventKind::Tripped, GuardReason::Manual),
            (GuardEventKind::Rearmed, GuardReason::ProbePassed),
            (GuardEventKind::Tripped, GuardReason::Manual),
            (GuardEventKind::Tripped, GuardReason::ErrorRate),
        ]
    );
    let stats = experiment.stats();
    assert_eq!((stats.guard_trips, stats.guard_rearms), (3, 1));
}

#[test]
fn a_reset_re_arms_at_once_and_is_announced_once() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("guard-reset")
        .guard(rails())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let guard = experiment.guard("candidate").unwrap();
    guard.reset(); // armed already: nothing
    guard.trip();
    let clone = guard.clone();
    std::thread::spawn(move || clone.reset()).join().unwrap();
    assert_eq!(guard.status(), GuardStatus::Armed);
    assert_eq!(recorder.guard_events().len(), 2);
    assert_eq!(experiment.stats().guard_rearms, 1);
    assert!(format!("{guard:?}").contains("Armed"));
}

#[test]
fn the_shed_rate_guard_counts_shed_runs() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64> = Experiment::builder("guard-shed")
        .max_in_flight(1)
        .guard(
            GuardRails::new()
                .max_shed_rate(0.4)
                .window(100)
                .min_runs(100),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    // Each outer run holds the one slot while its candidate makes an inner call, which is shed.
    for _ in 0..60 {
        experiment.run(|| 1, || experiment.run(|| 1, || 1));
    }
    let events = recorder.guard_events();
    assert_eq!(events.len(), 1, "{:?}", experiment.stats());
    assert_eq!(events[0].reason, GuardReason::ShedRate);
}

#[test]
fn guard_config_errors_say_what_to_fix() {
    let bad = |rails: GuardRails| {
        Experiment::<u8>::builder("bad-guard")
            .guard(rails)
            .build()
            .unwrap_err()
    };
    assert!(matches!(
        bad(GuardRails::new().max_error_rate(1.5)),
        ConfigError::InvalidThreshold {
            setting: "max_error_rate",
            ..
        }
    ));
    assert!(matches!(
        bad(GuardRails::new().window(0)),
        ConfigError::InvalidGuardWindow { .. }
    ));
    assert!(matches!(
        bad(GuardRails::new().min_runs(0)),
        ConfigError::InvalidMinRuns { .. }
    ));
    let twice = Experiment::<u8>::builder("guard-twice")
        .guard(GuardRails::new())
        .guard_candidate("candidate", GuardRails::new())
        .build()
        .unwrap_err();
    assert!(twice.to_string().contains("already has a guard"), "{twice}");
    let control = Experiment::<u8>::builder("guard-control")
        .guard_candidate("control", GuardRails::new())
        .build()
        .unwrap_err();
    assert!(control.to_string().contains("control's name"), "{control}");
}

#[test]
fn a_panicking_guard_publisher_never_reaches_the_caller() {
    struct Panics;
    impl darklaunch::Publisher<u64> for Panics {
        fn publish(&self, _: &darklaunch::ExperimentResult<u64>) {}
        fn guard(&self, _: &darklaunch::guard::GuardEvent) {
            panic!("guard publisher down");
        }
    }
    crate::common::silence_expected_panics(&["guard publisher down"]);
    let experiment: Experiment<u64> = Experiment::builder("guard-panics")
        .sampler(Sampler::always())
        .guard(rails())
        .publisher(Panics)
        .on_error(|_| {})
        .build()
        .unwrap();
    experiment.guard("candidate").unwrap().trip();
    assert_eq!(experiment.run(|| 1, || 2), 1);
    let stats = experiment.stats();
    assert_eq!((stats.guard_trips, stats.callback_errors), (1, 1));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever the window, the minimum and the pattern of failures, a guard trips only on a
    /// judgement of at least `min_runs` runs, and only when a limit really is exceeded.
    #[test]
    fn a_guard_never_trips_on_fewer_runs_than_its_minimum(
        window in 1u64..600,
        min_share in 0.01f64..=1.0,
        failures in proptest::collection::vec(proptest::bool::weighted(0.4), 1..1_500),
    ) {
        let min_runs = ((window as f64 * min_share).ceil() as u64).clamp(1, window);
        let recorder = Recorder::new();
        let experiment: Experiment<u64, String> = Experiment::builder("guard-min-runs")
            .guard(
                GuardRails::new()
                    .max_error_rate(0.2)
                    .window(window)
                    .min_runs(min_runs)
                    .cool_down(Duration::from_secs(3_600)),
            )
            .publisher(recorder.clone())
            .build()
            .unwrap();
        let ran = AtomicU64::new(0);
        for fails in &failures {
            let value = experiment.run(
                || Ok(1),
                || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    if *fails { Err("down".to_string()) } else { Ok(1) }
                },
            );
            proptest::prop_assert_eq!(value, Ok(1));
        }
        let events = recorder.guard_events();
        proptest::prop_assert!(events.len() <= 1);
        if let Some(event) = events.first() {
            proptest::prop_assert!(event.runs >= min_runs, "{:?}", event);
            proptest::prop_assert!(event.observed > 0.2, "{:?}", event);
            let ran = ran.load(Ordering::Relaxed) as usize;
            proptest::prop_assert!(ran >= min_runs as usize);
            // The judged window held exactly `runs` of the last runs, with that error share.
            let last = &failures[ran - event.runs as usize..ran];
            let errors = last.iter().filter(|f| **f).count() as f64;
            proptest::prop_assert_eq!(event.observed, errors / event.runs as f64);
        } else {
            proptest::prop_assert_eq!(ran.load(Ordering::Relaxed), failures.len() as u64);
        }
    }
}

/// A wrong value is a mismatch, not an error; an `Err` where the control returned a value is
/// an error, not a mismatch; an `Err` like the control's is neither.
#[test]
fn mismatches_and_errors_are_told_apart() {
    let run = |rails: GuardRails, candidate: fn(u64) -> Result<u64, String>, control_errs: bool| {
        let recorder = Recorder::new();
        let experiment: Experiment<u64, String> = Experiment::builder("guard-kinds")
            .guard(rails.window(100).min_runs(100))
            .publisher(recorder.clone())
            .build()
            .unwrap();
        for call in 0..200u64 {
            let control = if control_errs {
                Err("same".to_string())
            } else {
                Ok(call)
            };
            let expected = control.clone();
            assert_eq!(experiment.run(|| control, || candidate(call)), expected);
        }
        recorder.guard_events().first().map(|event| event.reason)
    };
    let wrong_value = |call: u64| Ok(call + 1);
    let error = |_: u64| Err("down".to_string());
    let same_error = |_: u64| Err("same".to_string());
    let errors = || GuardRails::new().max_error_rate(0.1);
    let mismatches = || GuardRails::new().max_mismatch_rate(0.1);
    assert_eq!(run(errors(), wrong_value, false), None);
    assert_eq!(
        run(mismatches(), wrong_value, false),
        Some(GuardReason::MismatchRate)
    );
    assert_eq!(run(errors(), error, false), Some(GuardReason::ErrorRate));
    assert_eq!(run(mismatches(), error, false), None);
    assert_eq!(run(errors(), same_error, true), None);
    assert_eq!(run(mismatches(), same_error, true), None);
}

#[test]
fn a_candidate_exactly_at_the_latency_ratio_is_not_slow() {
    let (experiment, recorder) = latency_run(20, 1_000);
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Armed
    );
    assert!(recorder.guard_events().is_empty());
    let (experiment, _) = latency_run(21, 1_000);
    assert_ne!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Armed
    );
}

/// A tripped guard stops its candidate at once in every run form.
#[test]
fn a_tripped_candidate_never_runs_in_any_run_form() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let one: Experiment<u64> = Experiment::builder("tripped-forms")
        .guard(rails())
        .build()
        .unwrap();
    let trial: Experiment<u64> = Experiment::builder("tripped-forms-trial")
        .guard_candidate("v2", rails())
        .build()
        .unwrap();
    one.guard("candidate").unwrap().trip();
    trial.guard("v2").unwrap().trip();
    let ran = Arc::new(AtomicU64::new(0));
    let count = || {
        let ran = ran.clone();
        move || {
            ran.fetch_add(1, Ordering::Relaxed);
            2
        }
    };
    assert_eq!(one.run(|| 1, count()), 1);
    assert_eq!(one.run_detached_blocking(|| 1, count()), 1);
    let c = count();
    assert_eq!(
        runtime.block_on(one.run_async(async { 1 }, async { c() })),
        1
    );
    let c = count();
    assert_eq!(
        runtime.block_on(one.run_detached(async { 1 }, async move { c() })),
        1
    );
    assert_eq!(
        trial.trial().control(|| 1).candidate("v2", count()).run(),
        1
    );
    assert_eq!(
        trial
            .trial()
            .control(|| 1)
            .candidate("v2", count())
            .run_detached_blocking(),
        1
    );
    let c = count();
    assert_eq!(
        runtime.block_on(
            trial
                .trial()
                .control(async { 1 })
                .candidate("v2", async { c() })
                .run_async()
        ),
        1
    );
    let c = count();
    assert_eq!(
        runtime.block_on(
            trial
                .trial()
                .control(async { 1 })
                .candidate("v2", async move { c() })
                .run_detached()
        ),
        1
    );
    for experiment in [&one, &trial] {
        assert!(runtime
            .block_on(experiment.flush(Duration::from_secs(5)))
            .is_complete());
        let stats = experiment.stats();
        assert_eq!((stats.sampled, stats.guard_held), (0, 4), "{stats:?}");
    }
    assert_eq!(ran.load(Ordering::Relaxed), 0);
}

/// A rate exactly at the limit is within it: the guard trips only above.
#[test]
fn a_rate_exactly_at_the_limit_does_not_trip() {
    let recorder = Recorder::new();
    let experiment: Experiment<u64, String> = Experiment::builder("guard-at-limit")
        // Eight buckets of 10 runs; one error in every 10 calls: exactly 10 % at every judgement.
        .guard(
            GuardRails::new()
                .max_error_rate(0.1)
                .window(80)
                .min_runs(10),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    for call in 0..10_000u64 {
        let value = experiment.run(
            || Ok(call),
            || {
                if call % 10 == 0 {
                    Err("down".to_string())
                } else {
                    Ok(call)
                }
            },
        );
        assert_eq!(value, Ok(call));
    }
    assert!(
        recorder.guard_events().is_empty(),
        "{:?}",
        recorder.guard_events()
    );
    assert_eq!(
        experiment.stats().candidate_errors + experiment.stats().mismatched,
        1_000
    );
}
