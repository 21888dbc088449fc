//! OpenTelemetry metrics and spans.
//!
//! [`OtelPublisher`] turns every sampled run into
//!
//! * metrics, instrument scope `darklaunch`:
//!   * [`darklaunch.runs`](RUNS_METRIC) — a `u64` counter, unit `{run}`, attributes exactly
//!     `experiment`, `candidate` and `outcome`, where `outcome` is one of `match`, `mismatch`,
//!     `ignored`, `noise`, `candidate_error`, `timeout` and `shed`. One increment per candidate
//!     per published run, `outcome` being the verdict's
//!     [`Verdict::as_str`](crate::Verdict::as_str). A shed run has no result and ran no
//!     candidate: it is counted once, with `outcome="shed"` ([`SHED_OUTCOME`]) and
//!     `candidate=""` (which Prometheus shows as no `candidate` label), so that shedding never
//!     inflates a candidate's comparison count. Prometheus sees it as `darklaunch_runs_total`.
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
//! * a span [`darklaunch.experiment`](SPAN_NAME) per published run that the
//!   [`SpanPolicy`] keeps (by default every noteworthy run — a mismatch, noise, a candidate
//!   error or timeout, a failed control, a served fallback — and
//!   [`DEFAULT_MATCH_SPAN_PERCENT`] of the rest). The span is a child of the caller's span,
//!   captured when the run was sampled in ([`crate::trace`]: OpenTelemetry's current context,
//!   the current `tracing` span's with feature `tracing-opentelemetry`, or a parent given to
//!   the seam, such as the shadow layer's request `traceparent`), in every run form, detached
//!   ones included although they are published on a background worker; a run outside any
//!   trace is a root span. It starts when the run was sampled in and ends when its last
//!   behaviour finished, by the wall clock (not when it was published). Attributes:
//!   `darklaunch.experiment`, `darklaunch.matched` (every candidate matched) and every context entry as
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

mod cache;
mod metrics;
mod policy;
mod spans;

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::Meter;
use opentelemetry::trace::{Span as _, Tracer};
use opentelemetry::InstrumentationScope;

pub use metrics::{
    DEFAULT_DURATION_BUCKETS, DURATION_METRIC, GUARD_REARMS_METRIC, GUARD_TRIPS_METRIC,
    RUNS_METRIC, SHED_OUTCOME,
};
pub use policy::{SpanPolicy, DEFAULT_MATCH_SPAN_PERCENT};
pub use spans::{DEFAULT_MAX_DIFF_BYTES, MAX_EVENT_PATHS, MISMATCH_EVENT, NOISE_EVENT, SPAN_NAME};

use crate::observation::ExperimentResult;
use crate::publish::Publisher;
use cache::{experiment_value, Cache};
use metrics::Instruments;

/// The instrument scope (meter and tracer name) of the global fallback.
pub const SCOPE: &str = "darklaunch";

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
    span_policy: SpanPolicy,
}

struct Inner {
    config: Config,
    instruments: OnceLock<Instruments>,
    tracer: OnceLock<Arc<BoxedTracer>>,
    cache: RwLock<Cache>,
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
            .field("span_policy", &config.span_policy)
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
            span_policy: SpanPolicy::default(),
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

    /// Which runs get a span (default [`SpanPolicy::default`]: every noteworthy run and
    /// [`DEFAULT_MATCH_SPAN_PERCENT`] of the others). Metrics count every run either way.
    pub fn with_span_policy(self, policy: SpanPolicy) -> Self {
        self.reconfigure(|config| config.span_policy = policy)
    }
}

impl<T, E> Publisher<T, E> for OtelPublisher {
    fn publish(&self, result: &ExperimentResult<T, E>) {
        let inner = &*self.inner;
        let instruments = inner.instruments();
        let tracer = inner.tracer();

        let (span, missed) = {
            let cache = inner.cache.read().unwrap_or_else(|e| e.into_inner());
            let missed = instruments.record_run(&cache, result);
            let experiment = match cache.experiments.get(result.name()) {
                Some(attrs) => attrs.name.clone(),
                None => experiment_value(result.name()),
            };
            let mut span = inner
                .config
                .span_policy
                .wants(result)
                .then(|| spans::start_span(tracer, experiment, result))
                .flatten();
            let missed_keys = match span.as_mut() {
                Some((span, end)) => {
                    spans::annotate_span(span, &cache, result, inner.config.max_diff_bytes, *end)
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
            instruments.record_shed(&cache, experiment)
        };
        if missed {
            let mut cache = inner.cache.write().unwrap_or_else(|e| e.into_inner());
            cache.experiment(experiment);
        }
    }

    fn guard(&self, event: &crate::guard::GuardEvent) {
        self.inner.instruments().record_guard(event);
    }

    /// Yes: a run's span is a child of the caller's span, with the run's real start and end.
    fn wants_trace(&self) -> bool {
        true
    }

    /// Yes: the span starts and ends with the run.
    fn wants_run_times(&self) -> bool {
        true
    }
}

impl Inner {
    fn instruments(&self) -> &Instruments {
        self.instruments.get_or_init(|| match &self.config.meter {
            Some(meter) => Instruments::new(meter, &self.config.buckets),
            None => Instruments::new(&global::meter_with_scope(scope()), &self.config.buckets),
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
