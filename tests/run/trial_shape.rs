//! Scientist's shape of a trial: one control; a trial with no candidate that can run just runs
//! the control — no sampler, no `before_run`, nothing counted or published.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Operation, Sampler};

struct Seen {
    experiment: Experiment<u32>,
    recorder: Recorder<u32>,
    setups: Arc<AtomicUsize>,
    decisions: Arc<AtomicUsize>,
    hook: Arc<AtomicUsize>,
}

fn experiment() -> Seen {
    let recorder = Recorder::new();
    let setups = Arc::new(AtomicUsize::new(0));
    let decisions = Arc::new(AtomicUsize::new(0));
    let hook = Arc::new(AtomicUsize::new(0));
    let (s, d, h) = (setups.clone(), decisions.clone(), hook.clone());
    let experiment = Experiment::builder("shape")
        .sampler(Sampler::when(move || {
            d.fetch_add(1, Ordering::SeqCst);
            true
        }))
        .before_run(move || {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .on_error(move |error| {
            assert_eq!(error.operation, Operation::Trial);
            h.fetch_add(1, Ordering::SeqCst);
        })
        .publisher(recorder.clone())
        .build()
        .unwrap();
    Seen {
        experiment,
        recorder,
        setups,
        decisions,
        hook,
    }
}

fn assert_untouched(seen: &Seen) {
    let stats = seen.experiment.stats();
    assert_eq!(
        (stats.runs, stats.sampled, stats.published),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(seen.recorder.len(), 0);
    assert_eq!(
        seen.setups.load(Ordering::SeqCst),
        0,
        "before_run did not run"
    );
    assert_eq!(
        seen.decisions.load(Ordering::SeqCst),
        0,
        "the sampler was not asked"
    );
}

#[test]
fn a_control_only_trial_just_runs_the_control() {
    let seen = experiment();
    assert_eq!(seen.experiment.trial().key(7).control(|| 5).run(), 5);
    assert_untouched(&seen);
    assert_eq!(seen.hook.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_control_only_async_or_detached_trial_just_runs_the_control() {
    let seen = experiment();
    assert_eq!(
        seen.experiment
            .trial()
            .control(async { 5 })
            .run_async()
            .await,
        5
    );
    assert_eq!(
        seen.experiment
            .trial()
            .control(async { 6 })
            .run_detached()
            .await,
        6
    );
    assert_untouched(&seen);
}

#[tokio::test]
async fn a_trial_whose_every_candidate_is_refused_just_runs_the_control() {
    let seen = experiment();
    let value = seen
        .experiment
        .trial()
        .control(|| 1)
        .candidate("control", || 2) // the control's own name
        .run();
    assert_eq!(value, 1);
    let value = seen
        .experiment
        .trial()
        .control(async { 3 })
        .candidate("control", async { 4 })
        .run_async()
        .await;
    assert_eq!(value, 3);
    let value = seen
        .experiment
        .trial()
        .control(async { 5 })
        .candidate("control", async { 6 })
        .run_detached()
        .await;
    assert_eq!(value, 5);
    assert_untouched(&seen);
    assert_eq!(
        seen.hook.load(Ordering::SeqCst),
        3,
        "each refusal is still reported"
    );
}

#[test]
fn a_trial_with_one_runnable_candidate_among_refused_ones_runs_it() {
    let seen = experiment();
    let value = seen
        .experiment
        .trial()
        .control(|| 1)
        .candidate("v2", || 1)
        .candidate("v2", || 2) // a duplicate: refused
        .run();
    assert_eq!(value, 1);
    let stats = seen.experiment.stats();
    assert_eq!(
        (stats.runs, stats.sampled, stats.matched),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(seen.hook.load(Ordering::SeqCst), 1);
    assert_eq!(seen.recorder.results()[0].candidates().len(), 1);
}

#[test]
fn run_only_runs_one_named_behaviour_alone() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let errors = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = errors.clone();
    let experiment: darklaunch::Experiment<u32> = darklaunch::Experiment::builder("run-only")
        .on_error(move |error| {
            assert_eq!(error.operation, darklaunch::Operation::Trial);
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    let trial = || {
        experiment
            .trial()
            .control(|| {
                ran.fetch_add(1, Ordering::Relaxed);
                1
            })
            .candidate("v2", || {
                ran.fetch_add(10, Ordering::Relaxed);
                2
            })
            .candidate("v3", || {
                ran.fetch_add(100, Ordering::Relaxed);
                3
            })
    };
    assert_eq!(trial().run_only("v2"), 2);
    assert_eq!(ran.swap(0, Ordering::Relaxed), 10, "only v2 ran");
    assert_eq!(trial().run_only("control"), 1);
    assert_eq!(ran.swap(0, Ordering::Relaxed), 1);
    assert_eq!(
        trial().run_only("v9"),
        1,
        "an unknown name runs the control"
    );
    assert_eq!(errors.load(Ordering::Relaxed), 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let value = runtime.block_on(
        experiment
            .trial()
            .control(async { 1 })
            .candidate("v3", async { 3 })
            .run_only_async("v3"),
    );
    assert_eq!(value, 3);
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (0, 0), "nothing is counted");
}
