//! Dark-launch a rewritten pricing function and publish every sampled run as OpenTelemetry
//! telemetry: the metrics `darklaunch.runs` and `darklaunch.duration`, and a
//! `darklaunch.experiment` span per run with a `darklaunch.mismatch` event carrying the diff.
//!
//! Where the telemetry goes is configured as for any OpenTelemetry SDK, with the standard
//! environment variables (read the way `opentelemetry-otlp` 0.33 reads them):
//!
//! * `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` or `http/protobuf` (the default, as the
//!   specification says). `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` and
//!   `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` override it per signal. (`http/json` is not built
//!   in: the example says so and exits 1.)
//! * `OTEL_EXPORTER_OTLP_ENDPOINT`: the receiver's base URL. Over `http/protobuf` each signal
//!   goes to its path under it (`http://localhost:4318` → `http://localhost:4318/v1/traces`
//!   and `/v1/metrics`); over `grpc` the URL is used as it is (`http://localhost:4317`).
//!   Default: `http://localhost:4318` for HTTP, `http://localhost:4317` for gRPC.
//! * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: one signal's
//!   full URL, used as it is.
//! * `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//!   `OTEL_EXPORTER_OTLP_COMPRESSION` (and their per-signal forms) are read by the exporters
//!   themselves.
//!
//! When none of the protocol and endpoint variables is set, the telemetry goes to standard
//! output through the `opentelemetry-stdout` exporters.
//!
//! The providers are installed globally and `OtelPublisher::new()` takes its tracer and meter
//! from them; shutting the providers down at the end flushes everything still buffered. If an
//! export fails, the example says which signal, over which protocol, to which endpoint, and
//! the exporter's error, and exits 1:
//!
//! ```text
//! error: exporting traces over OTLP grpc to http://localhost:4317 failed: ...
//! ```
//!
//! Run: `cargo run --all-features --example telemetry`
//! or:  `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --all-features --example telemetry`
//! or:  `OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run --all-features --example telemetry`
//!
//! (`otelsink` from `pip install oteltest` is a receiver for both protocols, on 4317 and 4318.)

use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use darklaunch::diff::DiffOptions;
use darklaunch::publish::OtelPublisher;
use darklaunch::{Experiment, Sampler, Stats};
use opentelemetry::global;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use serde::Serialize;

/// The service name on the example's resource.
pub const SERVICE_NAME: &str = "darklaunch-telemetry-example";

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    subtotal_cents: u64,
    discount_cents: u64,
    total_cents: u64,
}

/// Today's code: 10 % off carts of five items or more.
fn old_price(items: &[u64]) -> Quote {
    let subtotal: u64 = items.iter().sum();
    let discount = if items.len() >= 5 { subtotal / 10 } else { 0 };
    Quote {
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

/// The rewrite: it rounds the discount to nearest instead of down.
fn new_price(items: &[u64]) -> Quote {
    let subtotal = items.iter().copied().reduce(|a, b| a + b).unwrap_or(0);
    let discount = if items.len() >= 5 {
        (subtotal + 5) / 10
    } else {
        0
    };
    Quote {
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration from the environment
// ---------------------------------------------------------------------------------------------

/// One kind of telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    fn env(self, setting: &str) -> String {
        format!(
            "OTEL_EXPORTER_OTLP_{}_{setting}",
            self.name().to_uppercase()
        )
    }
}

/// The OTLP protocols this example is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL` that selects it.
    pub fn name(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Where one signal goes: protocol and full endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub signal: Signal,
    pub protocol: OtlpProtocol,
    pub endpoint: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} over OTLP {} to {}",
            self.signal.name(),
            self.protocol.name(),
            self.endpoint
        )
    }
}

/// Where the exporters send telemetry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Otlp { traces: Target, metrics: Target },
    Stdout,
}

/// Reads the destination from environment variables, looked up through `env` (in `main`, the
/// process's environment). An empty variable counts as unset.
pub fn destination(env: &dyn Fn(&str) -> Option<String>) -> Result<Destination, TelemetryError> {
    let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let configured = [
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_string(),
        "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
        Signal::Traces.env("PROTOCOL"),
        Signal::Traces.env("ENDPOINT"),
        Signal::Metrics.env("PROTOCOL"),
        Signal::Metrics.env("ENDPOINT"),
    ]
    .iter()
    .any(|name| var(name).is_some());
    if !configured {
        return Ok(Destination::Stdout);
    }
    let target = |signal: Signal| -> Result<Target, TelemetryError> {
        // The per-signal variable wins, then the general one, then the specification's default.
        let (variable, value) = [signal.env("PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL".into()]
            .into_iter()
            .find_map(|name| var(&name).map(|value| (name, value)))
            .unwrap_or_else(|| ("(default)".into(), "http/protobuf".into()));
        let protocol = match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            "http/json" => {
                return Err(TelemetryError::Config(format!(
                    "{variable}=http/json: this example is built without OTLP/HTTP JSON; \
                     use grpc or http/protobuf"
                )))
            }
            _ => {
                return Err(TelemetryError::Config(format!(
                    "{variable}={value:?} is not an OTLP protocol (grpc, http/protobuf)"
                )))
            }
        };
        let endpoint = if let Some(endpoint) = var(&signal.env("ENDPOINT")) {
            endpoint.trim().to_string()
        } else {
            let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
            match protocol {
                // gRPC has no path per signal: the service name routes the call.
                OtlpProtocol::Grpc => base.unwrap_or_else(|| "http://localhost:4317".into()),
                OtlpProtocol::HttpProtobuf => {
                    let base = base.unwrap_or_else(|| "http://localhost:4318".into());
                    let base = base.trim();
                    let base = base.strip_suffix('/').unwrap_or(base);
                    format!("{base}/v1/{}", signal.name())
                }
            }
            .trim()
            .to_string()
        };
        Ok(Target {
            signal,
            protocol,
            endpoint,
        })
    };
    Ok(Destination::Otlp {
        traces: target(Signal::Traces)?,
        metrics: target(Signal::Metrics)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Errors that say what failed and where
// ---------------------------------------------------------------------------------------------

/// What went wrong, with the signal, protocol and endpoint it concerns.
#[derive(Debug)]
pub enum TelemetryError {
    /// The environment names no usable configuration.
    Config(String),
    /// An exporter could not be built.
    Build { target: Target, error: String },
    /// Exports failed (the first failure of each signal), or a pipeline failed to shut down.
    Export(Vec<(Target, String)>),
    /// The experiment could not be built.
    Experiment(String),
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelemetryError::Config(message) => write!(f, "OTLP configuration: {message}"),
            TelemetryError::Build { target, error } => {
                write!(f, "building the exporter of {target} failed: {error}")
            }
            TelemetryError::Export(failures) => {
                for (i, (target, error)) in failures.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "exporting {target} failed: {error}")?;
                }
                Ok(())
            }
            TelemetryError::Experiment(message) => write!(f, "experiment: {message}"),
        }
    }
}

impl Error for TelemetryError {}

/// The first export error of each signal.
type Failures = Arc<Mutex<Vec<(Target, String)>>>;

fn record(failures: &Failures, target: &Target, error: String) {
    let mut failures = failures.lock().unwrap_or_else(PoisonError::into_inner);
    if !failures.iter().any(|(t, _)| t.signal == target.signal) {
        failures.push((target.clone(), error));
    }
}

/// An exporter that remembers where it sends and the first error it got: the SDK's processors
/// only log failed exports, and their shutdown error does not say what failed.
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    target: Target,
    failures: Failures,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(error) = &result {
            record(&self.failures, &self.target, error.to_string());
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Reporting<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if let Err(error) = &result {
            record(&self.failures, &self.target, error.to_string());
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

// ---------------------------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------------------------

/// The tracer and meter providers, what they export to, and what keeps the gRPC transport
/// running.
pub struct Providers {
    pub tracers: SdkTracerProvider,
    pub meters: SdkMeterProvider,
    destination: Destination,
    failures: Failures,
    /// tonic's channels run on a tokio runtime; it must outlive the providers' shutdown.
    runtime: Option<tokio::runtime::Runtime>,
}

fn protocol(protocol: OtlpProtocol) -> Protocol {
    match protocol {
        OtlpProtocol::Grpc => Protocol::Grpc,
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
    }
}

fn span_exporter(target: &Target) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let built = match target.protocol {
        OtlpProtocol::Grpc => builder
            .with_tonic()
            .with_protocol(protocol(target.protocol))
            .with_endpoint(&target.endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(protocol(target.protocol))
            .with_endpoint(&target.endpoint)
            .build(),
    };
    built.map_err(|error| TelemetryError::Build {
        target: target.clone(),
        error: error.to_string(),
    })
}

fn metric_exporter(target: &Target) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
    let builder = opentelemetry_otlp::MetricExporter::builder();
    let built = match target.protocol {
        OtlpProtocol::Grpc => builder
            .with_tonic()
            .with_protocol(protocol(target.protocol))
            .with_endpoint(&target.endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(protocol(target.protocol))
            .with_endpoint(&target.endpoint)
            .build(),
    };
    built.map_err(|error| TelemetryError::Build {
        target: target.clone(),
        error: error.to_string(),
    })
}

impl Providers {
    /// Builds the tracer and meter providers for `destination`.
    pub fn new(destination: Destination) -> Result<Self, TelemetryError> {
        let resource = Resource::builder().with_service_name(SERVICE_NAME).build();
        let tracers = SdkTracerProvider::builder().with_resource(resource.clone());
        let meters = SdkMeterProvider::builder().with_resource(resource);
        let failures = Failures::default();
        let (tracers, meters, runtime) = match &destination {
            Destination::Otlp { traces, metrics } => {
                // The gRPC exporters build tonic channels, which spawn onto the current tokio
                // runtime; the HTTP ones use a blocking client that runs its own.
                let runtime = [traces, metrics]
                    .iter()
                    .any(|t| t.protocol == OtlpProtocol::Grpc)
                    .then(|| {
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(1)
                            .thread_name("otlp-grpc")
                            .enable_all()
                            .build()
                    })
                    .transpose()
                    .map_err(|error| {
                        TelemetryError::Config(format!("a tokio runtime for gRPC: {error}"))
                    })?;
                let (spans, metric) = {
                    let _entered = runtime.as_ref().map(|r| r.enter());
                    (span_exporter(traces)?, metric_exporter(metrics)?)
                };
                let spans = Reporting {
                    inner: spans,
                    target: traces.clone(),
                    failures: Arc::clone(&failures),
                };
                let metric = Reporting {
                    inner: metric,
                    target: metrics.clone(),
                    failures: Arc::clone(&failures),
                };
                (
                    tracers.with_batch_exporter(spans).build(),
                    meters.with_periodic_exporter(metric).build(),
                    runtime,
                )
            }
            Destination::Stdout => (
                tracers
                    .with_batch_exporter(opentelemetry_stdout::SpanExporter::default())
                    .build(),
                meters
                    .with_periodic_exporter(opentelemetry_stdout::MetricExporter::default())
                    .build(),
                None,
            ),
        };
        Ok(Self {
            tracers,
            meters,
            destination,
            failures,
            runtime,
        })
    }

    /// Flushes and shuts both providers down: the spans still batched and a last collection
    /// of the metrics are exported. `Err` names each signal whose export failed.
    pub fn shutdown(self) -> Result<(), TelemetryError> {
        let traces = self.tracers.shutdown();
        let metrics = self.meters.shutdown();
        drop(self.runtime);
        let mut failures =
            std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner));
        if let Destination::Otlp {
            traces: traces_target,
            metrics: metrics_target,
        } = &self.destination
        {
            // A failed shutdown without a failed export (say, a timeout) is reported too.
            for (target, result) in [(traces_target, traces), (metrics_target, metrics)] {
                if let Err(error) = result {
                    if !failures.iter().any(|(t, _)| t.signal == target.signal) {
                        failures.push((target.clone(), format!("shutdown: {error}")));
                    }
                }
            }
        } else {
            for result in [traces, metrics] {
                result.map_err(|error| TelemetryError::Config(format!("stdout: {error}")))?;
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TelemetryError::Export(failures))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The experiment
// ---------------------------------------------------------------------------------------------

/// Runs the experiment on 400 carts, publishing through `publisher`.
pub fn run_experiment(publisher: OtelPublisher) -> Result<(String, Stats), TelemetryError> {
    let experiment: Experiment<Quote> = Experiment::builder("pricing-v2")
        // A sticky 20 % of carts: the same carts on every instance and after restarts.
        .sampler(Sampler::keyed(20.0))
        .diff(DiffOptions::default())
        .publisher(publisher)
        .build()
        .map_err(|error| TelemetryError::Experiment(error.to_string()))?;

    let mut rng = fastrand::Rng::with_seed(7);
    for cart in 0..400u32 {
        let items: Vec<u64> = (0..rng.usize(1..9)).map(|_| rng.u64(100..5_000)).collect();
        let quote = experiment
            .trial()
            .key(cart)
            .context("cart", cart)
            .control(|| old_price(&items))
            .candidate("v2", || new_price(&items))
            .run();
        // The caller always gets today's answer.
        assert_eq!(quote, old_price(&items));
    }
    Ok((experiment.name().to_string(), experiment.stats()))
}

/// The whole example: configuration from `env`, providers (installed globally when `global`,
/// else injected into the publisher), the experiment, the flush. Returns the summary line.
pub fn run(env: &dyn Fn(&str) -> Option<String>, global: bool) -> Result<String, TelemetryError> {
    let destination = destination(env)?;
    let providers = Providers::new(destination.clone())?;
    let publisher = if global {
        // Installed before the publisher makes its first instrument: instruments made from the
        // global no-op provider would stay no-ops.
        global::set_tracer_provider(providers.tracers.clone());
        global::set_meter_provider(providers.meters.clone());
        OtelPublisher::new()
    } else {
        OtelPublisher::new()
            .with_tracer(providers.tracers.tracer("darklaunch"))
            .with_meter(providers.meters.meter("darklaunch"))
    };
    let experiment = run_experiment(publisher);
    let flushed = providers.shutdown();
    let (name, stats) = experiment?;
    flushed?;
    let to = match &destination {
        Destination::Otlp { traces, metrics } => format!("{traces}; {metrics}"),
        Destination::Stdout => "stdout".to_owned(),
    };
    Ok(format!(
        "experiment \"{name}\": runs {} sampled {} matched {} mismatched {} published {} \
         reconciles {} (telemetry: {to})",
        stats.runs,
        stats.sampled,
        stats.matched,
        stats.mismatched,
        stats.published,
        stats.reconciles(),
    ))
}

fn main() -> ExitCode {
    match run(&|name| std::env::var(name).ok(), true) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            for line in error.to_string().lines() {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
