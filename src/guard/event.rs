//! What a guard announces when it trips or re-arms.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

/// Whether a guard tripped or re-armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuardEventKind {
    /// The candidate stopped running.
    Tripped,
    /// The candidate runs on every sampled call again.
    Rearmed,
}

impl GuardEventKind {
    /// `tripped` or `rearmed`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardEventKind::Tripped => "tripped",
            GuardEventKind::Rearmed => "rearmed",
        }
    }
}

/// Why a guard tripped or re-armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardReason {
    /// Too many candidate errors.
    ErrorRate,
    /// Too many timeouts.
    TimeoutRate,
    /// Too many mismatches.
    MismatchRate,
    /// Too many shed runs.
    ShedRate,
    /// The candidate was too slow against the control on the same runs.
    Latency,
    /// By hand, through a [`GuardHandle`](crate::guard::GuardHandle) (or a flag's kill switch).
    Manual,
    /// The half-open probe behaved: the guard re-armed.
    ProbePassed,
}

impl GuardReason {
    const ALL: [GuardReason; 7] = [
        GuardReason::ErrorRate,
        GuardReason::TimeoutRate,
        GuardReason::MismatchRate,
        GuardReason::ShedRate,
        GuardReason::Latency,
        GuardReason::Manual,
        GuardReason::ProbePassed,
    ];

    /// A stable lowercase name, used as the `reason` attribute: `error_rate`, `timeout_rate`,
    /// `mismatch_rate`, `shed_rate`, `latency`, `manual`, `probe_passed`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardReason::ErrorRate => "error_rate",
            GuardReason::TimeoutRate => "timeout_rate",
            GuardReason::MismatchRate => "mismatch_rate",
            GuardReason::ShedRate => "shed_rate",
            GuardReason::Latency => "latency",
            GuardReason::Manual => "manual",
            GuardReason::ProbePassed => "probe_passed",
        }
    }

    pub(crate) fn index(self) -> u8 {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0) as u8
    }

    pub(crate) fn from_index(index: u8) -> Self {
        Self::ALL
            .get(usize::from(index))
            .copied()
            .unwrap_or(GuardReason::Manual)
    }
}

impl std::fmt::Display for GuardReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A guard tripped or re-armed: handed once to every publisher
/// ([`Publisher::guard`](crate::Publisher::guard)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GuardEvent {
    /// The experiment's name.
    pub experiment: Arc<str>,
    /// The guarded candidate.
    pub candidate: Cow<'static, str>,
    /// Tripped or re-armed.
    pub kind: GuardEventKind,
    /// Why.
    pub reason: GuardReason,
    /// The observed rate (0 to 1) that exceeded the limit; for a latency trip, the share of
    /// runs slower than the limit's ratio. 0 for a manual trip and for a re-arm.
    pub observed: f64,
    /// The limit the observed rate exceeded (for a latency trip, the share of slow runs
    /// allowed: 0.5 for the median). 0 for a manual trip and for a re-arm.
    pub threshold: f64,
    /// The runs the judgement was made on (0 for a manual trip or reset).
    pub runs: u64,
    /// The guard's window, in runs.
    pub window: u64,
    /// When it happened (wall clock).
    pub at: SystemTime,
}
