//! Serving a candidate: what the caller of a served call gets (the served candidate's outcome,
//! or the control's on fallback), and a served call that is not sampled, where the candidate
//! runs alone and the control only when it falls back.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

use crate::experiment::Inner;
use crate::observation::Outcome;
use crate::output::BehaviorOutput;
use crate::run::concurrent::Deadline;
use crate::run::{outcome_and_payload, unless_late};

/// Whether the caller of a served call gets the served candidate's outcome: its value always,
/// its `Err` or panic only when the experiment propagates them; a timeout never.
pub(crate) fn reaches_caller<T, E>(inner: &Inner<T, E>, served: &Outcome<T, E>) -> bool {
    let propagate = inner
        .settings
        .serving
        .as_ref()
        .is_some_and(|serving| serving.propagate);
    match served {
        Outcome::Value(_) => true,
        Outcome::Error(_) | Outcome::Panicked(_) => propagate,
        Outcome::TimedOut => false,
    }
}

/// What the served candidate hands the caller, counted as served; `None` (counted as a
/// fallback) when the caller gets the control's instead. A propagated panic is resumed with
/// its own payload.
pub(crate) fn served_output<T, E, O: BehaviorOutput<T, E>>(
    inner: &Inner<T, E>,
    served: Outcome<T, E>,
    payload: Option<Box<dyn Any + Send>>,
) -> Option<O> {
    let reaches = reaches_caller(inner, &served);
    inner.state.counters.served(reaches);
    if !reaches {
        return None;
    }
    match served {
        Outcome::Value(value) => Some(O::from_result(Ok(value))),
        Outcome::Error(error) => Some(O::from_result(Err(error))),
        Outcome::Panicked(message) => resume_unwind(payload.unwrap_or_else(|| Box::new(message))),
        Outcome::TimedOut => None,
    }
}

/// A served call that was not sampled: the candidate alone on the caller's thread (bounded by
/// `candidate_timeout` when it returns), the control only on fallback. Nothing is published.
pub(crate) fn serve_alone<T, E, O: BehaviorOutput<T, E>>(
    inner: &Inner<T, E>,
    control: impl FnOnce() -> O,
    candidate: impl FnOnce() -> O,
) -> O {
    let timeout = inner.settings.candidate_timeout;
    let start = timeout.map(|_| inner.settings.clock.now());
    let returned = catch_unwind(AssertUnwindSafe(candidate));
    let (mut outcome, payload) = outcome_and_payload(returned);
    if let Some(start) = start {
        let took = inner.settings.clock.now().saturating_duration_since(start);
        outcome = unless_late(outcome, took, timeout);
    }
    match served_output(inner, outcome, payload) {
        Some(output) => output,
        None => control(),
    }
}

/// The async form of [`serve_alone`]: the candidate is polled in the caller's task and dropped
/// at `candidate_timeout`; the control is awaited only on fallback.
pub(crate) async fn serve_alone_async<T, E, O, C, K>(
    inner: &Inner<T, E>,
    control: C,
    candidate: K,
) -> O
where
    O: BehaviorOutput<T, E>,
    C: Future<Output = O>,
    K: Future<Output = O>,
{
    let start = inner.settings.clock.now();
    let mut deadline = Deadline::new(inner, start);
    let served = {
        let mut candidate = pin!(candidate);
        poll_fn(
            |cx| match catch_unwind(AssertUnwindSafe(|| candidate.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Some(Ok(output))),
                Err(payload) => Poll::Ready(Some(Err(payload))),
                Ok(Poll::Pending) => deadline.poll(inner, cx).map(|()| None),
            },
        )
        .await
    };
    let (outcome, payload) = match served {
        Some(returned) => {
            let (outcome, payload) = outcome_and_payload(returned);
            let took = inner.settings.clock.now().saturating_duration_since(start);
            (
                unless_late(outcome, took, inner.settings.candidate_timeout),
                payload,
            )
        }
        None => (Outcome::TimedOut, None),
    };
    match served_output(inner, outcome, payload) {
        Some(output) => output,
        None => control.await,
    }
}
