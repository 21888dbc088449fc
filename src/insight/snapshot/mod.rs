//! Mergeable snapshots of an [`Insight`](super::Insight): one experiment's view, taken in each
//! process of a fleet, serialized, merged, and rendered as one report. The format, merging and
//! rendering are documented on [`Snapshot`].

mod capture;
mod check;
mod codec;
mod error;
mod merge;
mod noise;
mod render;

use std::time::{Duration, SystemTime};

use crate::insight::breakdown::Breakdown;
use crate::insight::guard_marks::GuardMark;
use crate::insight::latency::LatencyHistogram;
use crate::insight::paired::PairedRatios;
use crate::insight::report::{MismatchSample, ShapeEntry};

pub use error::SnapshotError;
pub use noise::MAX_NOISE_PATHS;

/// The format marker every snapshot's JSON carries in its `format` field.
pub const SNAPSHOT_FORMAT: &str = "darklaunch.insight.snapshot";

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// What an [`Insight`](super::Insight) gathered about one experiment, made by
/// [`Insight::snapshot`](super::Insight::snapshot): serializable
/// ([`to_json`](Self::to_json), [`from_json`](Self::from_json)), mergeable with snapshots of the
/// same experiment from other processes ([`merge`](Self::merge)), and rendered as the same
/// [`Report`](super::Report) an insight makes ([`report`](Self::report)): one experiment's
/// view, taken in each process of a fleet, merged into one report.
/// process of a fleet, serialized, merged, and rendered as one [`Report`](super::Report).
///
/// A [`Snapshot`] carries what the insight gathered, not what it concluded:
///
/// - the counts per candidate and verdict, the sampled runs and the untracked results;
/// - the control's and each candidate's latency histogram, the paired latency ratios and the
///   breakdown's histograms, in HDR histogram's own serialization (V2 with deflate, base64 in
///   JSON);
/// - the mismatch groups as gathered, each with its shape, the calibration keys of each shape
///   entry, its count, first and last sighting and capped samples (with their trace ids);
/// - noise calibration's window counts (per path, candidate and control-vs-control
///   differences, and the totals) with the thresholds they are judged by;
/// - the timeline, guard events, and the caps the insight kept them under.
///
/// **What merging is exact for.** Counts add, histograms add (HDR `add`: percentiles of the
/// merge are those of one histogram fed every value), groups merge by shape (counts add, first
/// sighting the earliest, last the latest, samples the earliest ones up to the cap), noise
/// counts add and each path is classified again from the merged counts, and the report judges
/// the groups again with that classification. So a report of merged snapshots says what one
/// insight fed every run would have said, with these exceptions: where a cap was reached
/// (groups beyond the cap are counted as ungrouped, samples beyond it dropped, breakdown values
/// beyond the tracked ones counted as [`OTHER`](super::OTHER), noise paths beyond
/// [`MAX_NOISE_PATHS`] dropped), where a noise window slid (each process's window covers its
/// own latest comparisons), the timeline (intervals are placed by each snapshot's wall-clock
/// start, so the totals are exact but a run may land one interval off), guard events (the
/// latest [`MAX_GUARD_MARKS`](super::MAX_GUARD_MARKS) kept) and the reported status, which
/// is the evaluation of the merged counts, without the live insight's
/// [`consecutive_evaluations`](super::ReleasePolicy::consecutive_evaluations) hysteresis.
///
/// **What is refused.** [`from_json`](Snapshot::from_json) refuses another format or version,
/// bad JSON, bad base64, histogram bytes that do not decode to a histogram of the insight's
/// range and precision, counts that do not add up, and collections larger than the caps of the
/// insight options it is given; [`merge`](Snapshot::merge) refuses a snapshot of another
/// experiment and one whose noise thresholds differ. Each is a [`SnapshotError`], never a panic
/// and never a silent merge.
///
/// **What it may show.** A snapshot carries the same samples as the report (after `clean`,
/// redaction and the size caps): treat it as the report. Serve it only where the report may be
/// seen (the live report service, feature `tower`, serves it behind the same bearer token).
///
/// ```
/// use darklaunch::insight::{Insight, Snapshot};
/// use darklaunch::Experiment;
///
/// // Two processes running the same experiment, each with its own insight.
/// let mut snapshots = Vec::new();
/// for process in 0..2u64 {
///     let insight = Insight::new();
///     let experiment: Experiment<u64> = Experiment::builder("pricing-v2")
///         .publisher(insight.clone())
///         .build()?;
///     for n in 0..500u64 {
///         let input = process * 500 + n;
///         experiment.run(|| input * 2, || if input % 100 == 7 { input * 2 + 1 } else { input * 2 });
///     }
///     // What a process would serve at /snapshot.json, or write to a file.
///     snapshots.push(insight.snapshot().to_json()?);
/// }
/// // Somewhere else: decode, merge, render.
/// let mut merged = Snapshot::from_json(&snapshots[0])?;
/// merged.merge(&Snapshot::from_json(&snapshots[1])?)?;
/// let report = merged.report();
/// assert_eq!(report.runs, 1_000);
/// assert_eq!(report.candidates[0].mismatched, 10);
/// assert_eq!(report.candidates[0].groups[0].count, 10);
/// println!("{}", report.to_terminal());
/// let _html = report.to_html();
///
/// // A snapshot of another experiment is refused.
/// let other = Insight::new();
/// let tax: Experiment<u64> = Experiment::builder("tax-v2").publisher(other.clone()).build()?;
/// tax.run(|| 1, || 1);
/// let refused = merged.merge(&other.snapshot());
/// assert!(matches!(refused, Err(darklaunch::insight::SnapshotError::DifferentExperiment { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) experiment: String,
    pub(crate) started_at: SystemTime,
    pub(crate) generated_at: SystemTime,
    pub(crate) runs: u64,
    pub(crate) untracked: u64,
    pub(crate) control: LatencyHistogram,
    pub(crate) candidates: Vec<CandidateSnapshot>,
    pub(crate) noise: Option<noise::NoiseCounts>,
    /// The timeline's interval.
    pub(crate) interval: Duration,
    pub(crate) guard_events: Vec<GuardMark>,
    pub(crate) guard_events_dropped: u64,
    pub(crate) breakdown_key: Option<String>,
    pub(crate) limits: Limits,
}

/// The caps the snapshot's contents were kept under (those of the insight it was taken from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_candidates: usize,
    pub(crate) max_groups: usize,
    pub(crate) samples_per_group: usize,
    pub(crate) max_timeline_points: usize,
    /// Values each candidate's breakdown tracks.
    pub(crate) breakdown_tracked: usize,
    pub(crate) max_value_chars: usize,
    pub(crate) significant_digits: u8,
}

/// One candidate's part of a snapshot.
#[derive(Clone, Debug)]
pub(crate) struct CandidateSnapshot {
    pub(crate) name: String,
    pub(crate) runs: u64,
    /// Per verdict, by [`Verdict::index`](crate::Verdict::index).
    pub(crate) counts: [u64; 6],
    pub(crate) latency: LatencyHistogram,
    pub(crate) paired: PairedRatios,
    pub(crate) breakdown: Option<Breakdown>,
    pub(crate) groups: Vec<GroupSnapshot>,
    pub(crate) ungrouped: u64,
    /// `(runs, mismatches)` per timeline interval.
    pub(crate) timeline: Vec<(u64, u64)>,
}

/// One mismatch group as gathered (not judged again by the noise paths).
#[derive(Clone, Debug)]
pub(crate) struct GroupSnapshot {
    pub(crate) shape: Vec<ShapeEntry>,
    /// Per shape entry, the calibration keys its differences had.
    pub(crate) keys: Vec<Vec<String>>,
    pub(crate) count: u64,
    pub(crate) first_seen: SystemTime,
    pub(crate) last_seen: SystemTime,
    pub(crate) samples: Vec<MismatchSample>,
}

impl Snapshot {
    /// The experiment's name.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// The snapshot format version ([`SNAPSHOT_VERSION`]).
    pub fn version(&self) -> u32 {
        SNAPSHOT_VERSION
    }

    /// Sampled runs counted (over every merged snapshot).
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// When the earliest of the merged insights started gathering.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// When the latest of the merged snapshots was taken.
    pub fn generated_at(&self) -> SystemTime {
        self.generated_at
    }

    /// The candidates' names, in the order they were first seen.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        self.candidates
            .iter()
            .map(|candidate| candidate.name.as_str())
    }
}
