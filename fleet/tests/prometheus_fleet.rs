//! End to end with a real Prometheus server: three instances of a service (three meter
//! providers with `opentelemetry-prometheus` exporters, each serving `/metrics` on 127.0.0.1)
//! run the same experiment with `OtelPublisher` on different traffic; Prometheus scrapes all
//! three, and the `darklaunch-fleet` binary's verdict must equal the verdict of one
//! `darklaunch::insight::Insight` fed the union of all runs: the same counts, the same bounds
//! (within rounding), the same statuses. Its latency quantiles must equal Prometheus's own
//! `histogram_quantile`. Then the failures: Prometheus unreachable, something that is not
//! Prometheus, a metric Prometheus does not have, an experiment with no data.
//!
//! Needs `/usr/bin/prometheus` (Debian package `prometheus`). Without it the test says loudly
//! that it skipped, unless `CI` is set: then it fails.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use darklaunch::insight::{CandidateReport, Insight, InsightOptions, ReleaseStatus, Report};
use darklaunch::publish::OtelPublisher;
use darklaunch::Experiment;
use darklaunch_fleet::prometheus::{HttpPrometheus, PrometheusApi};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const EXPERIMENT: &str = "fleet-pricing";
const BIN: &str = env!("CARGO_BIN_EXE_darklaunch-fleet");
/// How long to wait for Prometheus to start, and then for the sums to appear.
const DEADLINE: Duration = Duration::from_secs(45);
/// Fine buckets, so that the short behaviours below spread over several.
const BUCKETS: [f64; 12] = [
    1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4,
];
const PANIC: &str = "v2 exploded (expected by the fleet test)";

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering `GET /metrics` with the registry's text
/// and anything else with 404; stops when dropped.
struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    fn start(registry: prometheus::Registry) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind /metrics");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = Self::answer(stream, &registry);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(mut stream: TcpStream, registry: &prometheus::Registry) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&request);
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let (status, content_type, body) =
            if line.starts_with("GET ") && target.split('?').next() == Some("/metrics") {
                let encoder = TextEncoder::new();
                let mut body = Vec::new();
                match encoder.encode(&registry.gather(), &mut body) {
                    Ok(()) => ("200 OK", encoder.format_type().to_string(), body),
                    Err(e) => (
                        "500 Internal Server Error",
                        "text/plain".into(),
                        e.to_string().into_bytes(),
                    ),
                }
            } else {
                (
                    "404 Not Found",
                    "text/plain".into(),
                    b"not found\n".to_vec(),
                )
            };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body)?;
        stream.flush()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One service instance: its own meter provider, registry and `/metrics` endpoint, and the
/// experiment it runs, which also publishes to the test's shared insight.
struct Instance {
    _provider: SdkMeterProvider,
    server: MetricsServer,
    experiment: Experiment<u64>,
}

/// Some work that takes a time depending on `n`.
fn work(n: u64, rounds: u64) -> u64 {
    let mut x = n;
    for i in 0..rounds {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    std::hint::black_box(x);
    n
}

impl Instance {
    fn start(insight: &Insight<u64>) -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("prometheus exporter");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let experiment = Experiment::builder(EXPERIMENT)
            .publisher(
                OtelPublisher::new()
                    .with_meter(provider.meter("darklaunch"))
                    .with_duration_buckets(BUCKETS.to_vec()),
            )
            .publisher(insight.clone())
            .build()
            .expect("experiment");
        Self {
            _provider: provider,
            server: MetricsServer::start(registry),
            experiment,
        }
    }

    /// `runs` trials from `offset` on: v2 is off by one on one input in 40 (from `offset`) and
    /// panics on one in 97; v3 always agrees; v4 joins only the first `v4_runs` trials.
    fn traffic(&self, offset: u64, runs: u64, v4_runs: u64) {
        for k in offset..offset + runs {
            let v2 = move || {
                if k % 97 == 5 {
                    panic!("{PANIC}");
                }
                work(if k % 40 == 0 { k + 1 } else { k }, k % 300)
            };
            let got = if k - offset < v4_runs {
                self.experiment
                    .trial()
                    .control(|| work(k, k % 200))
                    .candidate("v2", v2)
                    .candidate("v3", move || work(k, k % 100))
                    .candidate("v4", move || work(k, 5))
                    .run()
            } else {
                self.experiment
                    .trial()
                    .control(|| work(k, k % 200))
                    .candidate("v2", v2)
                    .candidate("v3", move || work(k, k % 100))
                    .run()
            };
            assert_eq!(got, k);
        }
    }
}

/// A Prometheus server and its temporary directory, killed and removed when dropped (also
/// when the test fails).
struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl PrometheusServer {
    fn start(targets: &[SocketAddr]) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "darklaunch-fleet-prometheus-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(dir.join("data")).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: darklaunch\n    static_configs:\n      \
             - targets: [{}]\n",
            targets.join(", ")
        );
        fs::write(dir.join("prometheus.yml"), config).unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let log = fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Self {
            child,
            dir,
            url: format!("http://{addr}"),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn api(&self) -> HttpPrometheus {
        HttpPrometheus::new(&self.url, Duration::from_secs(5)).unwrap()
    }

    /// Waits until the query API answers.
    fn wait_ready(&mut self, deadline: Instant) {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            if self.api().query("vector(1)").is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Each series of `promql` as (its labels, its value).
    fn vector(&self, promql: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
        match self.api().query(promql) {
            Ok((samples, _)) => samples.into_iter().map(|s| (s.labels, s.value)).collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// Polls until `check` holds on `promql`'s answer or the deadline passes.
    fn wait_for(
        &self,
        promql: &str,
        deadline: Instant,
        check: impl Fn(&BTreeMap<BTreeMap<String, String>, f64>) -> bool,
    ) {
        loop {
            let got = self.vector(promql);
            if check(&got) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: got {got:?}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs the built binary.
fn fleet(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run darklaunch-fleet")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code, not a signal")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `verdict` with the test's policy.
fn verdict_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    verdict_of(url, EXPERIMENT, extra)
}

/// `verdict` of `experiment` with the test's policy.
fn verdict_of<'a>(url: &'a str, experiment: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "verdict",
        "--prometheus",
        url,
        "--experiment",
        experiment,
        "--max-mismatch-rate",
        "0.01",
        "--max-error-rate",
        "0.02",
    ];
    args.extend_from_slice(extra);
    args
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// The tool's JSON for one candidate must say what the insight's report says.
fn assert_same(tool: &Value, seen: &CandidateReport) {
    let name = &seen.name;
    let counts = &tool["counts"];
    let got = [
        tool["runs"].as_u64(),
        counts["matched"].as_u64(),
        counts["mismatched"].as_u64(),
        counts["ignored"].as_u64(),
        counts["noise"].as_u64(),
        counts["errors"].as_u64(),
        counts["timeouts"].as_u64(),
    ];
    let expected = [
        seen.runs,
        seen.matched,
        seen.mismatched,
        seen.ignored,
        seen.noise,
        seen.errors,
        seen.timeouts,
    ]
    .map(Some);
    assert_eq!(got, expected, "{name}: counts\n{tool:#}");
    for (field, bounds) in [
        ("mismatch_bounds", &seen.mismatch_bounds),
        ("error_bounds", &seen.error_bounds),
        ("timeout_bounds", &seen.timeout_bounds),
    ] {
        let low = tool[field]["low"].as_f64().unwrap();
        let high = tool[field]["high"].as_f64().unwrap();
        assert!(
            close(low, bounds.low) && close(high, bounds.high),
            "{name}: {field} {low}–{high}, the insight's {bounds:?}"
        );
        assert_eq!(tool[field]["level"].as_f64(), Some(bounds.level));
    }
    for (field, rate) in [
        ("mismatch_rate", &seen.mismatch_rate),
        ("error_rate", &seen.error_rate),
    ] {
        assert!(close(
            tool[field]["estimate"].as_f64().unwrap(),
            rate.estimate
        ));
        assert!(close(tool[field]["high"].as_f64().unwrap(), rate.high));
    }
    assert_eq!(
        tool["verdict"]["status"].as_str(),
        Some(seen.verdict.status.as_str()),
        "{name}: {tool:#}\ninsight: {:?}",
        seen.verdict
    );
}

fn candidate<'a>(report: &'a Report, name: &str) -> &'a CandidateReport {
    report
        .candidates
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no candidate {name} in the insight"))
}

#[test]
fn the_fleet_verdict_from_prometheus_equals_one_insight_over_all_runs() {
    if !Path::new(PROMETHEUS).exists() {
        common::skip_or_fail(
            "prometheus_fleet",
            &format!("{PROMETHEUS} is missing (apt-get install prometheus)"),
        );
        return;
    }
    common::silence_expected_panics(&[PANIC]);
    let started = Instant::now();

    // One insight sees the union of every instance's runs, judged by the same policy as the
    // tool's arguments below.
    let mut options = InsightOptions::default();
    options.policy.mismatch_tolerance = 0.01;
    options.policy.error_tolerance = 0.02;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();

    // Three instances, different traffic, the same experiment.
    let instances = [
        Instance::start(&insight),
        Instance::start(&insight),
        Instance::start(&insight),
    ];
    instances[0].traffic(0, 900, 40);
    instances[1].traffic(10_000, 600, 30);
    instances[2].traffic(20_000, 500, 20);
    let report = insight.report();
    assert_eq!(report.runs, 2_000);
    // The fleet's picture, which no instance alone has: v2 not safe, v3 safe, v4 undecided.
    let statuses: Vec<(&str, ReleaseStatus)> = ["v2", "v3", "v4"]
        .iter()
        .map(|n| (*n, candidate(&report, n).verdict.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("v2", ReleaseStatus::NotSafe),
            ("v3", ReleaseStatus::Safe),
            ("v4", ReleaseStatus::Inconclusive)
        ],
        "the traffic no longer makes the intended picture"
    );
    assert!(candidate(&report, "v2").errors > 0);

    let addrs: Vec<SocketAddr> = instances.iter().map(|i| i.server.addr).collect();
    let mut prometheus = PrometheusServer::start(&addrs);
    prometheus.wait_ready(Instant::now() + DEADLINE);
    let deadline = Instant::now() + DEADLINE;
    // Wait until every instance is scraped and the fleet's sums are complete.
    let all_runs =
        format!("sum by (candidate) (darklaunch_runs_total{{experiment=\"{EXPERIMENT}\"}})");
    prometheus.wait_for(&all_runs, deadline, |got| {
        got.values().sum::<f64>() == (2_000 + 2_000 + 90) as f64
    });
    prometheus.wait_for(
        "count by (instance) (darklaunch_runs_total)",
        deadline,
        |got| got.len() == 3,
    );
    prometheus.wait_for(
        &format!("sum(darklaunch_duration_seconds_count{{experiment=\"{EXPERIMENT}\"}})"),
        deadline,
        |got| got.values().sum::<f64>() == (2_000 * 3 + 90) as f64,
    );
    let url = prometheus.url.clone();

    // The fleet's verdict, as JSON: every candidate as the insight judged it.
    let output = fleet(&verdict_args(&url, &["--format", "json"]));
    assert_eq!(code(&output), 1, "not safe: v2\n{}", stderr(&output));
    let json = json_of(&output);
    assert_eq!(json["status"], "not_safe");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["experiment"], EXPERIMENT);
    let tool: Vec<&Value> = json["candidates"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = tool.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["v2", "v3", "v4"]);
    for candidate_json in &tool {
        assert_same(
            candidate_json,
            candidate(&report, candidate_json["name"].as_str().unwrap()),
        );
    }

    // Latency: the tool's quantiles are Prometheus's histogram_quantile of the same buckets,
    // and the ratios are candidate over control.
    let behaviors: BTreeMap<String, &Value> = json["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["behavior"].as_str().unwrap().to_owned(), l))
        .collect();
    assert_eq!(
        behaviors.keys().map(String::as_str).collect::<Vec<_>>(),
        ["control", "v2", "v3", "v4"]
    );
    assert_eq!(behaviors["control"]["count"], 2_000);
    assert_eq!(behaviors["v4"]["count"], 90);
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let promql = format!(
            "histogram_quantile({q}, sum by (behavior, le) (darklaunch_duration_seconds_bucket{{experiment=\"{EXPERIMENT}\"}}))"
        );
        let theirs = prometheus.vector(&promql);
        assert_eq!(theirs.len(), 4, "{promql}: {theirs:?}");
        for (labels, value) in theirs {
            let behavior = &labels["behavior"];
            let ours = behaviors[behavior][format!("{name}_seconds")]
                .as_f64()
                .unwrap_or(f64::NAN);
            assert!(
                close(ours, value),
                "{behavior} {name}: ours {ours}, Prometheus {value}"
            );
        }
    }
    let v2_p99 = &tool[0]["latency"][2];
    assert_eq!(v2_p99["quantile"], "p99");
    let ratio =
        v2_p99["candidate_seconds"].as_f64().unwrap() / v2_p99["control_seconds"].as_f64().unwrap();
    assert!(close(v2_p99["ratio"].as_f64().unwrap(), ratio));

    // One candidate at a time: each its own exit status.
    for (name, expected) in [("v2", 1), ("v3", 0), ("v4", 3)] {
        let output = fleet(&verdict_args(
            &url,
            &["--candidate", name, "--format", "json"],
        ));
        assert_eq!(code(&output), expected, "{name}: {}", stderr(&output));
        let json = json_of(&output);
        assert_eq!(json["candidates"].as_array().unwrap().len(), 1);
        assert_same(&json["candidates"][0], candidate(&report, name));
        let behaviors: Vec<&str> = json["latency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["behavior"].as_str().unwrap())
            .collect();
        assert_eq!(behaviors, ["control", name]);
    }

    // Text for people: the statuses, the bounds, the latency table.
    let output = fleet(&verdict_args(&url, &[]));
    assert_eq!(code(&output), 1);
    let text = String::from_utf8_lossy(&output.stdout);
    eprintln!("darklaunch-fleet verdict:\n{text}");
    for expected in [
        "candidate v2: NOT SAFE",
        "candidate v3: SAFE",
        "candidate v4: UNDECIDED",
        "anytime 95.0 % bounds",
        "p99",
        "ratio",
        "fleet verdict: not safe (exit 1)",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    // A p99 limit the candidate's buckets exceed: v3 is slower than the control's p99 at
    // 0.01×.
    let output = fleet(&verdict_args(
        &url,
        &["--candidate", "v3", "--max-p99-ratio", "0.01"],
    ));
    assert_eq!(
        code(&output),
        1,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Failures, each with its code and message.
    let output = fleet(&verdict_of(&url, "nobody-runs-this", &[]));
    assert_eq!(code(&output), 7, "{}", stderr(&output));
    assert!(stderr(&output).contains("no data"), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let output = fleet(&verdict_of(&url, "nobody-runs-this", &["--format", "json"]));
    assert_eq!(code(&output), 7);
    assert_eq!(json_of(&output)["error"]["kind"], "no_data");
    let output = fleet(&verdict_args(&url, &["--candidate", "v9"]));
    assert_eq!(code(&output), 7, "{}", stderr(&output));
    let output = fleet(&verdict_args(
        &url,
        &["--runs-metric", "darklaunch_nonexistent_total"],
    ));
    assert_eq!(code(&output), 6, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no such metric")
            && stderr(&output).contains("darklaunch_nonexistent_total"),
        "{}",
        stderr(&output)
    );
    let output = fleet(&verdict_args(
        &url,
        &[
            "--duration-metric",
            "nothing_seconds",
            "--max-p99-ratio",
            "2",
        ],
    ));
    assert_eq!(code(&output), 6, "{}", stderr(&output));
    let free = format!("http://127.0.0.1:{}", free_port());
    let output = fleet(&verdict_args(&free, &["--timeout", "3s"]));
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unreachable"),
        "{}",
        stderr(&output)
    );
    // An instance's own server is not Prometheus: 404 and no API document.
    let not_prometheus = format!("http://{}", addrs[0]);
    let output = fleet(&verdict_args(&not_prometheus, &[]));
    assert_eq!(code(&output), 5, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a Prometheus API answer"),
        "{}",
        stderr(&output)
    );
    // A bad PromQL duration never reaches Prometheus: a usage error.
    let output = fleet(&verdict_args(&url, &["--window", "an hour"]));
    assert_eq!(code(&output), 2, "{}", stderr(&output));

    // A window: only what happened in it. New traffic of v3 alone on one instance; the
    // other candidates did nothing in the window and are not judged.
    let before: f64 = prometheus.vector(&all_runs).values().sum();
    for k in 0..300u64 {
        let got = instances[1]
            .experiment
            .trial()
            .control(|| k)
            .candidate("v3", move || k)
            .run();
        assert_eq!(got, k);
    }
    prometheus.wait_for(&all_runs, Instant::now() + DEADLINE, |got| {
        got.values().sum::<f64>() == before + 300.0
    });
    let output = fleet(&verdict_args(&url, &["--window", "1h", "--format", "json"]));
    let json = json_of(&output);
    assert_eq!(json["window"], "1h");
    let judged: Vec<&str> = json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(judged, ["v3"], "{json:#}");
    let v3 = &json["candidates"][0];
    let runs = v3["runs"].as_u64().unwrap();
    // increase() extrapolates to the window's edges (by up to a scrape interval and a half,
    // over the few seconds Prometheus has seen): the 300 new runs, more, never fewer.
    assert!((300..=900).contains(&runs), "{runs}");
    assert_eq!(v3["counts"]["mismatched"], 0);
    assert_eq!(code(&output), json["exit_code"].as_i64().unwrap() as i32);
    assert!(json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("\"v2\" has no runs")));

    drop(prometheus);
    eprintln!("prometheus_fleet took {:?}", started.elapsed());
}

#[test]
fn a_prometheus_with_nothing_scraped_has_no_such_metric() {
    if !Path::new(PROMETHEUS).exists() {
        common::skip_or_fail(
            "prometheus_fleet",
            &format!("{PROMETHEUS} is missing (apt-get install prometheus)"),
        );
        return;
    }
    let mut prometheus = PrometheusServer::start(&[]);
    prometheus.wait_ready(Instant::now() + DEADLINE);
    let output = fleet(&verdict_args(&prometheus.url, &["--format", "json"]));
    assert_eq!(code(&output), 6, "{}", stderr(&output));
    let json = json_of(&output);
    assert_eq!(json["error"]["kind"], "no_such_metric");
    assert_eq!(json["error"]["exit_code"], 6);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("darklaunch_runs_total"));
}
