//! End to end with the shipped deploy artefacts: a real Prometheus server scrapes a service
//! instance publishing through `OtelPublisher` (traffic with every outcome the dashboard shows:
//! matches, mismatches, candidate errors, timeouts, shed runs, guard trips and re-arms) and
//! evaluates `deploy/prometheus/darklaunch.rules.yml`. Then:
//!
//! * every `expr` of `deploy/grafana/darklaunch.json`, its template variables substituted as
//!   Grafana would, returns at least one series with a finite value through `/api/v1/query`;
//! * each template variable's `label_values(...)` query lists the experiment and candidate;
//! * every rule of the rules file is loaded and healthy, and each recording rule produces
//!   series;
//! * the alerts see the traffic: each of the five is pending or firing.
//!
//! Needs `/usr/bin/prometheus` (Debian package `prometheus`). Without it the test says loudly
//! that it skipped, unless `CI` is set: then it fails.

#![cfg(feature = "opentelemetry")]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::http;
use crate::prom::{Instance, PrometheusServer, PROMETHEUS};
use darklaunch::guard::GuardRails;
use darklaunch::publish::OtelPublisher;
use darklaunch::Experiment;
use opentelemetry::metrics::MeterProvider as _;
use serde_json::Value;

const EXPERIMENT: &str = "dashboard-checkout";
const CANDIDATE: &str = "v2";
/// How long to wait for Prometheus to start, and then for each query to return series.
const DEADLINE: Duration = Duration::from_secs(40);
/// Grafana's built-in interval variables, as this test substitutes them. With 1 s scrapes,
/// a minute's window holds enough samples from the first seconds on.
const BUILT_INS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("${__rate_interval}", "1m"),
    ("$__interval", "1m"),
    ("${__interval}", "1m"),
    ("$__range", "5m"),
    ("${__range}", "5m"),
];
const ALERTS: &[&str] = &[
    "DarklaunchMismatchRateHigh",
    "DarklaunchCandidateErrorRateHigh",
    "DarklaunchCandidateTimeoutRateHigh",
    "DarklaunchRunsShed",
    "DarklaunchGuardTripped",
];

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Traffic until `stop`: each round has matches, a mismatch, a panicking candidate, a
/// candidate past the timeout, a shed run (the candidate re-enters the experiment, over its
/// in-flight cap of 1), and a guard trip and re-arm by hand. Returns the rounds run.
fn traffic(instance: &Instance, stop: &AtomicBool) -> u64 {
    let experiment: Experiment<u64> = Experiment::builder(EXPERIMENT)
        .publisher(OtelPublisher::new().with_meter(instance.provider.meter("darklaunch")))
        .candidate_name(CANDIDATE)
        .candidate_timeout(Duration::from_millis(5))
        .max_in_flight(1)
        .guard(GuardRails::new())
        .build()
        .unwrap();
    let guard = experiment.guard(CANDIDATE).expect("the candidate's guard");
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..4 {
            assert_eq!(experiment.run(|| i, || i), i);
        }
        assert_eq!(experiment.run(|| 1, || 2), 1);
        assert_eq!(
            experiment.run(|| 1, || -> u64 { panic!("dashboard candidate exploded") }),
            1
        );
        assert_eq!(
            experiment.run(
                || 1,
                || {
                    thread::sleep(Duration::from_millis(8));
                    1
                }
            ),
            1
        );
        assert_eq!(experiment.run(|| 7, || experiment.run(|| 7, || 8)), 7);
        guard.trip();
        guard.reset();
        rounds += 1;
        thread::sleep(Duration::from_millis(50));
    }
    let stats = experiment.stats();
    assert_eq!(
        (
            stats.matched,
            stats.mismatched,
            stats.candidate_errors,
            stats.timeouts,
            stats.shed
        ),
        (5 * rounds, rounds, rounds, rounds, rounds),
        "every round's outcomes: {stats:?}"
    );
    rounds
}

/// Every `expr` of the dashboard's panels (rows' nested panels too), with its panel's title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.clone(), expr.to_string()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `text` with the dashboard's variables (`$experiment`, `${candidate}`, ...) and Grafana's
/// built-in intervals replaced; panics if a variable is left (a new one this test must learn).
fn substitute(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (from, to) in BUILT_INS {
        out = out.replace(from, to);
    }
    for (name, value) in variables {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    let left = out
        .char_indices()
        .filter(|&(i, c)| {
            c == '$'
                && out[i + 1..]
                    .chars()
                    .next()
                    .is_some_and(|n| n == '{' || n == '_' || n.is_ascii_alphabetic())
        })
        .count();
    assert_eq!(
        left, 0,
        "a variable this test does not know is left in {out}"
    );
    out
}

/// `label_values(selector, label)` → (selector, label); `label_values(label)` → ("", label).
fn label_values(query: &str) -> (String, String) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("a label_values(...) query: {query}"));
    match inner.rsplit_once(',') {
        Some((selector, label)) => (selector.trim().to_string(), label.trim().to_string()),
        None => (String::new(), inner.trim().to_string()),
    }
}

/// The record names in the rules file (`- record: name` lines) and the alert names.
fn rule_names(rules: &str, key: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix(&format!("- {key}:")))
        .map(|name| name.trim().to_string())
        .collect()
}

/// Polls `promql` until it returns at least one series with a finite value.
fn wait_for_series(
    prometheus: &PrometheusServer,
    what: &str,
    promql: &str,
    deadline: Instant,
) -> BTreeMap<BTreeMap<String, String>, f64> {
    loop {
        let got = prometheus.vector(promql);
        if let Ok(series) = &got {
            if series.values().any(|v| v.is_finite()) {
                return series.clone();
            }
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: no series with a finite value from\n  {promql}\n  got {got:?}\n{}",
                prometheus.diagnostics()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn every_dashboard_query_and_recording_rule_returns_series_from_real_traffic() {
    if !Path::new(PROMETHEUS).exists() {
        common::skip_or_fail(
            "dashboard_e2e",
            &format!("{PROMETHEUS} is missing (apt-get install prometheus)"),
        );
        return;
    }
    common::silence_expected_panics(&["dashboard candidate exploded"]);
    let started = Instant::now();
    let rules_path = repo_file("deploy/prometheus/darklaunch.rules.yml");
    let rules = fs::read_to_string(&rules_path).expect("deploy/prometheus/darklaunch.rules.yml");
    let dashboard: Value = serde_json::from_str(
        &fs::read_to_string(repo_file("deploy/grafana/darklaunch.json"))
            .expect("deploy/grafana/darklaunch.json"),
    )
    .expect("the dashboard is JSON");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let instance = Arc::new(Instance::start(&runtime));
    let stop = Arc::new(AtomicBool::new(false));
    let driver = {
        let (instance, stop) = (Arc::clone(&instance), Arc::clone(&stop));
        thread::spawn(move || traffic(&instance, &stop))
    };
    // Stops the traffic also when an assertion below fails.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));

    let mut prometheus =
        PrometheusServer::start_with_rules(&[instance.server.addr], &[rules_path.as_path()]);
    prometheus.wait_ready(Instant::now() + DEADLINE);
    let deadline = Instant::now() + DEADLINE;

    // Every series the dashboard reads is exported under the names it uses.
    let page = http::get(instance.server.addr, "/metrics", Duration::from_secs(5)).unwrap();
    for name in [
        "darklaunch_runs_total",
        "darklaunch_duration_seconds_bucket",
        "darklaunch_guard_trips_total",
        "darklaunch_guard_rearms_total",
    ] {
        assert!(page.body.contains(name), "{name} in\n{}", page.body);
    }

    // The template variables: each `label_values` query lists what the traffic produced.
    let expected_values: BTreeMap<&str, &str> =
        [("experiment", EXPERIMENT), ("candidate", CANDIDATE)].into();
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let name = variable["name"].as_str().unwrap();
        match variable["type"].as_str() {
            Some("datasource") => continue,
            Some("query") => {}
            other => panic!("variable {name} of a type this test does not know: {other:?}"),
        }
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_else(|| panic!("variable {name} has a query"));
        let (selector, label) = label_values(&substitute(query, &variables));
        let expected = expected_values
            .get(name)
            .unwrap_or_else(|| panic!("a variable this test does not know: {name}"));
        let mut target = format!("/api/v1/label/{label}/values");
        if !selector.is_empty() {
            target.push_str(&format!("?match[]={}", http::encode_component(&selector)));
        }
        loop {
            let values = prometheus.api(&target);
            if let Ok(values) = &values {
                if values.as_array().unwrap().iter().any(|v| v == expected) {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "variable {name}: {query} lists no {expected}: {values:?}\n{}",
                prometheus.diagnostics()
            );
            thread::sleep(Duration::from_millis(250));
        }
        variables.insert(name.to_string(), expected.to_string());
    }
    assert_eq!(
        variables.keys().map(String::as_str).collect::<Vec<_>>(),
        ["candidate", "experiment"],
        "the dashboard is templated on $experiment and $candidate"
    );

    // Every panel query returns series.
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 7, "{queries:?}");
    let titles: BTreeSet<&str> = queries.iter().map(|(t, _)| t.as_str()).collect();
    for (title, expr) in &queries {
        let promql = substitute(expr, &variables);
        let series = wait_for_series(&prometheus, title, &promql, deadline);
        // Queries filtered on the candidate see only it (and the control).
        for labels in series.keys() {
            if let Some(candidate) = labels.get("candidate") {
                assert_eq!(candidate, CANDIDATE, "{title}: {promql}");
            }
            if let Some(behavior) = labels.get("behavior") {
                assert!(
                    behavior == "control" || behavior == CANDIDATE,
                    "{title}: {promql}: {labels:?}"
                );
            }
        }
    }
    // The panels cover each outcome: the runs-by-outcome panel shows them all.
    let by_outcome = queries
        .iter()
        .find(|(title, _)| title == "Runs by outcome")
        .map(|(_, expr)| substitute(expr, &variables))
        .expect("a runs-by-outcome panel");
    let outcomes: BTreeSet<String> = loop {
        let outcomes: BTreeSet<String> = prometheus
            .vector(&by_outcome)
            .unwrap_or_default()
            .keys()
            .filter_map(|l| l.get("outcome").cloned())
            .collect();
        if outcomes.len() >= 4 || Instant::now() >= deadline {
            break outcomes;
        }
        thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        outcomes,
        ["candidate_error", "match", "mismatch", "timeout"]
            .map(String::from)
            .into(),
        "{by_outcome}"
    );

    // Every rule is loaded and healthy; each recording rule produces series.
    let records = rule_names(&rules, "record");
    let alerts = rule_names(&rules, "alert");
    assert_eq!(alerts, ALERTS, "the alerts this test checks");
    for record in &records {
        wait_for_series(&prometheus, record, record, deadline);
    }
    let loaded = prometheus.api("/api/v1/rules").unwrap();
    let mut loaded_names = Vec::new();
    for group in loaded["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            loaded_names.push(rule["name"].as_str().unwrap().to_string());
        }
    }
    let mut expected_names: Vec<String> = records.iter().chain(&alerts).cloned().collect();
    expected_names.sort();
    loaded_names.sort();
    assert_eq!(loaded_names, expected_names);

    // The alerts see the traffic: a sixth of the comparisons mismatch, as many error and time
    // out, a shed run every round, a guard trip every round. Each `for:` is minutes long, so
    // all but the guard's (`for: 0m`) are still pending.
    for alert in ALERTS {
        let state = if *alert == "DarklaunchGuardTripped" {
            "firing"
        } else {
            "pending"
        };
        let promql = format!(
            "ALERTS{{alertname=\"{alert}\", alertstate=\"{state}\", experiment=\"{EXPERIMENT}\"}}"
        );
        wait_for_series(&prometheus, alert, &promql, deadline);
    }

    stop.store(true, Ordering::Relaxed);
    let rounds = driver.join().expect("the traffic thread");
    drop(prometheus);
    let _ = writeln!(
        std::io::stderr(),
        "dashboard_e2e: {} dashboard queries ({} panels), {} recording rules, {} alerts \
         checked over {rounds} rounds of traffic in {:?}",
        queries.len(),
        titles.len(),
        records.len(),
        alerts.len(),
        started.elapsed()
    );
}
