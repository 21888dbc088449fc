//! Which runs get a span: every noteworthy run, and a share of the rest.

use crate::error::ConfigError;
use crate::observation::{ExperimentResult, Outcome, Verdict};
use crate::random::Draws;
use crate::sample::{percent_of, threshold_for};

/// The share of matching runs that get a span by default, in percent.
pub const DEFAULT_MATCH_SPAN_PERCENT: f64 = 1.0;

/// Which published runs [`OtelPublisher`](super::OtelPublisher) records a span for.
///
/// A span per sampled run costs about 2 µs with an SDK tracer, more than the rest of the run's
/// bookkeeping together, and a trace backend full of identical matching runs helps nobody. So
/// by default a run gets a span when it is *noteworthy* — a candidate mismatched, was noise,
/// failed or timed out, the control panicked or timed out, or a served call fell back to the
/// control — and otherwise with a probability of [`DEFAULT_MATCH_SPAN_PERCENT`]. Metrics count
/// every run whatever the policy.
///
/// ```
/// use darklaunch::publish::otel::SpanPolicy;
///
/// let sparse = SpanPolicy::matches_percent(0.1).unwrap();
/// assert_eq!(sparse.match_percent(), 0.1);
/// assert_eq!(SpanPolicy::every_run().match_percent(), 100.0);
/// assert_eq!(SpanPolicy::noteworthy_only().match_percent(), 0.0);
/// assert!(SpanPolicy::matches_percent(f64::NAN).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanPolicy {
    /// A matching run gets a span when a uniform `u64` draw falls below this; `u64::MAX` is
    /// every run.
    threshold: u64,
}

impl SpanPolicy {
    /// A span for every published run (the behaviour before span policies).
    pub fn every_run() -> Self {
        Self {
            threshold: u64::MAX,
        }
    }

    /// Spans for noteworthy runs only.
    pub fn noteworthy_only() -> Self {
        Self { threshold: 0 }
    }

    /// Spans for noteworthy runs and for `percent` of the others (from 0 to 100; anything
    /// else, NaN included, is a [`ConfigError::InvalidPercent`]).
    pub fn matches_percent(percent: f64) -> Result<Self, ConfigError> {
        Ok(Self {
            threshold: threshold_for(percent)?,
        })
    }

    /// The share of unremarkable runs that get a span, in percent.
    pub fn match_percent(&self) -> f64 {
        if self.threshold == u64::MAX {
            100.0
        } else {
            percent_of(self.threshold)
        }
    }

    /// Whether `result` gets a span: always when noteworthy, else by a draw.
    #[inline]
    pub(super) fn wants<T, E>(&self, result: &ExperimentResult<T, E>) -> bool {
        match self.threshold {
            u64::MAX => true,
            _ if noteworthy(result) => true,
            0 => false,
            threshold => Draws::Thread.u64() < threshold,
        }
    }
}

impl Default for SpanPolicy {
    fn default() -> Self {
        Self::matches_percent(DEFAULT_MATCH_SPAN_PERCENT).unwrap_or_else(|_| Self::every_run())
    }
}

/// A run a reviewer wants to see in its trace.
fn noteworthy<T, E>(result: &ExperimentResult<T, E>) -> bool {
    let control_failed = matches!(
        result.control().outcome(),
        Outcome::Panicked(_) | Outcome::TimedOut
    );
    let candidate_stands_out = result.candidates().iter().any(|candidate| {
        matches!(
            candidate.verdict(),
            Verdict::Mismatch | Verdict::Noise | Verdict::CandidateError | Verdict::TimedOut
        )
    });
    let fell_back = result.served().is_some_and(|served| served.fell_back());
    control_failed || candidate_stands_out || fell_back
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::observation::{CandidateResult, Observation};
    use std::time::Duration;

    fn result(control: Outcome<u8>, verdict: Verdict) -> ExperimentResult<u8> {
        let candidate = Observation::new("v2", Duration::ZERO, Outcome::Value(1));
        ExperimentResult::new(
            "policy",
            Context::new(),
            Observation::new("control", Duration::ZERO, control),
            vec![CandidateResult::new(candidate, verdict)],
        )
    }

    #[test]
    fn noteworthy_runs_always_get_a_span_and_matches_by_share() {
        let never = SpanPolicy::noteworthy_only();
        for verdict in [
            Verdict::Mismatch,
            Verdict::Noise,
            Verdict::CandidateError,
            Verdict::TimedOut,
        ] {
            assert!(
                never.wants(&result(Outcome::Value(1), verdict)),
                "{verdict:?}"
            );
        }
        for verdict in [Verdict::Match, Verdict::Ignored] {
            assert!(
                !never.wants(&result(Outcome::Value(1), verdict)),
                "{verdict:?}"
            );
            assert!(SpanPolicy::every_run().wants(&result(Outcome::Value(1), verdict)));
        }
        assert!(never.wants(&result(Outcome::Panicked("boom".into()), Verdict::Match)));
        assert!(never.wants(&result(Outcome::TimedOut, Verdict::Match)));

        let quarter = SpanPolicy::matches_percent(25.0).unwrap();
        let matching = result(Outcome::Value(1), Verdict::Match);
        let spans = (0..20_000).filter(|_| quarter.wants(&matching)).count();
        // 25 % of 20,000 is 5,000 with a standard deviation of about 61.
        assert!((4_600..5_400).contains(&spans), "{spans}");
    }

    #[test]
    fn bad_shares_are_refused_and_the_default_is_small() {
        for bad in [f64::NAN, -1.0, 100.5, f64::INFINITY] {
            assert!(SpanPolicy::matches_percent(bad).is_err(), "{bad}");
        }
        let default = SpanPolicy::default().match_percent();
        assert!(
            (default - DEFAULT_MATCH_SPAN_PERCENT).abs() < 1e-9,
            "{default}"
        );
        assert_eq!(
            SpanPolicy::matches_percent(100.0).unwrap(),
            SpanPolicy::every_run()
        );
    }
}
