//! A proportion with its Wilson score interval.

use serde::Serialize;

/// The two-sided 95 % normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// `count` out of `total`, with a confidence interval for the true rate.
///
/// The interval is Wilson's score interval (no continuity correction): unlike the normal
/// approximation it stays within [0, 1] and is sensible for rare events, such as 0 mismatches
/// in 500 runs.
///
/// ```
/// use darklaunch::insight::Proportion;
///
/// let rate = Proportion::wilson(0, 500);
/// assert_eq!(rate.estimate, 0.0);
/// assert_eq!(rate.low, 0.0);
/// assert!((rate.high - 0.007624).abs() < 1e-6); // at most 0.76 % at 95 % confidence
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Proportion {
    /// Events counted.
    pub count: u64,
    /// Trials.
    pub total: u64,
    /// `count / total` (0 when there were no trials).
    pub estimate: f64,
    /// The interval's lower bound.
    pub low: f64,
    /// The interval's upper bound.
    pub high: f64,
}

impl Proportion {
    /// `count` out of `total` with a 95 % Wilson interval. `count` above `total` is clamped.
    /// With no trials the interval is [0, 1]: nothing is known.
    pub fn wilson(count: u64, total: u64) -> Self {
        Self::wilson_with_z(count, total, Z_95)
    }

    /// The same with another normal quantile `z` (e.g. 2.5758 for 99 %); a `z` that is not a
    /// positive finite number is taken as the 95 % quantile.
    pub fn wilson_with_z(count: u64, total: u64, z: f64) -> Self {
        let z = if z.is_finite() && z > 0.0 { z } else { Z_95 };
        let count = count.min(total);
        if total == 0 {
            return Self {
                count,
                total,
                estimate: 0.0,
                low: 0.0,
                high: 1.0,
            };
        }
        let n = total as f64;
        let p = count as f64 / n;
        let z2 = z * z;
        let denominator = 1.0 + z2 / n;
        let center = (p + z2 / (2.0 * n)) / denominator;
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
        Self {
            count,
            total,
            estimate: p,
            // The bounds are exact at the edges, whatever the rounding.
            low: if count == 0 {
                0.0
            } else {
                (center - half).max(0.0)
            },
            high: if count == total {
                1.0
            } else {
                (center + half).min(1.0)
            },
        }
    }
}
