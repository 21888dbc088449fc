//! One candidate's verdict: its outcome compared with the control's, then the ignore rules.

use crate::experiment::{IgnoreRule, Inner};
use crate::hook::Operation;
use crate::observation::{Outcome, Verdict};

/// Compares one candidate's outcome with the control's. Only a comparison that fails is
/// checked against the ignore rules; a panicking comparator counts as "not equal".
pub(crate) fn judge<T, E>(
    inner: &Inner<T, E>,
    control: &Outcome<T, E>,
    name: &str,
    candidate: &Outcome<T, E>,
) -> Verdict {
    let equal = match (control, candidate) {
        (_, Outcome::TimedOut) => return Verdict::TimedOut,
        (Outcome::Panicked(expected), Outcome::Panicked(actual)) => {
            let same = match &inner.settings.compare_panics {
                None => expected == actual,
                Some(compare) => inner
                    .guarded(Operation::Compare, Some(name), || compare(expected, actual))
                    .unwrap_or(false),
            };
            if !same {
                return Verdict::CandidateError;
            }
            true
        }
        (_, Outcome::Panicked(_)) => return Verdict::CandidateError,
        (Outcome::Value(expected), Outcome::Value(actual)) => inner
            .guarded(Operation::Compare, Some(name), || {
                (inner.settings.compare)(expected, actual)
            })
            .unwrap_or(false),
        (Outcome::Error(expected), Outcome::Error(actual)) => inner
            .guarded(Operation::CompareErrors, Some(name), || {
                (inner.settings.compare_errors)(expected, actual)
            })
            .unwrap_or(false),
        _ => false,
    };
    if equal {
        return Verdict::Match;
    }
    let ignored = inner.settings.ignores.iter().any(|rule| {
        inner
            .guarded(Operation::Ignore, Some(name), || {
                match (rule, control, candidate) {
                    (
                        IgnoreRule::Values(rule),
                        Outcome::Value(expected),
                        Outcome::Value(actual),
                    ) => rule(expected, actual),
                    (IgnoreRule::Values(_), _, _) => false,
                    (IgnoreRule::Outcomes(rule), _, _) => rule(control, candidate),
                }
            })
            .unwrap_or(false)
    });
    if ignored {
        Verdict::Ignored
    } else {
        Verdict::Mismatch
    }
}
