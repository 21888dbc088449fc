//! End to end: `OtelPublisher` spans leave the process through `opentelemetry-otlp`
//! (HTTP/protobuf) and arrive at a real OTLP receiver, the `oteltest` sink from PyPI
//! (`tests/e2e/otlp_sink.py`), which writes each span it receives as a JSON line.
//!
//! The sink listens on all interfaces, so it must not run in the host's network namespace. The
//! test [`spans_reach_a_real_otlp_receiver`] re-executes this test binary as
//! `unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' <this binary> --exact
//! otlp_e2e::inner_spans_reach_the_sink --ignored`, with `DARKLAUNCH_OTLP_E2E_INNER` set: in that private
//! namespace the only interface is loopback, shared by the sink and the exporter. The inner run
//! prints a marker after its last assertion; the outer run passes only if it sees the marker.
//!
//! Needs `unshare` and `ip` (util-linux, iproute2; root) and `python3 -m pip install oteltest`.
//! Without them the test prints `SKIPPED: ...` and passes, unless `CI` is set: then it fails.

#![cfg(all(feature = "opentelemetry", feature = "serde"))]

use crate::common;
use crate::namespace;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use darklaunch::diff::DiffOptions;
use darklaunch::publish::otel::SpanPolicy;
use darklaunch::publish::OtelPublisher;
use darklaunch::{Experiment, Sampler};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::Serialize;
use serde_json::{json, Value};

/// Set (to `1`) in the environment of the re-executed, namespaced run.
const INNER_ENV: &str = "DARKLAUNCH_OTLP_E2E_INNER";
/// The inner test's name in this binary (its module, then its function), as `--exact` wants it.
const INNER_TEST: &str = "otlp_e2e::inner_spans_reach_the_sink";
/// Printed by the inner run after its last assertion.
const INNER_PASSED: &str = "darklaunch-otlp-e2e: inner run asserted";
/// The OTLP/HTTP port; the namespace is private, so the standard port is free.
const PORT: u16 = 4318;
const SERVICE_NAME: &str = "darklaunch-otlp-e2e";

const INNER_DEADLINE: Duration = Duration::from_secs(120);
const SINK_READY_DEADLINE: Duration = Duration::from_secs(30);
const SPANS_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    subtotal_cents: u64,
    discount_cents: u64,
    total_cents: u64,
}

fn quote(subtotal_cents: u64, discount_cents: u64) -> Quote {
    Quote {
        subtotal_cents,
        discount_cents,
        total_cents: subtotal_cents - discount_cents,
    }
}

// ---------------------------------------------------------------------------------------------
// Outer run: check the prerequisites, re-execute in a network namespace, require the marker.
// ---------------------------------------------------------------------------------------------

#[test]
fn spans_reach_a_real_otlp_receiver() {
    if std::env::var_os(INNER_ENV).is_some() {
        return; // only `INNER_TEST` runs inside the namespace
    }
    if let Err(reason) = namespace::prerequisites("from oteltest.sink import HttpSink") {
        common::skip_or_fail("otlp_e2e::spans_reach_a_real_otlp_receiver", &reason);
        return;
    }
    namespace::run_inside(
        "otlp_e2e",
        INNER_TEST,
        INNER_ENV,
        INNER_PASSED,
        INNER_DEADLINE,
        |_| {},
    );
}

// ---------------------------------------------------------------------------------------------
// Inner run, inside the namespace: sink, exporter, experiment, assertions.
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "run by spans_reach_a_real_otlp_receiver inside a private network namespace"]
fn inner_spans_reach_the_sink() {
    if std::env::var_os(INNER_ENV).is_none() {
        eprintln!("{INNER_TEST} runs only inside spans_reach_a_real_otlp_receiver's namespace");
        return;
    }
    let out =
        std::env::temp_dir().join(format!("darklaunch-otlp-e2e-{}.jsonl", std::process::id()));
    let sink = Sink::start(&out);

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://127.0.0.1:{PORT}/v1/traces"))
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("OTLP/HTTP span exporter");
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .with_batch_exporter(exporter)
        .build();

    let experiment = Experiment::<Quote>::builder("otlp-e2e")
        .sampler(Sampler::always())
        .randomize_order(false)
        .publisher(
            OtelPublisher::new()
                .with_tracer(provider.tracer("darklaunch"))
                .with_span_policy(SpanPolicy::every_run()),
        )
        .diff(DiffOptions::default())
        .build()
        .expect("valid experiment");

    // A match, then a mismatch in two of the three fields; each call returns the control.
    let matched = experiment
        .trial()
        .context("user", "alice")
        .control(|| quote(1000, 100))
        .candidate("v2", || quote(1000, 100))
        .run();
    assert_eq!(matched, quote(1000, 100));
    let mismatched = experiment
        .trial()
        .context("user", "bob")
        .control(|| quote(1005, 100))
        .candidate("v2", || quote(1005, 101))
        .run();
    assert_eq!(mismatched, quote(1005, 100));
    let stats = experiment.stats();
    assert_eq!((stats.matched, stats.mismatched), (1, 1), "{stats:?}");
    run_inside_requests(&provider);
    #[cfg(feature = "tower")]
    shadow_request_inside_trace(&provider);

    // The batch processor exports on its own thread (the blocking reqwest client never runs on
    // a tokio worker); flush, then shut down, so both spans are sent before we look.
    provider
        .force_flush()
        .expect("force_flush the OTLP exporter");
    provider.shutdown().expect("shut down the tracer provider");

    let shadowed = usize::from(cfg!(feature = "tower"));
    let spans = sink.wait_for_spans(2 + 2 * FORMS.len() + 2 * shadowed, SPANS_DEADLINE);
    assert_spans(&spans);
    assert_trace_links(&spans);
    #[cfg(feature = "tower")]
    assert_shadow_trace_link(&spans);
    drop(sink);
    println!(
        "{INNER_PASSED} {} spans received by the oteltest sink",
        spans.len()
    );
}

fn assert_spans(spans: &[Value]) {
    let all = || serde_json::to_string_pretty(spans).unwrap_or_default();
    let experiments: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "darklaunch.experiment")
        .filter(|s| s["attributes"]["darklaunch.experiment"] == "otlp-e2e")
        .collect();
    assert_eq!(
        experiments.len(),
        2,
        "one `darklaunch.experiment` span per run; received:\n{}",
        all()
    );
    for span in &experiments {
        assert_eq!(
            span["resource"]["service.name"], SERVICE_NAME,
            "the span went through our tracer provider: {span}"
        );
        assert_eq!(
            span["scope"], "darklaunch",
            "the injected tracer's scope: {span}"
        );
        assert_eq!(
            span["attributes"]["darklaunch.experiment"], "otlp-e2e",
            "the span names the experiment: {span}"
        );
    }

    // Per-call context is on the span, as `darklaunch.context.<key>`.
    let by_user = |user: &str| -> &Value {
        experiments
            .iter()
            .copied()
            .find(|span| span["attributes"]["darklaunch.context.user"] == user)
            .unwrap_or_else(|| {
                panic!(
                    "no `darklaunch.experiment` span has darklaunch.context.user={user}; \
                     received:\n{}",
                    all()
                )
            })
    };
    let alice = by_user("alice");
    let bob = by_user("bob");
    assert_ne!(alice["span_id"], bob["span_id"], "two distinct spans");

    // The matching run: matched, no mismatch event.
    assert_eq!(alice["attributes"]["darklaunch.matched"], true, "{alice}");
    assert!(
        mismatch_events(alice).is_empty(),
        "the matching run's span has no `darklaunch.mismatch` event: {alice}"
    );

    // The mismatching run: one event, naming the candidate and exactly the differing paths.
    assert_eq!(bob["attributes"]["darklaunch.matched"], false, "{bob}");
    let events = mismatch_events(bob);
    assert_eq!(
        events.len(),
        1,
        "one `darklaunch.mismatch` event for the one mismatching candidate: {bob}"
    );
    let event = &events[0]["attributes"];
    assert_eq!(event["darklaunch.candidate"], "v2", "{event}");
    assert_eq!(event["darklaunch.control.outcome"], "value", "{event}");
    assert_eq!(event["darklaunch.candidate.outcome"], "value", "{event}");
    assert_eq!(
        event["darklaunch.diff.paths"],
        json!(["$.discount_cents", "$.total_cents"]),
        "the differing paths, and only those (not $.subtotal_cents): {event}"
    );
    assert_eq!(
        event["darklaunch.diff.kinds"],
        json!(["changed", "changed"]),
        "{event}"
    );
    assert_eq!(event["darklaunch.diff.count"], 2, "{event}");
    assert_eq!(event["darklaunch.diff.truncated"], false, "{event}");

    // The full diff, as compact JSON: both values at each path.
    let diff: Value = event["darklaunch.diff"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| panic!("`darklaunch.diff` is the diff's JSON: {event}"));
    let values: Vec<(&Value, &Value, &Value)> = diff["differences"]
        .as_array()
        .unwrap_or_else(|| panic!("the diff lists its differences: {diff}"))
        .iter()
        .map(|d| (&d["path"], &d["control"], &d["candidate"]))
        .collect();
    assert_eq!(
        values,
        [
            (&json!("$.discount_cents"), &json!(100), &json!(101)),
            (&json!("$.total_cents"), &json!(905), &json!(904)),
        ],
        "{diff}"
    );
}

/// The run forms whose spans must land in the request's trace, each inside its own request span.
const FORMS: [&str; 4] = ["run", "run_async", "run_detached", "run_detached_blocking"];

/// One run of each form inside a request span of the application's tracer (same provider);
/// the detached forms are flushed before their request ends.
fn run_inside_requests(provider: &SdkTracerProvider) {
    use opentelemetry::context::FutureExt as _;
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _};

    let app = provider.tracer("app");
    let experiment = Experiment::<u32>::builder("otlp-e2e-traces")
        .publisher(
            OtelPublisher::new()
                .with_tracer(provider.tracer("darklaunch"))
                .with_span_policy(SpanPolicy::every_run()),
        )
        .build()
        .expect("valid experiment");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for form in FORMS {
        let request =
            opentelemetry::Context::current_with_span(app.start(format!("request {form}")));
        let trial = || experiment.trial().context("form", form);
        let got = match form {
            "run" => {
                let _attached = request.clone().attach();
                trial().control(|| 1).candidate("v2", || 2).run()
            }
            "run_detached_blocking" => {
                let _attached = request.clone().attach();
                let got = trial()
                    .control(|| 1)
                    .candidate("v2", || 2)
                    .run_detached_blocking();
                assert!(experiment
                    .flush_blocking(Duration::from_secs(5))
                    .is_complete());
                got
            }
            _ => runtime.block_on(
                async {
                    let got = if form == "run_async" {
                        trial()
                            .control(async { 1 })
                            .candidate("v2", async { 2 })
                            .run_async()
                            .await
                    } else {
                        trial()
                            .control(async { 1 })
                            .candidate("v2", async { 2 })
                            .run_detached()
                            .await
                    };
                    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
                    got
                }
                .with_context(request.clone()),
            ),
        };
        assert_eq!(got, 1, "{form}: the control's value");
        request.span().end();
    }
}

/// Over real HTTP: a client's span sends its `traceparent` to an axum service behind the shadow
/// layer; the client's span ends after the shadow run was flushed.
#[cfg(feature = "tower")]
fn shadow_request_inside_trace(provider: &SdkTracerProvider) {
    use axum::routing::get;
    use darklaunch::tower::{ShadowExperiment, ShadowLayer};
    use http_body_util::{BodyExt as _, Full};
    use opentelemetry::trace::{Span as _, Tracer as _};

    let experiment: ShadowExperiment = Experiment::builder("otlp-e2e-shadow")
        .candidate_timeout(Duration::from_secs(5))
        .publisher(
            OtelPublisher::new()
                .with_tracer(provider.tracer("darklaunch"))
                .with_span_policy(SpanPolicy::every_run()),
        )
        .build()
        .expect("valid experiment");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let candidate = axum::Router::new().route("/items/{id}", get(|| async { "candidate" }));
        let primary = axum::Router::new()
            .route("/items/{id}", get(|| async { "primary" }))
            .layer(ShadowLayer::new(experiment.clone(), candidate));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, primary).await;
        });

        let mut span = provider.tracer("client").start("client GET /items/7");
        let context = span.span_context().clone();
        let traceparent = format!("00-{}-{}-01", context.trace_id(), context.span_id());
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<bytes::Bytes>>();
        let request = hyper::Request::get(format!("http://{addr}/items/7"))
            .header("traceparent", traceparent)
            .body(Full::new(bytes::Bytes::new()))
            .expect("request");
        let response = client
            .request(request)
            .await
            .expect("the shadowed service answers");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            &body[..],
            b"primary",
            "the client gets the primary's answer"
        );
        assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
        span.end();
    });
}

/// The shadow run's span arrived in the client's trace, a child of the client's span, inside it.
#[cfg(feature = "tower")]
fn assert_shadow_trace_link(spans: &[Value]) {
    let client = find_span(spans, "the client's span", |s| {
        s["name"] == "client GET /items/7"
    });
    let run = find_span(spans, "the shadow run's span", |s| {
        s["name"] == "darklaunch.experiment"
            && s["attributes"]["darklaunch.experiment"] == "otlp-e2e-shadow"
    });
    assert_child_within(client, run, "shadow layer");
}

/// Each form's `darklaunch.experiment` span arrived with its request's trace id and the
/// request's span as parent, and lies within the request's time.
fn assert_trace_links(spans: &[Value]) {
    for form in FORMS {
        let request = find_span(spans, &format!("the request span of {form}"), |s| {
            s["name"] == format!("request {form}")
        });
        let run = find_span(spans, &format!("the experiment span of {form}"), |s| {
            s["name"] == "darklaunch.experiment"
                && s["attributes"]["darklaunch.context.form"] == form
        });
        assert_eq!(
            request["parent_span_id_hex"], "",
            "{form}: the request is a root: {request}"
        );
        assert_child_within(request, run, form);
    }
}

/// The one received span `wanted` describes.
fn find_span<'a>(spans: &'a [Value], wanted: &str, is: impl Fn(&Value) -> bool) -> &'a Value {
    spans.iter().find(|span| is(span)).unwrap_or_else(|| {
        let all = serde_json::to_string_pretty(spans).unwrap_or_default();
        panic!("no span is {wanted}; received:\n{all}")
    })
}

/// `run` is in `request`'s trace, a child of `request`'s span, and lies within its time.
fn assert_child_within(request: &Value, run: &Value, what: &str) {
    assert_eq!(
        run["trace_id_hex"], request["trace_id_hex"],
        "{what}: {run}"
    );
    assert_eq!(
        run["parent_span_id_hex"], request["span_id_hex"],
        "{what}: {run}"
    );
    let time = |span: &Value, key: &str| {
        span[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {span}"))
    };
    assert!(
        time(request, "start_unix_nano") <= time(run, "start_unix_nano")
            && time(run, "start_unix_nano") <= time(run, "end_unix_nano")
            && time(run, "end_unix_nano") <= time(request, "end_unix_nano"),
        "{what}: the run lies within its request: {request} {run}"
    );
}

fn mismatch_events(span: &Value) -> Vec<&Value> {
    span["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["name"] == "darklaunch.mismatch")
                .collect()
        })
        .unwrap_or_default()
}

/// The `oteltest` sink as a child process; killed (and its output file removed) on drop, also
/// when an assertion fails.
struct Sink {
    child: Child,
    out: PathBuf,
}

impl Sink {
    fn start(out: &Path) -> Sink {
        let _ = fs::remove_file(out);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/otlp_sink.py");
        let child = Command::new("python3")
            .arg(&script)
            .arg("--port")
            .arg(PORT.to_string())
            .arg("--out")
            .arg(out)
            // The sink exits when this pipe closes, i.e. when this process is gone.
            .stdin(Stdio::piped())
            .spawn()
            .expect("start python3 tests/e2e/otlp_sink.py");
        let mut sink = Sink {
            child,
            out: out.to_owned(),
        };
        sink.wait_until_listening();
        sink
    }

    fn wait_until_listening(&mut self) {
        let address = SocketAddr::from(([127, 0, 0, 1], PORT));
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the sink") {
                panic!("the oteltest sink exited before listening: {status}");
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                started.elapsed() < SINK_READY_DEADLINE,
                "the oteltest sink did not listen on {address} within {SINK_READY_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The spans received so far once there are at least `n`, or all of them at the deadline.
    fn wait_for_spans(&self, n: usize, deadline: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans: Vec<Value> = fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str(line).expect("the sink writes JSON lines"))
                .collect();
            if spans.len() >= n || started.elapsed() > deadline {
                return spans;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.out);
    }
}
