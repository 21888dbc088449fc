//! The message of `raise_on_mismatches`: readable in a failing test's output.

use std::fmt::{Debug, Write};

use crate::observation::{CandidateResult, ExperimentResult, Verdict};

/// Longest rendering of one outcome in the message, so a huge value cannot drown the diff.
const MAX_OUTCOME_CHARS: usize = 2_000;

/// Names the experiment and the candidate, shows both outcomes (Debug, after `clean`) with
/// their durations, and the differing paths where a diff was computed.
pub(crate) fn mismatch_message<T: Debug, E: Debug>(
    result: &ExperimentResult<T, E>,
    candidate: &CandidateResult<T, E>,
) -> String {
    let what = match candidate.verdict() {
        Verdict::CandidateError => "panicked",
        _ => "mismatched the control",
    };
    let mut message = format!(
        "darklaunch: experiment \"{}\": candidate \"{}\" {what}\n",
        result.name(),
        candidate.name()
    );
    let control = result.control();
    let observed = candidate.observation();
    let _ = writeln!(
        message,
        "  {:<9} ({:?}): {}",
        control.name(),
        control.duration(),
        bounded(format!("{:?}", control.outcome()))
    );
    let _ = writeln!(
        message,
        "  {:<9} ({:?}): {}",
        observed.name(),
        observed.duration(),
        bounded(format!("{:?}", observed.outcome()))
    );
    #[cfg(feature = "serde")]
    if let Some(diff) = candidate.diff() {
        message.push_str("  differences:\n");
        for line in diff.to_string().lines() {
            let _ = writeln!(message, "    {line}");
        }
    }
    if let Some(context) = (!result.context().is_empty()).then(|| result.context()) {
        let pairs: Vec<String> = context.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(message, "  context: {}", pairs.join(", "));
    }
    message
}

fn bounded(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_OUTCOME_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}
