//! Shadow traffic says what it is, over real HTTP on 127.0.0.1: the candidate's copy of a
//! request carries the request's W3C trace context and the shadow marker, the primary receives
//! neither change, the run's trace parent is the request's, and a downstream service refuses
//! marked requests with `RefuseShadow`. Primary, candidate and downstream are real axum
//! servers; the candidate is reached through hyper's client, as a remote rewrite would be.

#![cfg(feature = "tower")]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use darklaunch::publish::Recorder;
use darklaunch::tower::{
    RefuseShadow, ShadowError, ShadowExperiment, ShadowLayer, ShadowResponse, DEFAULT_SHADOW_MARKER,
};
use darklaunch::trace::TraceParent;
use darklaunch::Experiment;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const STATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
const MARKER: &str = "x-darklaunch-shadow";

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request with these headers (appended in order, so a name may repeat); returns the
/// status and the body.
async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (StatusCode, Bytes) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// The headers each request to an app arrived with, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    fn all(&self) -> Vec<HeaderMap> {
        self.0.lock().unwrap().clone()
    }

    /// The headers of the only request; `host` (which names each server's port) left out.
    fn only(&self) -> HeaderMap {
        let all = self.all();
        assert_eq!(all.len(), 1, "{all:?}");
        without_host(&all[0])
    }
}

fn without_host(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    headers.remove("host");
    headers
}

/// `GET /items/{id}` answering `body`, recording the headers it was called with.
fn recording_app(seen: &Seen, body: &'static str) -> Router {
    let seen = seen.clone();
    Router::new().route(
        "/items/{id}",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.0.lock().unwrap().push(headers);
                body
            }
        }),
    )
}

/// The candidate: a remote service, reached over HTTP with hyper's client (the copy's path and
/// query against `addr`, every header as the layer made it).
#[derive(Clone)]
struct Remote {
    addr: SocketAddr,
    client: HttpClient,
}

impl Remote {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: client(),
        }
    }
}

type RemoteFuture = Pin<
    Box<dyn Future<Output = Result<Response<Incoming>, hyper_util::client::legacy::Error>> + Send>,
>;

impl tower::Service<Request<Full<Bytes>>> for Remote {
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = RemoteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Full<Bytes>>) -> Self::Future {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned();
        *request.uri_mut() = format!("http://{}{path}", self.addr).parse().unwrap();
        let client = self.client.clone();
        Box::pin(async move { client.request(request).await })
    }
}

type Published = Recorder<ShadowResponse, ShadowError>;

fn experiment(name: &str, recorder: &Published) -> ShadowExperiment {
    Experiment::builder(name)
        .candidate_timeout(Duration::from_secs(5))
        .on_error(|_| {})
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

async fn flush(experiment: &ShadowExperiment) {
    let report = experiment.flush(Duration::from_secs(10)).await;
    assert!(report.is_complete(), "flush incomplete: {report:?}");
}

/// A primary (recording) behind `layer`'s configuration, a candidate (recording) on its own
/// server, and the same primary without the layer, for comparison.
struct Apps {
    shadowed: SocketAddr,
    plain: SocketAddr,
    primary: Seen,
    plain_primary: Seen,
    candidate: Seen,
}

async fn apps(
    experiment: &ShadowExperiment,
    configure: impl FnOnce(ShadowLayer<Remote>) -> ShadowLayer<Remote>,
) -> Apps {
    let (primary, plain_primary, candidate) = (Seen::default(), Seen::default(), Seen::default());
    let candidate_addr = serve(recording_app(&candidate, "candidate")).await;
    let layer = configure(ShadowLayer::new(
        experiment.clone(),
        Remote::new(candidate_addr),
    ));
    let shadowed = serve(recording_app(&primary, "primary").layer(layer)).await;
    let plain = serve(recording_app(&plain_primary, "primary")).await;
    Apps {
        shadowed,
        plain,
        primary,
        plain_primary,
        candidate,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_candidate_gets_the_requests_trace_and_the_marker_and_the_primary_neither() {
    let recorder = Recorder::new().with_traces();
    let experiment = experiment("traced-shadow", &recorder);
    let apps = apps(&experiment, |layer| layer).await;
    let client = client();
    let headers: &[(&str, &[u8])] = &[
        ("traceparent", PARENT.as_bytes()),
        ("tracestate", STATE.as_bytes()),
        ("x-request-id", b"r-1"),
    ];
    let on = send(&client, apps.shadowed, Method::GET, "/items/7", headers).await;
    let off = send(&client, apps.plain, Method::GET, "/items/7", headers).await;
    assert_eq!(on, off, "the client gets the primary's answer");
    assert_eq!(on, (StatusCode::OK, Bytes::from_static(b"primary")));
    flush(&experiment).await;

    // The primary sees exactly the request's headers, as without the layer.
    let primary = apps.primary.only();
    assert_eq!(primary, apps.plain_primary.only());
    assert_eq!(primary["traceparent"], PARENT);
    assert_eq!(primary["tracestate"], STATE);
    assert!(primary.get(MARKER).is_none(), "{primary:?}");

    // The candidate's copy carries the marker and a traceparent in the request's trace.
    let candidate = apps.candidate.only();
    assert_eq!(candidate[MARKER], "1");
    let requested: TraceParent = PARENT.parse().unwrap();
    let forwarded: TraceParent = candidate["traceparent"].to_str().unwrap().parse().unwrap();
    assert_eq!(forwarded.trace_id_hex(), requested.trace_id_hex());
    // No span was current in the server: the run's parent is the request's own span.
    assert_eq!(forwarded, requested);
    assert_eq!(candidate["tracestate"], STATE);
    assert_eq!(candidate["x-request-id"], "r-1");
    // Nothing else changed: the request's headers plus the marker.
    let mut expected = primary.clone();
    expected.insert(MARKER, HeaderValue::from_static("1"));
    assert_eq!(candidate, expected);

    // The published run sits in the request's trace.
    let results = recorder.results();
    assert_eq!(results.len(), 1);
    let trace = results[0].trace().expect("a publisher wants traces");
    assert_eq!(trace.parent(), Some(&requested));
    assert_eq!(
        trace.trace_id_hex().as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let started = trace.started().expect("the recorder wants run times");
    assert!(trace.ended().is_some_and(|ended| ended >= started));
    assert_eq!(
        results[0].candidates()[0]
            .observation()
            .outcome()
            .value()
            .unwrap()
            .body,
        "candidate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_is_ignored_and_the_run_published_without_a_parent() {
    let recorder = Recorder::new().with_traces();
    let experiment = experiment("malformed-trace", &recorder);
    let apps = apps(&experiment, |layer| layer).await;
    let client = client();
    let huge = format!("{PARENT}-{}", "a".repeat(4096));
    let cases: Vec<Vec<(&str, Vec<u8>)>> = vec![
        vec![("traceparent", b"garbage".to_vec())],
        vec![("traceparent", PARENT.to_uppercase().into_bytes())],
        vec![(
            "traceparent",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_vec(),
        )],
        vec![(
            "traceparent",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec(),
        )],
        vec![("traceparent", huge.into_bytes())],
        vec![("traceparent", b"00-\xff\xfe-\x80".to_vec())],
        // Two values: the recommendation allows one.
        vec![
            ("traceparent", PARENT.as_bytes().to_vec()),
            ("traceparent", PARENT.as_bytes().to_vec()),
        ],
        // A state without a parent is no trace context either.
        vec![("tracestate", STATE.as_bytes().to_vec())],
    ];
    for (at, case) in cases.iter().enumerate() {
        // The case's number, to find its requests by: candidates run in the background, in
        // any order.
        let number = at.to_string();
        let mut headers: Vec<(&str, &[u8])> = vec![("x-case", number.as_bytes())];
        headers.extend(case.iter().map(|(n, v)| (*n, &v[..])));
        let reply = send(&client, apps.shadowed, Method::GET, "/items/1", &headers).await;
        assert_eq!(
            reply,
            (StatusCode::OK, Bytes::from_static(b"primary")),
            "{case:?}"
        );
        send(&client, apps.plain, Method::GET, "/items/1", &headers).await;
    }
    flush(&experiment).await;

    let results = recorder.results();
    assert_eq!(results.len(), cases.len(), "every run was published");
    for result in &results {
        let trace = result.trace().expect("traces are captured");
        assert_eq!(trace.parent(), None);
        assert!(result.matched() || result.has_mismatch());
    }
    let (primary, plain, candidate) = (
        apps.primary.all(),
        apps.plain_primary.all(),
        apps.candidate.all(),
    );
    assert_eq!(candidate.len(), cases.len());
    let case = |all: &[HeaderMap], at: usize| {
        let found = all.iter().find(|h| h["x-case"] == at.to_string().as_str());
        without_host(found.expect("each case arrived"))
    };
    for at in 0..cases.len() {
        let (primary, candidate) = (case(&primary, at), case(&candidate, at));
        assert_eq!(primary, case(&plain, at));
        assert!(primary.get(MARKER).is_none());
        // No parent to name: the copy carries the request's trace headers as they came.
        let mut expected = primary.clone();
        expected.insert(MARKER, HeaderValue::from_static("1"));
        assert_eq!(candidate, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_traces_the_copy_forwards_the_requests_traceparent_unchanged() {
    // No publisher wants traces: the run captures none, and the copy is the request's.
    let recorder = Recorder::new();
    let experiment = experiment("untraced-shadow", &recorder);
    let apps = apps(&experiment, |layer| layer).await;
    let client = client();
    let headers: &[(&str, &[u8])] = &[
        ("traceparent", PARENT.as_bytes()),
        ("tracestate", STATE.as_bytes()),
    ];
    send(&client, apps.shadowed, Method::GET, "/items/3", headers).await;
    flush(&experiment).await;
    assert!(recorder.results()[0].trace().is_none());
    let candidate = apps.candidate.only();
    assert_eq!(candidate["traceparent"], PARENT);
    assert_eq!(candidate["tracestate"], STATE);
    assert_eq!(candidate[MARKER], "1");
    assert!(apps.primary.only().get(MARKER).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_is_configurable_and_can_be_turned_off() {
    let client = client();
    let recorder = Recorder::new();

    // A marker of one's own.
    let experiment = experiment("custom-marker", &recorder);
    let apps = apps(&experiment, |layer| {
        layer.shadow_marker(
            HeaderName::from_static("x-traffic"),
            HeaderValue::from_static("shadow"),
        )
    })
    .await;
    send(&client, apps.shadowed, Method::GET, "/items/1", &[]).await;
    flush(&experiment).await;
    let candidate = apps.candidate.only();
    assert_eq!(candidate["x-traffic"], "shadow");
    assert!(candidate.get(MARKER).is_none());
    let primary = apps.primary.only();
    assert!(primary.get("x-traffic").is_none() && primary.get(MARKER).is_none());

    // No marker at all: the copy has the request's headers.
    let experiment = self::experiment("no-marker", &recorder);
    let apps = self::apps(&experiment, ShadowLayer::without_shadow_marker).await;
    send(
        &client,
        apps.shadowed,
        Method::GET,
        "/items/1",
        &[("accept", b"*/*")],
    )
    .await;
    flush(&experiment).await;
    assert_eq!(apps.candidate.only(), apps.primary.only());
    assert!(apps.candidate.only().get(MARKER).is_none());

    // A client's own marker: the primary gets it as sent, the candidate the layer's.
    let experiment = self::experiment("client-marker", &recorder);
    let apps = self::apps(&experiment, |layer| layer).await;
    send(
        &client,
        apps.shadowed,
        Method::GET,
        "/items/1",
        &[(MARKER, b"0")],
    )
    .await;
    flush(&experiment).await;
    assert_eq!(apps.primary.only()[MARKER], "0");
    let candidate = apps.candidate.only();
    assert_eq!(candidate.get_all(MARKER).iter().collect::<Vec<_>>(), ["1"]);
    assert_eq!(DEFAULT_SHADOW_MARKER, (MARKER, "1"));
}

/// A payment service that counts the charges it makes, behind `guard`.
fn payments(charges: &Arc<AtomicUsize>, guard: RefuseShadow) -> Router {
    let charges = charges.clone();
    Router::new()
        .route(
            "/charge",
            post(move || {
                let charges = charges.clone();
                async move {
                    charges.fetch_add(1, Ordering::SeqCst);
                    "charged"
                }
            }),
        )
        .layer(guard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_marked_requests_and_passes_unmarked_ones() {
    let client = client();
    let charges = Arc::new(AtomicUsize::new(0));
    let addr = serve(payments(&charges, RefuseShadow::new())).await;

    let refused = send(&client, addr, Method::POST, "/charge", &[(MARKER, b"1")]).await;
    assert_eq!(refused, (StatusCode::FORBIDDEN, Bytes::new()));
    assert_eq!(
        charges.load(Ordering::SeqCst),
        0,
        "a shadow call never charges"
    );
    let passed = send(&client, addr, Method::POST, "/charge", &[]).await;
    assert_eq!(passed, (StatusCode::OK, Bytes::from_static(b"charged")));
    // Another value under the marker's name is not the marker.
    let other = send(&client, addr, Method::POST, "/charge", &[(MARKER, b"0")]).await;
    assert_eq!(other.0, StatusCode::OK);
    assert_eq!(charges.load(Ordering::SeqCst), 2);

    // A custom marker and status.
    let custom = RefuseShadow::new()
        .marker(
            HeaderName::from_static("x-traffic"),
            HeaderValue::from_static("shadow"),
        )
        .status(StatusCode::SERVICE_UNAVAILABLE);
    let charges = Arc::new(AtomicUsize::new(0));
    let addr = serve(payments(&charges, custom)).await;
    let refused = send(
        &client,
        addr,
        Method::POST,
        "/charge",
        &[("x-traffic", b"shadow")],
    )
    .await;
    assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE);
    let passed = send(&client, addr, Method::POST, "/charge", &[(MARKER, b"1")]).await;
    assert_eq!(passed.0, StatusCode::OK, "only its own marker is refused");
    assert_eq!(charges.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadowed_write_is_refused_downstream_and_charges_once() {
    // The old checkout charges through its payment path; the rewrite is shadowed with unsafe
    // methods opted in, and its payment service refuses shadow calls.
    let client = client();
    let primary_charges = Arc::new(AtomicUsize::new(0));
    let candidate_charges = Arc::new(AtomicUsize::new(0));
    let candidate = serve(payments(&candidate_charges, RefuseShadow::new())).await;
    let recorder = Recorder::new();
    let experiment = experiment("checkout-v2", &recorder);
    let layer =
        ShadowLayer::new(experiment.clone(), Remote::new(candidate)).shadow_unsafe_methods(true);
    let primary = serve(payments(&primary_charges, RefuseShadow::new()).layer(layer)).await;

    let reply = send(&client, primary, Method::POST, "/charge", &[]).await;
    assert_eq!(reply, (StatusCode::OK, Bytes::from_static(b"charged")));
    flush(&experiment).await;
    assert_eq!(primary_charges.load(Ordering::SeqCst), 1);
    assert_eq!(
        candidate_charges.load(Ordering::SeqCst),
        0,
        "the copy was refused"
    );
    let results = recorder.results();
    let refused = results[0].candidates()[0]
        .observation()
        .outcome()
        .value()
        .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(results[0].has_mismatch());
}

/// With the OpenTelemetry publisher and the SDK's in-memory exporter: a client's request span
/// sends its `traceparent` over real HTTP, and the exported `darklaunch.experiment` span of the
/// shadowed request has the client span's trace id and span id as parent, and lies within it.
#[cfg(feature = "opentelemetry")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_experiment_span_is_a_child_of_the_requests_span() {
    use darklaunch::publish::otel::SpanPolicy;
    use darklaunch::publish::OtelPublisher;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    let exporter = InMemorySpanExporter::default();
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let meters = SdkMeterProvider::builder().build();
    let experiment: ShadowExperiment = Experiment::builder("otel-shadow")
        .candidate_timeout(Duration::from_secs(5))
        .publisher(
            OtelPublisher::new()
                .with_meter(meters.meter("darklaunch"))
                .with_tracer(tracers.tracer("darklaunch"))
                .with_span_policy(SpanPolicy::every_run()),
        )
        .build()
        .unwrap();
    let apps = apps(&experiment, |layer| layer).await;
    let client = client();

    let mut request_span = tracers.tracer("client").start("GET /items/7");
    let context = request_span.span_context().clone();
    let traceparent = format!("00-{}-{}-01", context.trace_id(), context.span_id());
    let headers: &[(&str, &[u8])] = &[("traceparent", traceparent.as_bytes())];
    let answer = send(&client, apps.shadowed, Method::GET, "/items/7", headers).await;
    assert_eq!(answer, (StatusCode::OK, Bytes::from_static(b"primary")));
    flush(&experiment).await;
    request_span.end();

    tracers.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let request = spans
        .iter()
        .find(|span| span.name == "GET /items/7")
        .expect("the client's span");
    let runs: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "darklaunch.experiment")
        .collect();
    assert_eq!(runs.len(), 1, "{spans:#?}");
    let run = runs[0];
    assert_eq!(run.span_context.trace_id(), context.trace_id());
    assert_eq!(run.parent_span_id, context.span_id());
    assert!(
        request.start_time <= run.start_time
            && run.start_time <= run.end_time
            && run.end_time <= request.end_time,
        "request {:?}..{:?}, run {:?}..{:?}",
        request.start_time,
        request.end_time,
        run.start_time,
        run.end_time
    );
    // The candidate's copy carried the same trace.
    let copy = apps.candidate.only();
    let forwarded: TraceParent = copy["traceparent"].to_str().unwrap().parse().unwrap();
    assert_eq!(forwarded.trace_id(), context.trace_id().to_bytes());
}
