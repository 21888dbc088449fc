//! Counters of everything an experiment did, and the snapshot `stats()` returns.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::hook::Operation;
use crate::observation::Verdict;
use crate::thread_slot::RunCounter;

/// A snapshot of an experiment's counters.
///
/// Every sampled run ends as exactly one of `published`, `publish_failed`, `publish_dropped`,
/// `shed`, `skipped` or `dropped`; until it has ended it is `in_flight()`. So at any quiet
/// moment `sampled == published + publish_failed + publish_dropped + shed + skipped + dropped`,
/// which [`reconciles`](Stats::reconciles) checks.
///
/// Per-candidate counters (`matched` … `timeouts`) count comparisons: a run with two candidates
/// adds two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls of any `run` method.
    pub runs: u64,
    /// Calls the sampler let through (whose `before_run`, if any, succeeded).
    pub sampled: u64,
    /// Candidates whose result matched the control's.
    pub matched: u64,
    /// Candidates whose result did not match, and no ignore rule applied.
    pub mismatched: u64,
    /// Candidates that did not match, but an ignore rule applied.
    pub ignored: u64,
    /// Candidates that differed only on paths noise calibration classified as noise.
    pub noise: u64,
    /// Candidates that panicked (while the control did not panic the same way).
    pub candidate_errors: u64,
    /// Candidates that did not finish within `candidate_timeout`.
    pub timeouts: u64,
    /// Sampled runs handed to every publisher without a failure.
    pub published: u64,
    /// Sampled runs that could not be published: a publisher or the cleaner panicked.
    pub publish_failed: u64,
    /// Detached runs whose result was dropped because the publish queue was full.
    pub publish_dropped: u64,
    /// Sampled runs not carried out because `max_in_flight` runs were already under way.
    pub shed: u64,
    /// Sampled runs whose candidates never started because there was nothing to compare them
    /// on: the HTTP shadow layer's request or response body was over its limit, not read to
    /// its end (in time), or failed, or the primary returned an error; or the experiment was
    /// shut down before they could start. The shadow layer counts each reason in its
    /// `ShadowStats` (feature `tower`).
    pub skipped: u64,
    /// Sampled runs lost: the caller's future was cancelled mid-run, or queued work was
    /// discarded when the background stopped.
    pub dropped: u64,
    /// Failures reported to the error hook (see [`callback_errors_by`](Stats::callback_errors_by)).
    pub callback_errors: u64,
    /// Calls whose caller got the served candidate's outcome
    /// ([`serve`](crate::ExperimentBuilder::serve)).
    pub served: u64,
    /// Served calls whose candidate erred, panicked or timed out, so that the caller got the
    /// control's outcome instead.
    pub fallbacks: u64,
    /// Times a guard tripped (by its limits or by hand).
    pub guard_trips: u64,
    /// Times a guard re-armed (its probe passed, or by hand).
    pub guard_rearms: u64,
    /// Candidates held back on sampled calls because their guard was tripped (or probing and
    /// not drawn). A call left with no candidate ran the control alone and is not counted as
    /// sampled.
    pub guard_held: u64,
    by_operation: ByOperation,
}

/// Failures per operation; `Debug` names each one (`{compare: 1, clean: 0, ...}`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct ByOperation([u64; Operation::ALL.len()]);

impl std::fmt::Debug for ByOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                Operation::ALL
                    .iter()
                    .map(|op| (op.as_str(), self.0[op.index()])),
            )
            .finish()
    }
}

impl Stats {
    /// Calls that ran only the control because the sampler said no.
    pub fn sampled_out(&self) -> u64 {
        self.runs.saturating_sub(self.sampled)
    }

    /// Sampled runs that have not ended yet.
    pub fn in_flight(&self) -> u64 {
        self.sampled.saturating_sub(self.ended())
    }

    /// Whether every sampled run has ended as exactly one of published, publish-failed,
    /// publish-dropped, shed, skipped or dropped.
    pub fn reconciles(&self) -> bool {
        self.sampled == self.ended()
    }

    fn ended(&self) -> u64 {
        self.published
            + self.publish_failed
            + self.publish_dropped
            + self.shed
            + self.skipped
            + self.dropped
    }

    /// Comparisons made: matched + mismatched + ignored + noise + candidate errors + timeouts.
    pub fn comparisons(&self) -> u64 {
        self.matched
            + self.mismatched
            + self.ignored
            + self.noise
            + self.candidate_errors
            + self.timeouts
    }

    /// Failures reported to the error hook for one operation.
    pub fn callback_errors_by(&self, operation: Operation) -> u64 {
        self.by_operation.0[operation.index()]
    }
}

/// The live counters. `runs` is touched by every call, sampled or not, and `served` and
/// `fallbacks` by every served call, so they are [`RunCounter`]s; the others are touched only
/// by sampled runs.
#[derive(Default)]
pub(crate) struct Counters {
    runs: RunCounter,
    sampled: AtomicU64,
    matched: AtomicU64,
    mismatched: AtomicU64,
    ignored: AtomicU64,
    noise: AtomicU64,
    candidate_errors: AtomicU64,
    timeouts: AtomicU64,
    published: AtomicU64,
    publish_failed: AtomicU64,
    publish_dropped: AtomicU64,
    shed: AtomicU64,
    skipped: AtomicU64,
    dropped: AtomicU64,
    callback_errors: [AtomicU64; Operation::ALL.len()],
    /// Touched by every served call, sampled or not: per-thread slots, as `runs`.
    served: RunCounter,
    fallbacks: RunCounter,
    guard_trips: AtomicU64,
    guard_rearms: AtomicU64,
    guard_held: AtomicU64,
}

/// How a sampled run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    Published,
    PublishFailed,
    PublishDropped,
    Shed,
    /// Ended before any candidate started: nothing to compare them on.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Skipped,
    Dropped,
}

impl Counters {
    #[inline]
    pub(crate) fn run(&self) {
        self.runs.increment();
    }

    pub(crate) fn sampled(&self) {
        self.sampled.fetch_add(1, Release);
    }

    pub(crate) fn verdict(&self, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Match => &self.matched,
            Verdict::Mismatch => &self.mismatched,
            Verdict::Ignored => &self.ignored,
            Verdict::Noise => &self.noise,
            Verdict::CandidateError => &self.candidate_errors,
            Verdict::TimedOut => &self.timeouts,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn ended(&self, end: RunEnd) {
        let counter = match end {
            RunEnd::Published => &self.published,
            RunEnd::PublishFailed => &self.publish_failed,
            RunEnd::PublishDropped => &self.publish_dropped,
            RunEnd::Shed => &self.shed,
            RunEnd::Skipped => &self.skipped,
            RunEnd::Dropped => &self.dropped,
        };
        // Release pairs with the Acquire loads in `snapshot`: whoever sees this end also sees
        // the `sampled` increment that came before it.
        counter.fetch_add(1, Release);
    }

    /// A call got the served candidate's outcome (`true`) or fell back to the control's.
    pub(crate) fn served(&self, served: bool) {
        let counter = if served {
            &self.served
        } else {
            &self.fallbacks
        };
        counter.increment();
    }

    pub(crate) fn guard_event(&self, kind: crate::guard::GuardEventKind) {
        let counter = match kind {
            crate::guard::GuardEventKind::Tripped => &self.guard_trips,
            crate::guard::GuardEventKind::Rearmed => &self.guard_rearms,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn guard_held(&self) {
        self.guard_held.fetch_add(1, Relaxed);
    }

    pub(crate) fn callback_error(&self, operation: Operation) {
        self.callback_errors[operation.index()].fetch_add(1, Relaxed);
    }

    /// A snapshot. Ends are read before `sampled`, so a snapshot taken while runs are under way
    /// never shows more ended runs than sampled ones.
    pub(crate) fn snapshot(&self) -> Stats {
        let published = self.published.load(Acquire);
        let publish_failed = self.publish_failed.load(Acquire);
        let publish_dropped = self.publish_dropped.load(Acquire);
        let shed = self.shed.load(Acquire);
        let skipped = self.skipped.load(Acquire);
        let dropped = self.dropped.load(Acquire);
        let by_operation = std::array::from_fn(|i| self.callback_errors[i].load(Relaxed));
        let sampled = self.sampled.load(Acquire);
        Stats {
            runs: self.runs.sum().max(sampled),
            sampled,
            matched: self.matched.load(Relaxed),
            mismatched: self.mismatched.load(Relaxed),
            ignored: self.ignored.load(Relaxed),
            noise: self.noise.load(Relaxed),
            candidate_errors: self.candidate_errors.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            published,
            publish_failed,
            publish_dropped,
            shed,
            skipped,
            dropped,
            callback_errors: by_operation.iter().sum(),
            by_operation: ByOperation(by_operation),
            served: self.served.sum(),
            fallbacks: self.fallbacks.sum(),
            guard_trips: self.guard_trips.load(Relaxed),
            guard_rearms: self.guard_rearms.load(Relaxed),
            guard_held: self.guard_held.load(Relaxed),
        }
    }
}
