//! The span of a run and its events: attributes, context, and each mismatched or noisy
//! candidate's diff and calibration counts.

use std::time::{Duration, SystemTime};

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, TraceContextExt as _, Tracer};
use opentelemetry::{KeyValue, Value};

use super::cache::{context_key, Cache};
use crate::context::{Context, ContextValue};
use crate::observation::{ExperimentResult, Verdict};

/// The name of the span of one run.
pub const SPAN_NAME: &str = "darklaunch.experiment";
/// The name of the span event of one mismatched candidate.
pub const MISMATCH_EVENT: &str = "darklaunch.mismatch";
/// The span event of a candidate whose differences were all noise.
pub const NOISE_EVENT: &str = "darklaunch.noise";
/// Default cap on the bytes of the `darklaunch.diff` event attribute.
pub const DEFAULT_MAX_DIFF_BYTES: usize = 4096;
/// At most this many paths (and kinds) go into a mismatch event's arrays.
pub const MAX_EVENT_PATHS: usize = 64;

/// Starts the run's span, a child of the span the run was captured in, from the run's real
/// start; `None` if the tracer does not record it.
pub(super) fn start_span<T, E>(
    tracer: &BoxedTracer,
    experiment: Value,
    result: &ExperimentResult<T, E>,
) -> Option<(global::BoxedSpan, SystemTime)> {
    let (start, end) = extent(result);
    let builder = SpanBuilder::from_name(SPAN_NAME)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes([KeyValue::new("darklaunch.experiment", experiment)]);
    let mut span = match result.trace().and_then(|trace| trace.parent()) {
        Some(parent) => {
            let parent = opentelemetry::Context::new().with_remote_span_context(parent.to_otel());
            tracer.build_with_context(builder, &parent)
        }
        // No captured parent: a root span, not a child of whatever is current where the run
        // happens to be published.
        None if result.trace().is_some() => {
            tracer.build_with_context(builder, &opentelemetry::Context::new())
        }
        None => tracer.build(builder),
    };
    if span.is_recording() {
        Some((span, end))
    } else {
        span.end_with_timestamp(end);
        None
    }
}

/// The run's start and end: its real ones when its trace was captured; otherwise it ends now
/// and starts the longest behaviour's duration before.
fn extent<T, E>(result: &ExperimentResult<T, E>) -> (SystemTime, SystemTime) {
    if let Some(trace) = result.trace() {
        if let Some(started) = trace.started() {
            let end = trace.ended().unwrap_or_else(crate::real_clock::wall);
            return (started, end.max(started));
        }
    }
    let end = crate::real_clock::wall();
    let longest = result
        .candidates()
        .iter()
        .map(|c| c.observation().duration())
        .fold(result.control().duration(), Duration::max);
    (end.checked_sub(longest).unwrap_or(end), end)
}

/// Adds the run's attributes and mismatch events to a recording span; returns whether a
/// context key was missing from the cache.
pub(super) fn annotate_span<T, E>(
    span: &mut global::BoxedSpan,
    cache: &Cache,
    result: &ExperimentResult<T, E>,
    max_diff_bytes: usize,
    at: SystemTime,
) -> bool {
    let context = result.context();
    let mut attributes = Vec::with_capacity(1 + context.len());
    attributes.push(KeyValue::new("darklaunch.matched", result.matched()));
    let missed = context_attributes(cache, context, &mut attributes);
    span.set_attributes(attributes);

    let noteworthy = result
        .candidates()
        .iter()
        .filter_map(|candidate| match candidate.verdict() {
            Verdict::Mismatch => Some((MISMATCH_EVENT, candidate)),
            Verdict::Noise => Some((NOISE_EVENT, candidate)),
            _ => None,
        });
    for (event, candidate) in noteworthy {
        #[cfg_attr(not(feature = "serde"), allow(unused_mut))]
        let mut attributes = vec![
            KeyValue::new("darklaunch.candidate", candidate.name().to_owned()),
            KeyValue::new(
                "darklaunch.control.outcome",
                result.control().outcome().kind(),
            ),
            KeyValue::new(
                "darklaunch.candidate.outcome",
                candidate.observation().outcome().kind(),
            ),
        ];
        #[cfg(feature = "serde")]
        if let Some(diff) = candidate.diff() {
            diff_attributes(diff, max_diff_bytes, &mut attributes);
        }
        #[cfg(feature = "serde")]
        noise_attributes(candidate.noise(), &mut attributes);
        #[cfg(not(feature = "serde"))]
        let _ = max_diff_bytes;
        span.add_event_with_timestamp(event, at, attributes);
    }
    missed
}

fn context_attributes(cache: &Cache, context: &Context, into: &mut Vec<KeyValue>) -> bool {
    let mut missed = false;
    for (key, value) in context.iter() {
        let key = match cache.context_keys.get(key) {
            Some(key) => key.clone(),
            None => {
                missed = true;
                context_key(key)
            }
        };
        into.push(KeyValue::new(key, context_value(value)));
    }
    missed
}

fn context_value(value: &ContextValue) -> Value {
    match value {
        ContextValue::Str(text) => Value::from(text.clone()),
        ContextValue::I64(n) => Value::I64(*n),
        ContextValue::U64(n) => match i64::try_from(*n) {
            Ok(n) => Value::I64(n),
            Err(_) => Value::from(n.to_string()),
        },
        ContextValue::F64(n) => Value::F64(*n),
        ContextValue::Bool(b) => Value::Bool(*b),
    }
}

#[cfg(feature = "serde")]
fn diff_attributes(diff: &crate::diff::Diff, max_bytes: usize, into: &mut Vec<KeyValue>) {
    use opentelemetry::{Array, StringValue};

    let kept = diff.differences.iter().take(MAX_EVENT_PATHS);
    let paths: Vec<StringValue> = kept
        .clone()
        .map(|d| StringValue::from(d.path.clone()))
        .collect();
    let kinds: Vec<StringValue> = kept.map(|d| StringValue::from(d.kind.as_str())).collect();
    into.push(KeyValue::new(
        "darklaunch.diff.paths",
        Value::Array(Array::String(paths)),
    ));
    into.push(KeyValue::new(
        "darklaunch.diff.kinds",
        Value::Array(Array::String(kinds)),
    ));
    into.push(KeyValue::new(
        "darklaunch.diff.count",
        i64::try_from(diff.len()).unwrap_or(i64::MAX),
    ));
    if max_bytes > 0 {
        let (json, truncated) = bounded_json(diff, max_bytes);
        into.push(KeyValue::new("darklaunch.diff", json));
        into.push(KeyValue::new("darklaunch.diff.truncated", truncated));
    }
}

/// Each kept path's calibration counts, aligned with `darklaunch.diff.paths`.
#[cfg(feature = "serde")]
fn noise_attributes(noise: &[crate::noise::PathNoise], into: &mut Vec<KeyValue>) {
    use opentelemetry::Array;

    if noise.is_empty() {
        return;
    }
    let kept = noise.iter().take(MAX_EVENT_PATHS);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    into.push(KeyValue::new(
        "darklaunch.noise.raw",
        Value::Array(Array::I64(kept.clone().map(|p| count(p.raw)).collect())),
    ));
    into.push(KeyValue::new(
        "darklaunch.noise.count",
        Value::Array(Array::I64(kept.clone().map(|p| count(p.noise)).collect())),
    ));
    into.push(KeyValue::new(
        "darklaunch.noise.is_noise",
        Value::Array(Array::Bool(kept.map(|p| p.is_noise).collect())),
    ));
}

/// The compact JSON of `value`, cut to at most `max` bytes at a character boundary, and
/// whether it was cut. Serialization stops once the cap is reached.
#[cfg(feature = "serde")]
fn bounded_json(value: &impl serde::Serialize, max: usize) -> (String, bool) {
    struct Bounded {
        buf: Vec<u8>,
        max: usize,
        full: bool,
    }
    impl std::io::Write for Bounded {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let room = self.max - self.buf.len();
            if data.len() > room {
                self.buf.extend_from_slice(&data[..room]);
                self.full = true;
                return Err(std::io::Error::other("diff size cap reached"));
            }
            self.buf.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut out = Bounded {
        buf: Vec::with_capacity(max.min(1024)),
        max,
        full: false,
    };
    let failed = serde_json::to_writer(&mut out, value).is_err();
    let mut buf = out.buf;
    if let Err(error) = std::str::from_utf8(&buf) {
        buf.truncate(error.valid_up_to());
    }
    let truncated = out.full || failed;
    (String::from_utf8(buf).unwrap_or_default(), truncated)
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::bounded_json;

    #[test]
    fn bounded_json_cuts_at_a_character_boundary() {
        let value = serde_json::json!({ "a": "ééééé" });
        let (whole, truncated) = bounded_json(&value, 1000);
        assert_eq!(whole, r#"{"a":"ééééé"}"#);
        assert!(!truncated);
        // `{"a":"é` is 8 bytes; a cap of 9 falls inside the second `é`.
        let (cut, truncated) = bounded_json(&value, 9);
        assert_eq!(cut, r#"{"a":"é"#);
        assert!(truncated);
        let (exact, truncated) = bounded_json(&value, whole.len());
        assert_eq!(exact, whole);
        assert!(!truncated);
    }
}
