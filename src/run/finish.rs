//! The end every runner shares: the prepared result handed to the publishers, the run ended
//! and counted, and what goes back to the caller.

use crate::context::Context;
use crate::experiment::Inner;
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};
use crate::run::prepare::{prepare, Prepared};
use crate::run::EndRun;
use crate::stats::RunEnd;

/// The control's own value or error; `Err` holds the message of a control panic.
pub(crate) type ControlOutcome<T, E> = Result<Result<T, E>, String>;

/// What goes back to the caller once a run is finished: the control's own value or error
/// (`Err` holds the message of a control panic, whose payload the runner kept), and the
/// message to raise when `raise_on_mismatches` applies.
pub(crate) struct ControlReturn<T, E> {
    pub(crate) outcome: ControlOutcome<T, E>,
    pub(crate) raise: Option<crate::run::raise::MismatchError>,
    /// On a served call, the served candidate's own outcome.
    pub(crate) served: Option<Outcome<T, E>>,
}

/// Judges, cleans, diffs, publishes and ends the run; hands back the control's original outcome.
pub(crate) fn finish<T, E>(
    inner: &Inner<T, E>,
    mut run: impl EndRun,
    context: Context,
    control: Observation<T, E>,
    candidates: Vec<CandidateResult<T, E>>,
    served: Option<usize>,
) -> ControlReturn<T, E> {
    let prepared = prepare(
        inner,
        context,
        control,
        candidates,
        run.calibrated(),
        served,
        run.take_trace(),
    );
    run.end_as(prepared.publish(inner));
    let raise = prepared.raise_message(inner);
    let (outcome, served) = prepared.into_control_and_served(served);
    ControlReturn {
        raise,
        outcome,
        served,
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
    pub(crate) fn raise_message(
        &self,
        inner: &Inner<T, E>,
    ) -> Option<crate::run::raise::MismatchError> {
        let message = inner.settings.raise_on_mismatches?;
        if matches!(self.result.control.outcome, Outcome::Panicked(_)) {
            return None;
        }
        let raised = |c: &&crate::observation::CandidateResult<T, E>| {
            matches!(c.verdict, Verdict::Mismatch | Verdict::CandidateError)
        };
        let first = self.result.candidates.iter().find(raised)?;
        Some(crate::run::raise::MismatchError {
            experiment: self.result.experiment.to_string(),
            candidates: self
                .result
                .candidates
                .iter()
                .filter(raised)
                .map(|c| c.name().to_owned())
                .collect(),
            #[cfg(feature = "serde")]
            diff: first.diff().cloned(),
            message: message(&self.result, first, inner.settings.has_differ()),
        })
    }

    /// The control's original outcome (as [`into_control`](Self::into_control)) and, on a
    /// served call, the served candidate's.
    fn into_control_and_served(
        mut self,
        served: Option<usize>,
    ) -> (ControlOutcome<T, E>, Option<Outcome<T, E>>) {
        let served = served.and_then(|index| {
            let published = self.result.candidates.get_mut(index)?;
            Some(self.original_served.take().unwrap_or_else(|| {
                std::mem::replace(&mut published.observation.outcome, Outcome::TimedOut)
            }))
        });
        (self.into_control(), served)
    }

    /// The control's original value or error; `Err` holds the message of a control panic.
    pub(crate) fn into_control(self) -> ControlOutcome<T, E> {
        match self.original_control.unwrap_or(self.result.control.outcome) {
            Outcome::Value(value) => Ok(Ok(value)),
            Outcome::Error(error) => Ok(Err(error)),
            Outcome::Panicked(message) => Err(message),
            Outcome::TimedOut => Err(String::from("the control timed out")),
        }
    }
}
