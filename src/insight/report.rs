//! The report: a plain snapshot of everything an [`Insight`](super::Insight) gathered, ready to
//! render as terminal tables or as a self-contained HTML page, or to serialize.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::diff::Diff;
use crate::insight::latency::LatencySummary;
use crate::insight::paired::PairedLatency;
use crate::insight::proportion::Proportion;
use crate::insight::sequence::AnytimeBounds;
use crate::insight::verdict::{ReleaseStatus, ReleaseVerdict};
use crate::noise::NoiseSnapshot;

/// A snapshot of one experiment's insight, made by [`Insight::report`](super::Insight::report).
///
/// Render it with [`to_terminal`](Report::to_terminal) or [`to_html`](Report::to_html) (or
/// [`write_html`](Report::write_html)); every field is public and it serializes with serde.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// When the insight started gathering (its first published result, or its creation).
    pub started_at: SystemTime,
    /// When this snapshot was taken.
    pub generated_at: SystemTime,
    /// Sampled runs the insight saw.
    pub runs: u64,
    /// The control's latency over those runs (control panics included, as measured).
    pub control_latency: LatencySummary,
    /// One entry per candidate, in the order they were first seen.
    pub candidates: Vec<CandidateReport>,
    /// Noise calibration's per-path counts, when the experiment calibrates noise.
    pub noise: Option<NoiseSnapshot>,
    /// Candidate results not gathered because
    /// [`InsightOptions::max_candidates`](super::InsightOptions::max_candidates) candidates
    /// were already tracked (counted only).
    pub untracked_candidate_results: u64,
    /// Guard trips and re-arms ([`crate::guard`]), oldest first: the latest
    /// [`MAX_GUARD_MARKS`](super::MAX_GUARD_MARKS).
    pub guard_events: Vec<super::GuardMark>,
    /// Older guard events dropped from `guard_events` (counted only).
    pub guard_events_dropped: u64,
    /// The context key of each candidate's `breakdown`, if any.
    pub breakdown_key: Option<String>,
    /// The template samples' trace ids are linked through in the HTML report
    /// ([`InsightOptions::trace_link`](super::InsightOptions::trace_link)), if any.
    pub trace_link: Option<String>,
}

impl Report {
    /// The paths calibration classifies as noise (as [`noise_key`](super::noise_key) renders
    /// them); empty without calibration.
    pub(crate) fn noise_paths(&self) -> Vec<&str> {
        self.noise
            .as_ref()
            .map(NoiseSnapshot::noise_paths)
            .unwrap_or_default()
    }
}

/// Everything known about one candidate.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct CandidateReport {
    /// The candidate's name.
    pub name: String,
    /// Runs this candidate took part in.
    pub runs: u64,
    /// Runs whose verdict was `match`.
    pub matched: u64,
    /// Runs whose verdict was `mismatch` (less those reclassified as noise).
    pub mismatched: u64,
    /// Runs whose only differences were on paths calibration classified as noise, including
    /// `reclassified_as_noise`.
    pub noise: u64,
    /// Mismatches published before calibration had learnt that their paths are noise: the
    /// report judges them with what it knows now and counts them as noise, not mismatches.
    pub reclassified_as_noise: u64,
    /// Runs an ignore rule excused.
    pub ignored: u64,
    /// Runs where the candidate panicked.
    pub errors: u64,
    /// Runs where the candidate did not finish within the timeout.
    pub timeouts: u64,
    /// Mismatches over runs, with a 95 % Wilson interval: a fixed-sample figure, descriptive
    /// only (read after every run it is right far less often than 95 %); the verdict uses
    /// `mismatch_bounds`.
    pub mismatch_rate: Proportion,
    /// Candidate errors (panics) over runs, with a 95 % Wilson interval (descriptive).
    pub error_rate: Proportion,
    /// Timeouts over runs, with a 95 % Wilson interval (descriptive).
    pub timeout_rate: Proportion,
    /// The mismatch rate's anytime-valid bounds at the policy's confidence, centred on its
    /// mismatch tolerance: what the verdict decides on.
    pub mismatch_bounds: AnytimeBounds,
    /// The error rate's anytime-valid bounds, centred on the error tolerance.
    pub error_bounds: AnytimeBounds,
    /// The timeout rate's anytime-valid bounds, centred on the error tolerance.
    pub timeout_bounds: AnytimeBounds,
    /// The candidate's latency (timeouts count as the time until they were given up on):
    /// unpaired percentiles, beside the control's.
    pub latency: LatencySummary,
    /// The candidate's duration over the control's on the same runs: the median, p90 and p99
    /// of that ratio with distribution-free 95 % intervals.
    pub paired_latency: PairedLatency,
    /// Outcomes and latency by the value of the breakdown key
    /// ([`InsightOptions::breakdown_key`](super::InsightOptions::breakdown_key)), the most
    /// frequent first, the rest as [`OTHER`](super::OTHER).
    pub breakdown: Vec<super::BreakdownEntry>,
    /// The latency verdict on the paired ratios, when the policy sets a slowdown limit
    /// ([`ReleasePolicy::max_median_slowdown`](super::ReleasePolicy::max_median_slowdown),
    /// [`max_p99_slowdown`](super::ReleasePolicy::max_p99_slowdown)): *safe* when every limited
    /// quantile's upper bound is within its limit, *not safe* when a lower bound is above it.
    pub latency_status: Option<ReleaseStatus>,
    /// Mismatches grouped by diff shape, most frequent first.
    pub groups: Vec<MismatchGroup>,
    /// Groups beyond the configured cap: their mismatches are counted here only.
    pub ungrouped_mismatches: u64,
    /// Runs and mismatches over time, oldest first, at a regular interval (verdicts as
    /// published).
    pub timeline: Vec<TimelinePoint>,
    /// The verdict in plain words: the *reported* status, which changes only once a new
    /// status has held for
    /// [`consecutive_evaluations`](super::ReleasePolicy::consecutive_evaluations).
    pub verdict: ReleaseVerdict,
    /// What this evaluation alone says (the same as `verdict.status` once it has held).
    pub evaluated_status: ReleaseStatus,
}

/// Mismatches that share a diff shape: the same set of (path, kind) pairs once array indices
/// are folded to `[*]` and paths classified as noise are left out.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct MismatchGroup {
    /// The shape: sorted, deduplicated `(folded path, kind)` pairs, or for a mismatch without
    /// a diff a single pseudo-entry naming the outcomes (e.g. `$` / `value vs error`).
    pub shape: Vec<ShapeEntry>,
    /// How many mismatches had this shape.
    pub count: u64,
    /// When the first one was published.
    pub first_seen: SystemTime,
    /// When the latest one was published.
    pub last_seen: SystemTime,
    /// The first few mismatches of this shape, as seen.
    pub samples: Vec<MismatchSample>,
}

/// One entry of a diff shape.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShapeEntry {
    /// The path with array indices folded, e.g. `$.items[*].price`.
    pub path: String,
    /// The difference kind (`changed`, `added`, …) or, without a diff, the two outcome kinds.
    pub kind: String,
}

/// One recorded mismatch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MismatchSample {
    /// When it was published.
    pub seen_at: SystemTime,
    /// The run's context, rendered (`key`, `value`): at most 16 entries (then one `…` entry
    /// counting the rest), keys and values cut to 256 bytes, control characters escaped.
    pub context: Vec<(String, String)>,
    /// The control's outcome. A value: when the experiment computes a diff, only the words
    /// `a value (not shown: …)`, since values appear only through the (redacted, capped) diff;
    /// without a diff, its compact JSON (after `clean`). Otherwise the outcome and its message
    /// (`error: …`, `panicked: …`, `timed out`), control characters escaped. At most
    /// [`InsightOptions::max_value_chars`](super::InsightOptions::max_value_chars) bytes,
    /// ending in `…` when cut.
    pub control: String,
    /// The candidate's outcome, rendered the same way.
    pub candidate: String,
    /// The structural diff, when the experiment computes one: redacted by its options, and
    /// capped here too (at most 32 differences, the rest counted in `omitted`; paths cut to
    /// 1 KiB and keys to 128 bytes; values longer than `max_value_chars` bytes of JSON cut to a
    /// string with `truncated` set).
    pub diff: Option<Diff>,
    /// What the sample leaves out, when it matters: e.g. that the values differ but the diff
    /// found no difference on the compared paths (so there is nothing to show).
    pub note: Option<String>,
    /// The run's recorded input ([`crate::input`]) as compact JSON, as it was kept (cleaned,
    /// redacted, capped), cut to `max_value_chars` bytes here; `None` when the run kept none.
    pub input: Option<String>,
    /// The id of the caller's distributed trace the run was part of (32 lowercase hex
    /// digits), when it was inside one ([`ExperimentResult::trace_id_hex`](crate::ExperimentResult::trace_id_hex));
    /// the HTML report links it through
    /// [`InsightOptions::trace_link`](super::InsightOptions::trace_link).
    pub trace_id: Option<String>,
}

/// Runs and mismatches of one candidate during one interval.
#[derive(Clone, Copy, Debug, Serialize)]
#[non_exhaustive]
pub struct TimelinePoint {
    /// The interval's start, measured from the report's `started_at`.
    pub offset: Duration,
    /// The interval's length.
    pub width: Duration,
    /// Runs published in it.
    pub runs: u64,
    /// Mismatches among them.
    pub mismatches: u64,
}
