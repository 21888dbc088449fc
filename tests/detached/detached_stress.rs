//! One million detached runs from tokio tasks and plain threads, with random candidate
//! latency, panics, timeouts and a slow, sometimes panicking publisher: afterwards every
//! counter reconciles exactly. That memory stays bounded when candidates are 100× slower than
//! the control at full rate is measured in `tests/detached_memory.rs`, a process of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::{Background, Experiment, ExperimentResult, Operation, Verdict};

use crate::common;

const TASKS: u64 = 4;
const PER_TASK: u64 = 200_000;
const THREADS: u64 = 2;
const PER_THREAD: u64 = 100_000;

/// The first run number of the thread that runs blocking candidates.
const FIRST_BLOCKING: u64 = TASKS * PER_TASK + PER_THREAD;

/// What the candidate of run `n` does, and so the verdict its published result must carry.
fn expected_verdict(n: u64) -> Verdict {
    match n % 100 {
        0 | 1 => Verdict::CandidateError,
        2 if n % 5_000 == 2 && n < FIRST_BLOCKING => Verdict::TimedOut,
        3..=5 => Verdict::Mismatch,
        _ => Verdict::Match,
    }
}

async fn candidate(n: u64) -> u64 {
    match n % 100 {
        0 | 1 => panic!("stress candidate panics"),
        // One run in 5,000 never finishes and times out.
        2 if n % 5_000 == 2 => std::future::pending().await,
        3..=5 => n + 1,
        6..=10 => {
            for _ in 0..(n % 4) {
                tokio::task::yield_now().await;
            }
            n
        }
        _ => n,
    }
}

fn blocking_candidate(n: u64) -> u64 {
    match n % 100 {
        0 | 1 => panic!("stress candidate panics"),
        3..=5 => n + 1,
        _ => n,
    }
}

#[test]
fn a_million_detached_runs_reconcile_exactly() {
    common::silence_expected_panics(&["stress candidate panics", "stress publisher panics"]);
    let wrong_verdicts = Arc::new(AtomicU64::new(0));
    let publisher_calls = Arc::new(AtomicU64::new(0));
    let hook_calls = Arc::new(AtomicU64::new(0));
    let (wrong, calls, hooks) = (
        wrong_verdicts.clone(),
        publisher_calls.clone(),
        hook_calls.clone(),
    );
    let experiment: Experiment<u64> = Experiment::builder("detached-stress")
        // Generous, so that only the candidates that never finish time out, even on a loaded
        // machine.
        .candidate_timeout(Duration::from_millis(250))
        .max_in_flight(512)
        .publish_queue_capacity(256)
        .background(
            Background::builder()
                .threads(1)
                .queue_capacity(2048)
                .build()
                .unwrap(),
        )
        .publisher(move |result: &ExperimentResult<u64>| {
            let n = *result.control().value().expect("controls never fail here");
            calls.fetch_add(1, Ordering::Relaxed);
            if result.candidates()[0].verdict() != expected_verdict(n) {
                wrong.fetch_add(1, Ordering::Relaxed);
            }
            if n % 64 == 0 {
                // A slow publisher: the queue backs up and some results are dropped.
                std::thread::sleep(Duration::from_micros(200));
            }
            if n % 1_009 == 0 {
                panic!("stress publisher panics");
            }
        })
        .on_error(move |_| {
            hooks.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let experiment = experiment.clone();
            runtime.spawn(async move {
                for i in 0..PER_TASK {
                    let n = task * PER_TASK + i;
                    assert_eq!(
                        experiment
                            .run_detached(async move { n }, candidate(n))
                            .await,
                        n
                    );
                    // A service yields between requests; a loop that never did would starve
                    // its own candidates (and they would be shed at the cap).
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    // Plain threads: one hands async candidates over through `Handle::block_on`, one runs
    // blocking candidates.
    let handle = runtime.handle().clone();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let experiment = experiment.clone();
            let handle = handle.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let n = TASKS * PER_TASK + thread * PER_THREAD + i;
                    let value = if thread == 0 {
                        handle.block_on(experiment.run_detached(async move { n }, candidate(n)))
                    } else {
                        experiment.run_detached_blocking(move || n, move || blocking_candidate(n))
                    };
                    assert_eq!(value, n);
                }
            })
        })
        .collect();
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    for thread in threads {
        thread.join().unwrap();
    }
    let report = runtime.block_on(experiment.flush(Duration::from_secs(60)));
    assert!(report.is_complete(), "{report}");

    let stats = experiment.stats();
    let total = TASKS * PER_TASK + THREADS * PER_THREAD;
    assert_eq!(stats.runs, total);
    assert_eq!(stats.sampled, total, "every call was sampled");
    assert!(stats.reconciles(), "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    // Every run that reached the publisher was judged, and judged right.
    assert_eq!(
        publisher_calls.load(Ordering::Relaxed),
        stats.published + stats.publish_failed
    );
    assert_eq!(stats.comparisons(), stats.published + stats.publish_failed);
    assert_eq!(wrong_verdicts.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.callback_errors_by(Operation::Publish),
        stats.publish_failed
    );
    assert_eq!(hook_calls.load(Ordering::Relaxed), stats.callback_errors);
    assert!(
        stats.publish_failed > 0 && stats.candidate_errors > 0 && stats.timeouts > 0,
        "{stats:?}"
    );
    // Full rate hits the cap, but a good share of the runs were carried out.
    assert!(stats.published > total / 10, "{stats:?}");
    eprintln!("{stats:?}");
}
