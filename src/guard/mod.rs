//! Guard rails: stop a candidate that misbehaves, probe it after a cool-down, re-arm it once
//! it behaves.
//!
//! A guard watches one candidate of an experiment over a sliding window of its runs, against
//! the limits of its [`GuardRails`]: error, timeout, mismatch and shed rates, and the
//! candidate's latency against the control's on the same runs. When a limit is exceeded
//! (never on fewer than `min_runs` runs), the guard *trips* and the candidate stops running at
//! once; other candidates go on, and a call left with no candidate runs the control alone, as
//! if sampled out. After the cool-down the candidate is *probed* on a small share of sampled
//! calls: once `min_runs` probe runs are judged, the guard re-arms or trips again. A
//! [`GuardHandle`] trips, resets and reads a guard from any thread.
//!
//! Every trip and re-arm is counted in [`Stats`](crate::Stats) (`guard_trips`,
//! `guard_rearms`) and handed once to every publisher ([`Publisher::guard`]): the
//! `TracingPublisher` logs it (target `darklaunch`), the `OtelPublisher` counts it
//! (`darklaunch.guard.trips`), an `Insight` marks it on its timeline and in its report.
//!
//! Checking a guard costs one atomic load on a sampled call (nothing on a sampled-out one);
//! the window is counted where results are judged, off the caller's path for detached runs.
//!
//! ```
//! use darklaunch::guard::{GuardRails, GuardStatus};
//! use darklaunch::Experiment;
//!
//! let experiment: Experiment<u32, String> = Experiment::builder("guarded")
//!     .guard(GuardRails::new().max_error_rate(0.2).window(100).min_runs(50))
//!     .build()
//!     .unwrap();
//! for call in 0..200u32 {
//!     // The candidate fails every other call: 50 % errors trips the guard.
//!     let value: Result<u32, String> = experiment.run(
//!         || Ok(call),
//!         || if call % 2 == 0 { Err("boom".into()) } else { Ok(call) },
//!     );
//!     assert_eq!(value, Ok(call)); // the caller always gets the control's
//! }
//! let guard = experiment.guard("candidate").unwrap();
//! assert!(matches!(guard.status(), GuardStatus::Tripped { .. }));
//! assert_eq!(experiment.stats().guard_trips, 1);
//! guard.reset();
//! assert_eq!(guard.status(), GuardStatus::Armed);
//! ```
//!
//! [`Publisher::guard`]: crate::Publisher::guard

mod event;
mod handle;
mod rails;
mod window;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

pub use event::{GuardEvent, GuardEventKind, GuardReason};
pub use handle::{GuardHandle, GuardStatus};
pub use rails::{GuardRails, MAX_GUARD_WINDOW};
pub(crate) use window::Sample;

use crate::clock::{Clock, Tick};
use crate::observation::{Observation, Outcome, Verdict};
use window::{Totals, Window};

const ARMED: u8 = 0;
const TRIPPED: u8 = 1;
const PROBING: u8 = 2;

/// One candidate's guard: its limits, its window and its state.
pub(crate) struct Guard {
    experiment: Arc<str>,
    candidate: Cow<'static, str>,
    rails: GuardRails,
    window: Window,
    state: AtomicU8,
    /// The reason of the last trip ([`GuardReason::index`]).
    reason: AtomicU8,
    /// When the guard last tripped, in nanoseconds since `origin` on the experiment's clock.
    tripped_at: AtomicU64,
    origin: Tick,
    clock: Clock,
    /// A probe runs when a uniform draw is below this.
    probe_threshold: u64,
}

impl Guard {
    /// A guard for `candidate`, armed. `rails` must be valid.
    pub(crate) fn new(
        experiment: Arc<str>,
        candidate: Cow<'static, str>,
        rails: GuardRails,
        clock: Clock,
    ) -> Self {
        let probe_threshold = crate::sample::threshold_for(rails.probe_percent).unwrap_or(u64::MAX);
        Self {
            experiment,
            window: Window::new(rails.window),
            candidate,
            rails,
            state: AtomicU8::new(ARMED),
            reason: AtomicU8::new(GuardReason::Manual.index()),
            tripped_at: AtomicU64::new(0),
            origin: clock.now(),
            clock,
            probe_threshold,
        }
    }

    /// The candidate this guard watches.
    pub(crate) fn candidate(&self) -> &str {
        &self.candidate
    }

    /// Whether the candidate runs on this sampled call: always while armed (one atomic load),
    /// never while tripped, on the probe share while probed. The first call after the
    /// cool-down starts the probe.
    #[inline]
    pub(crate) fn allows(&self) -> bool {
        self.state.load(Ordering::Acquire) == ARMED || self.allows_slowly()
    }

    #[cold]
    fn allows_slowly(&self) -> bool {
        if self.state.load(Ordering::Acquire) == TRIPPED {
            let since = self.tripped_at.load(Ordering::Acquire);
            let cool_down = u64::try_from(self.rails.cool_down.as_nanos()).unwrap_or(u64::MAX);
            if self.now_nanos().saturating_sub(since) < cool_down {
                return false;
            }
            // Cooled down: the first call to see it starts the probe (the window was cleared
            // when the guard tripped, so the probe counts afresh).
            let _ =
                self.state
                    .compare_exchange(TRIPPED, PROBING, Ordering::AcqRel, Ordering::Acquire);
        }
        match self.state.load(Ordering::Acquire) {
            ARMED => true,
            PROBING => self.probe_draw(),
            _ => false,
        }
    }

    fn probe_draw(&self) -> bool {
        crate::sample::below(crate::random::Draws::Thread.u64(), self.probe_threshold)
    }

    /// Whether the guard is armed (a served candidate is served only then).
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.state.load(Ordering::Acquire) == ARMED
    }

    /// The guard's state.
    pub(crate) fn status(&self) -> GuardStatus {
        match self.state.load(Ordering::Acquire) {
            ARMED => GuardStatus::Armed,
            TRIPPED => GuardStatus::Tripped {
                reason: GuardReason::from_index(self.reason.load(Ordering::Acquire)),
            },
            _ => GuardStatus::Probing,
        }
    }

    /// What one judged run adds to the window.
    #[inline]
    pub(crate) fn sample<T, E>(
        &self,
        control: &Observation<T, E>,
        candidate: &Observation<T, E>,
        verdict: Verdict,
    ) -> Sample {
        let error = verdict == Verdict::CandidateError
            || (verdict == Verdict::Mismatch && matches!(candidate.outcome, Outcome::Error(_)));
        let timed = matches!(candidate.outcome, Outcome::Value(_) | Outcome::Error(_));
        let slow = timed
            && self.rails.latency.is_some_and(|(ratio, _)| {
                candidate.duration.as_secs_f64() > ratio * control.duration.as_secs_f64()
            });
        Sample {
            error,
            timeout: verdict == Verdict::TimedOut,
            mismatch: verdict == Verdict::Mismatch && !error,
            shed: false,
            slow,
        }
    }

    /// Counts one run; the event to announce when the window's judgement trips or re-arms
    /// the guard. Runs that finish while the guard is tripped are not counted.
    #[inline]
    pub(crate) fn record(&self, sample: Sample) -> Option<GuardEvent> {
        if self.state.load(Ordering::Acquire) == TRIPPED {
            return None;
        }
        let totals = self.window.record(sample)?;
        if totals.runs < self.rails.min_runs {
            return None;
        }
        match self.exceeded(&totals) {
            Some((reason, observed, threshold)) => {
                self.trip(reason, observed, threshold, totals.runs)
            }
            None => self
                .state
                .compare_exchange(PROBING, ARMED, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| {
                    self.event(
                        GuardEventKind::Rearmed,
                        GuardReason::ProbePassed,
                        0.0,
                        0.0,
                        totals.runs,
                    )
                }),
        }
    }

    /// The first limit the window exceeds: (reason, observed, limit).
    fn exceeded(&self, totals: &Totals) -> Option<(GuardReason, f64, f64)> {
        let runs = totals.runs as f64;
        let rails = &self.rails;
        let rates = [
            (GuardReason::ErrorRate, rails.error_rate, totals.errors),
            (
                GuardReason::TimeoutRate,
                rails.timeout_rate,
                totals.timeouts,
            ),
            (
                GuardReason::MismatchRate,
                rails.mismatch_rate,
                totals.mismatches,
            ),
            (GuardReason::ShedRate, rails.shed_rate, totals.shed),
            (
                GuardReason::Latency,
                rails.latency.map(|(_, quantile)| 1.0 - quantile),
                totals.slow,
            ),
        ];
        rates.into_iter().find_map(|(reason, limit, count)| {
            let limit = limit?;
            let observed = count as f64 / runs;
            (observed > limit).then_some((reason, observed, limit))
        })
    }

    /// Trips the guard unless it is tripped already; the event to announce.
    pub(crate) fn trip(
        &self,
        reason: GuardReason,
        observed: f64,
        threshold: f64,
        runs: u64,
    ) -> Option<GuardEvent> {
        // Stored before the state changes, so that no call sees the trip with an old time.
        self.tripped_at.store(self.now_nanos(), Ordering::Release);
        self.reason.store(reason.index(), Ordering::Release);
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if current == TRIPPED {
                return None;
            }
            match self
                .state
                .compare_exchange(current, TRIPPED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.window.clear();
        Some(self.event(GuardEventKind::Tripped, reason, observed, threshold, runs))
    }

    /// Re-arms the guard by hand unless it is armed; the event to announce.
    pub(crate) fn reset(&self) -> Option<GuardEvent> {
        self.window.clear();
        let before = self.state.swap(ARMED, Ordering::AcqRel);
        (before != ARMED)
            .then(|| self.event(GuardEventKind::Rearmed, GuardReason::Manual, 0.0, 0.0, 0))
    }

    /// Counts a shed run in the window.
    pub(crate) fn record_shed(&self) -> Option<GuardEvent> {
        self.record(Sample {
            shed: true,
            ..Sample::default()
        })
    }

    fn event(
        &self,
        kind: GuardEventKind,
        reason: GuardReason,
        observed: f64,
        threshold: f64,
        runs: u64,
    ) -> GuardEvent {
        GuardEvent {
            experiment: self.experiment.clone(),
            candidate: self.candidate.clone(),
            kind,
            reason,
            observed,
            threshold,
            runs,
            window: self.window.len(),
            at: crate::real_clock::wall(),
        }
    }

    fn now_nanos(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}
