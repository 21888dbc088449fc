//! What publishers cost: a matching run with every telemetry publisher attached against the
//! same run with none (the match path should cost next to nothing extra: no diff, no
//! serialization, no formatting), and the cost of one mismatch publication (diff, tracing
//! events, a JSON line, metrics and a span).
//!
//! The span policy: a matching run with the OpenTelemetry publisher (SDK meter and tracer) and
//! the default policy (a span for 1 % of matching runs), against the same publisher with a
//! span for every run, as before span policies; both inside a request span, so the run's
//! trace is captured from the caller's context.
//!
//! Run: `cargo bench --all-features --bench publish`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use darklaunch::diff::DiffOptions;
use darklaunch::publish::otel::SpanPolicy;
use darklaunch::publish::{JsonLinesPublisher, OtelPublisher, TracingPublisher};
use darklaunch::{Experiment, Sampler};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::testing::trace::NoopSpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    sku: u32,
    items: Vec<u32>,
    total_cents: u64,
    currency: &'static str,
}

fn quote(total_cents: u64) -> Quote {
    Quote {
        sku: 42,
        items: vec![1, 2, 3, 4],
        total_cents,
        currency: "EUR",
    }
}

struct Telemetry {
    meters: SdkMeterProvider,
    tracers: SdkTracerProvider,
}

fn telemetry() -> Telemetry {
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
        .with_interval(Duration::from_secs(3600))
        .build();
    Telemetry {
        meters: SdkMeterProvider::builder().with_reader(reader).build(),
        // Spans are built, processed and handed to an exporter that drops them: an in-memory
        // exporter would keep every span, and its growing store would be measured too.
        tracers: SdkTracerProvider::builder()
            .with_simple_exporter(NoopSpanExporter::new())
            .build(),
    }
}

fn experiment(name: &str, with_publishers: Option<&Telemetry>) -> Experiment<Quote> {
    let builder = Experiment::<Quote>::builder(name)
        .sampler(Sampler::always())
        .randomize_order(false)
        .diff(DiffOptions::default());
    let builder = match with_publishers {
        None => builder,
        Some(telemetry) => builder
            .publisher(TracingPublisher::new())
            .publisher(JsonLinesPublisher::new(std::io::sink()))
            .publisher(
                OtelPublisher::new()
                    .with_meter(telemetry.meters.meter("darklaunch"))
                    .with_tracer(telemetry.tracers.tracer("darklaunch")),
            ),
    };
    builder.build().expect("valid configuration")
}

type Builder = darklaunch::ExperimentBuilder<Quote, std::convert::Infallible>;

/// An experiment like the others with just the publisher `add` attaches.
fn with_one(name: &str, add: impl FnOnce(Builder) -> Builder) -> Experiment<Quote> {
    add(Experiment::<Quote>::builder(name)
        .randomize_order(false)
        .diff(DiffOptions::default()))
    .build()
    .expect("valid configuration")
}

fn publishers(c: &mut Criterion) {
    // Logs at INFO: the match events (DEBUG) are disabled, the mismatch events (WARN) are not,
    // and they go nowhere (a sink writer), as in a service that ships logs elsewhere.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let telemetry = telemetry();
    let bare = experiment("bench-bare", None);
    let observed = experiment("bench-observed", Some(&telemetry));

    let mut group = c.benchmark_group("publish");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("match/no_publishers", |b| {
        b.iter(|| bare.run(|| quote(100), || quote(100)))
    });
    group.bench_function("match/all_publishers", |b| {
        b.iter(|| observed.run(|| quote(100), || quote(100)))
    });
    let tracing_only = with_one("bench-tracing", |b| b.publisher(TracingPublisher::new()));
    let jsonl_only = with_one("bench-jsonl", |b| {
        b.publisher(JsonLinesPublisher::new(std::io::sink()))
    });
    let meter = telemetry.meters.meter("darklaunch");
    let metrics_only = with_one("bench-metrics", |b| {
        b.publisher(OtelPublisher::new().with_meter(meter))
    });
    for (name, experiment) in [
        ("tracing", &tracing_only),
        ("jsonl", &jsonl_only),
        ("otel_metrics", &metrics_only),
    ] {
        group.bench_function(format!("match/{name}_only"), |b| {
            b.iter(|| experiment.run(|| quote(100), || quote(100)))
        });
    }
    let spans = |name: &str, policy: SpanPolicy| {
        let meter = telemetry.meters.meter("darklaunch");
        let tracer = telemetry.tracers.tracer("darklaunch");
        with_one(name, |b| {
            b.publisher(
                OtelPublisher::new()
                    .with_meter(meter)
                    .with_tracer(tracer)
                    .with_span_policy(policy),
            )
        })
    };
    let every_run = spans("bench-spans-every-run", SpanPolicy::every_run());
    let default_policy = spans("bench-spans-default", SpanPolicy::default());
    let app = telemetry.tracers.tracer("app");
    for (name, experiment) in [
        ("otel_span_every_run", &every_run),
        ("otel_span_default_policy", &default_policy),
    ] {
        app.in_span("request", |_| {
            group.bench_function(format!("match/{name}"), |b| {
                b.iter(|| experiment.run(|| quote(100), || quote(100)))
            });
        });
    }
    group.bench_function("mismatch/no_publishers", |b| {
        b.iter(|| bare.run(|| quote(100), || quote(black_box(101))))
    });
    group.bench_function("mismatch/all_publishers", |b| {
        b.iter(|| observed.run(|| quote(100), || quote(black_box(101))))
    });
    group.finish();
}

criterion_group!(benches, publishers);
criterion_main!(benches);
