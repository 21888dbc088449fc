//! Anytime-valid bounds on a rate: a confidence *sequence*, valid however often it is read.
//!
//! A fixed-sample interval (Wilson's) holds its 95 % for one look at a sample size chosen in
//! advance. Read after every run, as a live verdict is, "the upper bound is within tolerance"
//! comes true by chance far more often than 5 % of the time. A confidence sequence holds
//! uniformly over time: the chance that the true rate is *ever* outside it is at most 1 − level,
//! so a verdict drawn from it may be read continuously and stopped whenever.
//!
//! This one is Robbins' beta-binomial mixture (Howard, Ramdas, McAuliffe and Sekhon,
//! "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of Statistics
//! 2021, section 3): for `count` events in `total` trials, the mixture martingale
//!
//! ```text
//! M(p) = B(a + count, b + total − count) / B(a, b) / (p^count (1 − p)^(total − count))
//! ```
//!
//! is, for the true rate p, a nonnegative martingale starting at 1, so by Ville's inequality
//! it ever reaches 1 / (1 − level) with probability at most 1 − level. The sequence is every p
//! where M(p) stays below that: an interval around count / total. The prior Beta(a, b) has
//! a = 1 and its mean at the tolerance the rate is judged against, which puts its power where
//! the verdict needs it.

use serde::Serialize;

use crate::error::ConfigError;

/// The two-sided anytime-valid bounds of a rate at a confidence level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AnytimeBounds {
    /// Events counted.
    pub count: u64,
    /// Trials.
    pub total: u64,
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
    /// The confidence level (for example 0.95): the chance that the true rate is ever outside
    /// the bounds, over all reads, is at most 1 − level.
    pub level: f64,
}

/// A beta-binomial mixture confidence sequence for a rate: bounds valid however often they
/// are read.
///
/// A fixed-sample interval (Wilson's) holds its 95 % for one look; read after every run, "the
/// upper bound is within tolerance" comes true by chance far more often. This sequence holds
/// uniformly over time: the chance that the true rate is *ever* outside it is at most
/// 1 − level. It is Robbins' mixture (Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform,
/// nonparametric, nonasymptotic confidence sequences", Annals of Statistics 2021, §3): for
/// `count` events in `total` trials, M(p) = B(a + count, b + total − count) / B(a, b) /
/// (p^count (1 − p)^(total − count)) is a nonnegative martingale under the true p, so by
/// Ville's inequality it ever reaches 1 / (1 − level) with probability at most 1 − level; the
/// sequence is every p where it stays below. The prior Beta(1, (1 − t) / t) is centred on the
/// tolerance t the rate is judged against.
///
/// ```
/// use darklaunch::insight::ConfidenceSequence;
///
/// let sequence = ConfidenceSequence::new(0.95, 0.001).unwrap();
/// // No mismatch in 5,000 runs: the rate is below 0.1 %, at 95 %, whenever one looks.
/// let bounds = sequence.bounds(0, 5_000);
/// assert!(bounds.high < 0.001);
/// assert!(sequence.excludes(0, 5_000, 0.001));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfidenceSequence {
    /// ln(1 / (1 − level)).
    threshold: f64,
    level: f64,
    a: f64,
    b: f64,
}

impl ConfidenceSequence {
    /// A sequence at confidence `level` (in (0, 1), for example 0.95) whose prior is centred
    /// on `tolerance` (in (0, 1): the rate the verdict compares with; centres above 0.5 are
    /// taken as 0.5).
    pub fn new(level: f64, tolerance: f64) -> Result<Self, ConfigError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(ConfigError::InvalidThreshold {
                setting: "confidence level",
                value: level,
            });
        }
        if !(tolerance > 0.0 && tolerance < 1.0) {
            return Err(ConfigError::InvalidThreshold {
                setting: "tolerance",
                value: tolerance,
            });
        }
        Ok(Self::checked(level, tolerance))
    }

    /// [`new`](Self::new) with arguments already checked.
    pub(crate) fn checked(level: f64, tolerance: f64) -> Self {
        let centre = tolerance.clamp(1e-9, 0.5);
        Self {
            threshold: -(1.0 - level).ln(),
            level,
            a: 1.0,
            b: (1.0 - centre) / centre,
        }
    }

    /// ln M(p) for `count` of `total`.
    fn log_mixture(&self, count: u64, total: u64, p: f64) -> f64 {
        let (s, f) = (count as f64, (total - count) as f64);
        let log_p = if count == 0 { 0.0 } else { s * p.ln() };
        let log_q = if count == total {
            0.0
        } else {
            f * (-p).ln_1p()
        };
        log_beta(self.a + s, self.b + f) - log_beta(self.a, self.b) - log_p - log_q
    }

    /// Whether rate `p` is outside the sequence after `count` events in `total` trials (the
    /// mixture reached its threshold): then the data rule `p` out, at the sequence's level,
    /// whenever they are read.
    pub fn excludes(&self, count: u64, total: u64, p: f64) -> bool {
        let count = count.min(total);
        if total == 0 || !(0.0..=1.0).contains(&p) {
            return false;
        }
        if (p == 0.0 && count > 0) || (p == 1.0 && count < total) {
            return true;
        }
        self.log_mixture(count, total, p) >= self.threshold
    }

    /// The bounds after `count` events in `total` trials ([0, 1] with no trials).
    pub fn bounds(&self, count: u64, total: u64) -> AnytimeBounds {
        let count = count.min(total);
        let estimate = if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        };
        // M is convex in p with its minimum at the estimate: bisect each side for where it
        // crosses the threshold.
        let low = if count == 0 {
            0.0
        } else {
            self.crossing(count, total, 0.0, estimate)
        };
        let high = if count == total {
            1.0
        } else {
            self.crossing(count, total, 1.0, estimate)
        };
        AnytimeBounds {
            count,
            total,
            low,
            high,
            level: self.level,
        }
    }

    /// The p between `outside` (excluded) and `inside` where the sequence's edge lies, to
    /// about 1e-12.
    fn crossing(&self, count: u64, total: u64, mut outside: f64, mut inside: f64) -> f64 {
        if !self.excludes(count, total, outside) {
            return outside;
        }
        for _ in 0..64 {
            let middle = (outside + inside) / 2.0;
            if self.excludes(count, total, middle) {
                outside = middle;
            } else {
                inside = middle;
            }
            if (outside - inside).abs() < 1e-12 {
                break;
            }
        }
        // The side that is surely inside: the bounds never claim more than is known.
        inside
    }
}

/// ln B(x, y).
fn log_beta(x: f64, y: f64) -> f64 {
    libm::lgamma(x) + libm::lgamma(y) - libm::lgamma(x + y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_bounds_contain_the_estimate_and_shrink_with_evidence() {
        let sequence = ConfidenceSequence::checked(0.95, 0.001);
        let nothing = sequence.bounds(0, 0);
        assert_eq!((nothing.low, nothing.high), (0.0, 1.0));
        let mut last = 1.0;
        for total in [100, 1_000, 10_000, 100_000] {
            let bounds = sequence.bounds(0, total);
            assert_eq!(bounds.low, 0.0);
            assert!(bounds.high < last, "{bounds:?}");
            last = bounds.high;
        }
        let bounds = sequence.bounds(50, 10_000);
        assert!(bounds.low < 0.005 && 0.005 < bounds.high, "{bounds:?}");
    }

    #[test]
    fn it_is_wider_than_the_fixed_sample_interval() {
        // The price of reading it at any time: wider than Wilson's at the same counts.
        let sequence = ConfidenceSequence::checked(0.95, 0.01);
        for (count, total) in [(0, 1_000), (10, 1_000), (100, 10_000)] {
            let anytime = sequence.bounds(count, total);
            let wilson = crate::insight::Proportion::wilson(count, total);
            assert!(anytime.high > wilson.high, "{anytime:?} {wilson:?}");
            assert!(anytime.low <= wilson.low, "{anytime:?} {wilson:?}");
        }
    }

    proptest! {
        /// The bounds are exactly where the mixture crosses the threshold: p just inside is
        /// not excluded, p just outside is.
        #[test]
        fn the_bounds_are_the_edge_of_the_sequence(
            count in 0u64..2_000,
            extra in 0u64..200_000,
            centre in 0.0001f64..0.2,
        ) {
            let total = count + extra;
            let sequence = ConfidenceSequence::checked(0.95, centre);
            let bounds = sequence.bounds(count, total);
            prop_assert!(0.0 <= bounds.low && bounds.low <= bounds.high && bounds.high <= 1.0);
            if total > 0 {
                let estimate = count as f64 / total as f64;
                prop_assert!(bounds.low <= estimate && estimate <= bounds.high);
                prop_assert!(!sequence.excludes(count, total, bounds.high));
                prop_assert!(!sequence.excludes(count, total, bounds.low));
                if bounds.high < 1.0 {
                    prop_assert!(sequence.excludes(count, total, (bounds.high + 1e-9).min(1.0)));
                }
                if bounds.low > 0.0 {
                    prop_assert!(sequence.excludes(count, total, (bounds.low - 1e-9).max(0.0)));
                }
            }
        }
    }
}
