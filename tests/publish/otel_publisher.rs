//! `OtelPublisher` against opentelemetry_sdk's in-memory exporters: metric names, units,
//! attribute sets and values per outcome; the span of a run with its context and the mismatch
//! event carrying the diff; the lazy fallback to the global providers.

#![cfg(all(feature = "opentelemetry", feature = "serde"))]

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use darklaunch::diff::DiffOptions;
use darklaunch::publish::otel::{SpanPolicy, DEFAULT_DURATION_BUCKETS};
use darklaunch::publish::OtelPublisher;
use darklaunch::{Clock, Experiment, ManualClock};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    sku: u32,
    total_cents: u64,
    currency: &'static str,
}

fn quote(total_cents: u64) -> Quote {
    Quote {
        sku: 42,
        total_cents,
        currency: "EUR",
    }
}

struct Telemetry {
    meters: SdkMeterProvider,
    metrics: InMemoryMetricExporter,
    tracers: SdkTracerProvider,
    spans: InMemorySpanExporter,
}

impl Telemetry {
    fn new() -> Self {
        let metrics = InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metrics.clone())
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        let spans = InMemorySpanExporter::default();
        let tracers = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        Self {
            meters,
            metrics,
            tracers,
            spans,
        }
    }

    /// A span for every run: these tests read the spans of matching runs too.
    fn publisher(&self) -> OtelPublisher {
        OtelPublisher::new()
            .with_span_policy(SpanPolicy::every_run())
            .with_meter(self.meters.meter("darklaunch"))
            .with_tracer(self.tracers.tracer("darklaunch"))
    }

    /// Flushes both providers and reads what they exported.
    fn collect(&self) -> (Metrics, Vec<SpanData>) {
        self.meters.force_flush().expect("metrics flush");
        self.tracers.force_flush().expect("spans flush");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        // Cumulative temporality: the last export holds everything.
        let last = exported.last().expect("one metrics export");
        (
            Metrics::from(last),
            self.spans.get_finished_spans().unwrap(),
        )
    }
}

type Attributes = BTreeMap<String, String>;

#[derive(Debug, Default)]
struct Metrics {
    /// (scope, name, unit) of every metric exported.
    described: Vec<(String, String, String)>,
    /// `darklaunch.runs` data points: attributes → value.
    runs: BTreeMap<Attributes, u64>,
    /// `darklaunch.duration` data points: attributes → (count, sum, bounds, bucket counts).
    durations: BTreeMap<Attributes, (u64, f64, Vec<f64>, Vec<u64>)>,
    /// `darklaunch.guard.trips` and `darklaunch.guard.rearms` points: (metric, attributes) →
    /// value.
    guards: BTreeMap<(String, Attributes), u64>,
}

fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Attributes {
    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl From<&ResourceMetrics> for Metrics {
    fn from(resource: &ResourceMetrics) -> Self {
        let mut metrics = Metrics::default();
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                metrics.described.push((
                    scope.scope().name().to_string(),
                    metric.name().to_string(),
                    metric.unit().to_string(),
                ));
                match (metric.name(), metric.data()) {
                    ("darklaunch.runs", AggregatedMetrics::U64(MetricData::Sum(sum))) => {
                        assert!(sum.is_monotonic());
                        for point in sum.data_points() {
                            let previous = metrics
                                .runs
                                .insert(attributes(point.attributes()), point.value());
                            assert!(previous.is_none(), "one point per attribute set");
                        }
                    }
                    (
                        "darklaunch.duration",
                        AggregatedMetrics::F64(MetricData::Histogram(histogram)),
                    ) => {
                        for point in histogram.data_points() {
                            metrics.durations.insert(
                                attributes(point.attributes()),
                                (
                                    point.count(),
                                    point.sum(),
                                    point.bounds().collect(),
                                    point.bucket_counts().collect(),
                                ),
                            );
                        }
                    }
                    (
                        name @ ("darklaunch.guard.trips" | "darklaunch.guard.rearms"),
                        AggregatedMetrics::U64(MetricData::Sum(sum)),
                    ) => {
                        assert!(sum.is_monotonic());
                        for point in sum.data_points() {
                            metrics.guards.insert(
                                (name.to_string(), attributes(point.attributes())),
                                point.value(),
                            );
                        }
                    }
                    (name, data) => panic!("unexpected metric {name}: {data:?}"),
                }
            }
        }
        metrics
    }
}

fn span_attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn event_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(Array::String(items))) => items.iter().map(|s| s.to_string()).collect(),
        other => panic!("expected a string array, got {other:?}"),
    }
}

/// The span whose `darklaunch.context.case` is `case`.
fn span_of<'a>(spans: &'a [SpanData], case: &str) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| {
            span_attribute(s, "darklaunch.context.case") == Some(&Value::from(case.to_string()))
        })
        .collect();
    assert_eq!(found.len(), 1, "one span for case {case}: {spans:#?}");
    found[0]
}

#[test]
fn every_outcome_is_counted_with_bounded_attributes_and_traced_with_context() {
    common::silence_expected_panics(&["candidate exploded"]);
    let telemetry = Telemetry::new();
    let clock = ManualClock::new();
    let began = SystemTime::now();
    let experiment: Experiment<Quote> = Experiment::builder("otel-checkout")
        .publisher(telemetry.publisher())
        .diff(DiffOptions::default())
        .clock(Clock::manual(&clock))
        .candidate_timeout(Duration::from_millis(10))
        .randomize_order(false)
        .max_in_flight(1)
        .ignore(|_, candidate: &Quote| candidate.currency == "XXX")
        .build()
        .unwrap();

    // Three matches; the control takes 2 ms each time.
    for _ in 0..3 {
        let got = experiment
            .trial()
            .context("case", "match")
            .control(|| {
                clock.advance(Duration::from_millis(2));
                quote(100)
            })
            .candidate("candidate", || quote(100))
            .run();
        assert_eq!(got, quote(100));
    }
    // A mismatch of `candidate` beside a matching `v3`, with a user in the context.
    let got = experiment
        .trial()
        .context("case", "mismatch")
        .context("user", "alice")
        .control(|| quote(100))
        .candidate("candidate", || quote(101))
        .candidate("v3", || quote(100))
        .run();
    assert_eq!(got, quote(100));
    // Ignored, panicked, timed out.
    experiment
        .trial()
        .context("case", "ignored")
        .control(|| quote(100))
        .candidate("candidate", || Quote {
            currency: "XXX",
            ..quote(100)
        })
        .run();
    experiment
        .trial()
        .context("case", "panic")
        .control(|| quote(100))
        .candidate("candidate", || -> Quote { panic!("candidate exploded") })
        .run();
    experiment
        .trial()
        .context("case", "timeout")
        .control(|| quote(100))
        .candidate("candidate", || {
            clock.advance(Duration::from_millis(20));
            quote(100)
        })
        .run();
    // A re-entrant run while one is in flight (max_in_flight 1) is shed; the outer run matches.
    experiment
        .trial()
        .context("case", "shed")
        .control(|| quote(5))
        .candidate("candidate", || experiment.run(|| quote(5), || quote(6)))
        .run();

    let stats = experiment.stats();
    assert_eq!(
        (
            stats.matched,
            stats.mismatched,
            stats.ignored,
            stats.candidate_errors,
            stats.timeouts,
            stats.shed,
            stats.published
        ),
        (5, 1, 1, 1, 1, 1, 8)
    );

    let (metrics, spans) = telemetry.collect();

    // Names, units, scope.
    let mut described = metrics.described.clone();
    described.sort();
    assert_eq!(
        described,
        vec![
            (
                "darklaunch".into(),
                "darklaunch.duration".into(),
                "s".into()
            ),
            (
                "darklaunch".into(),
                "darklaunch.runs".into(),
                "{run}".into()
            ),
        ]
    );

    // Counts per (candidate, outcome): exactly these points, nothing else.
    let run = |candidate: &str, outcome: &str| {
        attrs(&[
            ("experiment", "otel-checkout"),
            ("candidate", candidate),
            ("outcome", outcome),
        ])
    };
    let expected: BTreeMap<Attributes, u64> = [
        (run("candidate", "match"), 4),
        (run("v3", "match"), 1),
        (run("candidate", "mismatch"), 1),
        (run("candidate", "ignored"), 1),
        (run("candidate", "candidate_error"), 1),
        (run("candidate", "timeout"), 1),
        (run("", "shed"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(metrics.runs, expected);

    // Durations per behaviour: 8 published runs, `v3` ran once; exact sums (manual clock).
    let behavior = |name: &str| attrs(&[("experiment", "otel-checkout"), ("behavior", name)]);
    let counts: BTreeMap<Attributes, u64> = metrics
        .durations
        .iter()
        .map(|(k, (count, ..))| (k.clone(), *count))
        .collect();
    let expected: BTreeMap<Attributes, u64> = [
        (behavior("control"), 8),
        (behavior("candidate"), 8),
        (behavior("v3"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    let (_, control_sum, bounds, buckets) = &metrics.durations[&behavior("control")];
    assert!((control_sum - 0.006).abs() < 1e-12, "{control_sum}");
    assert_eq!(bounds.as_slice(), DEFAULT_DURATION_BUCKETS);
    // 2 ms lands in (1 ms, 2.5 ms]: bucket index 5; the other five runs took 0 s (bucket 0).
    let mut expected_buckets = vec![0; DEFAULT_DURATION_BUCKETS.len() + 1];
    expected_buckets[0] = 5;
    expected_buckets[5] = 3;
    assert_eq!(buckets, &expected_buckets);
    let (_, candidate_sum, _, _) = &metrics.durations[&behavior("candidate")];
    assert!((candidate_sum - 0.020).abs() < 1e-12, "{candidate_sum}");

    // No metric attribute beyond the allowed keys; context never reaches metrics.
    for key in metrics.runs.keys() {
        let keys: Vec<_> = key.keys().map(String::as_str).collect();
        assert_eq!(keys, ["candidate", "experiment", "outcome"]);
    }
    for key in metrics.durations.keys() {
        let keys: Vec<_> = key.keys().map(String::as_str).collect();
        assert_eq!(keys, ["behavior", "experiment"]);
    }
    let all_values: Vec<&String> = metrics
        .runs
        .keys()
        .chain(metrics.durations.keys())
        .flat_map(|a| a.values())
        .collect();
    assert!(!all_values.iter().any(|v| v.as_str() == "alice"));

    // One span per published run (the shed run has none).
    assert_eq!(spans.len(), 8, "{spans:#?}");
    for span in &spans {
        assert_eq!(span.name, "darklaunch.experiment");
        assert_eq!(span.instrumentation_scope.name(), "darklaunch");
        assert_eq!(
            span_attribute(span, "darklaunch.experiment"),
            Some(&Value::from("otel-checkout"))
        );
    }
    let mismatch = span_of(&spans, "mismatch");
    assert_eq!(
        span_attribute(mismatch, "darklaunch.context.user"),
        Some(&Value::from("alice"))
    );
    assert_eq!(
        span_attribute(mismatch, "darklaunch.matched"),
        Some(&Value::Bool(false))
    );
    assert_eq!(mismatch.events.len(), 1, "{:#?}", mismatch.events);
    let event = &mismatch.events[0];
    assert_eq!(event.name, "darklaunch.mismatch");
    let at = |key| event_attribute(&event.attributes, key);
    assert_eq!(at("darklaunch.candidate"), Some(&Value::from("candidate")));
    assert_eq!(
        at("darklaunch.control.outcome"),
        Some(&Value::from("value"))
    );
    assert_eq!(
        at("darklaunch.candidate.outcome"),
        Some(&Value::from("value"))
    );
    assert_eq!(strings(at("darklaunch.diff.paths")), ["$.total_cents"]);
    assert_eq!(strings(at("darklaunch.diff.kinds")), ["changed"]);
    assert_eq!(at("darklaunch.diff.count"), Some(&Value::I64(1)));
    assert_eq!(at("darklaunch.diff.truncated"), Some(&Value::Bool(false)));
    let json: serde_json::Value =
        serde_json::from_str(&at("darklaunch.diff").expect("diff JSON").to_string()).unwrap();
    assert_eq!(json["omitted"], 0);
    assert_eq!(json["differences"][0]["path"], "$.total_cents");
    assert_eq!(json["differences"][0]["kind"], "changed");
    assert_eq!(json["differences"][0]["control"], 100);
    assert_eq!(json["differences"][0]["candidate"], 101);
    assert!(event.timestamp >= mismatch.start_time && event.timestamp <= mismatch.end_time);

    // Matching, ignored, panicked and timed-out runs carry no mismatch event.
    for case in ["match", "ignored", "panic", "timeout", "shed"] {
        if case == "match" {
            continue; // three spans share it
        }
        let span = span_of(&spans, case);
        assert!(span.events.is_empty(), "{case}: {:#?}", span.events);
        assert_eq!(span_attribute(span, "darklaunch.context.user"), None);
    }
    assert_eq!(
        span_attribute(span_of(&spans, "shed"), "darklaunch.matched"),
        Some(&Value::Bool(true))
    );
    // A span covers the run's real time (the manual clock's durations are not real time):
    // every span starts after the test began, ends after it starts, and before now.
    let now = SystemTime::now();
    for span in &spans {
        assert!(began <= span.start_time, "{span:#?}");
        assert!(
            span.start_time <= span.end_time && span.end_time <= now,
            "{span:#?}"
        );
    }
    let matches: Vec<_> = spans
        .iter()
        .filter(|s| span_attribute(s, "darklaunch.context.case") == Some(&Value::from("match")))
        .collect();
    assert_eq!(matches.len(), 3);
    for span in matches {
        assert_eq!(
            span_attribute(span, "darklaunch.matched"),
            Some(&Value::Bool(true))
        );
    }
}

#[test]
fn the_diff_attribute_is_capped_and_buckets_are_configurable() {
    let telemetry = Telemetry::new();
    let publisher = telemetry
        .publisher()
        .with_max_diff_bytes(40)
        .with_duration_buckets(vec![0.5, f64::NAN, 0.1, 0.5]);
    let experiment: Experiment<Vec<u32>> = Experiment::builder("otel-capped")
        .publisher(publisher)
        .diff(DiffOptions::default())
        .build()
        .unwrap();
    experiment.run(|| vec![1, 2, 3, 4], || vec![9, 9, 9, 9]);

    let (metrics, spans) = telemetry.collect();
    let (count, _, bounds, _) =
        &metrics.durations[&attrs(&[("experiment", "otel-capped"), ("behavior", "control")])];
    assert_eq!((*count, bounds.as_slice()), (1, &[0.1, 0.5][..]));

    assert_eq!(spans.len(), 1);
    let event = &spans[0].events[0];
    let at = |key| event_attribute(&event.attributes, key);
    assert_eq!(
        strings(at("darklaunch.diff.paths")),
        ["$[0]", "$[1]", "$[2]", "$[3]"]
    );
    assert_eq!(at("darklaunch.diff.count"), Some(&Value::I64(4)));
    assert_eq!(at("darklaunch.diff.truncated"), Some(&Value::Bool(true)));
    let cut = at("darklaunch.diff").unwrap().to_string();
    assert_eq!(cut.len(), 40, "{cut}");
    assert!(
        cut.starts_with(r#"{"differences":[{"path":"$[0]","#),
        "{cut}"
    );
}

#[test]
fn the_global_providers_are_looked_up_on_first_use_not_at_construction() {
    // Made before any global provider exists (a no-op one is in place).
    let experiment: Experiment<u32> = Experiment::builder("otel-global")
        .publisher(OtelPublisher::new().with_span_policy(SpanPolicy::every_run()))
        .build()
        .unwrap();

    let telemetry = Telemetry::new();
    opentelemetry::global::set_meter_provider(telemetry.meters.clone());
    opentelemetry::global::set_tracer_provider(telemetry.tracers.clone());

    let before = SystemTime::now();
    experiment.run(|| 1, || 2);
    experiment.run(|| 1, || 1);

    let (metrics, spans) = telemetry.collect();
    let run = |outcome: &str| {
        attrs(&[
            ("experiment", "otel-global"),
            ("candidate", "candidate"),
            ("outcome", outcome),
        ])
    };
    let expected: BTreeMap<Attributes, u64> = [(run("match"), 1), (run("mismatch"), 1)]
        .into_iter()
        .collect();
    assert_eq!(metrics.runs, expected);
    assert!(metrics
        .described
        .iter()
        .all(|(scope, _, _)| scope == "darklaunch"));
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.end_time >= before));
    assert_eq!(
        spans.iter().map(|s| s.events.len()).sum::<usize>(),
        1,
        "one mismatch event"
    );
}

/// Noise calibration: a run that differs only on a noise path is counted with outcome `noise`
/// and traced with a `darklaunch.noise` event; a real mismatch's event carries each path's raw
/// and noise counts.
#[cfg(feature = "insight")]
#[test]
fn noise_is_an_outcome_and_events_carry_both_counts() {
    use darklaunch::noise::NoiseCalibration;

    #[derive(Clone, Debug, PartialEq, Serialize)]
    struct Stamped {
        total: u64,
        request_id: u64,
    }

    let telemetry = Telemetry::new();
    let experiment: Experiment<Stamped> = Experiment::builder("otel-noise")
        .publisher(telemetry.publisher())
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .build()
        .unwrap();
    let mut ids = 0..;
    let mut stamped = |total| Stamped {
        total,
        request_id: ids.next().unwrap(),
    };
    for total in 0..4 {
        let (control, again, candidate) = (
            stamped(total),
            stamped(total),
            stamped(total + u64::from(total == 3)),
        );
        experiment
            .trial()
            .control(|| control)
            .calibration(|| again)
            .candidate("v2", || candidate)
            .run();
    }

    let (metrics, spans) = telemetry.collect();
    let runs = |outcome| {
        metrics.runs.get(&attrs(&[
            ("experiment", "otel-noise"),
            ("candidate", "v2"),
            ("outcome", outcome),
        ]))
    };
    assert_eq!(runs("noise"), Some(&3));
    assert_eq!(runs("mismatch"), Some(&1));
    assert_eq!(spans.len(), 4);
    let events: Vec<_> = spans.iter().flat_map(|span| span.events.iter()).collect();
    let noise_events = events
        .iter()
        .filter(|e| e.name == "darklaunch.noise")
        .count();
    assert_eq!(noise_events, 3);
    let mismatch = events
        .iter()
        .find(|e| e.name == "darklaunch.mismatch")
        .expect("a mismatch event");
    let at = |key| event_attribute(&mismatch.attributes, key);
    assert_eq!(
        strings(at("darklaunch.diff.paths")),
        ["$.request_id", "$.total"]
    );
    assert_eq!(
        at("darklaunch.noise.raw"),
        Some(&Value::Array(Array::I64(vec![4, 1])))
    );
    assert_eq!(
        at("darklaunch.noise.count"),
        Some(&Value::Array(Array::I64(vec![4, 0])))
    );
    assert_eq!(
        at("darklaunch.noise.is_noise"),
        Some(&Value::Array(Array::Bool(vec![true, false])))
    );
}

/// Every guard trip and re-arm is counted once, with exactly experiment, candidate and reason.
#[test]
fn guard_trips_and_rearms_are_counted_once_with_bounded_attributes() {
    use darklaunch::guard::GuardRails;
    let telemetry = Telemetry::new();
    let experiment: Experiment<u64, String> = Experiment::builder("otel-guard")
        .guard(
            GuardRails::new()
                .max_error_rate(0.2)
                .window(100)
                .min_runs(50),
        )
        .publisher(telemetry.publisher())
        .build()
        .unwrap();
    for call in 0..200u64 {
        let value = experiment.run(
            || Ok(call),
            || {
                if call % 2 == 0 {
                    Err("down".to_string())
                } else {
                    Ok(call)
                }
            },
        );
        assert_eq!(value, Ok(call));
    }
    let guard = experiment.guard("candidate").unwrap();
    guard.reset();
    guard.trip();
    let (metrics, _) = telemetry.collect();
    let point = |metric: &str, reason: &str| {
        metrics
            .guards
            .get(&(
                metric.to_string(),
                attrs(&[
                    ("experiment", "otel-guard"),
                    ("candidate", "candidate"),
                    ("reason", reason),
                ]),
            ))
            .copied()
    };
    assert_eq!(point("darklaunch.guard.trips", "error_rate"), Some(1));
    assert_eq!(point("darklaunch.guard.trips", "manual"), Some(1));
    assert_eq!(point("darklaunch.guard.rearms", "manual"), Some(1));
    assert_eq!(metrics.guards.len(), 3, "{:?}", metrics.guards);
    let units: Vec<_> = metrics
        .described
        .iter()
        .filter(|(_, name, _)| name.starts_with("darklaunch.guard"))
        .map(|(scope, name, unit)| (scope.as_str(), name.as_str(), unit.as_str()))
        .collect();
    assert!(
        units.contains(&("darklaunch", "darklaunch.guard.trips", "{trip}")),
        "{units:?}"
    );
}
