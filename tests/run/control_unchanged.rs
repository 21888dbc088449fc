//! Guarantee 1: the control's value, `Err` or panic payload reaches the caller unchanged, with
//! and without the experiment, whatever the candidates do and in whatever order they run.

use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};

use darklaunch::{Experiment, Sampler};
use proptest::prelude::*;

/// A panic payload that is not a string, to prove the original payload comes back.
#[derive(Debug, PartialEq, Clone)]
pub(crate) struct Payload(pub(crate) u32);

#[derive(Debug, Clone)]
pub(crate) enum Act {
    Value(i64),
    Err(String),
    Panic(u32),
    PanicText(String),
}

pub(crate) fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        any::<i64>().prop_map(Act::Value),
        "[a-z]{0,8}".prop_map(Act::Err),
        any::<u32>().prop_map(Act::Panic),
        "boom-[a-z]{0,8}".prop_map(Act::PanicText),
    ]
}

pub(crate) fn perform(act: &Act) -> Result<i64, String> {
    match act {
        Act::Value(v) => Ok(*v),
        Act::Err(e) => Err(e.clone()),
        Act::Panic(n) => panic_any(Payload(*n)),
        Act::PanicText(text) => panic!("{text}"),
    }
}

/// What the caller observed: a return value, or a panic with a recognisable payload.
#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    Returned(Result<i64, String>),
    PanickedWith(Payload),
    PanickedText(String),
    PanickedOther,
}

pub(crate) fn observe(f: impl FnOnce() -> Result<i64, String>) -> Seen {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Seen::Returned(value),
        Err(payload) => match payload.downcast::<Payload>() {
            Ok(p) => Seen::PanickedWith(*p),
            Err(payload) => match payload.downcast::<String>() {
                Ok(text) => Seen::PanickedText(*text),
                Err(_) => Seen::PanickedOther,
            },
        },
    }
}

use crate::common;

pub(crate) fn quiet_panics() {
    common::silence_expected_panics(&["boom-"]);
}

fn experiment(percent: f64, randomize: bool) -> Experiment<i64, String> {
    Experiment::builder("control-unchanged")
        .sampler(Sampler::percent(percent))
        .randomize_order(randomize)
        .publisher(|_: &darklaunch::ExperimentResult<i64, String>| {})
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sync_trials_return_exactly_what_the_control_does(
        control in act(),
        candidates in proptest::collection::vec(act(), 0..4),
        percent in prop_oneof![Just(0.0), Just(50.0), Just(100.0)],
        randomize in any::<bool>(),
    ) {
        quiet_panics();
        let experiment = experiment(percent, randomize);
        let bare = observe(|| perform(&control));
        let wrapped = observe(|| {
            let trial = experiment.trial().control(|| perform(&control));
            // Up to three candidates of one closure type, named distinctly.
            match candidates.as_slice() {
                [] => trial.run(),
                [a] => trial.candidate("a", || perform(a)).run(),
                [a, b] => trial.candidate("a", || perform(a)).candidate("b", || perform(b)).run(),
                [a, b, c, ..] => trial
                    .candidate("a", || perform(a))
                    .candidate("b", || perform(b))
                    .candidate("c", || perform(c))
                    .run(),
            }
        });
        prop_assert_eq!(&wrapped, &bare);
        let stats = experiment.stats();
        prop_assert!(stats.reconciles(), "{:?}", stats);
        prop_assert_eq!(stats.comparisons(), stats.sampled * candidates.len().min(3) as u64);
    }

    #[test]
    fn run_returns_exactly_what_the_control_does(control in act(), candidate in act()) {
        quiet_panics();
        let experiment = experiment(100.0, true);
        let bare = observe(|| perform(&control));
        let wrapped = observe(|| experiment.run(|| perform(&control), || perform(&candidate)));
        prop_assert_eq!(wrapped, bare);
    }

    #[test]
    fn run_async_returns_exactly_what_the_control_does(
        control in act(),
        candidate in act(),
        control_yields in 0..3usize,
        candidate_yields in 0..3usize,
    ) {
        quiet_panics();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let experiment = experiment(100.0, true);
        let bare = observe(|| perform(&control));
        let wrapped = observe(|| {
            runtime.block_on(experiment.run_async(
                async {
                    for _ in 0..control_yields { tokio::task::yield_now().await }
                    perform(&control)
                },
                async {
                    for _ in 0..candidate_yields { tokio::task::yield_now().await }
                    perform(&candidate)
                },
            ))
        });
        prop_assert_eq!(wrapped, bare);
        prop_assert!(experiment.stats().reconciles());
    }
}

#[test]
fn a_control_panic_is_resumed_after_the_run_is_recorded() {
    quiet_panics();
    let recorder = darklaunch::publish::Recorder::new();
    let experiment: Experiment<i64, String> = Experiment::builder("control-panics")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let seen = observe(|| experiment.run(|| panic_any(Payload(7)), || Ok(1)));
    assert_eq!(seen, Seen::PanickedWith(Payload(7)));
    let results = recorder.results();
    assert_eq!(
        results.len(),
        1,
        "the run was published before the panic was resumed"
    );
    assert_eq!(results[0].control().outcome().kind(), "panicked");
    assert_eq!(
        results[0].candidates()[0].verdict(),
        darklaunch::Verdict::Mismatch
    );
}
