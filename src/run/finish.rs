//! The finishing stage every runner shares: verdicts, cleaning, diffs, publishing, accounting.

use std::mem;

use crate::context::Context;
use crate::experiment::{IgnoreRule, Inner};
use crate::hook::Operation;
use crate::observation::{CandidateResult, ExperimentResult, Observation, Outcome, Verdict};
use crate::run::EndRun;
use crate::stats::RunEnd;

/// What goes back to the caller once a run is finished: the control's own value or error
/// (`Err` holds the message of a control panic, whose payload the runner kept), and the
/// message to raise when `raise_on_mismatches` applies.
pub(crate) struct ControlReturn<T, E> {
    pub(crate) outcome: Result<Result<T, E>, String>,
    pub(crate) raise: Option<String>,
}

/// Judges, cleans, diffs, publishes and ends the run; hands back the control's original outcome.
pub(crate) fn finish<T, E>(
    inner: &Inner<T, E>,
    run: impl EndRun,
    context: Context,
    control: Observation<T, E>,
    candidates: Vec<CandidateResult<T, E>>,
) -> ControlReturn<T, E> {
    let prepared = prepare(inner, context, control, candidates, run.calibrated());
    run.end_as(prepared.publish(inner));
    ControlReturn {
        raise: prepared.raise_message(inner),
        outcome: prepared.into_control(),
    }
}

/// A run's result, judged and made ready for the publishers.
pub(crate) struct Prepared<T, E> {
    pub(crate) result: ExperimentResult<T, E>,
    /// The control's own outcome where `clean` replaced it in the result.
    original_control: Option<Outcome<T, E>>,
    /// False when the cleaner failed: uncleaned values must not be published.
    publishable: bool,
}

/// Judges every candidate (counting the verdicts), then cleans and diffs for publication. With
/// `calibrated`, the last of `candidates` is noise calibration's second run of the control.
pub(crate) fn prepare<T, E>(
    inner: &Inner<T, E>,
    context: Context,
    mut control: Observation<T, E>,
    mut candidates: Vec<CandidateResult<T, E>>,
    calibrated: bool,
) -> Prepared<T, E> {
    // The calibration's result is the last, when the run has one.
    let calibration = calibrated.then(|| candidates.pop()).flatten();
    #[cfg(feature = "serde")]
    let mut calibration = calibration.map(|result| result.observation);
    #[cfg(not(feature = "serde"))]
    let _ = calibration;
    for candidate in &mut candidates {
        candidate.verdict = judge(
            inner,
            &control.outcome,
            &candidate.observation.name,
            &candidate.observation.outcome,
        );
    }

    let mut publishable = true;
    let mut original_control = None;
    if let Some(clean) = &inner.settings.clean {
        if let Outcome::Value(value) = &control.outcome {
            match inner.guarded(Operation::Clean, None, || clean(value)) {
                Some(cleaned) => {
                    original_control =
                        Some(mem::replace(&mut control.outcome, Outcome::Value(cleaned)))
                }
                None => publishable = false,
            }
        }
        #[cfg(feature = "serde")]
        let calibration = calibration.as_mut();
        #[cfg(not(feature = "serde"))]
        let calibration = None::<&mut Observation<T, E>>;
        let observations = candidates
            .iter_mut()
            .map(|candidate| &mut candidate.observation)
            .chain(calibration);
        for observation in observations {
            if let Outcome::Value(value) = &observation.outcome {
                match inner.guarded(Operation::Clean, Some(&observation.name), || clean(value)) {
                    Some(cleaned) => observation.outcome = Outcome::Value(cleaned),
                    None => publishable = false,
                }
            }
        }
    }

    #[cfg(feature = "serde")]
    if publishable {
        attach_diffs(inner, &control.outcome, &mut candidates);
    }
    #[cfg(feature = "serde")]
    if publishable {
        crate::run::calibration::classify(inner, &control.outcome, calibration, &mut candidates);
    }
    for candidate in &candidates {
        inner.state.counters.verdict(candidate.verdict);
    }

    Prepared {
        result: ExperimentResult {
            experiment: inner.settings.name.clone(),
            context,
            control,
            candidates,
        },
        original_control,
        publishable,
    }
}

impl<T, E> Prepared<T, E> {
    /// Hands the result to every publisher; how the run ends.
    pub(crate) fn publish(&self, inner: &Inner<T, E>) -> RunEnd {
        if !self.publishable {
            return RunEnd::PublishFailed;
        }
        let all_ok = inner
            .settings
            .publishers
            .iter()
            .fold(true, |all_ok, publisher| {
                let ok = inner
                    .guarded(Operation::Publish, None, || publisher.publish(&self.result))
                    .is_some();
                all_ok && ok
            });
        if all_ok {
            RunEnd::Published
        } else {
            RunEnd::PublishFailed
        }
    }

    /// The message to raise, when `raise_on_mismatches` is on and a candidate mismatched or
    /// panicked (a control panic is resumed instead).
    pub(crate) fn raise_message(&self, inner: &Inner<T, E>) -> Option<String> {
        let message = inner.settings.raise_on_mismatches?;
        if matches!(self.result.control.outcome, Outcome::Panicked(_)) {
            return None;
        }
        self.result
            .candidates
            .iter()
            .find(|c| matches!(c.verdict, Verdict::Mismatch | Verdict::CandidateError))
            .map(|candidate| message(&self.result, candidate, inner.has_differ()))
    }

    /// The control's original value or error; `Err` holds the message of a control panic.
    pub(crate) fn into_control(self) -> Result<Result<T, E>, String> {
        match self.original_control.unwrap_or(self.result.control.outcome) {
            Outcome::Value(value) => Ok(Ok(value)),
            Outcome::Error(error) => Ok(Err(error)),
            Outcome::Panicked(message) => Err(message),
            Outcome::TimedOut => Err(String::from("the control timed out")),
        }
    }
}

/// Compares one candidate's outcome with the control's. Only a comparison that fails is
/// checked against the ignore rules; a panicking comparator counts as "not equal".
fn judge<T, E>(
    inner: &Inner<T, E>,
    control: &Outcome<T, E>,
    name: &str,
    candidate: &Outcome<T, E>,
) -> Verdict {
    let equal = match (control, candidate) {
        (_, Outcome::TimedOut) => return Verdict::TimedOut,
        (Outcome::Panicked(expected), Outcome::Panicked(actual)) if expected == actual => true,
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

/// Diffs the (cleaned) values of every mismatched candidate, when a differ is configured.
#[cfg(feature = "serde")]
fn attach_diffs<T, E>(
    inner: &Inner<T, E>,
    control: &Outcome<T, E>,
    candidates: &mut [CandidateResult<T, E>],
) {
    let (Some(differ), Outcome::Value(expected)) = (&inner.settings.differ, control) else {
        return;
    };
    for candidate in candidates
        .iter_mut()
        .filter(|c| c.verdict == Verdict::Mismatch)
    {
        let name = &candidate.observation.name;
        let Outcome::Value(actual) = &candidate.observation.outcome else {
            continue;
        };
        match inner.guarded(Operation::Diff, Some(name), || differ(expected, actual)) {
            Some(Ok(diff)) => {
                // Every difference was on an ignore path: that does not count, as in Diffy.
                if diff.is_empty() && diff.ignored > 0 {
                    candidate.verdict = Verdict::Ignored;
                }
                candidate.diff = Some(std::sync::Arc::new(diff));
            }
            Some(Err(message)) => inner.report(Operation::Diff, Some(name), message),
            None => {}
        }
    }
}
