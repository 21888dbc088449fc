//! Detached runs: the caller gets the control's result at once; candidates, comparison and
//! publishing happen in the background; caps shed, full queues drop, flush reports exactly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{
    Background, CallbackError, Experiment, ExperimentResult, Operation, Outcome, Sampler, Verdict,
};

use crate::common;

fn quiet_panics() {
    common::silence_expected_panics(&["detached candidate panics"]);
}

fn experiment(recorder: &Recorder<u32>) -> Experiment<u32> {
    Experiment::builder("detached")
        .candidate_timeout(Duration::from_millis(100))
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_caller_gets_the_control_before_the_candidate_finishes() {
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let value = experiment
        .run_detached(async { 7 }, async move {
            gate.await.unwrap();
            8
        })
        .await;
    // The candidate cannot have finished: it waits for a release sent only now.
    assert_eq!(value, 7);
    assert!(recorder.is_empty());
    assert_eq!(experiment.stats().in_flight(), 1);
    release.send(()).unwrap();
    let report = experiment.flush(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    let result = &recorder.results()[0];
    assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
    assert_eq!(result.candidates()[0].observation().value(), Some(&8));
    assert!(experiment.stats().reconciles());
}

#[tokio::test]
async fn detached_candidate_panics_and_timeouts_are_recorded() {
    quiet_panics();
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);
    assert_eq!(
        experiment
            .run_detached(async { 1 }, async { panic!("detached candidate panics") })
            .await,
        1
    );
    assert_eq!(
        experiment
            .run_detached(async { 2 }, std::future::pending::<u32>())
            .await,
        2
    );
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let stats = experiment.stats();
    assert_eq!((stats.candidate_errors, stats.timeouts), (1, 1));
    assert!(stats.reconciles());
    let outcomes: Vec<_> = recorder
        .results()
        .iter()
        .map(|r| r.candidates()[0].observation().outcome().kind())
        .collect();
    assert!(outcomes.contains(&"panicked") && outcomes.contains(&"timed_out"));
}

#[tokio::test]
async fn detached_controls_return_errors_and_panics_unchanged() {
    quiet_panics();
    let experiment: Experiment<u32, String> =
        Experiment::builder("detached-results").build().unwrap();
    let err = experiment
        .run_detached(async { Err("control failed".to_string()) }, async { Ok(1) })
        .await;
    assert_eq!(err, Err("control failed".to_string()));
    #[derive(Debug, PartialEq)]
    struct Payload(u8);
    let caught = tokio::spawn({
        let experiment = experiment.clone();
        async move {
            experiment
                .run_detached(async { std::panic::panic_any(Payload(3)) }, async {
                    Ok::<u32, String>(1)
                })
                .await
        }
    })
    .await
    .expect_err("the control's panic reaches the caller");
    let payload = caught.into_panic();
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(3)));
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let stats = experiment.stats();
    assert_eq!(
        (stats.sampled, stats.published, stats.mismatched),
        (2, 2, 2)
    );
}

#[test]
fn from_a_thread_that_is_not_a_worker_the_candidate_is_handed_over() {
    let recorder = Recorder::new();
    let background = Background::new();
    let experiment: Experiment<u32> = Experiment::builder("detached")
        .candidate_timeout(Duration::from_millis(100))
        .background(background.clone())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // block_on's thread is not a worker: the candidate goes through the background queue.
    let ran_on = Arc::new(Mutex::new(None));
    let seen = ran_on.clone();
    let value = runtime.block_on(experiment.run_detached(async { 5 }, async move {
        *seen.lock().unwrap() = std::thread::current().name().map(str::to_owned);
        5
    }));
    assert_eq!(value, 5);
    let report = experiment.flush_blocking(Duration::from_secs(5));
    assert!(report.is_complete(), "{report}");
    assert_eq!(experiment.stats().matched, 1);
    let thread = ran_on.lock().unwrap().clone().unwrap_or_default();
    assert!(
        thread.starts_with("tokio-"),
        "ran on {thread:?}, not a runtime worker"
    );
    // A direct spawn from this thread would also run on a `tokio-` worker: the count tells
    // that the background did the spawning.
    assert_eq!(
        background.handed_over(),
        1,
        "handed over, not spawned by the caller"
    );
    // From inside a task the candidate is spawned at once, with no hand-over.
    let value = runtime.block_on(async {
        let experiment = experiment.clone();
        tokio::spawn(async move { experiment.run_detached(async { 6 }, async { 6 }).await })
            .await
            .unwrap()
    });
    assert_eq!(value, 6);
    assert!(experiment
        .flush_blocking(Duration::from_secs(5))
        .is_complete());
    assert_eq!(
        background.handed_over(),
        1,
        "a runtime worker spawns directly"
    );
    assert_eq!(experiment.stats().matched, 2);
}

#[test]
fn without_a_runtime_the_run_is_shed_and_reported() {
    let errors = Arc::new(Mutex::new(Vec::<CallbackError>::new()));
    let sink = errors.clone();
    let experiment: Experiment<u32> = Experiment::builder("no-runtime")
        .on_error(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let value = futures::executor::block_on(experiment.run_detached(async { 4 }, async { 4 }));
    assert_eq!(value, 4);
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.shed), (1, 1));
    assert!(stats.reconciles());
    assert_eq!(errors.lock().unwrap()[0].operation, Operation::Detach);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_runs_are_shed_and_counted_exactly() {
    let recorder = Recorder::new();
    let experiment: Experiment<u32> = Experiment::builder("capped")
        .max_in_flight(3)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Notify::new());
    for i in 0..10 {
        let gate = gate.clone();
        let value = experiment
            .run_detached(async move { i }, async move {
                gate.notified().await;
                i
            })
            .await;
        assert_eq!(value, i);
    }
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.shed, stats.in_flight()), (10, 7, 3));
    assert!(!stats.reconciles(), "three runs have not ended: {stats:?}");
    // While they hang, a flush reports exactly what is not done.
    let report = experiment.flush(Duration::from_millis(30)).await;
    assert_eq!(
        (
            report.candidates_running,
            report.candidates_waiting,
            report.results_queued
        ),
        (3, 0, 0),
        "{report}"
    );
    assert_eq!(report.unfinished(), 3);
    let text = report.to_string();
    assert!(text.contains("3 candidate run(s) still running"), "{text}");
    assert!(
        !text.contains("never started"),
        "nothing is waiting: {text}"
    );
    gate.notify_waiters();
    let report = experiment.flush(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    let stats = experiment.stats();
    assert_eq!((stats.published, stats.shed, stats.matched), (3, 7, 3));
    assert!(stats.reconciles());
    assert_eq!(recorder.len(), 3);
}

#[test]
fn a_slow_publisher_never_blocks_the_caller() {
    let (release, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let published = Arc::new(AtomicUsize::new(0));
    let count = published.clone();
    let experiment: Experiment<u32> = Experiment::builder("slow-publisher")
        .publisher(move |_: &ExperimentResult<u32>| {
            // Blocks until the test says so: were it called on the caller's path, the caller
            // could never get to send the release.
            let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
            count.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for i in 0..3 {
        let value = runtime.block_on(async {
            tokio::spawn({
                let experiment = experiment.clone();
                async move {
                    experiment
                        .run_detached(async move { i }, async move { i })
                        .await
                }
            })
            .await
            .unwrap()
        });
        assert_eq!(value, i);
    }
    assert_eq!(experiment.run_detached_blocking(|| 9, || 9), 9);
    assert_eq!(published.load(Ordering::SeqCst), 0);
    for _ in 0..4 {
        release.send(()).unwrap();
    }
    let report = runtime.block_on(experiment.flush(Duration::from_secs(10)));
    assert!(report.is_complete(), "{report}");
    assert_eq!(published.load(Ordering::SeqCst), 4);
    assert!(experiment.stats().reconciles());
}

#[tokio::test]
async fn a_full_publish_queue_drops_and_counts_exactly() {
    let (release, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let experiment: Experiment<u32> = Experiment::builder("full-queue")
        .publish_queue_capacity(2)
        .publisher(move |_: &ExperimentResult<u32>| {
            let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
        })
        .build()
        .unwrap();
    for i in 0..20 {
        assert_eq!(
            experiment
                .run_detached(async move { i }, async move { i })
                .await,
            i
        );
    }
    // Two results fit (the one the worker is publishing counts until it is published); the
    // other eighteen found the queue full.
    let report = experiment.flush(Duration::from_millis(300)).await;
    assert_eq!(
        (report.candidates_running, report.results_queued),
        (0, 2),
        "{report}"
    );
    assert_eq!(experiment.stats().publish_dropped, 18);
    for _ in 0..2 {
        release.send(()).unwrap();
    }
    let report = experiment.flush(Duration::from_secs(10)).await;
    assert!(report.is_complete(), "{report}");
    let stats = experiment.stats();
    assert_eq!(
        (stats.sampled, stats.published, stats.publish_dropped),
        (20, 2, 18)
    );
    assert!(stats.reconciles(), "{stats:?}");
}

#[test]
fn a_full_candidate_queue_sheds_blocking_runs() {
    let background = Background::builder()
        .threads(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let wait = Arc::new(Mutex::new(wait));
    let experiment: Experiment<u32> = Experiment::builder("full-candidate-queue")
        .background(background)
        .build()
        .unwrap();
    for i in 0..20 {
        let wait = wait.clone();
        let value = experiment.run_detached_blocking(
            move || i,
            move || {
                let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
                i
            },
        );
        assert_eq!(value, i);
    }
    for _ in 0..20 {
        let _ = release.send(());
    }
    let report = experiment.flush_blocking(Duration::from_secs(10));
    assert!(report.is_complete(), "{report}");
    let stats = experiment.stats();
    // At most one candidate running and two queued at any time: at least seventeen shed.
    assert!(stats.shed >= 17, "{stats:?}");
    assert_eq!(stats.published + stats.shed, 20);
    assert!(stats.reconciles(), "{stats:?}");
}

#[test]
fn run_detached_blocking_runs_the_candidate_on_a_background_thread() {
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);
    let value = experiment.run_detached_blocking(
        || 3,
        || {
            assert!(std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("darklaunch-")));
            4
        },
    );
    assert_eq!(value, 3);
    assert!(experiment
        .flush_blocking(Duration::from_secs(5))
        .is_complete());
    let result = &recorder.results()[0];
    assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
}

#[tokio::test]
async fn shutdown_stops_new_candidates_and_flushes() {
    let recorder = Recorder::new();
    let experiment = experiment(&recorder);
    experiment.run_detached(async { 1 }, async { 1 }).await;
    let report = experiment.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    let mut ran = false;
    let value = experiment.run(
        || 2,
        || {
            ran = true;
            2
        },
    );
    assert_eq!(value, 2);
    assert!(!ran, "no candidate starts after shutdown");
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled, stats.published), (2, 1, 1));
}

#[tokio::test]
async fn trial_run_detached_carries_key_and_context() {
    let recorder = Recorder::new();
    let experiment: Experiment<u32> = Experiment::builder("detached-trial")
        .sampler(Sampler::keyed(50.0))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    // The key decides: one key the keyed sampler leaves out, one it takes in.
    let out = (0u64..).find(|k| !experiment.samples(k)).unwrap();
    let chosen = (0u64..).find(|k| experiment.samples(k)).unwrap();
    let value = experiment
        .trial()
        .key(out)
        .control(async { 10 })
        .candidate("same", async { 10 })
        .run_detached()
        .await;
    assert_eq!(value, 10);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert!(recorder.is_empty(), "the sampled-out key ran no candidate");
    let value = experiment
        .trial()
        .key(chosen)
        .context("route", "/cart")
        .control(async { 10 })
        .candidate("same", async { 10 })
        .candidate("off", async { 11 })
        .run_detached()
        .await;
    assert_eq!(value, 10);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let result = &recorder.results()[0];
    assert_eq!(result.context().get("route").unwrap().to_string(), "/cart");
    assert_eq!(result.candidate("same").unwrap().verdict(), Verdict::Match);
    assert_eq!(
        result.candidate("off").unwrap().verdict(),
        Verdict::Mismatch
    );
    assert_eq!(result.control().outcome(), &Outcome::Value(10));
    assert_eq!(experiment.stats().sampled, 1);
}

#[test]
fn a_blocked_publisher_shows_in_the_flush_report_as_candidates_that_never_started() {
    // A publisher that blocks until the test opens the gate holds the only worker.
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let publisher_gate = gate.clone();
    let background = Background::builder().threads(1).build().unwrap();
    let experiment: Experiment<u32> = Experiment::builder("blocked-publisher")
        .background(background)
        .publisher(move |_: &ExperimentResult<u32>| {
            let _ = entered_tx.lock().unwrap().send(());
            let (open, opened) = &*publisher_gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = opened.wait(open).unwrap();
            }
        })
        .build()
        .unwrap();
    assert_eq!(experiment.run_detached_blocking(|| 1, || 1), 1);
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the first run reaches its publisher");
    assert_eq!(experiment.run_detached_blocking(|| 2, || 2), 2);
    assert_eq!(experiment.run_detached_blocking(|| 3, || 3), 3);

    let report = experiment.flush_blocking(Duration::from_millis(50));
    assert_eq!(
        (
            report.candidates_running,
            report.candidates_waiting,
            report.results_queued
        ),
        (1, 2, 0),
        "one run is publishing, two never started: {report}"
    );
    assert!(report.to_string().contains("never started"), "{report}");

    let (open, opened) = &*gate;
    *open.lock().unwrap() = true;
    opened.notify_all();
    let report = experiment.flush_blocking(Duration::from_secs(10));
    assert!(report.is_complete(), "{report}");
    let stats = experiment.stats();
    assert_eq!(stats.published, 3, "{stats:?}");
    assert!(stats.reconciles());
}
