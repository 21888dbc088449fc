//! The message of `raise_on_mismatches`: readable in a failing test's output, and as safe to
//! print as every other output (redacted through the diff, capped, control characters escaped).

use std::fmt::{Debug, Write};

use crate::observation::{CandidateResult, ExperimentResult, Outcome, Verdict};
use crate::text::{capped_display, escape_control};

/// Longest rendering of one outcome in the message, in bytes, so a huge value cannot drown
/// the diff (and a deep one cannot recurse without end: formatting stops at the cap).
pub(crate) const MAX_OUTCOME_TEXT: usize = 2_000;

/// The longest message, in bytes.
pub(crate) const MAX_MESSAGE_TEXT: usize = 16 * 1024;

/// Names the experiment and the candidate, then the differing paths where a diff was computed,
/// then both outcomes with their durations. With a diff configured (`values_hidden`), values
/// are shown only through the diff, which applies redaction and caps; otherwise they are
/// shown with `Debug` (after `clean`), capped.
pub(crate) fn mismatch_message<T: Debug, E: Debug>(
    result: &ExperimentResult<T, E>,
    candidate: &CandidateResult<T, E>,
    values_hidden: bool,
) -> String {
    let what = match candidate.verdict() {
        Verdict::CandidateError => "panicked",
        _ => "mismatched the control",
    };
    let mut message = format!(
        "darklaunch: experiment \"{}\": candidate \"{}\" {what}\n",
        escape_control(result.name()),
        escape_control(candidate.name())
    );
    #[cfg(feature = "serde")]
    if let Some(diff) = candidate.diff() {
        message.push_str("  differences:\n");
        for line in diff.to_string().lines() {
            let _ = writeln!(message, "    {}", escape_control(line));
        }
    }
    let control = result.control();
    let observed = candidate.observation();
    for observation in [control, observed] {
        let _ = writeln!(
            message,
            "  {:<9} ({:?}): {}",
            escape_control(observation.name()),
            observation.duration(),
            escape_control(&outcome_text(observation.outcome(), values_hidden))
        );
    }
    if !result.context().is_empty() {
        let pairs: Vec<String> = result
            .context()
            .iter()
            .map(|(k, v)| format!("{}={}", escape_control(k), escape_control(&v.to_string())))
            .collect();
        let _ = writeln!(message, "  context: {}", pairs.join(", "));
    }
    capped_display(message, MAX_MESSAGE_TEXT)
}

fn outcome_text<T: Debug, E: Debug>(outcome: &Outcome<T, E>, values_hidden: bool) -> String {
    match outcome {
        Outcome::Value(_) if values_hidden => {
            String::from("a value (shown only through the differences, which are redacted)")
        }
        Outcome::Value(value) => capped_display(format_args!("{value:?}"), MAX_OUTCOME_TEXT),
        Outcome::Error(error) => capped_display(format_args!("error {error:?}"), MAX_OUTCOME_TEXT),
        Outcome::Panicked(message) => {
            capped_display(format_args!("panicked: {message}"), MAX_OUTCOME_TEXT)
        }
        Outcome::TimedOut => String::from("timed out"),
    }
}

/// The panic payload of [`raise_on_mismatches`](crate::ExperimentBuilder::raise_on_mismatches):
/// a test that catches the panic can downcast it to this and look at the experiment, the
/// candidates and the diff. Its [`Display`](std::fmt::Display) is the readable message (also
/// written to standard error when it is raised, since a panic hook prints only text payloads).
///
/// ```
/// use darklaunch::{Experiment, MismatchError};
///
/// let experiment: Experiment<u32> = Experiment::builder("raising")
///     .raise_on_mismatches(true)
///     .build()
///     .unwrap();
/// # std::panic::set_hook(Box::new(|_| {}));
/// let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| experiment.run(|| 1, || 2))).unwrap_err();
/// let error = raised.downcast::<MismatchError>().unwrap();
/// assert_eq!(error.experiment(), "raising");
/// assert_eq!(error.candidates(), ["candidate"]);
/// assert!(error.to_string().contains("candidate \"candidate\" mismatched"));
/// ```
#[derive(Clone, Debug)]
pub struct MismatchError {
    pub(crate) experiment: String,
    pub(crate) candidates: Vec<String>,
    #[cfg(feature = "serde")]
    pub(crate) diff: Option<crate::diff::Diff>,
    pub(crate) message: String,
}

impl MismatchError {
    /// The experiment's name.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// Every candidate that mismatched or panicked in the run, in order.
    pub fn candidates(&self) -> &[String] {
        &self.candidates
    }

    /// The first such candidate's diff, when the experiment computes diffs.
    #[cfg(feature = "serde")]
    pub fn diff(&self) -> Option<&crate::diff::Diff> {
        self.diff.as_ref()
    }

    /// The readable message: the experiment, the candidate, the differing paths, both
    /// outcomes and the context (redacted, capped, control characters escaped).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for MismatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MismatchError {}

/// Raises `error` in the caller: through the experiment's raiser
/// ([`raise_with`](crate::ExperimentBuilder::raise_with)) if it has one, else as a panic whose
/// payload is the [`MismatchError`], its message written to standard error first.
pub(crate) fn raise<T, E>(inner: &crate::experiment::Inner<T, E>, error: MismatchError) {
    match &inner.settings.raiser {
        Some(raiser) => raiser(error),
        None => {
            eprintln!("{}", error.message);
            std::panic::panic_any(error)
        }
    }
}
