//! Noise calibration's window counts in a snapshot: they add across snapshots, and each path is
//! classified again from the sums by the same rule the live model uses.

use std::collections::BTreeMap;

use crate::noise::{NoiseCalibration, NoiseSnapshot, PathNoise};

/// The most noise paths a snapshot keeps: four times the default per-map cap of calibration
/// ([`NoiseCalibration::max_paths`]), the most a live model's window can hold with the
/// default settings. Beyond it a merge keeps the paths with the most differences.
pub const MAX_NOISE_PATHS: usize = 4096;

/// Calibration's window counts and the thresholds they are judged by.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NoiseCounts {
    pub(crate) relative_threshold: f64,
    pub(crate) absolute_threshold: f64,
    pub(crate) comparisons: u64,
    pub(crate) calibrations: u64,
    /// Per path: (candidate differences, control-vs-control differences).
    pub(crate) paths: BTreeMap<String, (u64, u64)>,
}

impl NoiseCounts {
    /// The counts of a live model's snapshot, judged by `settings`.
    pub(crate) fn of(snapshot: &NoiseSnapshot, settings: &NoiseCalibration) -> Self {
        let (relative_threshold, absolute_threshold) = settings.thresholds();
        Self {
            relative_threshold,
            absolute_threshold,
            comparisons: snapshot.comparisons,
            calibrations: snapshot.calibrations,
            paths: snapshot
                .paths
                .iter()
                .map(|path| (path.path.clone(), (path.raw, path.noise)))
                .collect(),
        }
    }

    pub(crate) fn thresholds(&self) -> (f64, f64) {
        (self.relative_threshold, self.absolute_threshold)
    }

    /// Adds `other`'s counts (judged by the same thresholds: the caller checks), keeping at
    /// most [`MAX_NOISE_PATHS`] paths, those with the most differences.
    pub(crate) fn merge(&mut self, other: &NoiseCounts) {
        self.comparisons = self.comparisons.saturating_add(other.comparisons);
        self.calibrations = self.calibrations.saturating_add(other.calibrations);
        for (path, (raw, noise)) in &other.paths {
            let entry = self.paths.entry(path.clone()).or_insert((0, 0));
            entry.0 = entry.0.saturating_add(*raw);
            entry.1 = entry.1.saturating_add(*noise);
        }
        if self.paths.len() > MAX_NOISE_PATHS {
            let mut order: Vec<(String, (u64, u64))> =
                std::mem::take(&mut self.paths).into_iter().collect();
            order.sort_by(|a, b| {
                let total = |(raw, noise): (u64, u64)| raw.saturating_add(noise);
                total(b.1).cmp(&total(a.1)).then_with(|| a.0.cmp(&b.0))
            });
            order.truncate(MAX_NOISE_PATHS);
            self.paths = order.into_iter().collect();
        }
    }

    /// Every path classified from these counts, as the live model classifies its window:
    /// noise first, then by candidate differences.
    pub(crate) fn classified(&self) -> NoiseSnapshot {
        let settings = NoiseCalibration::new()
            .relative_threshold(self.relative_threshold)
            .absolute_threshold(self.absolute_threshold);
        let mut paths: Vec<PathNoise> = self
            .paths
            .iter()
            .map(|(path, &(raw, noise))| {
                // Noise scaled from the calibrated runs to all comparisons.
                let expected = if self.calibrations == 0 {
                    0.0
                } else {
                    noise as f64 / self.calibrations as f64 * self.comparisons as f64
                };
                PathNoise {
                    path: path.clone(),
                    raw,
                    noise,
                    comparisons: self.comparisons,
                    calibrations: self.calibrations,
                    is_noise: noise > 0 && !settings.reported(raw, expected, self.comparisons),
                }
            })
            .collect();
        paths.sort_by(|a, b| {
            b.is_noise
                .cmp(&a.is_noise)
                .then(b.raw.cmp(&a.raw))
                .then(a.path.cmp(&b.path))
        });
        NoiseSnapshot {
            comparisons: self.comparisons,
            calibrations: self.calibrations,
            paths,
        }
    }
}
