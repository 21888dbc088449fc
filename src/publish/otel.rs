//! OpenTelemetry metrics and spans.
//!
//! [`OtelPublisher`] turns every sampled run into
//!
//! * metrics, instrument scope `darklaunch`:
//!   * [`darklaunch.runs`](RUNS_METRIC) — a `u64` counter, unit `{run}`, attributes exactly
//!     `experiment`, `candidate` and `outcome`. One increment per candidate per published run,
//!     `outcome` being the verdict's [`Verdict::as_str`] (`match`, `mismatch`, `ignored`,
//!     `noise`, `candidate_error`, `timeout`). A shed run has no result and ran no candidate: it is
//!     counted once, with `outcome="shed"` and `candidate=""` (which Prometheus shows as no
//!     `candidate` label), so that shedding never inflates a candidate's comparison count.
//!     Prometheus sees it as `darklaunch_runs_total`.
//!   * [`darklaunch.duration`](DURATION_METRIC) — an `f64` histogram in seconds (unit `s`),
//!     attributes exactly `experiment` and `behavior` (the control's name, `control` by default,
//!     or the candidate's name), with explicit latency buckets
//!     ([`DEFAULT_DURATION_BUCKETS`], configurable). Every behaviour of a published run is
//!     recorded, including candidates that panicked or timed out (a timed-out candidate's
//!     duration is the time until it was given up on). Prometheus sees it as
//!     `darklaunch_duration_seconds_{bucket,sum,count}`.
//!
//!   Metric attributes are only those: never context, never values, so their cardinality is
//!   bounded by the number of experiments and candidates.
//! * a span [`darklaunch.experiment`](SPAN_NAME) per published run, a child of the
//!   OpenTelemetry context current where the run is published (the caller's, for synchronous and
//!   `run_async` runs). It ends when the run is published and starts the longest behaviour's
//!   duration before that (the behaviours of a run overlap or follow each other, so this is an
//!   approximation of the run's real extent; for detached runs it is shifted by the time the
//!   result waited in the publish queue). Attributes: `darklaunch.experiment`,
//!   `darklaunch.matched` (every candidate matched) and every context entry as
//!   `darklaunch.context.<key>`. Context goes to traces only.
//! * a span event [`darklaunch.mismatch`](MISMATCH_EVENT) per mismatched candidate, with
//!   `darklaunch.candidate`, `darklaunch.control.outcome` and `darklaunch.candidate.outcome`
//!   ([`Outcome::kind`](crate::Outcome::kind)) and, with the `serde` feature and a
//!   [`diff`](crate::ExperimentBuilder::diff) configured, the structural diff:
//!   `darklaunch.diff.paths` and `darklaunch.diff.kinds` (string arrays, at most
//!   [`MAX_EVENT_PATHS`] entries), `darklaunch.diff.count` (differences found, kept or not),
//!   and `darklaunch.diff` — the diff's compact JSON, cut to at most
//!   [`with_max_diff_bytes`](OtelPublisher::with_max_diff_bytes) bytes (default
//!   [`DEFAULT_MAX_DIFF_BYTES`]), with `darklaunch.diff.truncated` telling whether it was cut.
//!   The values in a diff are the experiment's: after `clean`, bounded by its
//!   [`DiffOptions`](crate::DiffOptions). With noise calibration (feature `insight`), the
//!   event also carries `darklaunch.noise.raw`, `darklaunch.noise.count` (integer arrays)
//!   and `darklaunch.noise.is_noise` (bool array), index-aligned with `darklaunch.diff.paths`:
//!   each path's raw and noise counts in the calibration window
//!   ([`CandidateResult::noise`](crate::CandidateResult::noise)).
//! * a span event [`darklaunch.noise`](NOISE_EVENT) per candidate whose verdict is `noise`, with
//!   the same attributes.
//!
//! A matching run costs a few counter and histogram updates with cached attribute sets and,
//! when the tracer records, one span: nothing is formatted or serialized.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, Tracer};
use opentelemetry::{InstrumentationScope, Key, KeyValue, Value};

use crate::context::{Context, ContextValue};
use crate::observation::{ExperimentResult, Verdict};
use crate::publish::Publisher;

/// The instrument scope (meter and tracer name) of the global fallback.
pub const SCOPE: &str = "darklaunch";
/// The counter of comparisons (and shed runs) by outcome.
pub const RUNS_METRIC: &str = "darklaunch.runs";
/// The histogram of behaviour durations, in seconds.
pub const DURATION_METRIC: &str = "darklaunch.duration";
/// The name of the span of one run.
pub const SPAN_NAME: &str = "darklaunch.experiment";
/// The name of the span event of one mismatched candidate.
pub const MISMATCH_EVENT: &str = "darklaunch.mismatch";
/// The span event of a candidate whose differences were all noise.
pub const NOISE_EVENT: &str = "darklaunch.noise";
/// The `outcome` of a shed run in [`RUNS_METRIC`].
pub const SHED_OUTCOME: &str = "shed";
/// Default bucket boundaries of [`DURATION_METRIC`], in seconds: 50 µs to 10 s, roughly
/// ×2–2.5 apart.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// Default cap on the bytes of the `darklaunch.diff` event attribute.
pub const DEFAULT_MAX_DIFF_BYTES: usize = 4096;
/// At most this many paths (and kinds) go into a mismatch event's arrays.
pub const MAX_EVENT_PATHS: usize = 64;

/// Attribute sets cached for at most this many (experiment, behaviour) pairs; beyond, they are
/// built per run (still correct, just slower).
const MAX_CACHED_BEHAVIORS: usize = 1024;
/// Context keys (`darklaunch.context.<key>`) cached for at most this many distinct keys.
const MAX_CACHED_CONTEXT_KEYS: usize = 256;

const EXPERIMENT: Key = Key::from_static_str("experiment");
const CANDIDATE: Key = Key::from_static_str("candidate");
const OUTCOME: Key = Key::from_static_str("outcome");
const BEHAVIOR: Key = Key::from_static_str("behavior");

const VERDICTS: [Verdict; 6] = [
    Verdict::Match,
    Verdict::Mismatch,
    Verdict::Ignored,
    Verdict::CandidateError,
    Verdict::TimedOut,
    Verdict::Noise,
];

fn verdict_index(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Match => 0,
        Verdict::Mismatch => 1,
        Verdict::Ignored => 2,
        Verdict::CandidateError => 3,
        Verdict::TimedOut => 4,
        Verdict::Noise => 5,
    }
}

/// Publishes runs as OpenTelemetry metrics and spans (see the [module docs](self) for names
/// and attributes).
///
/// [`OtelPublisher::new`] uses the global meter and tracer providers, looked up on the first
/// publication rather than at construction: a publisher made before the application installs
/// its providers (`opentelemetry::global::set_meter_provider`, `set_tracer_provider`) still
/// reports to them, as long as they are installed before its first publication. (Instruments
/// and tracer are bound once, on that first publication: if it comes before the providers are
/// installed, it and every later one go to the no-op providers.)
/// [`with_meter`](Self::with_meter) and [`with_tracer`](Self::with_tracer) inject a meter or
/// tracer instead; name them `darklaunch` (the global fallback uses scope [`SCOPE`] with the
/// crate's version).
///
/// Clones share their instruments and caches, so one publisher can serve experiments of
/// different value types. It never panics.
///
/// The example uses the SDK's in-memory exporters, which need `opentelemetry_sdk` with its
/// `testing` feature (`opentelemetry_sdk = { version = "0.33", features = ["testing"] }`); a
/// service exports with `opentelemetry-otlp` or `opentelemetry-prometheus` instead.
///
/// ```
/// use darklaunch::publish::OtelPublisher;
/// use darklaunch::Experiment;
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let metrics = InMemoryMetricExporter::default();
/// let meters = SdkMeterProvider::builder()
///     .with_reader(PeriodicReader::builder(metrics.clone()).build())
///     .build();
/// let spans = InMemorySpanExporter::default();
/// let tracers = SdkTracerProvider::builder()
///     .with_simple_exporter(spans.clone())
///     .build();
///
/// let otel = OtelPublisher::new()
///     .with_meter(meters.meter("darklaunch"))
///     .with_tracer(tracers.tracer("darklaunch"));
/// let experiment: Experiment<u32> = Experiment::builder("pricing-v2")
///     .publisher(otel.clone())
///     .build()?;
/// experiment.trial().context("route", "/cart").control(|| 12).candidate("v2", || 13).run();
///
/// meters.force_flush()?;
/// let exported = metrics.get_finished_metrics()?;
/// let names: Vec<String> = exported
///     .iter()
///     .flat_map(|rm| rm.scope_metrics())
///     .flat_map(|sm| sm.metrics())
///     .map(|m| m.name().to_string())
///     .collect();
/// assert!(names.contains(&"darklaunch.runs".to_string()));
/// let span = &spans.get_finished_spans()?[0];
/// assert_eq!(span.name, "darklaunch.experiment");
/// assert_eq!(span.events.len(), 1); // one mismatch event
/// # Ok(())
/// # }
/// ```
///
/// With the global providers, installed after the publisher was made:
///
/// ```
/// use darklaunch::publish::OtelPublisher;
/// use darklaunch::Experiment;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
///
/// let experiment: Experiment<u32> = Experiment::builder("pricing-v2")
///     .publisher(OtelPublisher::new())
///     .build()
///     .unwrap();
///
/// // Later, at start-up:
/// let metrics = InMemoryMetricExporter::default();
/// let meters = SdkMeterProvider::builder()
///     .with_reader(PeriodicReader::builder(metrics.clone()).build())
///     .build();
/// opentelemetry::global::set_meter_provider(meters.clone());
///
/// experiment.run(|| 1, || 1);
/// meters.force_flush().unwrap();
/// assert!(!metrics.get_finished_metrics().unwrap().is_empty());
/// ```
#[derive(Clone)]
pub struct OtelPublisher {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Config {
    meter: Option<Meter>,
    tracer: Option<Arc<BoxedTracer>>,
    buckets: Vec<f64>,
    max_diff_bytes: usize,
}

struct Inner {
    config: Config,
    instruments: OnceLock<Instruments>,
    tracer: OnceLock<Arc<BoxedTracer>>,
    cache: RwLock<Cache>,
}

struct Instruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
}

impl Default for OtelPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OtelPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("OtelPublisher")
            .field(
                "meter",
                &config.meter.as_ref().map_or("global", |_| "injected"),
            )
            .field(
                "tracer",
                &config.tracer.as_ref().map_or("global", |_| "injected"),
            )
            .field("duration_buckets", &config.buckets)
            .field("max_diff_bytes", &config.max_diff_bytes)
            .finish()
    }
}

impl OtelPublisher {
    /// A publisher that reports to the global meter and tracer providers, looked up (scope
    /// [`SCOPE`]) on first use.
    pub fn new() -> Self {
        Self::from_config(Config {
            meter: None,
            tracer: None,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            max_diff_bytes: DEFAULT_MAX_DIFF_BYTES,
        })
    }

    fn from_config(config: Config) -> Self {
        let tracer = OnceLock::new();
        if let Some(injected) = &config.tracer {
            let _ = tracer.set(injected.clone());
        }
        Self {
            inner: Arc::new(Inner {
                config,
                instruments: OnceLock::new(),
                tracer,
                cache: RwLock::new(Cache::default()),
            }),
        }
    }

    fn reconfigure(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.inner.config.clone();
        change(&mut config);
        Self::from_config(config)
    }

    /// Records metrics with `meter` instead of the global meter provider's. The instruments
    /// are still created on first use.
    pub fn with_meter(self, meter: Meter) -> Self {
        self.reconfigure(|config| config.meter = Some(meter))
    }

    /// Records spans with `tracer` (any [`Tracer`], e.g. an SDK tracer) instead of the global
    /// tracer provider's.
    pub fn with_tracer<T>(self, tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        let tracer = Arc::new(BoxedTracer::new(Box::new(tracer)));
        self.reconfigure(|config| config.tracer = Some(tracer))
    }

    /// The bucket boundaries of [`DURATION_METRIC`], in seconds (default
    /// [`DEFAULT_DURATION_BUCKETS`]). Boundaries that are not finite are dropped, the rest
    /// sorted and deduplicated.
    pub fn with_duration_buckets(self, boundaries: impl Into<Vec<f64>>) -> Self {
        let mut boundaries: Vec<f64> = boundaries.into();
        boundaries.retain(|b| b.is_finite());
        boundaries.sort_by(f64::total_cmp);
        boundaries.dedup();
        self.reconfigure(|config| config.buckets = boundaries)
    }

    /// Caps the `darklaunch.diff` attribute of a mismatch event at `bytes` bytes of compact
    /// JSON, cut at a character boundary (default [`DEFAULT_MAX_DIFF_BYTES`]); `0` leaves the
    /// attribute out. Paths and kinds are reported either way.
    pub fn with_max_diff_bytes(self, bytes: usize) -> Self {
        self.reconfigure(|config| config.max_diff_bytes = bytes)
    }
}

impl<T, E> Publisher<T, E> for OtelPublisher {
    fn publish(&self, result: &ExperimentResult<T, E>) {
        let inner = &*self.inner;
        let instruments = inner.instruments();
        let tracer = inner.tracer();

        let (span, missed) = {
            let cache = inner.cache.read().unwrap_or_else(|e| e.into_inner());
            let missed = record_metrics(instruments, &cache, result);
            let experiment = match cache.experiments.get(result.name()) {
                Some(attrs) => attrs.name.clone(),
                None => experiment_value(result.name()),
            };
            let mut span = start_span(tracer, experiment, result);
            let missed_keys = match span.as_mut() {
                Some((span, end)) => {
                    annotate_span(span, &cache, result, inner.config.max_diff_bytes, *end)
                }
                None => false,
            };
            let missed =
                (missed && !cache.behaviors_full()) || (missed_keys && !cache.context_keys_full());
            (span, missed)
        };
        // Ended outside the lock: a simple span processor exports right here.
        if let Some((mut span, end)) = span {
            span.end_with_timestamp(end);
        }
        if missed {
            let mut cache = inner.cache.write().unwrap_or_else(|e| e.into_inner());
            cache.fill(result);
        }
    }

    fn shed(&self, experiment: &str) {
        let inner = &*self.inner;
        let instruments = inner.instruments();
        let missed = {
            let cache = inner.cache.read().unwrap_or_else(|e| e.into_inner());
            match cache.experiments.get(experiment) {
                Some(attrs) => {
                    instruments.runs.add(1, &attrs.shed);
                    false
                }
                None => {
                    let name = experiment_value(experiment);
                    instruments.runs.add(1, &shed_attrs(&name));
                    !cache.behaviors_full()
                }
            }
        };
        if missed {
            let mut cache = inner.cache.write().unwrap_or_else(|e| e.into_inner());
            cache.experiment(experiment);
        }
    }
}

impl Inner {
    fn instruments(&self) -> &Instruments {
        self.instruments.get_or_init(|| {
            let meter = match &self.config.meter {
                Some(meter) => meter.clone(),
                None => global::meter_with_scope(scope()),
            };
            Instruments {
                runs: meter
                    .u64_counter(RUNS_METRIC)
                    .with_unit("{run}")
                    .with_description(
                        "Comparisons of a candidate with the control, by outcome; shed runs \
                         counted once each with an empty candidate",
                    )
                    .build(),
                duration: meter
                    .f64_histogram(DURATION_METRIC)
                    .with_unit("s")
                    .with_description("Duration of each behaviour (control or candidate) of a run")
                    .with_boundaries(self.config.buckets.clone())
                    .build(),
            }
        })
    }

    fn tracer(&self) -> &BoxedTracer {
        self.tracer
            .get_or_init(|| Arc::new(global::tracer_with_scope(scope())))
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Records one run's metrics; returns whether an attribute set was missing from the cache.
fn record_metrics<T, E>(
    instruments: &Instruments,
    cache: &Cache,
    result: &ExperimentResult<T, E>,
) -> bool {
    let experiment = cache.experiments.get(result.name());
    let mut missed = experiment.is_none();
    let mut name = None;
    let mut behavior = |behavior: &str, record: &mut dyn FnMut(&BehaviorAttrs)| match experiment
        .and_then(|e| e.behaviors.get(behavior))
    {
        Some(attrs) => record(attrs),
        None => {
            missed = true;
            let name = name.get_or_insert_with(|| match experiment {
                Some(e) => e.name.clone(),
                None => experiment_value(result.name()),
            });
            record(&BehaviorAttrs::new(name, behavior));
        }
    };

    let control = result.control();
    behavior(control.name(), &mut |attrs| {
        instruments
            .duration
            .record(control.duration().as_secs_f64(), &attrs.duration)
    });
    for candidate in result.candidates() {
        behavior(candidate.name(), &mut |attrs| {
            instruments
                .runs
                .add(1, &attrs.runs[verdict_index(candidate.verdict())]);
            instruments.duration.record(
                candidate.observation().duration().as_secs_f64(),
                &attrs.duration,
            );
        });
    }
    missed
}

/// Starts the run's span; `None` if the tracer does not record it.
fn start_span<T, E>(
    tracer: &BoxedTracer,
    experiment: Value,
    result: &ExperimentResult<T, E>,
) -> Option<(global::BoxedSpan, SystemTime)> {
    let end = crate::real_clock::wall();
    let longest = result
        .candidates()
        .iter()
        .map(|c| c.observation().duration())
        .fold(result.control().duration(), Duration::max);
    let start = end.checked_sub(longest).unwrap_or(end);
    let builder = SpanBuilder::from_name(SPAN_NAME)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes([KeyValue::new("darklaunch.experiment", experiment)]);
    let mut span = tracer.build(builder);
    if span.is_recording() {
        Some((span, end))
    } else {
        span.end_with_timestamp(end);
        None
    }
}

/// Adds the run's attributes and mismatch events to a recording span; returns whether a
/// context key was missing from the cache.
fn annotate_span<T, E>(
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
        #[cfg(feature = "insight")]
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

fn context_key(key: &str) -> Key {
    let mut name = String::with_capacity("darklaunch.context.".len() + key.len());
    name.push_str("darklaunch.context.");
    name.push_str(key);
    Key::from(Arc::<str>::from(name))
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
#[cfg(feature = "insight")]
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

fn experiment_value(name: &str) -> Value {
    Value::from(Arc::<str>::from(name))
}

fn shed_attrs(experiment: &Value) -> [KeyValue; 3] {
    [
        KeyValue::new(EXPERIMENT, experiment.clone()),
        KeyValue::new(CANDIDATE, ""),
        KeyValue::new(OUTCOME, SHED_OUTCOME),
    ]
}

/// Attribute sets, built once per experiment, behaviour and context key.
#[derive(Default)]
struct Cache {
    experiments: HashMap<Box<str>, ExperimentAttrs>,
    behaviors: usize,
    context_keys: HashMap<Box<str>, Key>,
}

struct ExperimentAttrs {
    name: Value,
    shed: [KeyValue; 3],
    behaviors: HashMap<Box<str>, BehaviorAttrs>,
}

struct BehaviorAttrs {
    /// `experiment`, `behavior`.
    duration: [KeyValue; 2],
    /// `experiment`, `candidate`, `outcome`, by [`verdict_index`].
    runs: [[KeyValue; 3]; 6],
}

impl BehaviorAttrs {
    fn new(experiment: &Value, behavior: &str) -> Self {
        let behavior = Value::from(Arc::<str>::from(behavior));
        Self {
            duration: [
                KeyValue::new(EXPERIMENT, experiment.clone()),
                KeyValue::new(BEHAVIOR, behavior.clone()),
            ],
            runs: VERDICTS.map(|verdict| {
                [
                    KeyValue::new(EXPERIMENT, experiment.clone()),
                    KeyValue::new(CANDIDATE, behavior.clone()),
                    KeyValue::new(OUTCOME, verdict.as_str()),
                ]
            }),
        }
    }
}

impl Cache {
    /// Whether no more experiments or behaviours are cached.
    fn behaviors_full(&self) -> bool {
        self.behaviors >= MAX_CACHED_BEHAVIORS
    }

    fn context_keys_full(&self) -> bool {
        self.context_keys.len() >= MAX_CACHED_CONTEXT_KEYS
    }

    /// The experiment's entry, made if missing and the cache is not full.
    fn experiment(&mut self, experiment: &str) -> Option<&mut ExperimentAttrs> {
        if !self.experiments.contains_key(experiment) {
            if self.behaviors_full() {
                return None;
            }
            self.behaviors += 1;
            let name = experiment_value(experiment);
            let attrs = ExperimentAttrs {
                shed: shed_attrs(&name),
                name,
                behaviors: HashMap::new(),
            };
            self.experiments.insert(experiment.into(), attrs);
        }
        self.experiments.get_mut(experiment)
    }

    /// Caches what `result` needs, within the caps.
    fn fill<T, E>(&mut self, result: &ExperimentResult<T, E>) {
        self.fill_behaviors(result);
        for (key, _) in result.context().iter() {
            if self.context_keys_full() {
                break;
            }
            if !self.context_keys.contains_key(key) {
                self.context_keys.insert(key.into(), context_key(key));
            }
        }
    }

    fn fill_behaviors<T, E>(&mut self, result: &ExperimentResult<T, E>) {
        if self.experiment(result.name()).is_none() {
            return;
        }
        let mut behaviors = self.behaviors;
        let Some(experiment) = self.experiments.get_mut(result.name()) else {
            return;
        };
        let names = std::iter::once(result.control().name())
            .chain(result.candidates().iter().map(|c| c.name()));
        for name in names {
            if behaviors >= MAX_CACHED_BEHAVIORS {
                break;
            }
            if !experiment.behaviors.contains_key(name) {
                let attrs = BehaviorAttrs::new(&experiment.name, name);
                experiment.behaviors.insert(name.into(), attrs);
                behaviors += 1;
            }
        }
        self.behaviors = behaviors;
    }
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
