//! The caller-facing guarantees in every run form, from one table of forms (`run`,
//! `trial().run`, `run_async`, `trial().run_async`, `run_detached`, `trial().run_detached`,
//! `run_detached_blocking`, `trial().run_detached_blocking`, and the public seam's `SampledRun::{run, run_async, detach}`):
//!
//! - the control's value, `Err` or panic payload reaches the caller unchanged, whatever the
//!   candidate does;
//! - a candidate's value, error, panic or hang is recorded as exactly that and never reaches
//!   the caller;
//! - on tokio's paused clock, a hanging candidate holds an awaiting caller exactly
//!   `candidate_timeout` and a detached caller not at all, and is dropped exactly
//!   `candidate_timeout` after it started.
//!
//! The shadow layer's forms of these are in `tests/shadow/shadow_layer.rs`.

use std::panic::{panic_any, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{Candidates, Clock, Experiment, ManualClock, Outcome, SyncCandidates, Verdict};
use futures::FutureExt;
use tokio::time::Instant;

use crate::common;

const TIMEOUT: Duration = Duration::from_millis(50);
const FABRICATED: Duration = Duration::from_secs(7);

type Out = Result<u8, String>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Run,
    TrialRun,
    RunAsync,
    TrialRunAsync,
    RunDetached,
    TrialRunDetached,
    RunDetachedBlocking,
    TrialRunDetachedBlocking,
    SeamRun,
    SeamRunAsync,
    SeamDetach,
}

const FORMS: [Form; 11] = [
    Form::Run,
    Form::TrialRun,
    Form::RunAsync,
    Form::TrialRunAsync,
    Form::RunDetached,
    Form::TrialRunDetached,
    Form::RunDetachedBlocking,
    Form::TrialRunDetachedBlocking,
    Form::SeamRun,
    Form::SeamRunAsync,
    Form::SeamDetach,
];

impl Form {
    /// Whether the caller waits for the candidate (bounded by the timeout).
    fn awaits_candidate(self) -> bool {
        matches!(
            self,
            Form::RunAsync | Form::TrialRunAsync | Form::SeamRunAsync
        )
    }

    fn is_async(self) -> bool {
        !matches!(
            self,
            Form::Run
                | Form::TrialRun
                | Form::RunDetachedBlocking
                | Form::TrialRunDetachedBlocking
                | Form::SeamRun
        )
    }
}

/// What a behaviour does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    Value(u8),
    Err(&'static str),
    /// Panics with a payload that is not text, to prove the very payload comes back.
    Panic(u32),
    /// Never finishes when async; when sync, takes twice the timeout on the manual clock and
    /// then returns a value too late.
    Hang,
}

/// A panic payload that is not a string.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Payload(u32);

/// What the caller saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Returned(Out),
    PanickedWith(Payload),
    PanickedOther,
}

fn seen(result: std::thread::Result<Out>) -> Seen {
    match result {
        Ok(out) => Seen::Returned(out),
        Err(payload) => match payload.downcast::<Payload>() {
            Ok(payload) => Seen::PanickedWith(*payload),
            Err(_) => Seen::PanickedOther,
        },
    }
}

/// Records the paused clock's time when a hanging candidate is dropped.
#[derive(Clone, Default)]
struct DropTimes(Arc<Mutex<Vec<Instant>>>);

impl DropTimes {
    fn take(&self) -> Vec<Instant> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A future that never finishes and notes when it is dropped.
struct Hanging(DropTimes);

impl std::future::Future for Hanging {
    type Output = Out;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Out> {
        Poll::Pending
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap().push(Instant::now());
    }
}

struct Bench {
    experiment: Experiment<u8, String>,
    recorder: Recorder<u8, String>,
    clock: ManualClock,
    drops: DropTimes,
}

impl Bench {
    fn new() -> Self {
        let clock = ManualClock::new();
        let recorder = Recorder::new();
        let experiment = Experiment::builder("run-forms")
            // Experiment-level context and a fabricated control duration reach every form's
            // result (checked in `published`).
            .context("suite", "run-forms")
            .fabricate_duration("control", FABRICATED)
            .candidate_timeout(TIMEOUT)
            .clock(Clock::manual(&clock))
            .publisher(recorder.clone())
            .build()
            .unwrap();
        Self {
            experiment,
            recorder,
            clock,
            drops: DropTimes::default(),
        }
    }

    fn sync_act(&self, act: Act) -> impl FnOnce() -> Out + Send + 'static {
        let clock = self.clock.clone();
        move || match act {
            Act::Value(value) => Ok(value),
            Act::Err(error) => Err(error.to_string()),
            Act::Panic(n) => panic_any(Payload(n)),
            Act::Hang => {
                clock.advance(TIMEOUT * 2);
                Ok(0)
            }
        }
    }

    fn async_act(&self, act: Act) -> Pin<Box<dyn std::future::Future<Output = Out> + Send>> {
        match act {
            Act::Hang => Box::pin(Hanging(self.drops.clone())),
            other => {
                let sync = self.sync_act(other);
                Box::pin(async move { sync() })
            }
        }
    }

    /// Runs `form` once and returns what the caller saw.
    async fn call(&self, form: Form, control: Act, candidate: Act) -> Seen {
        let experiment = &self.experiment;
        match form {
            Form::Run => seen(std::panic::catch_unwind(AssertUnwindSafe(|| {
                experiment.run(self.sync_act(control), self.sync_act(candidate))
            }))),
            Form::TrialRun => seen(std::panic::catch_unwind(AssertUnwindSafe(|| {
                experiment
                    .trial()
                    .control(self.sync_act(control))
                    .candidate("candidate", self.sync_act(candidate))
                    .run()
            }))),
            Form::RunDetachedBlocking => seen(std::panic::catch_unwind(AssertUnwindSafe(|| {
                experiment.run_detached_blocking(self.sync_act(control), self.sync_act(candidate))
            }))),
            Form::RunAsync => seen(
                AssertUnwindSafe(
                    experiment.run_async(self.async_act(control), self.async_act(candidate)),
                )
                .catch_unwind()
                .await,
            ),
            Form::TrialRunAsync => seen(
                AssertUnwindSafe(
                    experiment
                        .trial()
                        .control(self.async_act(control))
                        .candidate("candidate", self.async_act(candidate))
                        .run_async(),
                )
                .catch_unwind()
                .await,
            ),
            Form::RunDetached => seen(
                AssertUnwindSafe(
                    experiment.run_detached(self.async_act(control), self.async_act(candidate)),
                )
                .catch_unwind()
                .await,
            ),
            Form::TrialRunDetachedBlocking => {
                seen(std::panic::catch_unwind(AssertUnwindSafe(|| {
                    experiment
                        .trial()
                        .control(self.sync_act(control))
                        .candidate("candidate", self.sync_act(candidate))
                        .run_detached_blocking()
                })))
            }
            Form::SeamRun => seen(std::panic::catch_unwind(AssertUnwindSafe(|| {
                let run = experiment.begin().expect("sampled");
                run.run(
                    self.sync_act(control),
                    SyncCandidates::new().add("candidate", self.sync_act(candidate)),
                )
            }))),
            Form::SeamRunAsync => {
                let run = experiment.begin().expect("sampled");
                seen(
                    AssertUnwindSafe(run.run_async(
                        self.async_act(control),
                        Candidates::new().add("candidate", self.async_act(candidate)),
                    ))
                    .catch_unwind()
                    .await,
                )
            }
            Form::SeamDetach => {
                // An integration runs its control itself and hands over the outcome.
                let mut run = experiment.begin().expect("sampled");
                run.start_clock();
                let returned = std::panic::catch_unwind(AssertUnwindSafe(self.sync_act(control)));
                let outcome = match &returned {
                    Ok(Ok(value)) => Outcome::Value(*value),
                    Ok(Err(error)) => Outcome::Error(error.clone()),
                    Err(_) => Outcome::Panicked(String::from("<panic payload that is not text>")),
                };
                let took = run.elapsed();
                let started = run.detach(
                    outcome,
                    took,
                    Candidates::new().add("candidate", self.async_act(candidate)),
                );
                assert!(started, "not shed");
                seen(returned)
            }
            Form::TrialRunDetached => seen(
                AssertUnwindSafe(
                    experiment
                        .trial()
                        .control(self.async_act(control))
                        .candidate("candidate", self.async_act(candidate))
                        .run_detached(),
                )
                .catch_unwind()
                .await,
            ),
        }
    }

    /// Waits for detached work and returns the one published result's control and candidate
    /// outcomes and the candidate's verdict.
    async fn published(&self) -> (Outcome<u8, String>, Outcome<u8, String>, Verdict) {
        let report = self.experiment.flush(Duration::from_secs(10)).await;
        assert!(report.is_complete(), "{report}");
        let results = self.recorder.take();
        assert_eq!(results.len(), 1, "one published result");
        let result = &results[0];
        assert_eq!(
            result.context().get("suite").unwrap().to_string(),
            "run-forms"
        );
        assert_eq!(result.control().duration(), FABRICATED);
        let candidate = &result.candidates()[0];
        (
            result.control().outcome().clone(),
            candidate.observation().outcome().clone(),
            candidate.verdict(),
        )
    }
}

fn expected_seen(act: Act) -> Seen {
    match act {
        Act::Value(value) => Seen::Returned(Ok(value)),
        Act::Err(error) => Seen::Returned(Err(error.to_string())),
        Act::Panic(n) => Seen::PanickedWith(Payload(n)),
        Act::Hang => unreachable!("the control never hangs here"),
    }
}

fn expected_outcome(act: Act) -> Outcome<u8, String> {
    match act {
        Act::Value(value) => Outcome::Value(value),
        Act::Err(error) => Outcome::Error(error.to_string()),
        // Payloads that are not text are published under a placeholder.
        Act::Panic(_) => Outcome::Panicked(String::from("<panic payload that is not text>")),
        // A sync candidate cannot be interrupted: it is judged timed out when it returns late,
        // and its late value is dropped like an async one's.
        Act::Hang => Outcome::TimedOut,
    }
}

const CONTROLS: [Act; 3] = [Act::Value(7), Act::Err("control failed"), Act::Panic(11)];
const CANDIDATES: [Act; 5] = [
    Act::Value(7),
    Act::Value(8),
    Act::Err("candidate failed"),
    Act::Panic(12),
    Act::Hang,
];

#[tokio::test(start_paused = true)]
async fn every_form_returns_the_controls_outcome_and_records_the_candidates() {
    common::silence_expected_panics(&[]);
    for form in FORMS {
        for control in CONTROLS {
            for candidate in CANDIDATES {
                let bench = Bench::new();
                let started = Instant::now();
                let seen = bench.call(form, control, candidate).await;
                let case = format!("{form:?}, control {control:?}, candidate {candidate:?}");
                assert_eq!(seen, expected_seen(control), "{case}: what the caller saw");

                let held = started.elapsed();
                let expected_hold = if candidate == Act::Hang && form.awaits_candidate() {
                    TIMEOUT
                } else {
                    Duration::ZERO
                };
                assert_eq!(held, expected_hold, "{case}: how long the caller was held");

                let (control_seen, candidate_seen, verdict) = bench.published().await;
                assert_eq!(control_seen, expected_outcome(control), "{case}");
                assert_eq!(candidate_seen, expected_outcome(candidate), "{case}");
                if candidate == Act::Hang {
                    assert_eq!(verdict, Verdict::TimedOut, "{case}");
                    assert_eq!(bench.experiment.stats().timeouts, 1, "{case}");
                }
                if control == Act::Value(7) {
                    let expected = match candidate {
                        Act::Value(7) => Verdict::Match,
                        Act::Value(_) | Act::Err(_) => Verdict::Mismatch,
                        Act::Panic(_) => Verdict::CandidateError,
                        Act::Hang => Verdict::TimedOut,
                    };
                    assert_eq!(verdict, expected, "{case}");
                }

                let drops = bench.drops.take();
                if candidate == Act::Hang && form.is_async() {
                    assert_eq!(drops.len(), 1, "{case}: the hanging candidate was dropped");
                    assert_eq!(
                        drops[0] - started,
                        TIMEOUT,
                        "{case}: dropped exactly at the timeout"
                    );
                } else {
                    assert!(drops.is_empty(), "{case}");
                }
            }
        }
    }
}

/// A candidate that finishes after exactly `candidate_timeout` on the experiment's clock is in
/// time; one nanosecond later it is timed out (its value dropped), in every form.
#[tokio::test(start_paused = true)]
async fn the_timeout_boundary_is_exact_in_every_form() {
    for form in FORMS {
        for (took, timed_out) in [(TIMEOUT, false), (TIMEOUT + Duration::from_nanos(1), true)] {
            let bench = Bench::new();
            let clock = bench.clock.clone();
            let late = move || -> Out {
                clock.advance(took);
                Ok(7)
            };
            let experiment = &bench.experiment;
            let value = match form {
                Form::Run => experiment.run(|| Ok(7), late),
                Form::TrialRun => experiment
                    .trial()
                    .control(|| Ok(7))
                    .candidate("candidate", late)
                    .run(),
                Form::RunDetachedBlocking => experiment.run_detached_blocking(|| Ok(7), late),
                Form::TrialRunDetachedBlocking => experiment
                    .trial()
                    .control(|| Ok(7))
                    .candidate("candidate", late)
                    .run_detached_blocking(),
                Form::SeamRun => experiment
                    .begin()
                    .unwrap()
                    .run(|| Ok(7), SyncCandidates::new().candidate(late)),
                Form::RunAsync => {
                    experiment
                        .run_async(async { Ok(7) }, async move { late() })
                        .await
                }
                Form::TrialRunAsync => {
                    experiment
                        .trial()
                        .control(async { Ok(7) })
                        .candidate("candidate", async move { late() })
                        .run_async()
                        .await
                }
                Form::RunDetached => {
                    experiment
                        .run_detached(async { Ok(7) }, async move { late() })
                        .await
                }
                Form::TrialRunDetached => {
                    experiment
                        .trial()
                        .control(async { Ok(7) })
                        .candidate("candidate", async move { late() })
                        .run_detached()
                        .await
                }
                Form::SeamRunAsync => {
                    experiment
                        .begin()
                        .unwrap()
                        .run_async(
                            async { Ok(7) },
                            Candidates::new().candidate(async move { late() }),
                        )
                        .await
                }
                Form::SeamDetach => {
                    let run = experiment.begin().unwrap();
                    run.detach(
                        Outcome::Value(7),
                        Duration::ZERO,
                        Candidates::new().candidate(async move { late() }),
                    );
                    Ok(7)
                }
            };
            assert_eq!(value, Ok(7), "{form:?}");
            let (_, candidate, verdict) = bench.published().await;
            let case = format!("{form:?}, candidate took {took:?}");
            if timed_out {
                assert_eq!(candidate, Outcome::TimedOut, "{case}");
                assert_eq!(verdict, Verdict::TimedOut, "{case}");
            } else {
                assert_eq!(candidate, Outcome::Value(7), "{case}");
                assert_eq!(verdict, Verdict::Match, "{case}");
            }
        }
    }
}
