//! Insight: is the candidate safe to release, and if not, what exactly is wrong?
//!
//! Counting mismatches is not enough: real responses carry timestamps, random ids and
//! unordered sets, and thousands of mismatches can be one defect. This module adds:
//!
//! - **Noise calibration** ([`NoiseCalibration`], Diffy's idea done in process): on a fraction
//!   of sampled runs the control runs a second time (the trial's
//!   [`calibration`](crate::Trial::calibration) behaviour) and is diffed against itself.
//!   Per-path counts of candidate and control-vs-control differences over a sliding window
//!   classify each path; a result whose differing paths are all noise gets the verdict
//!   [`Noise`](crate::Verdict::Noise), not `Mismatch`, and both counts are published with the
//!   differences ([`CandidateResult::noise`](crate::CandidateResult::noise)).
//! - **Grouping**: mismatches grouped by diff shape (paths and kinds, array indices folded,
//!   noise paths left out), each group with its count, first and last sighting and a few
//!   samples ([`MismatchGroup`]).
//! - **Verdict statistics** per candidate: mismatch, error and timeout rates with 95 % Wilson
//!   intervals ([`Proportion`]), latency percentiles of control and candidate from HDR
//!   histograms ([`LatencySummary`]), and a one-line verdict in plain words
//!   ([`ReleaseVerdict`]).
//! - **Reports** ([`Report`]): terminal tables and a self-contained HTML page with inline SVG
//!   charts that opens with no network.
//! - **Snapshots** ([`Snapshot`]): what an insight gathered, serialized (versioned JSON, HDR
//!   histograms in their own serialization) and merged exactly across the processes of a fleet
//!   into one report.
//!
//! ```
//! use darklaunch::insight::{Insight, ReleaseStatus};
//! use darklaunch::noise::NoiseCalibration;
//! use darklaunch::Experiment;
//! use serde::Serialize;
//!
//! #[derive(Clone, PartialEq, Serialize)]
//! struct Quote { total: u64, request_id: u64 }
//!
//! let insight = Insight::new();
//! let experiment: Experiment<Quote> = Experiment::builder("quote-v2")
//!     .calibrate_noise(NoiseCalibration::new().percent(50.0))
//!     .publisher(insight.clone())
//!     .build()?;
//! let mut ids = 0u64;
//! let mut next_id = move || { ids += 1; ids };
//! for n in 0..2_000u64 {
//!     let (a, b, c) = (next_id(), next_id(), next_id());
//!     experiment
//!         .trial()
//!         .control(|| Quote { total: n, request_id: a })
//!         // The control again: its request id differs too, which is how noise is learnt.
//!         .calibration(|| Quote { total: n, request_id: b })
//!         // The rewrite: off by one on one input in fifty.
//!         .candidate("v2", || Quote { total: if n % 50 == 0 { n + 1 } else { n }, request_id: c })
//!         .run();
//! }
//! let report = insight.report();
//! let v2 = &report.candidates[0];
//! assert_eq!(v2.verdict.status, ReleaseStatus::NotSafe);
//! // One group: the defect; the request id is noise.
//! assert_eq!(v2.groups.len(), 1);
//! assert_eq!(v2.groups[0].shape[0].path, "$.total");
//! assert!(report.noise.unwrap().paths.iter().any(|p| p.path == "$.request_id" && p.is_noise));
//! # Ok::<(), darklaunch::ConfigError>(())
//! ```

mod bounded;
mod breakdown;
mod collector;
mod counts;
pub(crate) mod format;
mod grouping;
mod guard_marks;
mod html;
mod latency;
#[cfg(feature = "tower")]
pub mod live;
mod paired;
mod proportion;
mod ramp;
mod report;
mod sequence;
mod snapshot;
mod svg;
mod terminal;
mod timeline;
mod verdict;

pub use breakdown::{BreakdownEntry, ABSENT, OTHER};
pub use collector::{Insight, InsightOptions, StatusChange};
pub use counts::{verdict_from_counts, CountsVerdict, OutcomeCounts};
pub use guard_marks::{GuardMark, MAX_GUARD_MARKS};
pub use latency::{LatencySummary, QuantilePoint};
pub use paired::{PairedLatency, RatioInterval};
pub use proportion::{Proportion, Z_95};
#[cfg(feature = "tokio")]
pub use ramp::RampDriver;
pub use ramp::{Ramp, RampStep};
pub use report::{
    CandidateReport, MismatchGroup, MismatchSample, Report, ShapeEntry, TimelinePoint,
};
pub use sequence::{AnytimeBounds, ConfidenceSequence};
pub use snapshot::{Snapshot, SnapshotError, MAX_NOISE_PATHS, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
pub use verdict::{ReleasePolicy, ReleaseStatus, ReleaseVerdict};

// Noise calibration's old paths, deprecated since 0.2.0: see `deprecated.rs`.
#[allow(deprecated)]
pub use crate::deprecated::insight::{
    fold_indices, noise_key, NoiseCalibration, NoiseSnapshot, PathNoise, MAX_PATH_KEY,
    MAX_PATH_TEXT,
};
