//! Runs as `tracing` events: target `darklaunch`, structured fields.
//!
//! [`TracingPublisher`] emits, for every candidate of every sampled run, one **run event**
//! (message `darklaunch run`), then for a candidate with a structural diff (feature `serde`,
//! [`ExperimentBuilder::diff`](crate::ExperimentBuilder::diff)) up to
//! [`max_differences`](TracingPublisher::max_differences) **difference events** (message
//! `darklaunch difference`), and for every shed run a **shed event** (message
//! `darklaunch run shed`).
//!
//! Run event fields (absent fields are simply not recorded):
//!
//! | field | type | |
//! |---|---|---|
//! | `experiment` | str | the experiment's name |
//! | `candidate` | str | the candidate's name (absent for a run without candidates) |
//! | `verdict` | str | [`Verdict::as_str`]: `match`, `mismatch`, `ignored`, `noise`, `candidate_error`, `timeout` |
//! | `control_outcome`, `candidate_outcome` | str | [`Outcome::kind`](crate::Outcome::kind): `value`, `error`, `panicked`, `timed_out` |
//! | `control_duration_us`, `candidate_duration_us` | u64 | durations in microseconds |
//! | `control_panic`, `candidate_panic` | str | the panic message, for a behaviour that panicked |
//! | `differences` | u64 | how many differences the diff found (kept and omitted) |
//! | `context` | str | the run's context as a compact JSON object, e.g. `{"user":"alice","n":3}`; absent when empty |
//!
//! Difference event fields: `experiment`, `candidate`, `path` (e.g. `$.items[0].price`),
//! `kind` ([`DiffKind::as_str`](crate::DiffKind::as_str)), `control` and `candidate_value`
//! (compact JSON of the values as the diff holds them: after `clean`, redaction and
//! truncation; absent for an Added or Removed side), `truncated` (bool) and, with noise
//! calibration, `noise_raw`, `noise_count` (u64: the path's raw and noise counts in the
//! calibration window) and `is_noise` (bool).
//!
//! Shed event fields: `experiment`.
//!
//! A guard ([`crate::guard`]) that trips is logged at `WARN` (message `darklaunch guard
//! tripped`), one that re-arms at `INFO` (message `darklaunch guard rearmed`), with fields
//! `experiment`, `candidate`, `reason` ([`GuardReason::as_str`](crate::guard::GuardReason::as_str)),
//! `observed` and `threshold` (f64 rates from 0 to 1; 0 for a manual trip and a re-arm),
//! `runs` (the runs judged) and `window` (the guard's window, in runs).
//!
//! Values and context go to logs and traces only; `Err` values are reported by outcome kind
//! only (their type need not be printable).

use crate::text::push_json_string;
use std::fmt::Write as _;

use tracing::Level;

use crate::context::{Context, ContextValue};
use crate::guard::{GuardEvent, GuardEventKind};
use crate::observation::{CandidateResult, ExperimentResult, Verdict};
use crate::publish::fields::{micros, panic_message, TraceIds};
use crate::publish::Publisher;

/// Emits an event at a level chosen at run time (a `tracing` macro needs a static level).
macro_rules! event_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::ERROR => tracing::event!(target: "darklaunch", Level::ERROR, $($rest)+),
            Level::WARN => tracing::event!(target: "darklaunch", Level::WARN, $($rest)+),
            Level::INFO => tracing::event!(target: "darklaunch", Level::INFO, $($rest)+),
            Level::DEBUG => tracing::event!(target: "darklaunch", Level::DEBUG, $($rest)+),
            _ => tracing::event!(target: "darklaunch", Level::TRACE, $($rest)+),
        }
    };
}

/// Whether events of target `darklaunch` at a run-time level would be recorded.
macro_rules! enabled_at {
    ($level:expr) => {
        match $level {
            Level::ERROR => tracing::enabled!(target: "darklaunch", Level::ERROR),
            Level::WARN => tracing::enabled!(target: "darklaunch", Level::WARN),
            Level::INFO => tracing::enabled!(target: "darklaunch", Level::INFO),
            Level::DEBUG => tracing::enabled!(target: "darklaunch", Level::DEBUG),
            _ => tracing::enabled!(target: "darklaunch", Level::TRACE),
        }
    };
}

/// Publishes runs as `tracing` events with target `darklaunch` and structured fields (see the
/// [module docs](self) for every field).
///
/// Matches and ignored mismatches are logged at [`match_level`](Self::match_level) (default
/// `DEBUG`); mismatches, candidate errors and timeouts at
/// [`mismatch_level`](Self::mismatch_level) (default `WARN`), each mismatch followed by one
/// event per difference, at most [`max_differences`](Self::max_differences) (default 16).
/// When a level is disabled nothing is built or formatted for it. Implements
/// [`Publisher<T, E>`] for every `T` and `E`.
///
/// ```
/// use darklaunch::diff::DiffOptions;
/// use darklaunch::publish::TracingPublisher;
/// use darklaunch::Experiment;
/// use tracing::Level;
///
/// let experiment: Experiment<Vec<u32>> = Experiment::builder("sort-v2")
///     .publisher(
///         TracingPublisher::new()
///             .match_level(Level::TRACE)
///             .mismatch_level(Level::ERROR)
///             .max_differences(4),
///     )
///     .diff(DiffOptions::default())
///     .build()
///     .unwrap();
///
/// // Any subscriber works; this one prints JSON lines such as
/// // {"level":"ERROR","fields":{"message":"darklaunch run","experiment":"sort-v2",
/// //  "candidate":"candidate","verdict":"mismatch",...},"target":"darklaunch"}
/// let subscriber = tracing_subscriber::fmt().json().with_max_level(Level::DEBUG).finish();
/// tracing::subscriber::with_default(subscriber, || {
///     let sorted = experiment.run(|| vec![1, 2, 3], || vec![1, 3, 2]);
///     assert_eq!(sorted, vec![1, 2, 3]);
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TracingPublisher {
    match_level: Level,
    mismatch_level: Level,
    shed_level: Level,
    max_differences: usize,
}

impl Default for TracingPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingPublisher {
    /// Matches and ignored runs at `DEBUG`; mismatches, candidate errors and timeouts at
    /// `WARN`; at most 16 difference events per candidate; shed runs at `DEBUG`.
    pub fn new() -> Self {
        Self {
            match_level: Level::DEBUG,
            mismatch_level: Level::WARN,
            shed_level: Level::DEBUG,
            max_differences: 16,
        }
    }

    /// The level of run events for matches and ignored mismatches (default `DEBUG`).
    pub fn match_level(mut self, level: Level) -> Self {
        self.match_level = level;
        self
    }

    /// The level of run and difference events for mismatches, candidate errors and timeouts
    /// (default `WARN`).
    pub fn mismatch_level(mut self, level: Level) -> Self {
        self.mismatch_level = level;
        self
    }

    /// The level of the event for a shed run (default `DEBUG`).
    pub fn shed_level(mut self, level: Level) -> Self {
        self.shed_level = level;
        self
    }

    /// The most difference events emitted per candidate and run (default 16; 0 emits none).
    /// The run event's `differences` field still counts them all.
    pub fn max_differences(mut self, n: usize) -> Self {
        self.max_differences = n;
        self
    }

    /// The level for a candidate with this verdict.
    fn level_for(&self, verdict: Verdict) -> Level {
        match verdict {
            Verdict::Match | Verdict::Ignored | Verdict::Noise => self.match_level,
            Verdict::Mismatch | Verdict::CandidateError | Verdict::TimedOut => self.mismatch_level,
        }
    }

    fn candidate_events<T, E>(
        &self,
        result: &ExperimentResult<T, E>,
        candidate: &CandidateResult<T, E>,
        context: &mut Option<Option<String>>,
        trace: &mut Option<TraceIds>,
    ) {
        let level = self.level_for(candidate.verdict());
        if !enabled_at!(level) {
            return;
        }
        let control = result.control();
        let observation = candidate.observation();
        let context = context.get_or_insert_with(|| context_json(result.context()));
        let trace = trace.get_or_insert_with(|| TraceIds::of(result));
        #[cfg(feature = "serde")]
        let differences = candidate.diff().map(|diff| saturating_u64(diff.len()));
        #[cfg(not(feature = "serde"))]
        let differences: Option<u64> = None;
        event_at!(
            level,
            experiment = result.name(),
            candidate = candidate.name(),
            verdict = candidate.verdict().as_str(),
            control_outcome = control.outcome().kind(),
            candidate_outcome = observation.outcome().kind(),
            control_duration_us = micros(control.duration()),
            candidate_duration_us = micros(observation.duration()),
            control_panic = panic_message(control.outcome()),
            candidate_panic = panic_message(observation.outcome()),
            differences,
            context = context.as_deref(),
            trace_id = trace.trace_id.as_deref(),
            parent_span_id = trace.parent_span_id.as_deref(),
            "darklaunch run"
        );
        #[cfg(feature = "serde")]
        if let Some(diff) = candidate.diff() {
            for (index, difference) in diff
                .differences
                .iter()
                .enumerate()
                .take(self.max_differences)
            {
                let control_value = difference.control.as_ref().map(ToString::to_string);
                let candidate_value = difference.candidate.as_ref().map(ToString::to_string);
                let noise = candidate.noise().get(index);
                event_at!(
                    level,
                    experiment = result.name(),
                    candidate = candidate.name(),
                    path = difference.path.as_str(),
                    kind = difference.kind.as_str(),
                    control = control_value.as_deref(),
                    candidate_value = candidate_value.as_deref(),
                    truncated = difference.truncated,
                    noise_raw = noise.map(|n| n.raw),
                    noise_count = noise.map(|n| n.noise),
                    is_noise = noise.map(|n| n.is_noise),
                    "darklaunch difference"
                );
            }
        }
    }
}

impl<T, E> Publisher<T, E> for TracingPublisher {
    fn publish(&self, result: &ExperimentResult<T, E>) {
        // Built at most once per run, and only if some event is enabled.
        let mut context = None;
        if result.candidates().is_empty() {
            if !enabled_at!(self.match_level) {
                return;
            }
            let control = result.control();
            let context = context_json(result.context());
            let trace = TraceIds::of(result);
            event_at!(
                self.match_level,
                experiment = result.name(),
                trace_id = trace.trace_id.as_deref(),
                parent_span_id = trace.parent_span_id.as_deref(),
                control_outcome = control.outcome().kind(),
                control_duration_us = micros(control.duration()),
                control_panic = panic_message(control.outcome()),
                context = context.as_deref(),
                "darklaunch run"
            );
            return;
        }
        let mut trace = None;
        for candidate in result.candidates() {
            self.candidate_events(result, candidate, &mut context, &mut trace);
        }
    }

    /// Yes: events carry the caller's trace id and parent span id.
    fn wants_trace(&self) -> bool {
        true
    }

    fn shed(&self, experiment: &str) {
        event_at!(self.shed_level, experiment, "darklaunch run shed");
    }

    fn guard(&self, event: &GuardEvent) {
        let (level, message) = match event.kind {
            GuardEventKind::Tripped => (Level::WARN, "darklaunch guard tripped"),
            GuardEventKind::Rearmed => (Level::INFO, "darklaunch guard rearmed"),
        };
        event_at!(
            level,
            experiment = &*event.experiment,
            candidate = &*event.candidate,
            reason = event.reason.as_str(),
            observed = event.observed,
            threshold = event.threshold,
            runs = event.runs,
            window = event.window,
            "{message}"
        );
    }
}

#[cfg(feature = "serde")]
fn saturating_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The context as a compact JSON object, or `None` when it is empty. Non-finite floats are
/// written as `null`.
pub(crate) fn context_json(context: &Context) -> Option<String> {
    if context.is_empty() {
        return None;
    }
    let mut out = String::from("{");
    for (i, (key, value)) in context.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, key);
        out.push(':');
        // Writing to a String cannot fail.
        let _ = match value {
            ContextValue::Str(text) => {
                push_json_string(&mut out, text);
                Ok(())
            }
            ContextValue::I64(n) => write!(out, "{n}"),
            ContextValue::U64(n) => write!(out, "{n}"),
            // `Debug` keeps a float a float (`1.0`) and uses exponents for extremes (`1e300`).
            ContextValue::F64(n) if n.is_finite() => write!(out, "{n:?}"),
            ContextValue::F64(_) => write!(out, "null"),
            ContextValue::Bool(b) => write!(out, "{b}"),
        };
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_compact_json() {
        let mut context = Context::new();
        assert_eq!(context_json(&context), None);
        context.insert("user", "al\"ice\n\u{1}");
        context.insert("n", -3i32);
        context.insert("big", u64::MAX);
        context.insert("ratio", 1.0);
        context.insert("huge", 1e300);
        context.insert("nan", f64::NAN);
        context.insert("ok", true);
        let json = context_json(&context).unwrap();
        assert_eq!(
            json,
            "{\"user\":\"al\\\"ice\\n\\u0001\",\"n\":-3,\"big\":18446744073709551615,\
             \"ratio\":1.0,\"huge\":1e300,\"nan\":null,\"ok\":true}"
        );
        #[cfg(feature = "serde")]
        {
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(parsed["user"], "al\"ice\n\u{1}");
            assert_eq!(parsed["huge"], 1e300);
        }
    }

    #[test]
    fn levels_by_verdict() {
        let p = TracingPublisher::new();
        assert_eq!(p.level_for(Verdict::Match), Level::DEBUG);
        assert_eq!(p.level_for(Verdict::Ignored), Level::DEBUG);
        for verdict in [
            Verdict::Mismatch,
            Verdict::CandidateError,
            Verdict::TimedOut,
        ] {
            assert_eq!(p.level_for(verdict), Level::WARN);
        }
        let p = p.match_level(Level::TRACE).mismatch_level(Level::ERROR);
        assert_eq!(p.level_for(Verdict::Match), Level::TRACE);
        assert_eq!(p.level_for(Verdict::Mismatch), Level::ERROR);
    }
}
