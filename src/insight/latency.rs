//! Latency in bounded memory: an HDR histogram per behaviour.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The highest latency tracked exactly: one hour. Longer durations are recorded as one hour
/// (the exact maximum is kept aside).
pub(crate) const HIGHEST_NANOS: u64 = 3_600_000_000_000;

/// The quantiles a summary lists, for latency-by-percentile charts.
const CHART_QUANTILES: [f64; 13] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

/// A latency histogram of one behaviour, from 1 ns to one hour with a fixed number of
/// significant digits; its memory does not grow with the number of values.
#[derive(Clone, Debug)]
pub(crate) struct LatencyHistogram {
    histogram: Histogram<u64>,
    max: u64,
}

impl LatencyHistogram {
    /// `significant_digits` from 1 to 5 (clamped): percentiles are within `10^-digits` of the
    /// true value, relatively.
    pub(crate) fn new(significant_digits: u8) -> Self {
        let digits = significant_digits.clamp(1, 5);
        let histogram = Histogram::new_with_bounds(1, HIGHEST_NANOS, digits)
            .expect("1 ns to one hour with 1 to 5 significant digits is a valid range");
        Self { histogram, max: 0 }
    }

    /// A histogram of these values (one covering 1 ns to one hour, as checked by the snapshot
    /// codec) and exact maximum.
    pub(crate) fn from_parts(histogram: Histogram<u64>, max: u64) -> Self {
        Self { histogram, max }
    }

    /// The histogram and the exact maximum.
    pub(crate) fn parts(&self) -> (&Histogram<u64>, u64) {
        (&self.histogram, self.max)
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.max = self.max.max(nanos);
        self.histogram
            .saturating_record(nanos.clamp(1, HIGHEST_NANOS));
    }

    /// Adds `other`'s values (of a histogram with the same bounds).
    pub(crate) fn merge(&mut self, other: &LatencyHistogram) {
        // Both histograms cover 1 ns to one hour: adding cannot fail on range.
        let _ = self.histogram.add(&other.histogram);
        self.max = self.max.max(other.max);
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        let at = |quantile: f64| {
            if h.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_nanos(h.value_at_quantile(quantile).min(self.max))
            }
        };
        LatencySummary {
            count: h.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_nanos(self.max),
            mean: Duration::from_nanos(if h.is_empty() { 0 } else { h.mean() as u64 }),
            relative_error: 10f64.powi(-i32::from(h.sigfig())),
            quantiles: if h.is_empty() {
                Vec::new()
            } else {
                CHART_QUANTILES
                    .iter()
                    .map(|&quantile| QuantilePoint {
                        quantile,
                        latency: at(quantile),
                    })
                    .collect()
            },
        }
    }
}

/// Latency percentiles of one behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The largest value, exact.
    pub max: Duration,
    /// The mean.
    pub mean: Duration,
    /// The histogram's stated relative error of a percentile (`10^-significant digits`).
    pub relative_error: f64,
    /// Latency by quantile, from 0 (the minimum) to 1 (the maximum), for charts.
    pub quantiles: Vec<QuantilePoint>,
}

/// The latency at one quantile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QuantilePoint {
    /// From 0 to 1.
    pub quantile: f64,
    /// The latency at or below which that fraction of values lie.
    pub latency: Duration,
}
