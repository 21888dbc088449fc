//! Mismatch records as JSON lines.
//!
//! [`JsonLinesPublisher`] writes one JSON object per line for each recorded candidate of a
//! sampled run, to any writer or to a file opened for appending. A record looks like this
//! (one line; wrapped here):
//!
//! ```text
//! {"timestamp":"2024-05-01T12:34:56.123456Z","experiment":"pricing-v2","candidate":"v2",
//!  "verdict":"mismatch","context":{"user":"alice"},"control_duration_us":120,
//!  "candidate_duration_us":95,"control_outcome":"value","candidate_outcome":"value",
//!  "diff":{"differences":[{"path":"$.total","segments":["total"],"kind":"changed",
//!  "control":10,"candidate":12,"truncated":false}],"omitted":0}}
//! ```
//!
//! | field | |
//! |---|---|
//! | `timestamp` | when the result was published, RFC 3339 in UTC with microseconds |
//! | `experiment`, `candidate` | names |
//! | `verdict` | [`Verdict::as_str`]: `match`, `mismatch`, `ignored`, `noise`, `candidate_error`, `timeout` |
//! | `context` | the run's context as an object (`{}` when empty) |
//! | `control_duration_us`, `candidate_duration_us` | durations in microseconds |
//! | `control_cpu_us`, `candidate_cpu_us` | thread CPU time in microseconds, only with [`cpu_time`](crate::ExperimentBuilder::cpu_time) (feature `cpu-time`) |
//! | `control_outcome`, `candidate_outcome` | [`Outcome::kind`](crate::Outcome::kind): `value`, `error`, `panicked`, `timed_out` |
//! | `control_panic`, `candidate_panic` | the panic message, only for a behaviour that panicked |
//! | `diff` | the [`Diff`] (after `clean`, redaction and truncation), only when one was computed |
//! | `input` | the run's recorded input ([`crate::input`]), only on runs that kept one |
//! | `input_cut` | `true` when that input was cut (over its cap, or too deep): it cannot be replayed |
//! | `trace_id`, `parent_span_id` | the caller's trace and span (32 and 16 lowercase hex digits), only for a run inside a trace ([`crate::trace`]) |
//! | `noise` | with noise calibration, per kept difference: `path` (as [`noise_key`](crate::noise::noise_key) renders it), `raw`, `noise`, `comparisons`, `calibrations`, `is_noise` |
//!
//! Values themselves appear only inside `diff`; `Err` values are reported by outcome kind.
//!
//! A guard ([`crate::guard`]) that trips or re-arms is one record of its own, told apart by its
//! `guard` field (one line; wrapped here):
//!
//! ```text
//! {"timestamp":"2024-05-01T12:35:02.000000Z","experiment":"pricing-v2","candidate":"v2",
//!  "guard":"tripped","reason":"error_rate","observed":0.31,"threshold":0.05,"runs":1000,
//!  "window":1000}
//! ```
//!
//! with `guard` `tripped` or `rearmed`, `reason` as
//! [`GuardReason::as_str`](crate::guard::GuardReason::as_str), and `observed`, `threshold`,
//! `runs` and `window` as in [`GuardEvent`].

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::context::Context;
use crate::diff::Diff;
use crate::guard::GuardEvent;
use crate::observation::{CandidateResult, ExperimentResult, Verdict};
use crate::publish::fields::{micros, panic_message, TraceIds};
use crate::publish::Publisher;

/// Writes one JSON object per line for every mismatch, candidate error and timeout (and, if
/// asked, matches and ignored mismatches) to a writer or an appended file. See the
/// [module docs](self) for the record's fields.
///
/// Clones share the writer and the counters, so keep a clone to read
/// [`write_errors`](Self::write_errors). A failing writer never panics and never reaches the
/// caller: the record is counted as a write error and publishing continues. Each line is
/// written with one `write_all` under a lock, and flushed unless
/// [`flush_each_line(false)`](Self::flush_each_line). Implements [`Publisher<T, E>`] for every
/// `T` and `E`.
///
/// ```
/// use darklaunch::diff::DiffOptions;
/// use darklaunch::publish::JsonLinesPublisher;
/// use darklaunch::Experiment;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = std::env::temp_dir().join(format!("darklaunch-doc-{}.jsonl", std::process::id()));
/// let publisher = JsonLinesPublisher::to_file(&path)?;
/// let experiment: Experiment<Vec<u32>> = Experiment::builder("sort-v2")
///     .publisher(publisher.clone())
///     .diff(DiffOptions::default())
///     .build()?;
///
/// experiment.run(|| vec![1, 2, 3], || vec![1, 2, 3]); // a match: not written
/// experiment
///     .trial()
///     .context("user", "alice")
///     .control(|| vec![1, 2])
///     .candidate("v2", || vec![2, 1])
///     .run();
///
/// let text = std::fs::read_to_string(&path)?;
/// let lines: Vec<serde_json::Value> =
///     text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
/// assert_eq!(lines.len(), 1);
/// assert_eq!(lines[0]["verdict"], "mismatch");
/// assert_eq!(lines[0]["candidate"], "v2");
/// assert_eq!(lines[0]["context"]["user"], "alice");
/// assert_eq!(lines[0]["diff"]["differences"][0]["kind"], "reordered");
/// assert_eq!(publisher.write_errors(), 0);
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JsonLinesPublisher {
    shared: Arc<Shared>,
    /// Which verdicts are written, one bit per verdict (see `bit`).
    verdicts: u8,
    flush_each_line: bool,
}

struct Shared {
    writer: Mutex<Box<dyn Write + Send>>,
    lines: AtomicU64,
    write_errors: AtomicU64,
}

impl std::fmt::Debug for JsonLinesPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdicts: Vec<&str> = Verdict::ALL
            .iter()
            .filter(|v| self.includes(**v))
            .map(|v| v.as_str())
            .collect();
        f.debug_struct("JsonLinesPublisher")
            .field("verdicts", &verdicts)
            .field("flush_each_line", &self.flush_each_line)
            .field("lines_written", &self.lines_written())
            .field("write_errors", &self.write_errors())
            .finish_non_exhaustive()
    }
}

fn bit(verdict: Verdict) -> u8 {
    1 << verdict.index()
}

impl JsonLinesPublisher {
    /// Writes to `writer` (a `Vec<u8>`, a socket, `std::io::stderr()`, …), behind a mutex.
    /// Records mismatches, candidate errors and timeouts; flushes after every line.
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                writer: Mutex::new(Box::new(writer)),
                lines: AtomicU64::new(0),
                write_errors: AtomicU64::new(0),
            }),
            verdicts: bit(Verdict::Mismatch)
                | bit(Verdict::CandidateError)
                | bit(Verdict::TimedOut),
            flush_each_line: true,
        }
    }

    /// Appends to the file at `path`, creating it if needed.
    ///
    /// # Errors
    ///
    /// The error from opening the file.
    pub fn to_file(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::new(file))
    }

    /// Whether candidates with `verdict` are written. By default mismatches, candidate errors
    /// and timeouts are; matches and ignored mismatches are not.
    pub fn include(mut self, verdict: Verdict, include: bool) -> Self {
        if include {
            self.verdicts |= bit(verdict);
        } else {
            self.verdicts &= !bit(verdict);
        }
        self
    }

    /// Whether to flush the writer after every line (default true). Without it, lines reach
    /// the destination when the writer's buffer does; a flush error is a write error.
    pub fn flush_each_line(mut self, flush: bool) -> Self {
        self.flush_each_line = flush;
        self
    }

    /// How many records could not be written (an I/O error from the writer or its flush)
    /// since this publisher was created, across clones.
    pub fn write_errors(&self) -> u64 {
        self.shared.write_errors.load(Ordering::Relaxed)
    }

    /// How many records were written successfully, across clones.
    pub fn lines_written(&self) -> u64 {
        self.shared.lines.load(Ordering::Relaxed)
    }

    /// Flushes the writer.
    ///
    /// # Errors
    ///
    /// The writer's flush error (it is not counted in [`write_errors`](Self::write_errors)).
    pub fn flush(&self) -> io::Result<()> {
        self.lock().flush()
    }

    fn includes(&self, verdict: Verdict) -> bool {
        self.verdicts & bit(verdict) != 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Write + Send>> {
        // A writer that panicked mid-line leaves at worst a torn line; keep writing.
        self.shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes one line (which ends with `\n`); counts the outcome.
    fn write_line(&self, line: &[u8]) {
        let mut writer = self.lock();
        let written = writer.write_all(line).and_then(|()| {
            if self.flush_each_line {
                writer.flush()
            } else {
                Ok(())
            }
        });
        drop(writer);
        let counter = match written {
            Ok(()) => &self.shared.lines,
            Err(_) => &self.shared.write_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One line of output.
#[derive(Serialize)]
struct Record<'a> {
    timestamp: &'a str,
    experiment: &'a str,
    candidate: &'a str,
    verdict: &'static str,
    context: &'a Context,
    control_duration_us: u64,
    candidate_duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_cpu_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_cpu_us: Option<u64>,
    control_outcome: &'static str,
    candidate_outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_panic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_panic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a Diff>,
    #[cfg(feature = "serde")]
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    noise: &'a [crate::noise::PathNoise],
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a crate::input::RecordedInput>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    input_cut: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<&'a str>,
}

impl<T, E> Publisher<T, E> for JsonLinesPublisher {
    fn publish(&self, result: &ExperimentResult<T, E>) {
        let mut timestamp: Option<String> = None;
        let mut trace: Option<TraceIds> = None;
        let mut line = Vec::new();
        for candidate in result.candidates() {
            if !self.includes(candidate.verdict()) {
                continue;
            }
            let timestamp = timestamp.get_or_insert_with(|| {
                let now = crate::text::rfc3339_range(crate::real_clock::wall());
                humantime::format_rfc3339_micros(now).to_string()
            });
            let trace = trace.get_or_insert_with(|| TraceIds::of(result));
            line.clear();
            let record = record(timestamp, trace, result, candidate);
            match serde_json::to_writer(&mut line, &record) {
                Ok(()) => {
                    line.push(b'\n');
                    self.write_line(&line);
                }
                Err(_) => {
                    self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn guard(&self, event: &GuardEvent) {
        self.write_guard(event);
    }

    /// Yes: records carry the caller's trace id and parent span id.
    fn wants_trace(&self) -> bool {
        true
    }
}

/// A guard trip or re-arm, as one JSON line.
#[derive(Serialize)]
struct GuardRecord<'a> {
    timestamp: String,
    experiment: &'a str,
    candidate: &'a str,
    guard: &'static str,
    reason: &'static str,
    observed: f64,
    threshold: f64,
    runs: u64,
    window: u64,
}

impl JsonLinesPublisher {
    fn write_guard(&self, event: &GuardEvent) {
        let record = GuardRecord {
            timestamp: humantime::format_rfc3339_micros(crate::text::rfc3339_range(event.at))
                .to_string(),
            experiment: &event.experiment,
            candidate: &event.candidate,
            guard: event.kind.as_str(),
            reason: event.reason.as_str(),
            observed: event.observed,
            threshold: event.threshold,
            runs: event.runs,
            window: event.window,
        };
        match serde_json::to_vec(&record) {
            Ok(mut line) => {
                line.push(b'\n');
                self.write_line(&line);
            }
            Err(_) => {
                self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn record<'a, T, E>(
    timestamp: &'a str,
    trace: &'a TraceIds,
    result: &'a ExperimentResult<T, E>,
    candidate: &'a CandidateResult<T, E>,
) -> Record<'a> {
    let control = result.control();
    let observation = candidate.observation();
    Record {
        timestamp,
        experiment: result.name(),
        candidate: candidate.name(),
        verdict: candidate.verdict().as_str(),
        context: result.context(),
        control_duration_us: micros(control.duration()),
        candidate_duration_us: micros(observation.duration()),
        control_cpu_us: control.cpu_time().map(micros),
        candidate_cpu_us: observation.cpu_time().map(micros),
        control_outcome: control.outcome().kind(),
        candidate_outcome: observation.outcome().kind(),
        control_panic: panic_message(control.outcome()),
        candidate_panic: panic_message(observation.outcome()),
        diff: candidate.diff(),
        #[cfg(feature = "serde")]
        noise: candidate.noise(),
        input: result.input(),
        input_cut: result.input().is_some_and(|input| input.is_cut()),
        trace_id: trace.trace_id.as_deref(),
        parent_span_id: trace.parent_span_id.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_selection() {
        let p = JsonLinesPublisher::new(Vec::new());
        assert!(p.includes(Verdict::Mismatch));
        assert!(p.includes(Verdict::CandidateError));
        assert!(p.includes(Verdict::TimedOut));
        assert!(!p.includes(Verdict::Match));
        assert!(!p.includes(Verdict::Ignored));
        let p = p
            .include(Verdict::Match, true)
            .include(Verdict::TimedOut, false);
        assert!(p.includes(Verdict::Match));
        assert!(!p.includes(Verdict::TimedOut));
        let debug = format!("{p:?}");
        assert!(
            debug.contains("[\"match\", \"mismatch\", \"candidate_error\"]"),
            "{debug}"
        );
    }
}
