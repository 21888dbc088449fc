//! Recorded inputs: the call's input kept with the runs that need it, so that a mismatch seen
//! in production can be replayed after the fix ([`crate::replay`]).
//!
//! A trial names its input with [`Trial::input`](crate::Trial::input); an experiment built with
//! [`record_inputs`](crate::ExperimentBuilder::record_inputs) keeps it, cleaned, redacted and
//! capped, on every published result whose candidate mismatched, erred or timed out, and on a
//! configured share of matches (a regression corpus). Results carry it as
//! [`ExperimentResult::input`](crate::ExperimentResult::input); JSON lines records as `input`;
//! insight samples show it.
//!
//! The input is serialized when the run is sampled in (a detached run outlives the borrow of its
//! input), depth-bounded as every captured value is; it is dropped unless the run needs it. An
//! input whose `Serialize` fails or panics does not lose the run: the run is published without
//! it and the failure goes to the error hook ([`Operation::Input`](crate::Operation::Input)).
//!
//! ```
//! use darklaunch::input::RecordInputs;
//! use darklaunch::publish::Recorder;
//! use darklaunch::Experiment;
//!
//! #[derive(serde::Serialize)]
//! struct Cart { items: Vec<u64>, card: &'static str }
//!
//! let recorder = Recorder::new();
//! let experiment: Experiment<u64> = Experiment::builder("pricing")
//!     .record_inputs(RecordInputs::new().try_redact("$.card").unwrap())
//!     .publisher(recorder.clone())
//!     .build()
//!     .unwrap();
//! let cart = Cart { items: vec![100, 250], card: "4111 1111 1111 1111" };
//! let total = experiment
//!     .trial()
//!     .input(&cart)
//!     .control(|| cart.items.iter().sum())
//!     .candidate("v2", || cart.items.iter().sum::<u64>() + 1)
//!     .run();
//! assert_eq!(total, 350);
//! let input = recorder.results()[0].input().cloned().expect("a mismatch keeps its input");
//! assert_eq!(input.value()["items"], serde_json::json!([100, 250]));
//! assert_eq!(input.value()["card"], "[redacted]");
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::capture::{capture, CaptureError, Captured};
use crate::diff::{DiffOptions, PathPattern, PathPatternError};
use crate::error::ConfigError;
use crate::observation::Verdict;
use crate::sample::{below, threshold_for};

/// The default cap on a recorded input: 16 KiB of compact JSON.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 16 * 1024;

type InputCleaner = Arc<dyn Fn(Value) -> Value + Send + Sync>;

/// Which inputs an experiment keeps, and how they are made safe to publish; given to
/// [`record_inputs`](crate::ExperimentBuilder::record_inputs).
///
/// By default the inputs of mismatches, candidate errors and timeouts are kept, no match's,
/// nothing is redacted, and an input over [`DEFAULT_MAX_INPUT_BYTES`] of JSON is cut (then it
/// cannot be replayed, and says so).
#[derive(Clone)]
pub struct RecordInputs {
    pub(crate) match_percent: f64,
    pub(crate) match_threshold: u64,
    pub(crate) options: DiffOptions,
    pub(crate) clean: Option<InputCleaner>,
}

impl Default for RecordInputs {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RecordInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordInputs")
            .field("match_percent", &self.match_percent)
            .field("options", &self.options)
            .field("clean", &self.clean.is_some())
            .finish()
    }
}

impl RecordInputs {
    /// Keeps the inputs of mismatches, candidate errors and timeouts, capped at
    /// [`DEFAULT_MAX_INPUT_BYTES`].
    pub fn new() -> Self {
        Self {
            match_percent: 0.0,
            match_threshold: 0,
            options: DiffOptions::new().max_value_bytes(DEFAULT_MAX_INPUT_BYTES),
            clean: None,
        }
    }

    /// Also keeps the input of this percentage of matching runs (0 to 100; default 0): a
    /// regression corpus to replay a later candidate against. A percentage outside 0–100 is a
    /// [`ConfigError`] at `build`.
    pub fn matches_percent(mut self, percent: f64) -> Self {
        self.match_percent = percent;
        self.match_threshold = threshold_for(percent).unwrap_or(0);
        self
    }

    /// Cuts an input whose compact JSON is longer than `bytes` (default
    /// [`DEFAULT_MAX_INPUT_BYTES`]); a cut input is kept as the text's prefix ending in `…`,
    /// with [`RecordedInput::is_cut`] set, and cannot be replayed.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.options = self.options.max_value_bytes(bytes);
        self
    }

    /// Replaces the input's subtrees at paths matched by `pattern` with
    /// [`REDACTED`](crate::diff::REDACTED). May be given several times.
    pub fn redact(mut self, pattern: PathPattern) -> Self {
        self.options = self.options.redact(pattern);
        self
    }

    /// [`redact`](Self::redact) with a pattern in text form.
    ///
    /// # Errors
    ///
    /// The pattern's syntax error.
    pub fn try_redact(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.redact(PathPattern::parse(pattern)?))
    }

    /// Maps the input (as JSON) before redaction and the cap: drop what must never be kept,
    /// normalise what would differ between runs. A panic in it keeps no input and goes to the
    /// error hook.
    pub fn clean(mut self, clean: impl Fn(Value) -> Value + Send + Sync + 'static) -> Self {
        self.clean = Some(Arc::new(clean));
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        threshold_for(self.match_percent).map(|_| ())
    }

    /// Whether a run whose candidates ended with `verdicts` keeps its input (`draw`: a
    /// random `u64`, asked only when every candidate matched).
    pub(crate) fn wants(
        &self,
        verdicts: impl Iterator<Item = Verdict>,
        draw: impl FnOnce() -> u64,
    ) -> bool {
        let mut matched = false;
        for verdict in verdicts {
            match verdict {
                Verdict::Mismatch | Verdict::CandidateError | Verdict::TimedOut => return true,
                Verdict::Match => matched = true,
                Verdict::Ignored | Verdict::Noise => {}
            }
        }
        matched && self.match_threshold > 0 && below(draw(), self.match_threshold)
    }

    /// The captured input as it may be published: cleaned, redacted, capped.
    pub(crate) fn publishable(
        &self,
        captured: Captured,
        clean: impl FnOnce(Value) -> Option<Value>,
    ) -> Option<RecordedInput> {
        let value = match &self.clean {
            Some(_) => clean(captured.value)?,
            None => captured.value,
        };
        let (value, cut) = crate::diff::published_value(&value, &self.options);
        Some(RecordedInput {
            value: Arc::new(value),
            cut: cut || captured.depth_cut,
        })
    }
}

/// The input of one run as it was kept: after the experiment's input `clean`, redaction and
/// size cap ([`RecordInputs`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedInput {
    value: Arc<Value>,
    cut: bool,
}

impl RecordedInput {
    /// Builds a recorded input (useful for testing publishers and replays).
    pub fn new(value: Value) -> Self {
        Self {
            value: Arc::new(value),
            cut: false,
        }
    }

    /// The input as JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// True when the input was cut (over the size cap, or nested deeper than the capture
    /// follows): it is shown but cannot be replayed.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl Serialize for RecordedInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

/// A trial's input, kept by reference until the run is sampled in.
pub(crate) trait InputSource {
    fn capture(&self) -> Result<Captured, CaptureError>;
}

impl<I: Serialize> InputSource for I {
    fn capture(&self) -> Result<Captured, CaptureError> {
        capture(self)
    }
}
