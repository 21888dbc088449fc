//! Guarantee 2: a candidate's panic, error or timeout is recorded and never reaches the caller.

use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{Clock, Experiment, ManualClock, Outcome, Verdict};

use crate::common;

fn quiet_panics() {
    common::silence_expected_panics(&["rewrite exploded", "candidate future panicked"]);
}

#[test]
fn a_panicking_candidate_is_recorded_as_a_candidate_error() {
    quiet_panics();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("candidate-panics")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 5, || panic!("rewrite exploded")), 5);
    let result = &recorder.results()[0];
    let candidate = &result.candidates()[0];
    assert_eq!(candidate.verdict(), Verdict::CandidateError);
    assert_eq!(
        candidate.observation().outcome(),
        &Outcome::Panicked("rewrite exploded".to_string())
    );
    assert_eq!(experiment.stats().candidate_errors, 1);
}

#[test]
fn a_candidate_error_is_a_recorded_mismatch_and_the_control_value_is_returned() {
    let recorder = Recorder::new();
    let experiment: Experiment<u8, String> = Experiment::builder("candidate-errs")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| Ok(5), || Err("nope".to_string())), Ok(5));
    let result = &recorder.results()[0];
    assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
    assert_eq!(
        result.candidates()[0].observation().outcome(),
        &Outcome::Error("nope".to_string())
    );
}

#[test]
fn a_slow_sync_candidate_is_recorded_as_timed_out() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("slow-sync")
        .clock(Clock::manual(&clock))
        .candidate_timeout(Duration::from_millis(10))
        .randomize_order(false)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment.run(
        || {
            clock.advance(Duration::from_millis(3));
            1
        },
        || {
            clock.advance(Duration::from_millis(11));
            1
        },
    );
    assert_eq!(value, 1);
    let result = &recorder.results()[0];
    assert_eq!(result.control().duration(), Duration::from_millis(3));
    let candidate = &result.candidates()[0];
    assert_eq!(candidate.verdict(), Verdict::TimedOut);
    assert_eq!(
        candidate.observation().duration(),
        Duration::from_millis(11)
    );
    assert_eq!(experiment.stats().timeouts, 1);
}

#[test]
fn manual_clock_durations_are_exact_in_random_order() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("exact-durations")
        .clock(Clock::manual(&clock))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    for _ in 0..50 {
        experiment
            .trial()
            .control(|| {
                clock.advance(Duration::from_micros(5));
                1
            })
            .candidate("a", || {
                clock.advance(Duration::from_micros(7));
                1
            })
            .candidate("b", || {
                clock.advance(Duration::from_micros(9));
                1
            })
            .run();
    }
    for result in recorder.results() {
        assert_eq!(result.control().duration(), Duration::from_micros(5));
        assert_eq!(
            result.candidate("a").unwrap().observation().duration(),
            Duration::from_micros(7)
        );
        assert_eq!(
            result.candidate("b").unwrap().observation().duration(),
            Duration::from_micros(9)
        );
    }
}

/// Which behaviour ran first in each of `runs` runs of `experiment`.
fn first_runners(experiment: &Experiment<u8>, runs: usize) -> Vec<&'static str> {
    (0..runs)
        .map(|_| {
            let sequence = std::cell::RefCell::new(Vec::new());
            experiment.run(
                || {
                    sequence.borrow_mut().push("control");
                    1
                },
                || {
                    sequence.borrow_mut().push("candidate");
                    1
                },
            );
            let sequence = sequence.into_inner();
            assert_eq!(sequence.len(), 2, "both behaviours ran");
            sequence[0]
        })
        .collect()
}

#[test]
fn sync_runs_use_random_order_unless_told_otherwise() {
    let shuffled: Experiment<u8> = Experiment::builder("order").build().unwrap();
    let firsts = first_runners(&shuffled, 200);
    let control_first = firsts.iter().filter(|w| **w == "control").count();
    // 200 fair coin flips: both orders occur (the chance of either count being 0 is 2^-199).
    assert!(control_first > 0 && control_first < 200, "{control_first}");

    let ordered: Experiment<u8> = Experiment::builder("ordered")
        .randomize_order(false)
        .build()
        .unwrap();
    assert!(first_runners(&ordered, 50).iter().all(|w| *w == "control"));
}

/// On tokio's paused clock time moves only to the next timer, so the caller's wait is exact:
/// a deadline armed late, or ten times too long, shows as a different figure.
#[tokio::test(start_paused = true)]
async fn a_hanging_async_candidate_releases_the_caller_at_exactly_the_timeout() {
    let timeout = Duration::from_millis(50);
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("hanging-async")
        .candidate_timeout(timeout)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let value = experiment
        .run_async(async { 9 }, std::future::pending::<u8>())
        .await;
    assert_eq!(started.elapsed(), timeout, "run_async");
    assert_eq!(value, 9);

    let started = tokio::time::Instant::now();
    let value = experiment
        .trial()
        .control(async { 8 })
        .candidate("v2", std::future::pending::<u8>())
        .candidate("v3", async { 8 })
        .run_async()
        .await;
    assert_eq!(started.elapsed(), timeout, "trial().run_async");
    assert_eq!(value, 8);

    let results = recorder.results();
    assert_eq!(results[0].candidates()[0].verdict(), Verdict::TimedOut);
    assert_eq!(
        results[1].candidate("v2").unwrap().verdict(),
        Verdict::TimedOut
    );
    assert_eq!(
        results[1].candidate("v3").unwrap().verdict(),
        Verdict::Match
    );
    assert_eq!(experiment.stats().timeouts, 2);
}

#[tokio::test]
async fn a_late_async_candidate_is_timed_out_even_when_the_control_is_slower() {
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("late-async")
        .candidate_timeout(Duration::from_millis(50))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment
        .run_async(
            async {
                tokio::time::sleep(Duration::from_millis(120)).await;
                1
            },
            async {
                tokio::time::sleep(Duration::from_millis(80)).await;
                1
            },
        )
        .await;
    assert_eq!(value, 1);
    assert_eq!(
        recorder.results()[0].candidates()[0].verdict(),
        Verdict::TimedOut
    );
}

#[tokio::test]
async fn an_async_candidate_panic_never_reaches_the_caller() {
    quiet_panics();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("async-panic")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment
        .run_async(async { 3 }, async {
            tokio::task::yield_now().await;
            panic!("candidate future panicked")
        })
        .await;
    assert_eq!(value, 3);
    assert_eq!(
        recorder.results()[0].candidates()[0].verdict(),
        Verdict::CandidateError
    );
}

#[tokio::test]
async fn run_async_borrows_and_runs_both_futures_concurrently() {
    let experiment: Experiment<usize> = Experiment::builder("borrowing").build().unwrap();
    let data = String::from("abc");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // The control can only finish once the candidate has run: proof they run concurrently.
    let value = experiment
        .run_async(
            async {
                rx.await.unwrap();
                data.len()
            },
            async {
                tx.send(()).unwrap();
                data.chars().count() * 10
            },
        )
        .await;
    // The control's value, not the candidate's (which differs).
    assert_eq!(value, 3);
    assert_eq!(experiment.stats().mismatched, 1);
}

#[tokio::test]
async fn trial_run_async_runs_several_named_candidates() {
    let recorder = Recorder::new();
    let experiment: Experiment<u32> = Experiment::builder("async-trial")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment
        .trial()
        .context("route", "/x")
        .control(async { 10 })
        .candidate("other", async { 11 })
        .candidate("same", async { 10 })
        .run_async()
        .await;
    // The control's value, not the first candidate's.
    assert_eq!(value, 10);
    let result = &recorder.results()[0];
    assert_eq!(result.candidate("same").unwrap().verdict(), Verdict::Match);
    assert_eq!(
        result.candidate("other").unwrap().verdict(),
        Verdict::Mismatch
    );
}

#[tokio::test]
async fn a_cancelled_run_is_counted_as_dropped() {
    let experiment: Experiment<u8> = Experiment::builder("cancelled").build().unwrap();
    let run = experiment.run_async(std::future::pending::<u8>(), async { 1 });
    let timed_out = tokio::time::timeout(Duration::from_millis(10), run).await;
    assert!(timed_out.is_err());
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.dropped), (1, 1));
    assert!(stats.reconciles());
}

#[test]
fn panic_messages_are_capped_before_they_are_published() {
    quiet_panics();
    let recorder = Recorder::new();
    let experiment: Experiment<u8> = Experiment::builder("long-panic")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let long = format!("rewrite exploded {}", "é".repeat(5_000));
    assert_eq!(experiment.run(|| 1, move || panic!("{long}")), 1);
    let result = &recorder.results()[0];
    let Outcome::Panicked(message) = result.candidates()[0].observation().outcome() else {
        panic!("the candidate panicked");
    };
    assert!(message.len() <= 1024, "{} bytes", message.len());
    assert!(message.starts_with("rewrite exploded é") && message.ends_with('…'));
}
