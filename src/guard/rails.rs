//! What a guard watches: its limits, its window, its cool-down and its probe.

use std::time::Duration;

use crate::error::ConfigError;

/// The largest window a guard counts over, in runs.
pub const MAX_GUARD_WINDOW: u64 = 10_000_000;

/// The limits a guard holds one candidate to, over a sliding window of its most recent runs.
///
/// When a limit is exceeded on at least [`min_runs`](Self::min_runs) runs, the guard *trips*:
/// the candidate stops running at once (other candidates go on). After the
/// [`cool_down`](Self::cool_down) it is *probed*: it runs on
/// [`probe_percent`](Self::probe_percent) of sampled calls until `min_runs` of them are
/// judged, then the guard re-arms (every sampled call runs it again) or trips again.
///
/// Each rate is a share of the runs in the window (a number from 0 to 1), and a limit is
/// exceeded when the observed rate is *above* it:
///
/// * [`max_error_rate`](Self::max_error_rate): the candidate panicked, or returned an `Err`
///   where the control did not err the same way;
/// * [`max_timeout_rate`](Self::max_timeout_rate): the candidate outran `candidate_timeout`;
/// * [`max_mismatch_rate`](Self::max_mismatch_rate): a value mismatch (ignored runs and noise
///   do not count);
/// * [`max_shed_rate`](Self::max_shed_rate): the experiment's sampled runs shed over
///   `max_in_flight` or a full queue;
/// * [`max_latency_ratio`](Self::max_latency_ratio): the candidate's duration over the
///   control's *on the same run*, at a quantile (the median by default).
///
/// ```
/// use darklaunch::guard::GuardRails;
/// use std::time::Duration;
///
/// let rails = GuardRails::new()
///     .max_error_rate(0.05)           // more than 5 % errors trips it
///     .max_latency_ratio(3.0)         // so does a median 3× the control's duration
///     .window(1_000)                  // over the last 1,000 runs
///     .min_runs(100)                  // never on fewer than 100
///     .cool_down(Duration::from_secs(30))
///     .probe_percent(5.0);            // then probe it on 5 % of sampled calls
/// # let _ = rails;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GuardRails {
    pub(crate) error_rate: Option<f64>,
    pub(crate) timeout_rate: Option<f64>,
    pub(crate) mismatch_rate: Option<f64>,
    pub(crate) shed_rate: Option<f64>,
    /// (ratio, quantile).
    pub(crate) latency: Option<(f64, f64)>,
    pub(crate) window: u64,
    pub(crate) min_runs: u64,
    pub(crate) cool_down: Duration,
    pub(crate) probe_percent: f64,
}

impl GuardRails {
    /// No limits yet (such a guard trips only by hand, through its
    /// [`GuardHandle`](crate::guard::GuardHandle)); a window of 1,000 runs, at least 100 runs
    /// before any trip, a cool-down of 60 s and a probe on 5 % of sampled calls.
    pub fn new() -> Self {
        Self {
            error_rate: None,
            timeout_rate: None,
            mismatch_rate: None,
            shed_rate: None,
            latency: None,
            window: 1_000,
            min_runs: 100,
            cool_down: Duration::from_secs(60),
            probe_percent: 5.0,
        }
    }

    /// Trips when more than `rate` (0 to 1) of the window's runs were candidate errors.
    pub fn max_error_rate(mut self, rate: f64) -> Self {
        self.error_rate = Some(rate);
        self
    }

    /// Trips when more than `rate` (0 to 1) of the window's runs timed out.
    pub fn max_timeout_rate(mut self, rate: f64) -> Self {
        self.timeout_rate = Some(rate);
        self
    }

    /// Trips when more than `rate` (0 to 1) of the window's runs were mismatches.
    pub fn max_mismatch_rate(mut self, rate: f64) -> Self {
        self.mismatch_rate = Some(rate);
        self
    }

    /// Trips when more than `rate` (0 to 1) of the window's runs were shed.
    pub fn max_shed_rate(mut self, rate: f64) -> Self {
        self.shed_rate = Some(rate);
        self
    }

    /// Trips when the median of the candidate's duration over the control's, run by run, is
    /// above `ratio` (for example 2.0: the candidate takes more than twice as long on more
    /// than half of the runs). Runs where the candidate erred or timed out are not timed.
    pub fn max_latency_ratio(self, ratio: f64) -> Self {
        self.max_latency_ratio_at(0.5, ratio)
    }

    /// Like [`max_latency_ratio`](Self::max_latency_ratio), at `quantile` (0 to 1) of the
    /// per-run ratios: at 0.9, it trips when the candidate is more than `ratio` times slower
    /// on more than 10 % of the runs.
    pub fn max_latency_ratio_at(mut self, quantile: f64, ratio: f64) -> Self {
        self.latency = Some((ratio, quantile));
        self
    }

    /// How many of the candidate's most recent runs the limits are judged over (rounded up to
    /// a whole number of the window's buckets; at most 10,000,000).
    pub fn window(mut self, runs: u64) -> Self {
        self.window = runs;
        self
    }

    /// The fewest runs in the window before any limit is judged; a guard never trips on fewer.
    pub fn min_runs(mut self, runs: u64) -> Self {
        self.min_runs = runs;
        self
    }

    /// How long a tripped candidate stays stopped before it is probed.
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// The share (0 to 100 %) of sampled calls that run a probed candidate.
    pub fn probe_percent(mut self, percent: f64) -> Self {
        self.probe_percent = percent;
        self
    }

    /// Checks every limit; the first one that is wrong says what to fix.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let rates = [
            ("max_error_rate", self.error_rate),
            ("max_timeout_rate", self.timeout_rate),
            ("max_mismatch_rate", self.mismatch_rate),
            ("max_shed_rate", self.shed_rate),
            (
                "max_latency_ratio_at (quantile)",
                self.latency.map(|(_, q)| q),
            ),
        ];
        for (setting, rate) in rates {
            if let Some(value) = rate.filter(|rate| !(0.0..=1.0).contains(rate)) {
                return Err(ConfigError::InvalidThreshold { setting, value });
            }
        }
        if let Some((ratio, _)) = self.latency {
            if !(ratio.is_finite() && ratio > 0.0) {
                return Err(ConfigError::InvalidRatio {
                    setting: "max_latency_ratio",
                    value: ratio,
                });
            }
        }
        if self.window == 0 || self.window > MAX_GUARD_WINDOW {
            return Err(ConfigError::InvalidGuardWindow { value: self.window });
        }
        if self.min_runs == 0 || self.min_runs > self.window {
            return Err(ConfigError::InvalidMinRuns {
                value: self.min_runs,
                window: self.window,
            });
        }
        if self.cool_down.is_zero() {
            return Err(ConfigError::ZeroDuration {
                setting: "GuardRails::cool_down",
            });
        }
        if !(self.probe_percent > 0.0 && self.probe_percent <= 100.0) {
            return Err(ConfigError::InvalidProbePercent {
                value: self.probe_percent,
            });
        }
        Ok(())
    }
}

impl Default for GuardRails {
    /// The default guard: more than 5 % errors, 5 % timeouts, or a median latency over 5× the
    /// control's trips it (over 1,000 runs, at least 100 of them).
    fn default() -> Self {
        Self::new()
            .max_error_rate(0.05)
            .max_timeout_rate(0.05)
            .max_latency_ratio(5.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_config_errors_that_name_the_setting() {
        let cases: Vec<(GuardRails, &str)> = vec![
            (GuardRails::new().max_error_rate(1.5), "max_error_rate"),
            (GuardRails::new().max_timeout_rate(-0.1), "max_timeout_rate"),
            (
                GuardRails::new().max_mismatch_rate(f64::NAN),
                "max_mismatch_rate",
            ),
            (GuardRails::new().max_shed_rate(2.0), "max_shed_rate"),
            (
                GuardRails::new().max_latency_ratio(0.0),
                "max_latency_ratio",
            ),
            (
                GuardRails::new().max_latency_ratio(f64::INFINITY),
                "max_latency_ratio",
            ),
            (GuardRails::new().max_latency_ratio_at(1.2, 2.0), "quantile"),
            (GuardRails::new().window(0), "window"),
            (GuardRails::new().window(MAX_GUARD_WINDOW + 1), "window"),
            (GuardRails::new().min_runs(0), "min_runs"),
            (GuardRails::new().window(50).min_runs(51), "min_runs"),
            (GuardRails::new().cool_down(Duration::ZERO), "cool_down"),
            (GuardRails::new().probe_percent(0.0), "probe_percent"),
            (GuardRails::new().probe_percent(f64::NAN), "probe_percent"),
            (GuardRails::new().probe_percent(101.0), "probe_percent"),
        ];
        for (rails, setting) in cases {
            let error = rails.validate().expect_err(setting).to_string();
            assert!(error.contains(setting), "{error:?} should name {setting}");
        }
        assert!(GuardRails::default().validate().is_ok());
        assert!(GuardRails::new().window(1).min_runs(1).validate().is_ok());
    }
}
