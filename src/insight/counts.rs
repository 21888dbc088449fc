//! The verdict from outcome counts alone: what a fleet's metrics carry (for example
//! `darklaunch_runs_total` summed over instances in Prometheus), judged exactly as an
//! [`Insight`](super::Insight) judges the runs it saw.

use serde::Serialize;

use crate::insight::latency::LatencySummary;
use crate::insight::paired::PairedLatency;
use crate::insight::proportion::Proportion;
use crate::insight::report::CandidateReport;
use crate::insight::sequence::{AnytimeBounds, ConfidenceSequence};
use crate::insight::verdict::{
    latency_status, release_verdict, ReleasePolicy, ReleaseStatus, ReleaseVerdict,
};

/// One candidate's runs by outcome, as the `darklaunch.runs` counter's `outcome` attribute
/// counts them (shed runs ran no candidate and are not among them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// `match`.
    pub matched: u64,
    /// `mismatch`.
    pub mismatched: u64,
    /// `ignored`.
    pub ignored: u64,
    /// `noise`.
    pub noise: u64,
    /// `candidate_error`.
    pub errors: u64,
    /// `timeout`.
    pub timeouts: u64,
}

impl OutcomeCounts {
    /// Every run counted, whatever its outcome (saturating).
    pub fn runs(&self) -> u64 {
        [
            self.matched,
            self.mismatched,
            self.ignored,
            self.noise,
            self.errors,
            self.timeouts,
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add)
    }
}

/// The verdict statistics of one candidate computed from its [`OutcomeCounts`] by
/// [`verdict_from_counts`]: the same rates, bounds and verdict a
/// [`CandidateReport`](super::CandidateReport) of the same runs carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CountsVerdict {
    /// The candidate's name.
    pub name: String,
    /// The counts judged.
    pub counts: OutcomeCounts,
    /// Runs: the sum of the counts.
    pub runs: u64,
    /// Mismatches over runs, with a 95 % Wilson interval (descriptive).
    pub mismatch_rate: Proportion,
    /// Candidate errors over runs, with a 95 % Wilson interval (descriptive).
    pub error_rate: Proportion,
    /// Timeouts over runs, with a 95 % Wilson interval (descriptive).
    pub timeout_rate: Proportion,
    /// The mismatch rate's anytime-valid bounds, centred on the mismatch tolerance.
    pub mismatch_bounds: AnytimeBounds,
    /// The error rate's anytime-valid bounds, centred on the error tolerance.
    pub error_bounds: AnytimeBounds,
    /// The timeout rate's anytime-valid bounds, centred on the error tolerance.
    pub timeout_bounds: AnytimeBounds,
    /// The verdict.
    pub verdict: ReleaseVerdict,
}

/// Judges a candidate from its outcome counts, with the statistics of
/// [`Insight::report`](super::Insight::report): the same anytime-valid bounds, Wilson
/// intervals and [`ReleaseVerdict`] (one evaluation, so
/// [`consecutive_evaluations`](ReleasePolicy::consecutive_evaluations) plays no part).
///
/// `latency`, when known, is the candidate's and the control's latency (for example
/// percentiles read from histogram buckets): [`ReleasePolicy::max_p99_ratio`] judges their
/// p99s. Counts carry no run-by-run durations, so a policy with a paired slowdown limit
/// ([`max_median_slowdown`](ReleasePolicy::max_median_slowdown),
/// [`max_p99_slowdown`](ReleasePolicy::max_p99_slowdown)) is never *safe* here, as an
/// insight with no paired runs is not. A policy out of range is taken as
/// [`Insight::with_options`](super::Insight::with_options) takes it.
///
/// ```
/// use darklaunch::insight::{verdict_from_counts, OutcomeCounts, ReleasePolicy, ReleaseStatus};
///
/// let mut counts = OutcomeCounts::default();
/// counts.matched = 9_900;
/// counts.mismatched = 100;
/// let judged = verdict_from_counts("v2", &counts, None, &ReleasePolicy::default());
/// assert_eq!(judged.runs, 10_000);
/// assert_eq!(judged.verdict.status, ReleaseStatus::NotSafe);
/// ```
pub fn verdict_from_counts(
    name: &str,
    counts: &OutcomeCounts,
    latency: Option<(&LatencySummary, &LatencySummary)>,
    policy: &ReleasePolicy,
) -> CountsVerdict {
    let mut policy = policy.clone();
    if !(policy.confidence > 0.0 && policy.confidence < 1.0) {
        policy.confidence = 0.95;
    }
    for tolerance in [&mut policy.mismatch_tolerance, &mut policy.error_tolerance] {
        *tolerance = if tolerance.is_nan() {
            0.0
        } else {
            tolerance.clamp(0.0, 1.0)
        };
    }
    let mismatch_sequence =
        ConfidenceSequence::checked(policy.confidence, policy.mismatch_tolerance);
    let error_sequence = ConfidenceSequence::checked(policy.confidence, policy.error_tolerance);
    let runs = counts.runs();
    let (candidate_latency, control_latency) = match latency {
        Some((candidate, control)) => (candidate.clone(), control.clone()),
        None => (LatencySummary::default(), LatencySummary::default()),
    };
    let paired_latency = PairedLatency::default();
    let mut report = CandidateReport {
        name: name.to_owned(),
        runs,
        matched: counts.matched,
        mismatched: counts.mismatched,
        noise: counts.noise,
        reclassified_as_noise: 0,
        ignored: counts.ignored,
        errors: counts.errors,
        timeouts: counts.timeouts,
        mismatch_rate: Proportion::wilson(counts.mismatched, runs),
        error_rate: Proportion::wilson(counts.errors, runs),
        timeout_rate: Proportion::wilson(counts.timeouts, runs),
        mismatch_bounds: mismatch_sequence.bounds(counts.mismatched, runs),
        error_bounds: error_sequence.bounds(counts.errors, runs),
        timeout_bounds: error_sequence.bounds(counts.timeouts, runs),
        latency: candidate_latency,
        latency_status: latency_status(&paired_latency, &policy),
        paired_latency,
        breakdown: Vec::new(),
        groups: Vec::new(),
        ungrouped_mismatches: 0,
        timeline: Vec::new(),
        verdict: ReleaseVerdict {
            status: ReleaseStatus::Inconclusive,
            summary: String::new(),
        },
        evaluated_status: ReleaseStatus::Inconclusive,
    };
    let verdict = release_verdict(&report, &control_latency, &policy);
    report.verdict = verdict;
    CountsVerdict {
        name: report.name,
        counts: *counts,
        runs,
        mismatch_rate: report.mismatch_rate,
        error_rate: report.error_rate,
        timeout_rate: report.timeout_rate,
        mismatch_bounds: report.mismatch_bounds,
        error_bounds: report.error_bounds,
        timeout_bounds: report.timeout_bounds,
        verdict: report.verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insight::Insight;
    use crate::Experiment;

    #[test]
    fn counts_are_judged_as_the_insight_judges_the_runs() {
        let insight = Insight::new();
        let experiment: Experiment<u64> = Experiment::builder("counts")
            .publisher(insight.clone())
            .build()
            .unwrap();
        for n in 0..3_000u64 {
            experiment.run(|| n, || if n % 400 == 3 { n + 1 } else { n });
        }
        let report = insight.report();
        let seen = &report.candidates[0];
        let counts = OutcomeCounts {
            matched: seen.matched,
            mismatched: seen.mismatched,
            ..OutcomeCounts::default()
        };
        let judged = verdict_from_counts(&seen.name, &counts, None, &ReleasePolicy::default());
        assert_eq!(judged.runs, seen.runs);
        assert_eq!(judged.mismatch_bounds, seen.mismatch_bounds);
        assert_eq!(judged.error_bounds, seen.error_bounds);
        assert_eq!(judged.mismatch_rate, seen.mismatch_rate);
        assert_eq!(judged.verdict.status, seen.verdict.status);
    }

    #[test]
    fn slowdown_limits_cannot_be_met_without_paired_runs() {
        let counts = OutcomeCounts {
            matched: 1_000_000,
            ..OutcomeCounts::default()
        };
        let mut policy = ReleasePolicy::default();
        assert_eq!(
            verdict_from_counts("c", &counts, None, &policy)
                .verdict
                .status,
            ReleaseStatus::Safe
        );
        policy.max_median_slowdown = Some(1.2);
        assert_eq!(
            verdict_from_counts("c", &counts, None, &policy)
                .verdict
                .status,
            ReleaseStatus::Inconclusive
        );
    }
}
