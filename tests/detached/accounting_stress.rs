//! Guarantees 5 and 6 under concurrency: many threads, random candidate panics, mismatches and
//! publisher failures, a small in-flight cap; afterwards every counter reconciles exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use darklaunch::publish::Recorder;
use darklaunch::{Experiment, ExperimentResult, Operation, Sampler, Verdict};

use crate::common;

fn quiet_panics() {
    common::silence_expected_panics(&["candidate panics", "publisher fails"]);
}

#[test]
fn counters_reconcile_exactly_under_concurrent_load() {
    quiet_panics();
    const THREADS: u64 = 4;
    const CALLS: u64 = 25_000;
    let recorder: Recorder<u64> = Recorder::new();
    let hook_calls = Arc::new(AtomicU64::new(0));
    let hook_counter = hook_calls.clone();
    // A sampler that says yes to exactly 3 calls in 5 and counts what it said, so that the
    // call counter is checked against an independent count (`runs` alone cannot fail: it is
    // at least `sampled`).
    let said_yes = Arc::new(AtomicU64::new(0));
    let said_no = Arc::new(AtomicU64::new(0));
    let (yes, no, asked) = (
        said_yes.clone(),
        said_no.clone(),
        Arc::new(AtomicU64::new(0)),
    );
    let experiment: Experiment<u64> = Experiment::builder("stress")
        .sampler(Sampler::when(move || {
            let sampled = asked.fetch_add(1, Ordering::Relaxed) % 5 < 3;
            let tally = if sampled { &yes } else { &no };
            tally.fetch_add(1, Ordering::Relaxed);
            sampled
        }))
        .max_in_flight(2)
        .publisher(recorder.clone())
        .publisher(|result: &ExperimentResult<u64>| {
            if result.control().value().is_some_and(|v| v % 13 == 0) {
                panic!("publisher fails on multiples of 13");
            }
        })
        .on_error(move |_| {
            hook_counter.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let controls_returned = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let experiment = experiment.clone();
            let returned = controls_returned.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..CALLS {
                    let n = thread * CALLS + i;
                    let value = experiment.run(
                        || n,
                        || match n % 10 {
                            0 => panic!("candidate panics"),
                            7 => n + 1,
                            _ => {
                                // Linger so that runs overlap and the cap sheds some.
                                std::hint::black_box((0..200).sum::<u64>());
                                n
                            }
                        },
                    );
                    assert_eq!(value, n);
                    returned.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let stats = experiment.stats();
    let results = recorder.take();
    assert_eq!(controls_returned.load(Ordering::Relaxed), THREADS * CALLS);
    assert_eq!(stats.runs, THREADS * CALLS);
    assert_eq!(
        said_yes.load(Ordering::Relaxed) + said_no.load(Ordering::Relaxed),
        THREADS * CALLS
    );
    assert_eq!(stats.sampled, said_yes.load(Ordering::Relaxed), "{stats:?}");
    assert_eq!(
        stats.sampled_out(),
        said_no.load(Ordering::Relaxed),
        "{stats:?}"
    );
    assert!(stats.reconciles(), "{stats:?}");
    assert_eq!(stats.dropped, 0);
    assert!(
        stats.shed > 0,
        "the cap of 2 in flight shed nothing: {stats:?}"
    );
    // Runs carried out = sampled - shed; each had one candidate.
    assert_eq!(stats.comparisons(), stats.sampled - stats.shed);
    // The recorder comes first, so it saw every run that reached the publishers.
    assert_eq!(results.len() as u64, stats.published + stats.publish_failed);
    let failing = results
        .iter()
        .filter(|r| r.control().value().is_some_and(|v| v % 13 == 0))
        .count() as u64;
    assert_eq!(stats.publish_failed, failing);
    assert_eq!(stats.callback_errors_by(Operation::Publish), failing);
    assert_eq!(hook_calls.load(Ordering::Relaxed), stats.callback_errors);
    let count = |verdict| {
        results
            .iter()
            .filter(|r| r.candidates()[0].verdict() == verdict)
            .count() as u64
    };
    assert_eq!(stats.matched, count(Verdict::Match));
    assert_eq!(stats.mismatched, count(Verdict::Mismatch));
    assert_eq!(stats.candidate_errors, count(Verdict::CandidateError));
    for result in &results {
        let n = *result.control().value().unwrap();
        let expected = match n % 10 {
            0 => Verdict::CandidateError,
            7 => Verdict::Mismatch,
            _ => Verdict::Match,
        };
        assert_eq!(result.candidates()[0].verdict(), expected, "run {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_runs_reconcile_exactly_with_timeouts_and_cancellations() {
    quiet_panics();
    let experiment: Experiment<u64> = Experiment::builder("async-stress")
        .candidate_timeout(std::time::Duration::from_millis(2))
        .max_in_flight(64)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let experiment = experiment.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500u64 {
                let n = task * 1_000 + i;
                let run = experiment.run_async(
                    async move {
                        if n % 11 == 0 {
                            std::future::pending::<()>().await;
                        }
                        n
                    },
                    async move {
                        match n % 5 {
                            0 => std::future::pending::<u64>().await,
                            1 => panic!("async candidate panics"),
                            _ => n,
                        }
                    },
                );
                if n % 11 == 0 {
                    // Cancel the controls that never finish: those runs must count as dropped.
                    let cancelled =
                        tokio::time::timeout(std::time::Duration::from_millis(5), run).await;
                    assert!(cancelled.is_err());
                } else {
                    assert_eq!(run.await, n);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = experiment.stats();
    assert_eq!(stats.runs, 4_000);
    assert!(stats.reconciles(), "{stats:?}");
    let cancelled = (0..8u64)
        .flat_map(|t| (0..500u64).map(move |i| t * 1_000 + i))
        .filter(|n| n % 11 == 0)
        .count() as u64;
    assert_eq!(stats.dropped, cancelled);
    assert_eq!(
        stats.comparisons(),
        stats.sampled - stats.shed - stats.dropped
    );
}
