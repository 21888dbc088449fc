//! The verdict document of one candidate: numbers and states only.

use serde::Serialize;

use crate::insight::report::{CandidateReport, Report};
use crate::insight::{AnytimeBounds, GuardMark, RatioInterval, ReleaseStatus};

/// What a gate reads about one candidate: its status, runs, rates with their bounds, paired
/// latency ratios and guard state. It carries counts, rates, bounds and states only: never a
/// sample, a context value or a value at a path.
///
/// Serialized, `result` is what Argo Rollouts' web metric provider tests with `jsonPath`
/// (`successCondition: result == "safe"`, `failureCondition: result == "not_safe"`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct VerdictDocument {
    /// The experiment's name.
    pub experiment: String,
    /// The candidate's name.
    pub candidate: String,
    /// `safe`, `not_safe` or `inconclusive`: the reported status.
    pub result: ReleaseStatus,
    /// What the latest evaluation alone says (before the consecutive-evaluations hold).
    pub evaluated: ReleaseStatus,
    /// The candidate's sampled runs.
    pub runs: u64,
    /// Mismatches, anytime-valid bounds.
    pub mismatch_rate: RateDocument,
    /// Candidate errors, anytime-valid bounds.
    pub error_rate: RateDocument,
    /// Timeouts, anytime-valid bounds.
    pub timeout_rate: RateDocument,
    /// The paired latency ratio's median and p99 with their intervals.
    pub latency: LatencyDocument,
    /// The guard's last announced state (`tripped` or `armed`); absent when none was announced.
    pub guard: Option<&'static str>,
}

/// A rate with its anytime-valid bounds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RateDocument {
    /// Events counted.
    pub count: u64,
    /// count / runs.
    pub estimate: f64,
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
}

/// The paired latency part of a verdict document.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencyDocument {
    /// The median of candidate ÷ control on the same runs.
    pub median_ratio: Option<RatioInterval>,
    /// Its p99.
    pub p99_ratio: Option<RatioInterval>,
    /// The latency verdict, when the policy limits slowdowns.
    pub status: Option<ReleaseStatus>,
}

fn rate(bounds: &AnytimeBounds) -> RateDocument {
    RateDocument {
        count: bounds.count,
        estimate: if bounds.total == 0 {
            0.0
        } else {
            bounds.count as f64 / bounds.total as f64
        },
        low: bounds.low,
        high: bounds.high,
    }
}

impl VerdictDocument {
    pub(crate) fn of(report: &Report, candidate: &CandidateReport) -> Self {
        Self {
            experiment: report.experiment.clone(),
            candidate: candidate.name.clone(),
            result: candidate.verdict.status,
            evaluated: candidate.evaluated_status,
            runs: candidate.runs,
            mismatch_rate: rate(&candidate.mismatch_bounds),
            error_rate: rate(&candidate.error_bounds),
            timeout_rate: rate(&candidate.timeout_bounds),
            latency: LatencyDocument {
                median_ratio: candidate.paired_latency.median,
                p99_ratio: candidate.paired_latency.p99,
                status: candidate.latency_status,
            },
            guard: last_guard_state(&report.guard_events, &candidate.name),
        }
    }
}

/// The state the last guard event of `candidate` left it in.
fn last_guard_state(marks: &[GuardMark], candidate: &str) -> Option<&'static str> {
    marks
        .iter()
        .rev()
        .find(|mark| mark.candidate == candidate)
        .map(|mark| {
            if mark.event == "tripped" {
                "tripped"
            } else {
                "armed"
            }
        })
}
