//! An automatic ramp: serving shares stepped up while the candidate's verdict is safe, and
//! dropped to 0 % at once when it is not, or when its guard trips.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, Tick};
use crate::error::ConfigError;
use crate::experiment::Experiment;
use crate::guard::GuardStatus;
use crate::insight::{Insight, ReleaseStatus};
use crate::serve::ServeShare;

/// A change of a ramp's step, handed to [`Ramp::on_step`] hooks (and logged through `tracing`,
/// target `darklaunch`, message `darklaunch ramp step`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RampStep {
    /// The experiment's name.
    pub experiment: String,
    /// The served candidate.
    pub candidate: String,
    /// The share before, in percent.
    pub from: f64,
    /// The share now, in percent.
    pub to: f64,
    /// Why: `advanced` (safe for long enough), `not_safe`, `guard_tripped`, or `started`.
    pub reason: &'static str,
    /// The candidate's runs when it changed.
    pub runs: u64,
}

type StepHook = Arc<dyn Fn(&RampStep) + Send + Sync>;

/// Steps a [`ServeShare`] through a schedule (for example 1 → 5 → 25 → 100 %) as the
/// candidate's insight verdict allows: a step advances once the verdict has been *safe* for at
/// least [`min_runs`](Self::min_runs) runs and [`min_time`](Self::min_time) at the current
/// step; on *not safe*, or when the candidate's guard trips, the share drops to 0 % at once and
/// the ramp stops until [`restart`](Self::restart). Drive it with [`evaluate`](Self::evaluate)
/// (from your own loop) or [`spawn`](Self::spawn).
///
/// ```
/// use darklaunch::insight::{Insight, Ramp};
/// use darklaunch::{Clock, Experiment, ManualClock, ServeShare};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let share = ServeShare::new(0.0);
/// let insight: Insight<u64> = Insight::new();
/// let experiment: Experiment<u64> = Experiment::builder("ramp-doc")
///     .serve(share.clone())
///     .clock(Clock::manual(&clock))
///     .publisher(insight.clone())
///     .build()
///     .unwrap();
/// let ramp = Ramp::new(&experiment, insight, share.clone(), "candidate", &[1.0, 10.0, 100.0])
///     .unwrap()
///     .min_runs(100)
///     .min_time(Duration::from_secs(60));
/// ramp.evaluate();
/// assert_eq!(share.percent(), 1.0); // the first step at once
/// for n in 0..10_000u64 {
///     experiment.run(|| n, || n);
/// }
/// clock.advance(Duration::from_secs(60));
/// ramp.evaluate(); // safe for 10,000 runs and 60 s: next step
/// assert_eq!(share.percent(), 10.0);
/// ```
pub struct Ramp<T, E> {
    experiment: Experiment<T, E>,
    insight: Insight<T, E>,
    share: ServeShare,
    candidate: Cow<'static, str>,
    steps: Vec<f64>,
    min_runs: u64,
    min_time: Duration,
    clock: Clock,
    hooks: Mutex<Vec<StepHook>>,
    state: Mutex<RampState>,
}

#[derive(Clone, Copy, Debug)]
struct RampState {
    /// The current step's index; `None` before the first evaluation.
    step: Option<usize>,
    /// When and at how many runs the current step began.
    since: Option<(Tick, u64)>,
    stopped: bool,
}

impl<T, E> Ramp<T, E> {
    /// A ramp of `share` (the share `experiment` serves `candidate` to) through `steps` (in
    /// percent, strictly increasing, each above 0 and at most 100), judged by `insight`.
    /// Defaults: at least 1,000 runs and 10 minutes at each step.
    pub fn new(
        experiment: &Experiment<T, E>,
        insight: Insight<T, E>,
        share: ServeShare,
        candidate: impl Into<Cow<'static, str>>,
        steps: &[f64],
    ) -> Result<Self, ConfigError> {
        if steps.is_empty() {
            return Err(ConfigError::InvalidRamp {
                problem:
                    "the schedule is empty: give at least one share, for example [1, 5, 25, 100]",
            });
        }
        if steps.iter().any(|step| !(*step > 0.0 && *step <= 100.0)) {
            return Err(ConfigError::InvalidRamp {
                problem: "every share must be above 0 and at most 100 percent",
            });
        }
        if steps.windows(2).any(|pair| pair[1] <= pair[0]) {
            return Err(ConfigError::InvalidRamp {
                problem: "the shares must increase step by step",
            });
        }
        Ok(Self {
            clock: experiment.inner.settings.clock.clone(),
            experiment: experiment.clone(),
            insight,
            share,
            candidate: candidate.into(),
            steps: steps.to_vec(),
            min_runs: 1_000,
            min_time: Duration::from_secs(600),
            hooks: Mutex::new(Vec::new()),
            state: Mutex::new(RampState {
                step: None,
                since: None,
                stopped: false,
            }),
        })
    }

    /// The fewest runs at a step before it may advance (default 1,000).
    pub fn min_runs(mut self, runs: u64) -> Self {
        self.min_runs = runs;
        self
    }

    /// The shortest time at a step before it may advance (default 10 minutes), on the
    /// experiment's clock.
    pub fn min_time(mut self, time: Duration) -> Self {
        self.min_time = time;
        self
    }

    /// Calls `hook` on every step change (a panic in it is caught).
    pub fn on_step(self, hook: impl Fn(&RampStep) + Send + Sync + 'static) -> Self {
        self.hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(hook));
        self
    }

    /// The current share, in percent (0 once stopped).
    pub fn percent(&self) -> f64 {
        self.share.percent()
    }

    /// Whether the ramp stopped (the candidate was not safe, or its guard tripped).
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Starts again from the first step (after a fix, say).
    pub fn restart(&self) {
        *self.lock() = RampState {
            step: None,
            since: None,
            stopped: false,
        };
        self.evaluate();
    }

    /// Reads the verdict once and moves the share if it should; returns the share now.
    pub fn evaluate(&self) -> f64 {
        let report = self.insight.report();
        let candidate = report.candidates.iter().find(|c| c.name == self.candidate);
        let (status, runs) = candidate.map_or((ReleaseStatus::Inconclusive, 0), |c| {
            (c.verdict.status, c.runs)
        });
        let tripped = self
            .experiment
            .guard(&self.candidate)
            .is_some_and(|guard| matches!(guard.status(), GuardStatus::Tripped { .. }));
        let now = self.clock.now();
        let mut state = self.lock();
        if state.stopped {
            return self.share.percent();
        }
        let from = self.share.percent();
        let (to, reason) = match state.step {
            _ if tripped => (None, "guard_tripped"),
            _ if status == ReleaseStatus::NotSafe => (None, "not_safe"),
            None => (Some(0), "started"),
            Some(step) => {
                let (since, runs_then) = state.since.unwrap_or((now, runs));
                let held = now.saturating_duration_since(since) >= self.min_time
                    && runs.saturating_sub(runs_then) >= self.min_runs;
                if status == ReleaseStatus::Safe && held && step + 1 < self.steps.len() {
                    (Some(step + 1), "advanced")
                } else {
                    return from;
                }
            }
        };
        let percent = match to {
            Some(step) => {
                state.step = Some(step);
                state.since = Some((now, runs));
                self.steps[step]
            }
            None => {
                state.stopped = true;
                0.0
            }
        };
        drop(state);
        // Checked at `new`; 0 is always valid.
        let _ = self.share.set_percent(percent);
        self.announce(RampStep {
            experiment: self.experiment.name().to_string(),
            candidate: self.candidate.to_string(),
            from,
            to: percent,
            reason,
            runs,
        });
        percent
    }

    fn announce(&self, step: RampStep) {
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "darklaunch",
            experiment = step.experiment.as_str(),
            candidate = step.candidate.as_str(),
            from = step.from,
            to = step.to,
            reason = step.reason,
            runs = step.runs,
            "darklaunch ramp step"
        );
        let hooks = self
            .hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for hook in hooks {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&step)));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RampState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Evaluates every `interval` on `runtime` (on the experiment's timers) until the returned
    /// driver is dropped.
    #[cfg(feature = "tokio")]
    pub fn spawn(self, runtime: &tokio::runtime::Handle, interval: Duration) -> RampDriver
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let ramp = Arc::new(self);
        let task = runtime.spawn(async move {
            loop {
                ramp.evaluate();
                ramp.experiment.sleep(interval).await;
            }
        });
        RampDriver { task }
    }
}

impl<T, E> std::fmt::Debug for Ramp<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ramp")
            .field("candidate", &self.candidate)
            .field("steps", &self.steps)
            .field("percent", &self.share.percent())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// Drives a [`Ramp`] until dropped; made by [`Ramp::spawn`].
#[cfg(feature = "tokio")]
#[derive(Debug)]
#[must_use = "the ramp stops being driven when this is dropped"]
pub struct RampDriver {
    task: tokio::task::JoinHandle<()>,
}

#[cfg(feature = "tokio")]
impl Drop for RampDriver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
