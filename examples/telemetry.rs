//! Dark-launch a rewritten pricing function and publish every sampled run as OpenTelemetry
//! telemetry: the metrics `darklaunch.runs` and `darklaunch.duration`, and a
//! `darklaunch.experiment` span per run with a `darklaunch.mismatch` event carrying the diff.
//!
//! Where the telemetry goes:
//!
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://localhost:4318`, an OpenTelemetry
//!   Collector, Jaeger, or `otelsink` from `pip install oteltest`): OTLP over HTTP/protobuf to
//!   `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces` and `/v1/metrics`. The exporters read the
//!   standard `OTEL_EXPORTER_OTLP_*` variables themselves (headers, timeout, per-signal
//!   endpoints).
//! * Not set: to standard output, through the `opentelemetry-stdout` exporters.
//!
//! The providers are installed globally and `OtelPublisher::new()` takes its tracer and meter
//! from them; shutting the providers down at the end flushes everything still buffered.
//!
//! Run: `cargo run --all-features --example telemetry`
//! or:  `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --all-features --example telemetry`

use std::error::Error;

use darklaunch::diff::DiffOptions;
use darklaunch::publish::OtelPublisher;
use darklaunch::{Experiment, Sampler};
use opentelemetry::global;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::Serialize;

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

/// Where the exporters send telemetry.
enum Destination {
    Otlp(String),
    Stdout,
}

fn destination() -> Destination {
    match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => Destination::Otlp(endpoint),
        _ => Destination::Stdout,
    }
}

/// Builds the tracer and meter providers for `destination`.
fn providers(
    destination: &Destination,
) -> Result<(SdkTracerProvider, SdkMeterProvider), Box<dyn Error>> {
    let resource = Resource::builder()
        .with_service_name("darklaunch-telemetry-example")
        .build();
    let tracers = SdkTracerProvider::builder().with_resource(resource.clone());
    let meters = SdkMeterProvider::builder().with_resource(resource);
    Ok(match destination {
        Destination::Otlp(_) => {
            // The builders resolve OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces, /v1/metrics).
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?;
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?;
            (
                tracers.with_batch_exporter(spans).build(),
                meters.with_periodic_exporter(metrics).build(),
            )
        }
        Destination::Stdout => (
            tracers
                .with_batch_exporter(opentelemetry_stdout::SpanExporter::default())
                .build(),
            meters
                .with_periodic_exporter(opentelemetry_stdout::MetricExporter::default())
                .build(),
        ),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let destination = destination();
    let (tracer_provider, meter_provider) = providers(&destination)?;
    // Installed before the publisher makes its first instrument: instruments made from the
    // global no-op provider would stay no-ops.
    global::set_tracer_provider(tracer_provider.clone());
    global::set_meter_provider(meter_provider.clone());

    let experiment: Experiment<Quote> = Experiment::builder("pricing-v2")
        // A sticky 20 % of carts: the same carts on every instance and after restarts.
        .sampler(Sampler::keyed(20.0))
        .diff(DiffOptions::default())
        .publisher(OtelPublisher::new())
        .build()?;

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

    // Flush: export the spans still batched and a last collection of the metrics.
    let traces = tracer_provider.shutdown();
    let metrics = meter_provider.shutdown();

    let stats = experiment.stats();
    let to = match &destination {
        Destination::Otlp(endpoint) => format!("OTLP/HTTP {endpoint}"),
        Destination::Stdout => "stdout".to_owned(),
    };
    println!(
        "experiment \"{}\": runs {} sampled {} matched {} mismatched {} published {} \
         reconciles {} (telemetry to {to})",
        experiment.name(),
        stats.runs,
        stats.sampled,
        stats.matched,
        stats.mismatched,
        stats.published,
        stats.reconciles(),
    );
    traces?;
    metrics?;
    Ok(())
}
