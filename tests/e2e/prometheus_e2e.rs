//! End to end with a real Prometheus server: two instances of a service (two meter providers,
//! registries and `/metrics` endpoints on 127.0.0.1) run the same experiment with different
//! traffic; Prometheus scrapes both, and `sum by (experiment, candidate, outcome)` over its
//! HTTP query API must equal what the two published together.
//!
//! Needs `/usr/bin/prometheus` (Debian package `prometheus`). Without it the test says loudly
//! that it skipped, unless `CI` is set: then it fails.

#![cfg(feature = "opentelemetry")]

use crate::common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http;
use crate::prom::{labels, Instance, PrometheusServer, PROMETHEUS};
use darklaunch::publish::OtelPublisher;
use darklaunch::Experiment;
use opentelemetry::metrics::MeterProvider as _;
use serde_json::Value;

const EXPERIMENT: &str = "fleet-checkout";
/// How long to wait for Prometheus to start, and then for the sums to appear.
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs the experiment: `matches` matching runs, `mismatches` mismatching ones (with a user
/// in their context), `panics` runs whose candidate panics, and `sheds` runs whose
/// (matching) candidate re-enters the experiment, which sheds the inner run.
fn traffic(instance: &Instance, matches: usize, mismatches: usize, panics: usize, sheds: usize) {
    let experiment: Experiment<u64> = Experiment::builder(EXPERIMENT)
        .publisher(OtelPublisher::new().with_meter(instance.provider.meter("darklaunch")))
        .max_in_flight(1)
        .build()
        .unwrap();
    for i in 0..matches as u64 {
        assert_eq!(experiment.run(|| i, || i), i);
    }
    for i in 0..mismatches as u64 {
        let got = experiment
            .trial()
            .context("user", "alice")
            .control(|| i)
            .candidate("candidate", || i + 1)
            .run();
        assert_eq!(got, i);
    }
    for _ in 0..panics {
        assert_eq!(
            experiment.run(|| 1, || -> u64 { panic!("candidate exploded") }),
            1
        );
    }
    for _ in 0..sheds {
        assert_eq!(experiment.run(|| 7, || experiment.run(|| 7, || 8)), 7);
    }
    let stats = experiment.stats();
    assert_eq!(
        (
            stats.matched,
            stats.mismatched,
            stats.candidate_errors,
            stats.shed
        ),
        (
            (matches + sheds) as u64,
            mismatches as u64,
            panics as u64,
            sheds as u64
        )
    );
}

#[test]
fn prometheus_sums_two_instances_by_experiment_candidate_and_outcome() {
    if !Path::new(PROMETHEUS).exists() {
        common::skip_or_fail(
            "prometheus_e2e",
            &format!("{PROMETHEUS} is missing (apt-get install prometheus)"),
        );
        return;
    }
    common::silence_expected_panics(&["candidate exploded"]);
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // Two instances, different traffic, same experiment.
    let a = Instance::start(&runtime);
    let b = Instance::start(&runtime);
    traffic(&a, 5, 2, 0, 1);
    traffic(&b, 3, 4, 1, 0);

    // What each instance serves: the exported names, and no context anywhere.
    let page = http::get(a.server.addr, "/metrics", Duration::from_secs(5)).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("# TYPE darklaunch_runs_total counter"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("# TYPE darklaunch_duration_seconds histogram"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("alice"), "{}", page.body);

    let mut prometheus = PrometheusServer::start(&[a.server.addr, b.server.addr]);
    prometheus.wait_ready(Instant::now() + DEADLINE);
    let deadline = Instant::now() + DEADLINE;

    // The fleet's counts: a (5 + 1 matches, 2 mismatches, 1 shed) + b (3, 4, 1 panic).
    let run = |candidate: &str, outcome: &str| {
        let mut l = labels(&[("experiment", EXPERIMENT), ("outcome", outcome)]);
        if !candidate.is_empty() {
            l.insert("candidate".into(), candidate.into());
        }
        l
    };
    let expected: BTreeMap<_, _> = [
        (run("candidate", "match"), 9.0),
        (run("candidate", "mismatch"), 6.0),
        (run("candidate", "candidate_error"), 1.0),
        // A shed run ran no candidate: its empty `candidate` is no label in Prometheus.
        (run("", "shed"), 1.0),
    ]
    .into_iter()
    .collect();
    prometheus.wait_for(
        "sum by (experiment, candidate, outcome) (darklaunch_runs_total)",
        &expected,
        deadline,
    );
    // Both instances contribute.
    let instances = prometheus
        .vector(&format!(
            "count by (instance) (darklaunch_runs_total{{experiment=\"{EXPERIMENT}\"}})"
        ))
        .unwrap();
    let expected_instances: BTreeMap<_, _> = [
        (labels(&[("instance", &a.server.addr.to_string())]), 3.0),
        (labels(&[("instance", &b.server.addr.to_string())]), 3.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(instances, expected_instances);

    // Durations: one observation per behaviour per published run (a: 8 runs, b: 8 runs),
    // with the explicit buckets (17 boundaries + `+Inf`) on each instance.
    let expected: BTreeMap<_, _> = [
        (
            labels(&[("experiment", EXPERIMENT), ("behavior", "control")]),
            16.0,
        ),
        (
            labels(&[("experiment", EXPERIMENT), ("behavior", "candidate")]),
            16.0,
        ),
    ]
    .into_iter()
    .collect();
    prometheus.wait_for(
        "sum by (experiment, behavior) (darklaunch_duration_seconds_count)",
        &expected,
        deadline,
    );
    let buckets = prometheus
        .vector("count(darklaunch_duration_seconds_bucket{behavior=\"control\"})")
        .unwrap();
    assert_eq!(buckets.values().copied().collect::<Vec<_>>(), [36.0]);
    let below_inf = prometheus
        .vector(
            "sum(darklaunch_duration_seconds_bucket{behavior=\"control\",le=\"10\"}) \
             - sum(darklaunch_duration_seconds_count{behavior=\"control\"})",
        )
        .unwrap();
    assert_eq!(below_inf.values().copied().collect::<Vec<_>>(), [0.0]);

    // The exact names and labels Prometheus stored: nothing from the context.
    let names = prometheus
        .get("/api/v1/label/__name__/values")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .unwrap();
    let mut darklaunch_names: Vec<&str> = names["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("darklaunch"))
        .collect();
    darklaunch_names.sort();
    assert_eq!(
        darklaunch_names,
        [
            "darklaunch_duration_seconds_bucket",
            "darklaunch_duration_seconds_count",
            "darklaunch_duration_seconds_sum",
            "darklaunch_runs_total",
        ]
    );
    let series = prometheus
        .get(&format!(
            "/api/v1/series?match[]={}",
            http::encode_component("{__name__=~\"darklaunch_.*\"}")
        ))
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .unwrap();
    let mut label_names: Vec<&str> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
        .collect();
    label_names.sort();
    label_names.dedup();
    assert_eq!(
        label_names,
        [
            "__name__",
            "behavior",
            "candidate",
            "experiment",
            "instance",
            "job",
            "le",
            "otel_scope_name",
            "outcome",
        ]
    );
    assert!(!series.to_string().contains("alice"));

    drop(prometheus);
    let _ = writeln!(
        std::io::stderr(),
        "prometheus_e2e took {:?}",
        started.elapsed()
    );
}
