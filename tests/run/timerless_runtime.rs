//! A runtime without timers (or no runtime at all) still bounds the wait for a candidate: the
//! experiment says once, through the error hook, that tokio's timers are missing and arms its
//! deadlines on its own timer thread. Before, `run_async` panicked inside on every run and
//! waited without bound, and detached candidates never timed out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Operation, Outcome};

const TIMEOUT: Duration = Duration::from_millis(200);

fn experiment(recorder: &Recorder<u32>, timer_reports: &Arc<AtomicUsize>) -> Experiment<u32> {
    let reports = timer_reports.clone();
    Experiment::builder("timerless")
        .candidate_timeout(TIMEOUT)
        .publisher(recorder.clone())
        .on_error(move |error| {
            assert_eq!(error.operation, Operation::Timer, "{error}");
            assert!(error.message.contains("no timers"), "{error}");
            reports.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap()
}

fn runtime_without_timers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without timers")
}

fn assert_timed_out(recorder: &Recorder<u32>, count: usize) {
    let results = recorder.take();
    assert_eq!(results.len(), count);
    for result in results {
        assert!(matches!(
            result.candidates()[0].observation().outcome(),
            Outcome::TimedOut
        ));
    }
}

#[test]
fn run_async_on_a_runtime_without_timers_waits_no_longer_than_the_timeout() {
    let recorder = Recorder::new();
    let reports = Arc::new(AtomicUsize::new(0));
    let exp = experiment(&recorder, &reports);
    runtime_without_timers().block_on(async {
        for run in 0..3 {
            let started = Instant::now();
            let value = exp
                .run_async(async { 1 }, std::future::pending::<u32>())
                .await;
            let waited = started.elapsed();
            assert_eq!(value, 1);
            assert!(waited >= TIMEOUT, "released early: {waited:?}");
            // The first run also pays for tokio's panic when the timer is made (with
            // RUST_BACKTRACE set, the panic hook symbolizes a backtrace): bounded, not timed.
            let bound = if run == 0 { 50 * TIMEOUT } else { 2 * TIMEOUT };
            assert!(waited < bound, "held {waited:?} for a {TIMEOUT:?} timeout");
        }
    });
    assert_timed_out(&recorder, 3);
    assert_eq!(reports.load(Ordering::SeqCst), 1, "said once, not per run");
    assert_eq!(exp.stats().timeouts, 3);
}

#[test]
fn detached_candidates_on_a_runtime_without_timers_time_out_and_flush_reconciles() {
    let recorder = Recorder::new();
    let reports = Arc::new(AtomicUsize::new(0));
    let exp = experiment(&recorder, &reports);
    runtime_without_timers().block_on(async {
        let value = exp
            .run_detached(async { 1 }, std::future::pending::<u32>())
            .await;
        assert_eq!(value, 1);
        let report = exp.flush(Duration::from_secs(5)).await;
        assert!(report.is_complete(), "{report}");
    });
    assert_timed_out(&recorder, 1);
    let stats = exp.stats();
    assert_eq!((stats.timeouts, stats.published), (1, 1), "{stats:?}");
    assert!(stats.reconciles());
    assert_eq!(reports.load(Ordering::SeqCst), 1);
}

#[test]
fn run_async_outside_any_runtime_is_bounded_too() {
    let recorder = Recorder::new();
    let reports = Arc::new(AtomicUsize::new(0));
    let exp = experiment(&recorder, &reports);
    let started = Instant::now();
    let value =
        futures::executor::block_on(exp.run_async(async { 1 }, std::future::pending::<u32>()));
    let waited = started.elapsed();
    assert_eq!(value, 1);
    assert!(waited >= TIMEOUT && waited < 2 * TIMEOUT, "{waited:?}");
    assert_timed_out(&recorder, 1);
    assert_eq!(
        reports.load(Ordering::SeqCst),
        0,
        "no tokio runtime: nothing was missing"
    );
}
