//! End to end: the telemetry example (`examples/telemetry.rs`) exports over OTLP as users
//! configure it, through `OTEL_EXPORTER_OTLP_PROTOCOL` and the endpoint variables, to a real
//! receiver on both protocols: `oteltest`'s gRPC and HTTP sinks (`otlp_receiver.py`, beside
//! this file). Checked twice: in process, through the example's own code (this binary
//! includes `examples/telemetry.rs` as the module `telemetry_example`), and by running the
//! compiled example binary, whose exit status and messages are checked too.
//!
//! * over `grpc` and over `http/protobuf`, every mismatched run's span and both metrics
//!   arrive over that transport, with the example's service name;
//! * per-signal variables win: traces over gRPC and metrics over HTTP in one run;
//! * pointed at a closed port, each protocol fails with a message naming the signal, the
//!   protocol, the endpoint and the underlying error (the binary exits 1).
//!
//! The receiver listens on all interfaces, so, as in `otlp_e2e`, the test re-executes this
//! binary inside a private network namespace (`unshare -n`) where loopback is the only
//! interface. Needs `unshare` and `ip` (root), `python3 -m pip install oteltest`, and for the
//! binary half `target/<profile>/examples/telemetry` newer than its source (`cargo test
//! --all-features` builds it). Without them the test says loudly that it skipped, unless `CI`
//! is set: then it fails.

#![cfg(all(feature = "opentelemetry", feature = "serde"))]

use crate::common;
use crate::namespace;
use crate::telemetry_example::{self as example, Destination, OtlpProtocol, Signal, Target};

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Set in the environment of the re-executed, namespaced run.
const INNER_ENV: &str = "DARKLAUNCH_OTLP_PROTOCOLS_INNER";
/// The compiled example the inner run also checks, when there is a fresh one.
const BINARY_ENV: &str = "DARKLAUNCH_TELEMETRY_EXAMPLE";
const INNER_TEST: &str = "otlp_protocols_e2e::inner_example_exports_over_both_protocols";
const INNER_PASSED: &str = "darklaunch-otlp-protocols-e2e: inner run asserted";
const GRPC: &str = "http://127.0.0.1:4317";
const HTTP: &str = "http://127.0.0.1:4318";

const INNER_DEADLINE: Duration = Duration::from_secs(180);
const RECEIVER_DEADLINE: Duration = Duration::from_secs(30);
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(15);

/// An environment for the example: only these variables are set.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn target(signal: Signal, protocol: OtlpProtocol, endpoint: &str) -> Target {
    Target {
        signal,
        protocol,
        endpoint: endpoint.to_string(),
    }
}

/// The example reads the variables as `opentelemetry-otlp` 0.33 does (no receiver needed).
#[test]
fn the_example_reads_the_otlp_environment_variables() {
    use OtlpProtocol::{Grpc, HttpProtobuf};
    use Signal::{Metrics, Traces};
    let otlp = |traces, metrics| Destination::Otlp { traces, metrics };
    let read = |pairs: &[(&str, &str)]| example::destination(&env(pairs));

    // Nothing set, or only empty values: standard output.
    assert_eq!(read(&[]).unwrap(), Destination::Stdout);
    assert_eq!(
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(),
        Destination::Stdout
    );
    // The specification's default protocol is http/protobuf, with a path per signal.
    assert_eq!(
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap(),
        otlp(
            target(Traces, HttpProtobuf, "http://collector:4318/v1/traces"),
            target(Metrics, HttpProtobuf, "http://collector:4318/v1/metrics"),
        )
    );
    // Only a protocol: the protocol's default endpoint.
    assert_eq!(
        read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap(),
        otlp(
            target(Traces, Grpc, "http://localhost:4317"),
            target(Metrics, Grpc, "http://localhost:4317"),
        )
    );
    assert_eq!(
        read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap(),
        otlp(
            target(Traces, HttpProtobuf, "http://localhost:4318/v1/traces"),
            target(Metrics, HttpProtobuf, "http://localhost:4318/v1/metrics"),
        )
    );
    // gRPC uses the base endpoint as it is; per-signal variables win and are used as they are.
    assert_eq!(
        read(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://metrics:9000/otlp"
            ),
        ])
        .unwrap(),
        otlp(
            target(Traces, Grpc, "http://collector:4317"),
            target(Metrics, HttpProtobuf, "http://metrics:9000/otlp"),
        )
    );
    // What it cannot do, it says, naming the variable.
    let error = read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"),
        "{error}"
    );
    let error = read(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"carrier-pigeon\""),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Outer run: check the prerequisites, re-execute in a network namespace, require the marker.
// ---------------------------------------------------------------------------------------------

#[test]
fn telemetry_example_exports_over_grpc_and_http_protobuf() {
    if std::env::var_os(INNER_ENV).is_some() {
        return; // only `INNER_TEST` runs inside the namespace
    }
    let test = "otlp_protocols_e2e::telemetry_example_exports_over_grpc_and_http_protobuf";
    if let Err(reason) = namespace::prerequisites("from oteltest.sink import GrpcSink, HttpSink") {
        common::skip_or_fail(test, &reason);
        return;
    }
    let binary = match example_binary() {
        Ok(binary) => Some(binary),
        Err(reason) => {
            // The in-process half still runs.
            common::skip_or_fail(&format!("{test} (the compiled example)"), &reason);
            None
        }
    };

    namespace::run_inside(
        "otlp_protocols_e2e",
        INNER_TEST,
        INNER_ENV,
        INNER_PASSED,
        INNER_DEADLINE,
        |command| {
            if let Some(binary) = &binary {
                command.env(BINARY_ENV, binary);
            }
            // The example must read only the variables the inner test gives it.
            for name in std::env::vars().map(|(name, _)| name) {
                if name.starts_with("OTEL_") {
                    command.env_remove(name);
                }
            }
        },
    );
}

/// The compiled example beside this test binary (`target/<profile>/examples/telemetry`), if
/// it is at least as new as its source.
fn example_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory above this test binary")?;
    let binary = profile_dir.join("examples").join("telemetry");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/telemetry.rs");
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified());
    let build = "build it with `cargo build --all-features --example telemetry` \
                 (`cargo test --all-features` does)";
    match (modified(&binary), modified(&source)) {
        (Ok(built), Ok(written)) if built >= written => Ok(binary),
        (Ok(_), _) => Err(format!(
            "{} is older than examples/telemetry.rs: {build}",
            binary.display()
        )),
        (Err(_), _) => Err(format!("{} is missing: {build}", binary.display())),
    }
}

// ---------------------------------------------------------------------------------------------
// Inner run, inside the namespace.
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "run by telemetry_example_exports_over_grpc_and_http_protobuf inside a private network namespace"]
fn inner_example_exports_over_both_protocols() {
    if std::env::var_os(INNER_ENV).is_none() {
        eprintln!("{INNER_TEST} runs only inside its outer test's namespace");
        return;
    }
    let out = std::env::temp_dir().join(format!(
        "darklaunch-otlp-protocols-{}.jsonl",
        std::process::id()
    ));
    let receiver = Receiver::start(&out);
    let closed = closed_port();

    // In process, through the example's code, over each protocol.
    let mut seen = 0;
    for (protocol, endpoint, transport) in [("grpc", GRPC, "grpc"), ("http/protobuf", HTTP, "http")]
    {
        let summary = example::run(
            &env(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ]),
            false,
        )
        .unwrap_or_else(|e| panic!("the example over {protocol}: {e}"));
        seen = receiver.assert_arrived(&summary, seen, transport, transport);
    }
    // Per-signal variables: traces over gRPC, metrics over HTTP, in one run.
    let summary = example::run(
        &env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", GRPC),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &format!("{HTTP}/v1/metrics"),
            ),
        ]),
        false,
    )
    .unwrap_or_else(|e| panic!("the example, traces over grpc and metrics over http: {e}"));
    seen = receiver.assert_arrived(&summary, seen, "grpc", "http");

    // A closed port: the error names what failed and where.
    for protocol in ["grpc", "http/protobuf"] {
        let endpoint = format!("http://127.0.0.1:{closed}");
        let error = example::run(
            &env(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ]),
            false,
        )
        .expect_err("nothing listens on the closed port")
        .to_string();
        assert_clear_failure(&error, protocol, &endpoint);
    }

    // The compiled example: the same, through the process's environment and exit status.
    if let Some(binary) = std::env::var_os(BINARY_ENV).map(PathBuf::from) {
        for (protocol, endpoint, transport) in
            [("grpc", GRPC, "grpc"), ("http/protobuf", HTTP, "http")]
        {
            let output = run_example(
                &binary,
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                ],
            );
            let stdout = String::from_utf8_lossy(&output.stdout).to_string();
            assert!(
                output.status.success(),
                "the example binary over {protocol}: {}\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            seen = receiver.assert_arrived(&stdout, seen, transport, transport);
        }
        for protocol in ["grpc", "http/protobuf"] {
            let endpoint = format!("http://127.0.0.1:{closed}");
            let output = run_example(
                &binary,
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ],
            );
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.lines().all(|line| line.starts_with("error: ")),
                "{stderr}"
            );
            assert_clear_failure(&stderr, protocol, &endpoint);
        }
        println!("the compiled example {} checked too", binary.display());
    }
    drop(receiver);
    println!("{INNER_PASSED}: {seen} spans and metrics received over grpc and http");
}

/// The failure names each signal, the protocol, the endpoint, and the underlying error.
fn assert_clear_failure(error: &str, protocol: &str, endpoint: &str) {
    for (signal, url) in [
        ("traces", endpoint_of(protocol, endpoint, "traces")),
        ("metrics", endpoint_of(protocol, endpoint, "metrics")),
    ] {
        let prefix = format!("exporting {signal} over OTLP {protocol} to {url} failed: ");
        let line = error
            .lines()
            .find(|line| line.contains(&prefix))
            .unwrap_or_else(|| panic!("no line with {prefix:?} in:\n{error}"));
        let cause = &line[line.find(&prefix).unwrap_or(0) + prefix.len()..];
        assert!(
            cause.contains("export failed"),
            "the exporter's own error follows: {line}"
        );
        if protocol == "grpc" {
            assert!(cause.contains("Connection refused"), "{line}");
        }
    }
}

fn endpoint_of(protocol: &str, endpoint: &str, signal: &str) -> String {
    if protocol == "grpc" {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/{signal}")
    }
}

fn run_example(binary: &Path, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    command.envs(vars.iter().copied()).stdin(Stdio::null());
    command
        .output()
        .expect("run the compiled telemetry example")
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// The `oteltest` receiver on both protocols, as a child process; killed (and its output
/// removed) on drop.
struct Receiver {
    child: Child,
    out: PathBuf,
}

impl Receiver {
    fn start(out: &Path) -> Receiver {
        let _ = fs::remove_file(out);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/otlp_receiver.py");
        let child = Command::new("python3")
            .arg(&script)
            .arg("--out")
            .arg(out)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start python3 tests/e2e/otlp_receiver.py");
        let mut receiver = Receiver {
            child,
            out: out.to_owned(),
        };
        let started = Instant::now();
        for port in [4317, 4318] {
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if let Some(status) = receiver.child.try_wait().expect("poll the receiver") {
                    panic!("the oteltest receiver exited before listening: {status}");
                }
                if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                    break;
                }
                assert!(
                    started.elapsed() < RECEIVER_DEADLINE,
                    "the oteltest receiver did not listen on {address} in time"
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
        receiver
    }

    fn records(&self) -> Vec<Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("the receiver writes JSON lines"))
            .collect()
    }

    /// After one run of the example (its summary line), a span for every mismatched run (and,
    /// by the default span policy, for a few of the matching ones: at most `published` in
    /// all) has arrived over `spans_over` and both metrics over `metrics_over`, from the example's
    /// service. `seen` records had arrived before; returns the records seen now.
    fn assert_arrived(
        &self,
        summary: &str,
        seen: usize,
        spans_over: &str,
        metrics_over: &str,
    ) -> usize {
        let published: usize = summary
            .split("published ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a published count in {summary:?}"));
        assert!(published > 0, "{summary}");
        let mismatched: usize = summary
            .split("mismatched ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a mismatched count in {summary:?}"));
        assert!(mismatched > 0, "{summary}");
        assert!(
            summary.contains(&format!("traces over OTLP {}", name(spans_over)))
                && summary.contains(&format!("metrics over OTLP {}", name(metrics_over))),
            "{summary}"
        );
        let started = Instant::now();
        loop {
            // The sink writes what it receives before it answers, and the run returned after
            // its last export was answered: what follows `seen` is this run's.
            let all = self.records();
            let records = &all[seen.min(all.len())..];
            let new_spans: Vec<&Value> = records.iter().filter(|r| r["kind"] == "span").collect();
            let metrics: Vec<&str> = records
                .iter()
                .filter(|r| r["kind"] == "metric" && r["transport"] == metrics_over)
                .filter_map(|r| r["name"].as_str())
                .collect();
            let noteworthy = new_spans
                .iter()
                .filter(|span| span["attributes"]["darklaunch.matched"] == false)
                .count();
            let complete = noteworthy >= mismatched
                && metrics.contains(&"darklaunch.runs")
                && metrics.contains(&"darklaunch.duration");
            if complete || started.elapsed() > ARRIVAL_DEADLINE {
                assert_eq!(
                    noteworthy, mismatched,
                    "one span per mismatched run: {summary}"
                );
                assert!(
                    new_spans.len() <= published,
                    "at most one span per published run: {} spans, {summary}",
                    new_spans.len()
                );
                for span in &new_spans {
                    assert_eq!(span["transport"], spans_over, "{span}");
                    assert_eq!(span["name"], "darklaunch.experiment", "{span}");
                    assert_eq!(span["scope"], "darklaunch", "{span}");
                    assert_eq!(
                        span["resource"]["service.name"],
                        example::SERVICE_NAME,
                        "{span}"
                    );
                }
                assert!(
                    new_spans
                        .iter()
                        .any(|s| s["events"].to_string().contains("darklaunch.mismatch")),
                    "the rewrite's rounding mismatches some carts"
                );
                for metric in ["darklaunch.runs", "darklaunch.duration"] {
                    assert!(
                        metrics.contains(&metric),
                        "{metric} over {metrics_over}: {records:?}"
                    );
                }
                return all.len();
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The protocol name a transport tag stands for in the example's summary.
fn name(transport: &str) -> &'static str {
    if transport == "grpc" {
        "grpc"
    } else {
        "http/protobuf"
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.out);
    }
}
