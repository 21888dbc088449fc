//! Field values the line-oriented publishers (JSON lines, tracing) write the same way.

use std::time::Duration;

use crate::observation::{ExperimentResult, Outcome};

/// `duration` in whole microseconds, saturating at `u64::MAX` (about 584 000 years).
pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The panic message of a behaviour that panicked; `None` for any other outcome.
pub(crate) fn panic_message<T, E>(outcome: &Outcome<T, E>) -> Option<&str> {
    match outcome {
        Outcome::Panicked(message) => Some(message),
        _ => None,
    }
}

/// A run's trace id and parent span id in hex, when it ran inside a trace.
pub(crate) struct TraceIds {
    pub(crate) trace_id: Option<String>,
    pub(crate) parent_span_id: Option<String>,
}

impl TraceIds {
    pub(crate) fn of<T, E>(result: &ExperimentResult<T, E>) -> Self {
        let parent = result.trace().and_then(|trace| trace.parent());
        Self {
            trace_id: parent.map(|parent| parent.trace_id_hex()),
            parent_span_id: parent.map(|parent| parent.span_id_hex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_truncates_and_saturates() {
        assert_eq!(micros(Duration::from_nanos(1_999)), 1);
        assert_eq!(micros(Duration::MAX), u64::MAX);
    }
}
