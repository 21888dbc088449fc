//! Why a snapshot was refused.

/// Why a [`Snapshot`](super::Snapshot) could not be decoded or merged. Nothing is merged when
/// one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes are not JSON of a snapshot (truncated, not JSON, or fields missing or of the
    /// wrong type).
    #[error("not a darklaunch insight snapshot: {0}")]
    Json(#[from] serde_json::Error),
    /// The `format` field is not [`SNAPSHOT_FORMAT`](super::SNAPSHOT_FORMAT).
    #[error("not a darklaunch insight snapshot: format is {found:?}, expected \"darklaunch.insight.snapshot\"")]
    Format {
        /// The format found (cut to 64 bytes).
        found: String,
    },
    /// A snapshot format version this build does not read.
    #[error("snapshot version {found} is not supported: this build reads version {supported}")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
        /// The version this build reads ([`SNAPSHOT_VERSION`](super::SNAPSHOT_VERSION)).
        supported: u32,
    },
    /// A snapshot of another experiment: its runs are not this experiment's.
    #[error("snapshot of experiment {theirs:?} cannot be merged into one of {ours:?}")]
    DifferentExperiment {
        /// This snapshot's experiment.
        ours: String,
        /// The other snapshot's experiment (cut to 256 bytes).
        theirs: String,
    },
    /// Noise calibration counts judged by other thresholds: adding them would classify paths
    /// by neither rule.
    #[error("noise calibration thresholds (relative, absolute) differ, {ours:?} vs {theirs:?}: snapshots of differently calibrated experiments cannot be merged")]
    DifferentNoiseSettings {
        /// This snapshot's relative and absolute thresholds.
        ours: (f64, f64),
        /// The other snapshot's.
        theirs: (f64, f64),
    },
    /// A histogram field is not valid base64.
    #[error("histogram {field} is not valid base64")]
    Base64 {
        /// Which histogram.
        field: &'static str,
    },
    /// A histogram's bytes do not decode to a histogram of the insight's range and precision.
    #[error("histogram {field} is invalid: {problem}")]
    Histogram {
        /// Which histogram.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The snapshot decodes, but its contents contradict each other or exceed the caps
    /// (counts that do not add up, more groups or samples than the caps allow, overlong texts).
    #[error("snapshot is inconsistent: {0}")]
    Invalid(String),
}
