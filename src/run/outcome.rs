//! How a behaviour's return becomes an outcome, shared by every runner.

use std::any::Any;
use std::time::Duration;

use crate::observation::Outcome;
use crate::output::BehaviorOutput;
use crate::text::{cut_point, CUT_MARKER};

/// Splits what a behaviour did into its outcome and, for a panic, the payload (the control's
/// is resumed with it; a candidate's is dropped).
pub(crate) fn outcome_and_payload<T, E, O: BehaviorOutput<T, E>>(
    returned: std::thread::Result<O>,
) -> (Outcome<T, E>, Option<Box<dyn Any + Send>>) {
    match returned {
        Ok(output) => (returned_outcome(output), None),
        Err(payload) => (Outcome::Panicked(panic_message(&*payload)), Some(payload)),
    }
}

/// A behaviour's value or error as an outcome.
pub(crate) fn returned_outcome<T, E, O: BehaviorOutput<T, E>>(output: O) -> Outcome<T, E> {
    match output.into_result() {
        Ok(value) => Outcome::Value(value),
        Err(error) => Outcome::Error(error),
    }
}

/// A candidate's outcome: what it did, or its panic's message.
pub(crate) fn candidate_outcome<T, E, O: BehaviorOutput<T, E>>(
    returned: std::thread::Result<O>,
) -> Outcome<T, E> {
    outcome_and_payload(returned).0
}

/// `outcome`, unless the candidate took longer than `timeout`: then it timed out, whatever it
/// returned. Exactly the timeout is in time.
pub(crate) fn unless_late<T, E>(
    outcome: Outcome<T, E>,
    took: Duration,
    timeout: Option<Duration>,
) -> Outcome<T, E> {
    if timeout.is_some_and(|limit| took > limit) {
        Outcome::TimedOut
    } else {
        outcome
    }
}

/// The longest panic message kept, in bytes (cut at a character boundary, ending in `…`).
pub(crate) const MAX_PANIC_MESSAGE: usize = 1024;

/// The text of a panic payload (`panic!` with a message gives `&str` or `String`), capped at
/// [`MAX_PANIC_MESSAGE`] bytes.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str()
    } else {
        "<panic payload that is not text>"
    };
    match cut_point(text, MAX_PANIC_MESSAGE) {
        None => text.to_string(),
        Some(cut) => format!("{}{CUT_MARKER}", &text[..cut]),
    }
}
