//! What a run observed: each behaviour's outcome and duration, each candidate's verdict, and
//! the result that publishers receive.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::context::Context;
#[cfg(feature = "serde")]
use crate::diff::Diff;
#[cfg(feature = "serde")]
use crate::noise::PathNoise;

/// How one behaviour ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T, E = Infallible> {
    /// It returned a value.
    Value(T),
    /// It returned an `Err` (experiments over `Result`s only).
    Error(E),
    /// It panicked; the panic's message (or a placeholder for a payload that is not text).
    Panicked(String),
    /// A candidate did not finish within `candidate_timeout`; its value, if it produced one
    /// late, was dropped.
    TimedOut,
}

impl<T, E> Outcome<T, E> {
    /// The value, if it returned one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Outcome::Value(value) => Some(value),
            _ => None,
        }
    }

    /// The error, if it returned one.
    pub fn error(&self) -> Option<&E> {
        match self {
            Outcome::Error(error) => Some(error),
            _ => None,
        }
    }

    /// A stable lowercase name: `value`, `error`, `panicked`, `timed_out`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Value(_) => "value",
            Outcome::Error(_) => "error",
            Outcome::Panicked(_) => "panicked",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// One behaviour's outcome and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation<T, E = Infallible> {
    pub(crate) name: Cow<'static, str>,
    pub(crate) duration: Duration,
    pub(crate) outcome: Outcome<T, E>,
    pub(crate) cpu_time: Option<Duration>,
}

impl<T, E> Observation<T, E> {
    /// Builds an observation (useful for testing publishers).
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        duration: Duration,
        outcome: Outcome<T, E>,
    ) -> Self {
        Self {
            name: name.into(),
            duration,
            outcome,
            cpu_time: None,
        }
    }

    /// This observation with `cpu_time` (useful for testing publishers).
    pub fn with_cpu_time(mut self, cpu_time: Option<Duration>) -> Self {
        self.cpu_time = cpu_time;
        self
    }

    /// The thread CPU time the behaviour took, summed over its calls or polls, in an
    /// experiment built with [`cpu_time`](crate::ExperimentBuilder::cpu_time) (feature
    /// `cpu-time`); `None` otherwise, or where the platform cannot tell. Work a future hands to
    /// other threads is not counted.
    pub fn cpu_time(&self) -> Option<Duration> {
        self.cpu_time
    }

    /// The behaviour's name (`control` by default for the control, `candidate` for the single
    /// candidate of `run`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long it ran, measured on the experiment's clock. For a candidate that timed out, the
    /// time until it was given up on.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How it ended. Values are as published: after `clean`, where one is configured.
    pub fn outcome(&self) -> &Outcome<T, E> {
        &self.outcome
    }

    /// The value, if it returned one.
    pub fn value(&self) -> Option<&T> {
        self.outcome.value()
    }
}

/// What the comparison of one candidate with the control concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The candidate's outcome equals the control's (values by `compare`, errors by
    /// `compare_errors`, panics by message).
    Match,
    /// It does not, and no ignore rule applies.
    Mismatch,
    /// It does not, but an ignore rule applies. Ignored runs are not matches.
    Ignored,
    /// It does not, but every differing path is one where noise calibration saw the control
    /// differ from itself about as often (see
    /// [`NoiseCalibration`](crate::noise::NoiseCalibration)).
    Noise,
    /// The candidate panicked (and the control did not panic with the same message).
    CandidateError,
    /// The candidate did not finish within `candidate_timeout`.
    TimedOut,
}

impl Verdict {
    /// Every verdict, in the order of [`index`](Self::index).
    pub const ALL: [Verdict; 6] = [
        Verdict::Match,
        Verdict::Mismatch,
        Verdict::Ignored,
        Verdict::Noise,
        Verdict::CandidateError,
        Verdict::TimedOut,
    ];

    /// The verdict's place in [`ALL`](Self::ALL): an index for per-verdict tables.
    pub const fn index(self) -> usize {
        match self {
            Verdict::Match => 0,
            Verdict::Mismatch => 1,
            Verdict::Ignored => 2,
            Verdict::Noise => 3,
            Verdict::CandidateError => 4,
            Verdict::TimedOut => 5,
        }
    }

    /// A stable lowercase name, as used for telemetry outcomes: `match`, `mismatch`,
    /// `ignored`, `noise`, `candidate_error`, `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Mismatch => "mismatch",
            Verdict::Ignored => "ignored",
            Verdict::Noise => "noise",
            Verdict::CandidateError => "candidate_error",
            Verdict::TimedOut => "timeout",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One candidate's observation and its verdict.
#[derive(Clone, Debug)]
pub struct CandidateResult<T, E = Infallible> {
    pub(crate) observation: Observation<T, E>,
    pub(crate) verdict: Verdict,
    #[cfg(feature = "serde")]
    pub(crate) diff: Option<Arc<Diff>>,
    #[cfg(feature = "serde")]
    pub(crate) noise: Option<Arc<[PathNoise]>>,
}

impl<T, E> CandidateResult<T, E> {
    /// Builds a candidate result (useful for testing publishers).
    pub fn new(observation: Observation<T, E>, verdict: Verdict) -> Self {
        Self {
            observation,
            verdict,
            #[cfg(feature = "serde")]
            diff: None,
            #[cfg(feature = "serde")]
            noise: None,
        }
    }

    /// The candidate's name.
    pub fn name(&self) -> &str {
        self.observation.name()
    }

    /// What the candidate did.
    pub fn observation(&self) -> &Observation<T, E> {
        &self.observation
    }

    /// How it compared with the control.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The structural diff of the (cleaned) values, computed only for a mismatch of two values
    /// in an experiment configured with [`diff`](crate::ExperimentBuilder::diff).
    #[cfg(feature = "serde")]
    pub fn diff(&self) -> Option<&Diff> {
        self.diff.as_deref()
    }

    /// What noise calibration knew about each kept difference's path when this result was
    /// judged, index-aligned with [`diff`](Self::diff)'s differences: the raw and noise counts
    /// in the window and whether the path is noise. Empty unless the experiment calibrates
    /// noise and the values differed.
    #[cfg(feature = "serde")]
    pub fn noise(&self) -> &[PathNoise] {
        self.noise.as_deref().unwrap_or(&[])
    }
}

/// Everything one sampled run observed: what publishers receive.
#[derive(Clone, Debug)]
pub struct ExperimentResult<T, E = Infallible> {
    pub(crate) experiment: Arc<str>,
    pub(crate) context: Context,
    pub(crate) control: Observation<T, E>,
    pub(crate) candidates: Vec<CandidateResult<T, E>>,
    pub(crate) served: Option<ServedCall>,
    #[cfg(feature = "serde")]
    pub(crate) input: Option<crate::input::RecordedInput>,
    pub(crate) trace: Option<Box<crate::trace::RunTrace>>,
}

/// On a served call ([`serve`](crate::ExperimentBuilder::serve)): which candidate was served,
/// and whether the caller got the control's outcome instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedCall {
    pub(crate) candidate: std::borrow::Cow<'static, str>,
    pub(crate) fell_back: bool,
}

impl ServedCall {
    /// The served candidate's name.
    pub fn candidate(&self) -> &str {
        &self.candidate
    }

    /// Whether the served candidate erred, panicked or timed out, so that the caller got the
    /// control's outcome.
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }
}

impl<T, E> ExperimentResult<T, E> {
    /// On a served call, which candidate the caller was served, and whether it fell back to
    /// the control; `None` when the caller got the control's outcome as usual.
    pub fn served(&self) -> Option<&ServedCall> {
        self.served.as_ref()
    }

    /// Builds a result (useful for testing publishers).
    pub fn new(
        experiment: impl Into<Arc<str>>,
        context: Context,
        control: Observation<T, E>,
        candidates: Vec<CandidateResult<T, E>>,
    ) -> Self {
        Self {
            experiment: experiment.into(),
            context,
            control,
            candidates,
            served: None,
            #[cfg(feature = "serde")]
            input: None,
            trace: None,
        }
    }

    /// Where the run sits in the caller's distributed trace, and when it really started and
    /// ended ([`crate::trace`]): captured on sampled runs of an experiment whose publishers
    /// [want it](crate::Publisher::wants_trace).
    pub fn trace(&self) -> Option<&crate::trace::RunTrace> {
        self.trace.as_deref()
    }

    /// The id of the caller's trace (32 lowercase hex digits), when the run was inside one.
    pub fn trace_id_hex(&self) -> Option<String> {
        self.trace.as_ref()?.trace_id_hex()
    }

    /// This result with `trace` (useful for testing publishers).
    pub fn with_trace(mut self, trace: crate::trace::RunTrace) -> Self {
        self.trace = Some(Box::new(trace));
        self
    }

    /// The run's input as it was recorded ([`crate::input`]): only on runs that needed it, in
    /// an experiment built with [`record_inputs`](crate::ExperimentBuilder::record_inputs), of
    /// a trial that named one.
    #[cfg(feature = "serde")]
    pub fn input(&self) -> Option<&crate::input::RecordedInput> {
        self.input.as_ref()
    }

    /// This result with `input` recorded (useful for testing publishers and replays).
    #[cfg(feature = "serde")]
    pub fn with_input(mut self, input: crate::input::RecordedInput) -> Self {
        self.input = Some(input);
        self
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.experiment
    }

    /// The run's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The control's observation.
    pub fn control(&self) -> &Observation<T, E> {
        &self.control
    }

    /// Every candidate's observation and verdict, in the order they were given.
    pub fn candidates(&self) -> &[CandidateResult<T, E>] {
        &self.candidates
    }

    /// The candidate of that name.
    pub fn candidate(&self, name: &str) -> Option<&CandidateResult<T, E>> {
        self.candidates.iter().find(|c| c.name() == name)
    }

    /// Whether every candidate matched.
    pub fn matched(&self) -> bool {
        self.candidates.iter().all(|c| c.verdict == Verdict::Match)
    }

    /// The candidates whose verdict is [`Verdict::Mismatch`].
    pub fn mismatches(&self) -> impl Iterator<Item = &CandidateResult<T, E>> {
        self.candidates
            .iter()
            .filter(|c| c.verdict == Verdict::Mismatch)
    }

    /// Whether any candidate mismatched (ignored mismatches do not count).
    pub fn has_mismatch(&self) -> bool {
        self.mismatches().next().is_some()
    }
}
