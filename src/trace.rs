//! Where a run sits in the caller's distributed trace: the span it is a child of, captured when
//! the run is sampled in, and the run's real start and end.
//!
//! An experiment captures a [`RunTrace`] for each sampled run when one of its publishers asks
//! for it ([`Publisher::wants_trace`](crate::publish::Publisher::wants_trace): the OpenTelemetry,
//! `tracing`, JSON lines and insight publishers do). The parent is, in this order:
//!
//! 1. the span current in OpenTelemetry's context on the calling thread (feature
//!    `opentelemetry`);
//! 2. with the feature `tracing-opentelemetry`, the OpenTelemetry context of the current
//!    `tracing` span (services instrumented with `tracing` and `tracing-opentelemetry`);
//! 3. a parent given to the run explicitly
//!    ([`SampledRun::trace_parent`](crate::SampledRun::trace_parent)), such as the shadow layer's
//!    request's W3C `traceparent` header.
//!
//! Only publishers that use the run's real start and end
//! ([`Publisher::wants_run_times`](crate::publish::Publisher::wants_run_times): the
//! OpenTelemetry publisher) make the run read the wall clock at its start and end; the others
//! (ids in JSON lines, `tracing` events and insight samples) cost a context lookup, and a run
//! outside any trace then keeps no trace at all. Sampled-out calls capture nothing: no context
//! lookup and no clock read.

use std::fmt;
use std::time::SystemTime;

/// A W3C trace context (`traceparent`): the trace a run belongs to and the span its own span is
/// a child of.
///
/// ```
/// use darklaunch::trace::TraceParent;
///
/// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     .parse()
///     .unwrap();
/// assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
/// assert!(parent.is_sampled());
/// assert_eq!(
///     parent.to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
/// );
/// assert!("00-00000000000000000000000000000000-00f067aa0ba902b7-01"
///     .parse::<TraceParent>()
///     .is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
    remote: bool,
}

/// Why a `traceparent` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Not `version-traceid-parentid-flags` with lowercase hex fields of 2, 32, 16 and 2 digits.
    #[error("not a W3C traceparent (version-traceid-parentid-flags in lowercase hex)")]
    Malformed,
    /// Version `ff`, which the W3C recommendation forbids.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// An all-zero trace id or parent id.
    #[error("traceparent has an all-zero trace id or parent id")]
    ZeroId,
}

/// The most bytes of a `traceparent` value read; longer values (of a future version) are refused.
const MAX_TRACEPARENT_LEN: usize = 512;

impl TraceParent {
    /// A parent from its ids; `None` when either is all zeros (the W3C invalid ids). The parent is
    /// local (a span of this process); see [`remote`](Self::remote).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags: u8::from(sampled),
            remote: false,
        })
    }

    /// The same parent, marked as propagated from another process (as a parsed `traceparent`
    /// header is), which is how OpenTelemetry's parent-based samplers tell them apart.
    pub fn remote(mut self) -> Self {
        self.remote = true;
        self
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The parent span's id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace flags byte (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the parent's trace is sampled (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Whether the parent came from another process.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The trace id as 32 lowercase hex digits, as tracing backends show it.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent span's id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The parent of the calling thread's current span, if there is one: OpenTelemetry's current
    /// context, then (feature `tracing-opentelemetry`) the current `tracing` span's.
    #[inline]
    pub(crate) fn current() -> Option<Self> {
        #[cfg(feature = "opentelemetry")]
        {
            use opentelemetry::trace::TraceContextExt as _;
            let context = opentelemetry::Context::current();
            if let Some(parent) = Self::from_otel(context.span().span_context()) {
                return Some(parent);
            }
        }
        #[cfg(feature = "tracing-opentelemetry")]
        {
            use opentelemetry::trace::TraceContextExt as _;
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            let span = tracing::Span::current();
            if !span.is_disabled() {
                let context = span.context();
                if let Some(parent) = Self::from_otel(context.span().span_context()) {
                    return Some(parent);
                }
            }
        }
        None
    }

    /// A parent from an OpenTelemetry span context; `None` if it is invalid.
    #[cfg(feature = "opentelemetry")]
    pub fn from_otel(context: &opentelemetry::trace::SpanContext) -> Option<Self> {
        if !context.is_valid() {
            return None;
        }
        let mut parent = Self::new(
            context.trace_id().to_bytes(),
            context.span_id().to_bytes(),
            false,
        )?;
        parent.flags = context.trace_flags().to_u8();
        parent.remote = context.is_remote();
        Some(parent)
    }

    /// This parent as an OpenTelemetry span context (without trace state).
    #[cfg(feature = "opentelemetry")]
    pub fn to_otel(&self) -> opentelemetry::trace::SpanContext {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            TraceFlags::new(self.flags),
            self.remote,
            TraceState::NONE,
        )
    }
}

impl std::str::FromStr for TraceParent {
    type Err = TraceParentError;

    /// Parses a W3C `traceparent` value (surrounding spaces and tabs allowed). The parent is
    /// [remote](Self::is_remote). Versions above `00` are read for their first four fields, as
    /// the recommendation asks.
    fn from_str(text: &str) -> Result<Self, TraceParentError> {
        let text = text.trim_matches([' ', '\t']);
        if text.len() > MAX_TRACEPARENT_LEN || text.len() < 55 || !text.is_ascii() {
            return Err(TraceParentError::Malformed);
        }
        let bytes = text.as_bytes();
        let version = lower_hex::<1>(&bytes[0..2]).ok_or(TraceParentError::Malformed)?[0];
        let dashes = [2, 35, 52];
        if dashes.iter().any(|&at| bytes[at] != b'-') {
            return Err(TraceParentError::Malformed);
        }
        if version == 0xff {
            return Err(TraceParentError::InvalidVersion);
        }
        // Version 00 is exactly 55 characters; a later version may go on after a dash.
        if (version == 0 && bytes.len() != 55) || (bytes.len() > 55 && bytes[55] != b'-') {
            return Err(TraceParentError::Malformed);
        }
        let trace_id = lower_hex::<16>(&bytes[3..35]).ok_or(TraceParentError::Malformed)?;
        let span_id = lower_hex::<8>(&bytes[36..52]).ok_or(TraceParentError::Malformed)?;
        let flags = lower_hex::<1>(&bytes[53..55]).ok_or(TraceParentError::Malformed)?[0];
        let mut parent = Self::new(trace_id, span_id, false).ok_or(TraceParentError::ZeroId)?;
        parent.flags = flags;
        parent.remote = true;
        Ok(parent)
    }
}

impl fmt::Display for TraceParent {
    /// The W3C `traceparent` value, version `00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            self.flags
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceParent")
            .field("trace_id", &self.trace_id_hex())
            .field("span_id", &self.span_id_hex())
            .field("flags", &self.flags)
            .field("remote", &self.remote)
            .finish()
    }
}

/// Where one run sits in the caller's trace, and when it really ran (when a publisher
/// [wants the times](crate::Publisher::wants_run_times)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTrace {
    parent: Option<TraceParent>,
    started: Option<SystemTime>,
    ended: Option<SystemTime>,
}

impl RunTrace {
    /// A run starting now, a child of the calling thread's current span; with `timed`, its
    /// start is read from the wall clock.
    #[inline]
    pub(crate) fn start(timed: bool) -> Self {
        Self {
            parent: TraceParent::current(),
            started: timed.then(crate::real_clock::wall),
            ended: None,
        }
    }

    /// Marks the run's end (its last behaviour finished) now, if the run is timed and its end
    /// was not marked before.
    #[inline]
    pub(crate) fn end(&mut self) {
        if self.started.is_some() && self.ended.is_none() {
            self.ended = Some(crate::real_clock::wall());
        }
    }

    /// Makes `parent` the run's parent unless one was captured from the calling thread.
    pub(crate) fn adopt(&mut self, parent: TraceParent) {
        self.parent.get_or_insert(parent);
    }

    /// A run trace from its parts, for publishers' own tests and for offline results.
    pub fn new(
        parent: Option<TraceParent>,
        started: Option<SystemTime>,
        ended: Option<SystemTime>,
    ) -> Self {
        Self {
            parent,
            started,
            ended,
        }
    }

    /// The span the run's own span is a child of; `None` when the run was not inside a trace.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }

    /// The trace id of the caller's trace, as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> Option<String> {
        self.parent.as_ref().map(TraceParent::trace_id_hex)
    }

    /// When the run was sampled in, by the wall clock; `None` unless a publisher of the
    /// experiment [wants run times](crate::Publisher::wants_run_times).
    pub fn started(&self) -> Option<SystemTime> {
        self.started
    }

    /// When the run's last behaviour finished, by the wall clock (`None` until it is known, and
    /// for an untimed run).
    pub fn ended(&self) -> Option<SystemTime> {
        self.ended
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// `N` bytes from `2 × N` lowercase hex digits; `None` for anything else.
fn lower_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let value = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_recommendations_examples_and_refusals() {
        let parent: TraceParent = EXAMPLE.parse().unwrap();
        assert!(parent.is_remote() && parent.is_sampled());
        assert_eq!(parent.flags(), 1);
        let flagged: TraceParent = EXAMPLE.replace("-01", "-03").parse().unwrap();
        assert_eq!((flagged.flags(), flagged.is_sampled()), (3, true));
        assert_eq!(parent.to_string(), EXAMPLE);
        let unsampled: TraceParent = EXAMPLE.replace("-01", "-00").parse().unwrap();
        assert!(!unsampled.is_sampled());
        let cases = [
            (EXAMPLE.to_uppercase(), TraceParentError::Malformed),
            (
                EXAMPLE.replacen("00", "ff", 1),
                TraceParentError::InvalidVersion,
            ),
            (format!("{EXAMPLE}-extra"), TraceParentError::Malformed),
            (EXAMPLE[..54].to_owned(), TraceParentError::Malformed),
            (EXAMPLE.replace('-', "_"), TraceParentError::Malformed),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_owned(),
                TraceParentError::ZeroId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".to_owned(),
                TraceParentError::ZeroId,
            ),
            ("é".repeat(30), TraceParentError::Malformed),
            ("0".repeat(1 << 20), TraceParentError::Malformed),
        ];
        for (text, error) in cases {
            assert_eq!(text.parse::<TraceParent>(), Err(error), "{text:.80}");
        }
        // A later version keeps its first four fields and may carry more after a dash.
        let later: TraceParent = format!("cc{}-future", &EXAMPLE[2..]).parse().unwrap();
        assert_eq!(later.trace_id(), parent.trace_id());
        assert!(format!("cc{}x", &EXAMPLE[2..])
            .parse::<TraceParent>()
            .is_err());
        // A later version may be as long as the cap, not longer.
        let longest = format!(
            "cc{}-{}",
            &EXAMPLE[2..],
            "x".repeat(MAX_TRACEPARENT_LEN - 56)
        );
        assert_eq!(longest.len(), MAX_TRACEPARENT_LEN);
        assert!(longest.parse::<TraceParent>().is_ok());
        assert!(format!("{longest}x").parse::<TraceParent>().is_err());
    }

    #[test]
    fn debug_shows_the_ids_in_hex() {
        let parent: TraceParent = EXAMPLE.parse().unwrap();
        let shown = format!("{parent:?}");
        assert!(
            shown.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
            "{shown}"
        );
        assert!(
            shown.contains("00f067aa0ba902b7") && shown.contains("remote: true"),
            "{shown}"
        );
    }

    #[test]
    fn zero_ids_make_no_parent() {
        assert!(TraceParent::new([0; 16], [1; 8], true).is_none());
        assert!(TraceParent::new([1; 16], [0; 8], true).is_none());
        let parent = TraceParent::new([1; 16], [2; 8], false).unwrap();
        assert!(!parent.is_remote() && !parent.is_sampled());
        assert!(parent.remote().is_remote());
    }

    proptest! {
        #[test]
        fn printing_and_parsing_round_trip(
            trace_id in any::<[u8; 16]>(),
            span_id in any::<[u8; 8]>(),
            flags in any::<u8>(),
        ) {
            let Some(mut parent) = TraceParent::new(trace_id, span_id, false) else {
                return Ok(());
            };
            parent.flags = flags;
            let parsed: TraceParent = parent.to_string().parse().unwrap();
            prop_assert_eq!(parsed, parent.remote());
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in ".{0,80}") {
            if let Ok(parent) = text.parse::<TraceParent>() {
                prop_assert_eq!(parent.to_string().len(), 55);
            }
        }

        #[test]
        fn one_changed_digit_changes_or_refuses(at in 0usize..55, digit in "[0-9a-zA-Z-]") {
            let mut text = EXAMPLE.to_owned();
            text.replace_range(at..at + 1, &digit);
            match text.parse::<TraceParent>() {
                Ok(parent) => prop_assert_eq!(&parent.to_string()[2..], &text[2..]),
                Err(_) => prop_assert_ne!(text, EXAMPLE),
            }
        }
    }
}
