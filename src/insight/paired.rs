//! Paired latency: the candidate's duration over the control's on the very same run (the same
//! input), and distribution-free intervals on that ratio's median, p90 and p99.
//!
//! Control and candidate run on the same input, so each run gives one ratio whatever the input
//! costs: a heavier request slows both. The interval on a quantile q of the ratios comes from
//! order statistics alone (the count of ratios below the true quantile is Binomial(n, q)), so
//! it assumes nothing about their distribution.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::insight::proportion::Z_95;

/// Ratios are kept as integers of this many parts per one (four decimal places) ...
const SCALE: f64 = 10_000.0;
/// ... from 1/10,000 to 1,000,000× (slower or faster ratios are clamped there).
pub(crate) const HIGHEST: u64 = 10_000_000_000;

/// The paired ratios of one candidate, in bounded memory (an HDR histogram, 3 significant
/// digits).
#[derive(Clone, Debug)]
pub(crate) struct PairedRatios {
    histogram: Histogram<u64>,
}

impl PairedRatios {
    pub(crate) fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, HIGHEST, 3)
                .expect("1 to 10^10 with 3 significant digits is a valid range"),
        }
    }

    /// Ratios already recorded (a histogram of 1 to [`HIGHEST`], as checked by the snapshot
    /// codec).
    pub(crate) fn from_histogram(histogram: Histogram<u64>) -> Self {
        Self { histogram }
    }

    /// The ratios' histogram.
    pub(crate) fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// Adds `other`'s ratios.
    pub(crate) fn merge(&mut self, other: &PairedRatios) {
        // The same bounds: adding cannot fail on range.
        let _ = self.histogram.add(&other.histogram);
    }

    /// Records one run's candidate and control durations, in nanoseconds; a run whose control
    /// took no measurable time has no ratio.
    pub(crate) fn record(&mut self, candidate_nanos: u128, control_nanos: u128) {
        if control_nanos == 0 {
            return;
        }
        let ratio = candidate_nanos as f64 / control_nanos as f64;
        let scaled = (ratio * SCALE).round().clamp(1.0, HIGHEST as f64) as u64;
        self.histogram.saturating_record(scaled);
    }

    pub(crate) fn summary(&self) -> PairedLatency {
        PairedLatency {
            runs: self.histogram.len(),
            median: self.interval(0.5),
            p90: self.interval(0.9),
            p99: self.interval(0.99),
        }
    }

    /// The ratio at quantile `q`, with its 95 % distribution-free interval: the order
    /// statistics at ranks n·q ∓ z·√(n·q·(1 − q)) (the normal approximation of the binomial
    /// ranks, widened by one rank on each side).
    fn interval(&self, q: f64) -> Option<RatioInterval> {
        let n = self.histogram.len();
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let spread = Z_95 * (nf * q * (1.0 - q)).sqrt();
        let low_rank = (nf * q - spread).floor() - 1.0;
        let high_rank = (nf * q + spread).ceil() + 1.0;
        let at_rank = |rank: f64, edge: fn(&Histogram<u64>, u64) -> u64| -> Option<f64> {
            (rank >= 1.0 && rank <= nf).then(|| self.at_quantile(rank / nf, edge))
        };
        Some(RatioInterval {
            estimate: self.at_quantile(q, Histogram::median_equivalent),
            // A rank outside the sample leaves that side unbounded; a bound is the far edge
            // of its histogram bucket, so that the histogram's rounding never narrows it.
            low: at_rank(low_rank, Histogram::lowest_equivalent).unwrap_or(0.0),
            high: at_rank(high_rank, Histogram::highest_equivalent).unwrap_or(f64::INFINITY),
        })
    }

    /// The ratio at quantile `q`, taken at `edge` of its histogram bucket.
    fn at_quantile(&self, q: f64, edge: fn(&Histogram<u64>, u64) -> u64) -> f64 {
        edge(&self.histogram, self.histogram.value_at_quantile(q)) as f64 / SCALE
    }
}

/// A quantile of the paired ratio, with its 95 % distribution-free interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RatioInterval {
    /// The ratio at the quantile (candidate ÷ control; 1.2 is 20 % slower).
    pub estimate: f64,
    /// The interval's lower bound (0 when too few runs bound it).
    pub low: f64,
    /// The interval's upper bound (infinite when too few runs bound it; serialized as null).
    #[serde(serialize_with = "finite_or_null")]
    pub high: f64,
}

fn finite_or_null<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else {
        serializer.serialize_none()
    }
}

/// The candidate's latency paired with the control's, run by run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PairedLatency {
    /// Runs with a ratio (the control took a measurable time).
    pub runs: u64,
    /// The median ratio.
    pub median: Option<RatioInterval>,
    /// The 90th percentile of the ratio.
    pub p90: Option<RatioInterval>,
    /// The 99th percentile of the ratio.
    pub p99: Option<RatioInterval>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_kept_to_three_digits_and_bounded() {
        let mut ratios = PairedRatios::new();
        assert_eq!(ratios.summary().median, None);
        for _ in 0..100 {
            ratios.record(1_500, 1_000);
        }
        ratios.record(5, 0); // no ratio
        let summary = ratios.summary();
        assert_eq!(summary.runs, 100);
        let median = summary.median.unwrap();
        assert!((median.estimate - 1.5).abs() < 0.002, "{median:?}");
        assert!(median.low <= median.estimate && median.estimate <= median.high);
        // Few runs: the p99's upper rank is beyond the sample.
        assert_eq!(summary.p99.unwrap().high, f64::INFINITY);
    }
}
