//! The release verdict: the statistics in one line of plain words.

use serde::Serialize;

use crate::insight::format::{duration_text, percent_text, range_text, thousands};
use crate::insight::latency::LatencySummary;
use crate::insight::paired::PairedLatency;
use crate::insight::report::CandidateReport;

/// When a candidate counts as safe to release; part of
/// [`InsightOptions`](super::InsightOptions).
///
/// A rate is *acceptable* when the upper bound of its anytime-valid confidence sequence (at
/// [`confidence`](Self::confidence), 95 % by default; see
/// [`ConfidenceSequence`](super::ConfidenceSequence)) is at most the tolerance, and
/// *unacceptable* when the lower bound is above it; in between, the evidence does not decide
/// yet. The bounds hold however often the verdict is read: the chance that a candidate whose
/// true rate is at the tolerance is *ever* called safe is at most 1 − confidence (a fixed-sample
/// interval read after every run makes that 27 %: `tests/insight/insight_anytime.rs`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReleasePolicy {
    /// Runs needed before any verdict but "not enough evidence" (default 100).
    pub min_runs: u64,
    /// The highest acceptable mismatch rate (default 0.001: 0.1 %).
    pub mismatch_tolerance: f64,
    /// The highest acceptable candidate error or timeout rate (default 0.001).
    pub error_tolerance: f64,
    /// The highest acceptable ratio of the candidate's p99 latency to the control's (default
    /// none: latency is reported but does not decide).
    pub max_p99_ratio: Option<f64>,
    /// The confidence level of the verdict's bounds, in (0, 1) (default 0.95).
    pub confidence: f64,
    /// The most the candidate may be slower than the control at the median of the paired
    /// ratio (candidate ÷ control on the same runs), for example 1.2: "not slower by more than
    /// 20 % at the median" (default none).
    pub max_median_slowdown: Option<f64>,
    /// The same at the p99 of the paired ratio, for example 1.5 (default none).
    pub max_p99_slowdown: Option<f64>,
    /// How many consecutive evaluations a new status must hold before it is reported (Argo
    /// Rollouts' `consecutiveSuccessLimit`; default 1: at once). An evaluation is a
    /// [`report`](super::Insight::report) that saw new runs of the candidate since the last one;
    /// until a new status has held that long, the report keeps the last reported one.
    pub consecutive_evaluations: u32,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        Self {
            min_runs: 100,
            mismatch_tolerance: 0.001,
            error_tolerance: 0.001,
            max_p99_ratio: None,
            confidence: 0.95,
            max_median_slowdown: None,
            max_p99_slowdown: None,
            consecutive_evaluations: 1,
        }
    }
}

/// What the numbers say about releasing a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    /// Every rate is acceptable at 95 % confidence (and latency within the policy).
    Safe,
    /// Some rate is unacceptable at 95 % confidence, or latency is over the policy.
    NotSafe,
    /// Too few runs, or an interval straddles its tolerance: keep sampling.
    Inconclusive,
}

impl ReleaseStatus {
    /// `safe`, `not_safe` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Safe => "safe",
            ReleaseStatus::NotSafe => "not_safe",
            ReleaseStatus::Inconclusive => "inconclusive",
        }
    }
}

/// The verdict on one candidate: a status and one line of plain words with the numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ReleaseVerdict {
    /// The decision.
    pub status: ReleaseStatus,
    /// For example: `v2 is not safe to release: 1.9 % of runs mismatch (95 % CI 1.6–2.2 %) in
    /// 1 shape, led by $.total changed`.
    pub summary: String,
}

/// Judges a candidate's numbers against the policy.
pub(crate) fn release_verdict(
    candidate: &CandidateReport,
    control: &LatencySummary,
    policy: &ReleasePolicy,
) -> ReleaseVerdict {
    let name = &candidate.name;
    if candidate.runs < policy.min_runs {
        return ReleaseVerdict {
            status: ReleaseStatus::Inconclusive,
            summary: format!(
                "{name}: not enough evidence yet: {} of the {} runs needed",
                thousands(candidate.runs),
                thousands(policy.min_runs)
            ),
        };
    }
    let latency_ratio = p99_ratio(&candidate.latency, control);
    let too_slow = matches!((policy.max_p99_ratio, latency_ratio), (Some(max), Some(r)) if r > max);

    let mut problems = paired_problems(&candidate.paired_latency, policy);
    let mismatch = &candidate.mismatch_bounds;
    let level = percent_text(mismatch.level);
    if mismatch.low > policy.mismatch_tolerance {
        let mut problem = format!(
            "{} of runs mismatch (anytime {level} bounds {})",
            percent_text(candidate.mismatch_rate.estimate),
            range_text(mismatch.low, mismatch.high)
        );
        let shapes = candidate.groups.len();
        if let Some(top) = candidate.groups.first() {
            let lead = top
                .shape
                .iter()
                .map(|entry| format!("{} {}", entry.path, entry.kind))
                .collect::<Vec<_>>()
                .join(", ");
            let noun = if shapes == 1 { "shape" } else { "shapes" };
            problem.push_str(&format!(" in {shapes} {noun}, led by {lead}"));
        }
        problems.push(problem);
    }
    for (count, bounds, rate, what) in [
        (
            candidate.errors,
            &candidate.error_bounds,
            &candidate.error_rate,
            "candidate errors",
        ),
        (
            candidate.timeouts,
            &candidate.timeout_bounds,
            &candidate.timeout_rate,
            "timeouts",
        ),
    ] {
        if bounds.low > policy.error_tolerance {
            problems.push(format!(
                "{} {what} ({})",
                thousands(count),
                percent_text(rate.estimate)
            ));
        }
    }
    if too_slow {
        if let Some(ratio) = latency_ratio {
            problems.push(format!(
                "p99 latency {ratio:.1}× the control's ({} vs {})",
                duration_text(candidate.latency.p99),
                duration_text(control.p99)
            ));
        }
    }
    let noise = if candidate.noise > 0 {
        format!(
            "; {} runs differed only on noise paths",
            thousands(candidate.noise)
        )
    } else {
        String::new()
    };
    if !problems.is_empty() {
        return ReleaseVerdict {
            status: ReleaseStatus::NotSafe,
            summary: format!(
                "{name} is not safe to release: {}{noise}",
                problems.join("; ")
            ),
        };
    }

    let acceptable = candidate.latency_status != Some(ReleaseStatus::Inconclusive)
        && mismatch.high <= policy.mismatch_tolerance
        && candidate.error_bounds.high <= policy.error_tolerance
        && candidate.timeout_bounds.high <= policy.error_tolerance;
    let latency = match latency_ratio {
        Some(ratio) => format!("; p99 latency {ratio:.2}× the control's"),
        None => String::new(),
    };
    if acceptable {
        ReleaseVerdict {
            status: ReleaseStatus::Safe,
            summary: format!(
                "{name} looks safe to release: {} mismatches in {} runs (at most {} at {level} confidence, valid however often it is read), {} errors, {} timeouts{latency}{noise}",
                thousands(candidate.mismatched),
                thousands(candidate.runs),
                percent_text(mismatch.high),
                thousands(candidate.errors),
                thousands(candidate.timeouts),
            ),
        }
    } else {
        ReleaseVerdict {
            status: ReleaseStatus::Inconclusive,
            summary: format!(
                "{name}: undecided: mismatch rate {} (anytime {level} bounds {}) against a tolerance of {}; keep sampling{latency}{noise}",
                percent_text(candidate.mismatch_rate.estimate),
                range_text(mismatch.low, mismatch.high),
                percent_text(policy.mismatch_tolerance),
            ),
        }
    }
}

/// The candidate's p99 over the control's, when both are known.
fn p99_ratio(candidate: &LatencySummary, control: &LatencySummary) -> Option<f64> {
    (candidate.count > 0 && control.count > 0 && !control.p99.is_zero())
        .then(|| candidate.p99.as_secs_f64() / control.p99.as_secs_f64())
}

/// The latency verdict on the paired ratios: `None` without a slowdown limit.
pub(crate) fn latency_status(
    paired: &PairedLatency,
    policy: &ReleasePolicy,
) -> Option<ReleaseStatus> {
    let limits = [
        (paired.median, policy.max_median_slowdown),
        (paired.p99, policy.max_p99_slowdown),
    ];
    if limits.iter().all(|(_, limit)| limit.is_none()) {
        return None;
    }
    let mut status = ReleaseStatus::Safe;
    for (interval, limit) in limits {
        let Some(limit) = limit else { continue };
        match interval {
            Some(interval) if interval.low > limit => return Some(ReleaseStatus::NotSafe),
            Some(interval) if interval.high <= limit => {}
            _ => status = ReleaseStatus::Inconclusive,
        }
    }
    Some(status)
}

/// What the paired ratios show over the policy's limits, in words.
fn paired_problems(paired: &PairedLatency, policy: &ReleasePolicy) -> Vec<String> {
    [
        ("median", paired.median, policy.max_median_slowdown),
        ("p99", paired.p99, policy.max_p99_slowdown),
    ]
    .into_iter()
    .filter_map(|(name, interval, limit)| {
        let (interval, limit) = (interval?, limit?);
        (interval.low > limit).then(|| {
            format!(
                "{name} latency {:.2}× the control's on the same runs (95 % interval {:.2}–{:.2}×), over the {limit:.2}× allowed",
                interval.estimate, interval.low, interval.high
            )
        })
    })
    .collect()
}
