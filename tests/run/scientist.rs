//! Scientist's remaining behaviours: a typed mismatch error and a custom raiser, panics
//! compared with a comparator, fabricated durations beside measured ones, an experiment-level
//! context (its every-form check is in `run_forms`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{Clock, Experiment, ManualClock, MismatchError, Operation, Verdict};

use crate::common;

#[cfg(feature = "serde")]
#[test]
fn a_mismatch_raises_a_typed_error_naming_every_failing_candidate_with_the_diff() {
    common::silence_expected_panics(&["v3 panics on purpose"]);
    let experiment: Experiment<Vec<u32>> = Experiment::builder("typed")
        .diff(darklaunch::diff::DiffOptions::new())
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    let raised = catch_unwind(AssertUnwindSafe(|| {
        experiment
            .trial()
            .control(|| vec![1, 2])
            .candidate("v1", || vec![1, 2])
            .candidate("v2", || vec![1, 3])
            .candidate("v3", || panic!("v3 panics on purpose"))
            .run()
    }))
    .unwrap_err();
    let error = raised
        .downcast::<MismatchError>()
        .expect("a MismatchError payload");
    assert_eq!(error.experiment(), "typed");
    assert_eq!(error.candidates(), ["v2", "v3"]);
    let diff = error.diff().expect("v2's diff");
    assert_eq!(diff.differences[0].path, "$[1]");
    assert!(
        error.message().contains("candidate \"v2\" mismatched"),
        "{}",
        error.message()
    );
    assert_eq!(error.to_string(), error.message());
}

#[tokio::test]
async fn run_async_raises_the_typed_error_too() {
    let experiment: Experiment<u32> = Experiment::builder("typed-async")
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    let raised = futures::FutureExt::catch_unwind(AssertUnwindSafe(
        experiment.run_async(async { 1 }, async { 2 }),
    ))
    .await
    .unwrap_err();
    assert_eq!(
        raised.downcast_ref::<MismatchError>().unwrap().candidates(),
        ["candidate"]
    );
}

#[derive(Debug, PartialEq)]
struct MyTestFailure {
    experiment: String,
    candidates: usize,
}

#[test]
fn a_custom_raiser_raises_its_own_payload_or_lets_the_run_return() {
    let experiment: Experiment<u32> = Experiment::builder("custom")
        .raise_with(|error| {
            std::panic::panic_any(MyTestFailure {
                experiment: error.experiment().to_owned(),
                candidates: error.candidates().len(),
            })
        })
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 1), 1, "a match raises nothing");
    let raised = catch_unwind(AssertUnwindSafe(|| experiment.run(|| 1, || 2))).unwrap_err();
    assert_eq!(
        *raised.downcast::<MyTestFailure>().unwrap(),
        MyTestFailure {
            experiment: "custom".into(),
            candidates: 1
        }
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let collecting: Experiment<u32> = Experiment::builder("collecting")
        .raise_with(move |error| log.lock().unwrap().push(error.candidates().to_vec()))
        .build()
        .unwrap();
    assert_eq!(
        collecting.run(|| 1, || 2),
        1,
        "a raiser that returns lets the run return"
    );
    assert_eq!(*seen.lock().unwrap(), [vec![String::from("candidate")]]);
}

#[test]
fn panics_are_compared_by_text_or_by_a_comparator() {
    common::silence_expected_panics(&["sold out", "comparator panics on purpose"]);
    let run = |experiment: &Experiment<u8>| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            experiment.run(
                || -> u8 { panic!("sold out (request 1)") },
                || -> u8 { panic!("sold out (request 2)") },
            )
        }));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            experiment.run(
                || -> u8 { panic!("sold out (request 1)") },
                || -> u8 { panic!("sold out (request 1)") },
            )
        }));
    };
    let verdicts = |recorder: &Recorder<u8>| -> Vec<Verdict> {
        recorder
            .take()
            .iter()
            .map(|r| r.candidates()[0].verdict())
            .collect()
    };

    let recorder = Recorder::new();
    let by_text: Experiment<u8> = Experiment::builder("by-text")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    run(&by_text);
    assert_eq!(
        verdicts(&recorder),
        [Verdict::CandidateError, Verdict::Match]
    );

    let by_prefix: Experiment<u8> = Experiment::builder("by-prefix")
        .compare_panics(|a, b| a.split(" (").next() == b.split(" (").next())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    run(&by_prefix);
    assert_eq!(verdicts(&recorder), [Verdict::Match, Verdict::Match]);

    let errors = Arc::new(AtomicUsize::new(0));
    let count = errors.clone();
    let panicking: Experiment<u8> = Experiment::builder("panicking-comparator")
        .compare_panics(|_, _| panic!("comparator panics on purpose"))
        .on_error(move |error| {
            assert_eq!(error.operation, Operation::Compare);
            count.fetch_add(1, Ordering::SeqCst);
        })
        .publisher(recorder.clone())
        .build()
        .unwrap();
    run(&panicking);
    assert_eq!(
        verdicts(&recorder),
        [Verdict::CandidateError, Verdict::CandidateError]
    );
    assert_eq!(errors.load(Ordering::SeqCst), 2);
}

#[test]
fn fabricated_durations_replace_only_the_named_behaviours() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("fabricated")
        .clock(Clock::manual(&clock))
        .randomize_order(false)
        .fabricate_duration("v2", Duration::from_secs(1))
        .fabricate_duration("v2", Duration::from_secs(3)) // the last one given wins
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let step = |by: u64, value: u8| {
        clock.advance(Duration::from_millis(by));
        value
    };
    experiment
        .trial()
        .control(|| step(5, 1))
        .candidate("v2", || step(7, 1))
        .candidate("v3", || step(11, 1))
        .run();
    let result = &recorder.results()[0];
    assert_eq!(result.control().duration(), Duration::from_millis(5));
    assert_eq!(
        result.candidate("v2").unwrap().observation().duration(),
        Duration::from_secs(3)
    );
    assert_eq!(
        result.candidate("v3").unwrap().observation().duration(),
        Duration::from_millis(11)
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_candidate_of_another_type_is_judged_by_a_cross_type_comparator_and_diffed_by_shape() {
    use darklaunch::cross::{self, Cross};

    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    struct Price {
        amount: f64,
    }
    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    struct PriceV2 {
        cents: u64,
    }
    let recorder = Recorder::new();
    let experiment: Experiment<Cross<Price, PriceV2>> = Experiment::builder("cross")
        .compare(cross::compare(|old: &Price, new: &PriceV2| {
            (old.amount * 100.0).round() as u64 == new.cents
        }))
        .diff(darklaunch::diff::DiffOptions::new())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    for (amount, cents) in [(12.5, 1250), (3.0, 301)] {
        let price = experiment
            .trial()
            .control(|| Cross::Control(Price { amount }))
            .candidate("v2", || Cross::Candidate(PriceV2 { cents }))
            .run();
        assert_eq!(price.into_control(), Some(Price { amount }));
    }
    let results = recorder.results();
    assert_eq!(results[0].candidates()[0].verdict(), Verdict::Match);
    let mismatch = &results[1].candidates()[0];
    assert_eq!(mismatch.verdict(), Verdict::Mismatch);
    let kinds: Vec<(String, String)> = mismatch
        .diff()
        .unwrap()
        .differences
        .iter()
        .map(|d| (d.path.clone(), format!("{:?}", d.kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("$.amount".to_owned(), "Removed".to_owned()),
            ("$.cents".to_owned(), "Added".to_owned())
        ]
    );
}

/// Spins until the thread has used `millis` of CPU time (by the OS's own count: a loaded
/// machine may give it less CPU than wall time).
#[cfg(feature = "cpu-time")]
fn spin(millis: u64) -> u8 {
    let start = cpu_time::ThreadTime::now();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(millis) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    1
}

#[cfg(feature = "cpu-time")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_time_is_measured_per_behaviour_in_every_run_form_when_asked() {
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("cpu")
        .cpu_time(true)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    // The control sleeps (little CPU), the candidate spins (about 40 ms of CPU).
    let sleepy = || {
        std::thread::sleep(Duration::from_millis(40));
        1
    };
    experiment.run(sleepy, || spin(40));
    experiment
        .trial()
        .control(sleepy)
        .candidate("v2", || spin(40))
        .run();
    experiment
        .run_async(
            async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                1
            },
            async { spin(40) },
        )
        .await;
    experiment
        .run_detached(
            async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                1
            },
            async { spin(40) },
        )
        .await;
    let blocking = experiment.clone();
    tokio::task::spawn_blocking(move || blocking.run_detached_blocking(sleepy, || spin(40)))
        .await
        .unwrap();
    assert!(experiment
        .flush(Duration::from_secs(10))
        .await
        .is_complete());
    let results = recorder.results();
    assert_eq!(results.len(), 5);
    for result in &results {
        let control = result.control().cpu_time().expect("measured");
        let candidate = result.candidates()[0]
            .observation()
            .cpu_time()
            .expect("measured");
        assert!(control < Duration::from_millis(20), "control {control:?}");
        assert!(
            candidate >= Duration::from_millis(20),
            "candidate {candidate:?}"
        );
    }

    let unmeasured = Recorder::new();
    let off: Experiment<u8> = Experiment::builder("no-cpu")
        .publisher(unmeasured.clone())
        .build()
        .unwrap();
    off.run(|| 1, || spin(1));
    assert_eq!(unmeasured.results()[0].control().cpu_time(), None);
}

#[test]
fn the_experiment_context_is_laid_under_each_runs_own() {
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("layered")
        .context("service", "checkout")
        .context("route", "unknown")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    experiment
        .trial()
        .context("user", 7u32)
        .context("route", "/pay")
        .control(|| 1)
        .candidate("v2", || 1)
        .run();
    experiment.run(|| 1, || 1);
    let rendered = |index: usize| -> Vec<(String, String)> {
        recorder.results()[index]
            .context()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_string()))
            .collect()
    };
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        rendered(0),
        pairs(&[("service", "checkout"), ("route", "/pay"), ("user", "7")])
    );
    assert_eq!(
        rendered(1),
        pairs(&[("service", "checkout"), ("route", "unknown")])
    );
}
