//! The tower shadow layer in front of a real axum server on 127.0.0.1, driven by a real HTTP
//! client (hyper-util's client over TCP). Raw TCP only where hyper's client cannot write the
//! request a test needs: a body that never ends, and `Expect: 100-continue` with the body held
//! back until the interim answer.

#![cfg(feature = "tower")]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use darklaunch::diff::DiffOptions;
use darklaunch::publish::Recorder;
use darklaunch::tower::{ShadowError, ShadowExperiment, ShadowLayer, ShadowResponse};
use darklaunch::{Experiment, Sampler, Verdict};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

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

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    took: Duration,
}

async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).unwrap();
    let started = Instant::now();
    let response = client.request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        took: started.elapsed(),
    }
}

/// Headers without `date`, which changes with the second.
fn stable(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut list: Vec<_> = headers
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    list.sort();
    list
}

fn primary_app() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move {
                (
                    [("x-served-by", "primary"), ("cache-control", "no-store")],
                    Json(json!({"id": id, "name": "widget", "tags": ["a", "b"]})),
                )
            }),
        )
        .route("/text", get(|| async { "plain text from the primary" }))
        .route(
            "/price/{id}",
            get(|Path(id): Path<u32>| async move {
                Json(json!({"id": id, "price": 12, "timestamp": 1_700_000_000}))
            }),
        )
        .route(
            "/orders",
            post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
        )
        .route("/slow", get(|| async { "primary is fast" }))
        .route("/boom", get(|| async { "primary is fine" }))
}

/// The rewrite: different answers, a call counter, and a hanging and a panicking route.
fn candidate_app(calls: Arc<AtomicUsize>) -> Router {
    let counted = move |calls: &Arc<AtomicUsize>| {
        calls.fetch_add(1, Ordering::SeqCst);
    };
    let (c1, c2, c3, c4, c5, c6) = (
        calls.clone(),
        calls.clone(),
        calls.clone(),
        calls.clone(),
        calls.clone(),
        calls.clone(),
    );
    Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<u32>| async move {
                counted(&c1);
                Json(json!({"id": id, "name": "gadget"}))
            }),
        )
        .route(
            "/text",
            get(move || async move {
                counted(&c2);
                "plain text from the candidate"
            }),
        )
        .route(
            "/price/{id}",
            get(move |Path(id): Path<u32>| async move {
                counted(&c3);
                let price = if id == 1 { 13 } else { 12 };
                Json(json!({"id": id, "price": price, "timestamp": 1_800_000_000}))
            }),
        )
        .route(
            "/orders",
            post(move |body: Bytes| async move {
                counted(&c4);
                (StatusCode::CREATED, body)
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                counted(&c5);
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .route(
            "/boom",
            get(move || async move {
                counted(&c6);
                if c6.load(Ordering::SeqCst) < usize::MAX {
                    panic!("candidate exploded");
                }
                "unreachable"
            }),
        )
}

struct Setup {
    experiment: ShadowExperiment,
    recorder: Recorder<ShadowResponse, ShadowError>,
    calls: Arc<AtomicUsize>,
    layer: ShadowLayer<Router>,
}

fn setup(
    sampler: Sampler,
    configure: impl FnOnce(ShadowLayer<Router>) -> ShadowLayer<Router>,
) -> Setup {
    let options = DiffOptions::new()
        .try_ignore_path("$.body.timestamp")
        .unwrap();
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-endpoint")
        .sampler(sampler)
        .compare(ShadowResponse::json_compare(options.clone()))
        .diff(options)
        .candidate_timeout(Duration::from_secs(1))
        .on_error(|_| {})
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = configure(ShadowLayer::new(
        experiment.clone(),
        candidate_app(calls.clone()),
    ));
    Setup {
        experiment,
        recorder,
        calls,
        layer,
    }
}

async fn flush(experiment: &ShadowExperiment) {
    let report = experiment.flush(Duration::from_secs(10)).await;
    assert!(report.is_complete(), "flush incomplete: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_identical_with_the_layer_on_and_off() {
    let s = setup(Sampler::always(), |layer| layer);
    let plain = serve(primary_app()).await;
    let shadowed = serve(primary_app().layer(s.layer.clone())).await;
    let client = client();
    let cases = [
        (Method::GET, "/items/7", ""),
        (Method::GET, "/text", ""),
        (Method::HEAD, "/items/7", ""),
        (Method::GET, "/no-such-route", ""),
        (Method::POST, "/orders", "order-1"),
        // A body the primary never reads: passed through, but not shadowed.
        (Method::GET, "/text", "ignored"),
    ];
    for (method, path, body) in cases {
        let off = send(&client, plain, method.clone(), path, &[], body).await;
        let on = send(&client, shadowed, method.clone(), path, &[], body).await;
        assert_eq!(off.status, on.status, "{method} {path}");
        assert_eq!(stable(&off.headers), stable(&on.headers), "{method} {path}");
        assert_eq!(off.body, on.body, "{method} {path}");
    }
    flush(&s.experiment).await;
    // The GETs and the HEAD were shadowed (axum's layer wraps the fallback too); the POST
    // was not.
    assert_eq!(s.layer.stats().shadowed, 4, "{:?}", s.layer.stats());
    assert_eq!(s.layer.stats().unsafe_method_skipped, 1);
    assert_eq!(s.layer.stats().request_unread, 1);
    assert_eq!(s.experiment.stats().skipped, 1);
    assert_eq!(s.calls.load(Ordering::SeqCst), 3);
    let results = s.recorder.results();
    assert_eq!(results.len(), 4);
    // Both answer the unknown route with an empty 404, and the HEAD (compared on status and
    // headers: its client gets no body) with a JSON 200: the two matches.
    assert_eq!(results.iter().filter(|r| r.has_mismatch()).count(), 2);
    assert!(s.experiment.stats().reconciles());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatching_json_bodies_produce_the_diff_paths() {
    let s = setup(Sampler::always(), |layer| layer);
    let addr = serve(primary_app().layer(s.layer.clone())).await;
    let client = client();
    // id 1: the price differs (and the ignored timestamp); id 2: only the timestamp differs.
    let one = send(&client, addr, Method::GET, "/price/1", &[], "").await;
    let two = send(&client, addr, Method::GET, "/price/2", &[], "").await;
    assert_eq!(one.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&one.body).unwrap();
    assert_eq!(body["price"], 12, "the client gets the primary's answer");
    assert_eq!(two.status, StatusCode::OK);
    flush(&s.experiment).await;

    let results = s.recorder.results();
    assert_eq!(results.len(), 2);
    let route = |r: &darklaunch::ExperimentResult<ShadowResponse, ShadowError>| {
        r.context().get("route").unwrap().to_string()
    };
    let mismatched = results.iter().find(|r| route(r) == "/price/1").unwrap();
    assert_eq!(
        mismatched.context().get("method").unwrap().to_string(),
        "GET"
    );
    let candidate = &mismatched.candidates()[0];
    assert_eq!(candidate.verdict(), Verdict::Mismatch);
    let diff = candidate.diff().expect("a diff");
    assert_eq!(diff.paths().collect::<Vec<_>>(), ["$.body.price"]);
    let matched = results.iter().find(|r| route(r) == "/price/2").unwrap();
    assert_eq!(matched.candidates()[0].verdict(), Verdict::Match);
    let stats = s.experiment.stats();
    assert_eq!((stats.matched, stats.mismatched), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_methods_are_shadowed_only_when_enabled() {
    let off = setup(Sampler::always(), |layer| layer);
    let addr = serve(primary_app().layer(off.layer.clone())).await;
    let client = client();
    let reply = send(&client, addr, Method::POST, "/orders", &[], "card=4242").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(&reply.body[..], b"card=4242");
    flush(&off.experiment).await;
    assert_eq!(
        off.calls.load(Ordering::SeqCst),
        0,
        "POST must not be shadowed"
    );
    assert_eq!(off.layer.stats().unsafe_method_skipped, 1);
    assert_eq!(off.experiment.stats().sampled, 0);

    let on = setup(Sampler::always(), |layer| layer.shadow_unsafe_methods(true));
    let addr = serve(primary_app().layer(on.layer.clone())).await;
    let reply = send(&client, addr, Method::POST, "/orders", &[], "card=4242").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(&reply.body[..], b"card=4242");
    flush(&on.experiment).await;
    assert_eq!(
        on.calls.load(Ordering::SeqCst),
        1,
        "opted in: POST is shadowed"
    );
    let results = on.recorder.results();
    assert_eq!(results.len(), 1);
    // The candidate echoed the same body: it received an exact copy.
    assert!(results[0].matched());
    assert_eq!(
        results[0].context().get("method").unwrap().to_string(),
        "POST"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_body_is_not_shadowed_and_is_counted() {
    let s = setup(Sampler::always(), |layer| {
        layer.shadow_unsafe_methods(true).max_request_body(64)
    });
    let addr = serve(primary_app().layer(s.layer.clone())).await;
    let client = client();
    let big = vec![b'x'; 4096];
    let reply = send(&client, addr, Method::POST, "/orders", &[], big.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(&reply.body[..], &big[..], "the primary got the whole body");
    let small = send(&client, addr, Method::POST, "/orders", &[], "small").await;
    assert_eq!(&small.body[..], b"small");
    flush(&s.experiment).await;
    // A chunked body (no length known up front) that turns out to be over the limit: the
    // primary still receives all of it, streamed after the buffered prefix.
    let chunks: [&[u8]; 3] = [&[b'a'; 40], &[b'b'; 40], &[b'c'; 40]];
    let chunked = chunked_post(addr, "/orders", &chunks, Duration::ZERO).await;
    assert_eq!(chunked.status, StatusCode::CREATED);
    let expected = format!("{}{}{}", "a".repeat(40), "b".repeat(40), "c".repeat(40));
    assert_eq!(&chunked.body[..], expected.as_bytes());
    flush(&s.experiment).await;
    let stats = s.layer.stats();
    assert_eq!(stats.request_oversized, 2);
    assert_eq!(stats.shadowed, 1);
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        1,
        "only the small body was shadowed"
    );
    let experiment = s.experiment.stats();
    assert_eq!(
        (experiment.skipped, experiment.shed),
        (1, 0),
        "the chunked request was sampled, then skipped (not shed: nothing was over max_in_flight)"
    );
    assert!(experiment.reconciles());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_primary_response_passes_through_uncompared() {
    let s = setup(Sampler::always(), |layer| layer.max_response_body(8));
    let plain = serve(primary_app()).await;
    let addr = serve(primary_app().layer(s.layer.clone())).await;
    let client = client();
    let off = send(&client, plain, Method::GET, "/items/7", &[], "").await;
    let on = send(&client, addr, Method::GET, "/items/7", &[], "").await;
    assert_eq!(off.status, on.status);
    assert_eq!(stable(&off.headers), stable(&on.headers));
    assert_eq!(off.body, on.body);
    flush(&s.experiment).await;
    assert_eq!(s.layer.stats().response_oversized, 1);
    assert_eq!(s.layer.stats().shadowed, 0);
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    assert!(s.recorder.is_empty());
    let stats = s.experiment.stats();
    assert_eq!((stats.skipped, stats.shed), (1, 0), "skipped, not shed");
    assert!(stats.reconciles());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_panicking_candidate_changes_nothing_for_the_client() {
    let s = setup(Sampler::always(), |layer| layer);
    let plain = serve(primary_app()).await;
    let addr = serve(primary_app().layer(s.layer.clone())).await;
    let client = client();
    for path in ["/slow", "/boom"] {
        let off = send(&client, plain, Method::GET, path, &[], "").await;
        let on = send(&client, addr, Method::GET, path, &[], "").await;
        assert_eq!(off.status, on.status);
        assert_eq!(stable(&off.headers), stable(&on.headers));
        assert_eq!(off.body, on.body);
        // The candidate hangs for 30 s (timeout 1 s) — the client waits neither for it nor
        // for its timeout.
        assert!(
            on.took < Duration::from_secs(1),
            "{path} took {:?}",
            on.took
        );
    }
    // The server keeps serving after the candidate's panic.
    let again = send(&client, addr, Method::GET, "/boom", &[], "").await;
    assert_eq!(&again.body[..], b"primary is fine");
    flush(&s.experiment).await;

    let results = s.recorder.results();
    let verdict = |route: &str| -> Vec<Verdict> {
        results
            .iter()
            .filter(|r| r.context().get("route").unwrap().to_string() == route)
            .map(|r| r.candidates()[0].verdict())
            .collect()
    };
    assert_eq!(verdict("/slow"), [Verdict::TimedOut]);
    assert_eq!(verdict("/boom"), [Verdict::CandidateError; 2]);
    let stats = s.experiment.stats();
    assert_eq!(stats.timeouts, 1);
    assert_eq!(stats.candidate_errors, 2);
    assert!(stats.reconciles());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_sampling_by_header_is_sticky_per_value() {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let recorded = seen.clone();
    let candidate = Router::new().route(
        "/items/{id}",
        get(move |headers: HeaderMap| async move {
            let user = headers["x-user-id"].to_str().unwrap().to_owned();
            *recorded.lock().unwrap().entry(user).or_default() += 1;
            "candidate"
        }),
    );
    let experiment: ShadowExperiment = Experiment::builder("keyed-shadow")
        .sampler(Sampler::keyed(50.0))
        .build()
        .unwrap();
    let layer = ShadowLayer::new(experiment.clone(), candidate)
        .key_header(axum::http::HeaderName::from_static("x-user-id"));
    let addr = serve(primary_app().layer(layer.clone())).await;
    let client = client();
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    for round in 0..3 {
        for user in &users {
            let reply = send(
                &client,
                addr,
                Method::GET,
                &format!("/items/{round}"),
                &[("x-user-id", user)],
                "",
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK);
        }
    }
    flush(&experiment).await;
    let seen = seen.lock().unwrap();
    let mut sampled_users = 0;
    for user in &users {
        let expected = if experiment.samples(user.as_str()) {
            3
        } else {
            0
        };
        assert_eq!(seen.get(user).copied().unwrap_or(0), expected, "{user}");
        sampled_users += usize::from(expected > 0);
    }
    assert!(
        (5..=35).contains(&sampled_users),
        "about half the users are sampled, got {sampled_users}"
    );
    assert_eq!(layer.stats().shadowed, 3 * sampled_users as u64);
}

/// Noise calibration through the primary: the calibrated share of GETs is answered by the
/// primary a second time, which teaches the experiment that `request_id` is noise; the
/// candidate's real defect stays a mismatch; a POST never reaches the primary twice.
#[cfg(feature = "insight")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_answering_twice_calibrates_noise() {
    use darklaunch::insight::Insight;
    use darklaunch::noise::NoiseCalibration;

    let primary_calls = Arc::new(AtomicUsize::new(0));
    let next_id = Arc::new(AtomicUsize::new(0));
    let (counted, ids) = (primary_calls.clone(), next_id.clone());
    let primary = Router::new()
        .route(
            "/quote/{id}",
            get(move |Path(id): Path<u32>| async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let request_id = ids.fetch_add(1, Ordering::SeqCst);
                Json(json!({"id": id, "price": 12, "request_id": request_id}))
            }),
        )
        .route(
            "/orders",
            post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
        );
    let candidate_ids = next_id.clone();
    let candidate = Router::new()
        .route(
            "/quote/{id}",
            get(move |Path(id): Path<u32>| async move {
                let request_id = candidate_ids.fetch_add(1, Ordering::SeqCst);
                let price = if id % 10 == 3 { 13 } else { 12 };
                Json(json!({"id": id, "price": price, "request_id": request_id}))
            }),
        )
        .route(
            "/orders",
            post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
        );

    let insight = Insight::new();
    let options = DiffOptions::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-calibrated")
        .compare(ShadowResponse::json_compare(options.clone()))
        .diff(options)
        .calibrate_noise(NoiseCalibration::new().warmup(5).percent(50.0))
        .publisher(insight.clone())
        .build()
        .unwrap();
    let layer = ShadowLayer::new(experiment.clone(), candidate).shadow_unsafe_methods(true);
    let addr = serve(primary.layer(layer.clone())).await;
    let client = client();
    for id in 0..200u32 {
        let reply = send(&client, addr, Method::GET, &format!("/quote/{id}"), &[], "").await;
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["price"], 12, "the client gets the primary's answer");
    }
    for _ in 0..20 {
        send(&client, addr, Method::POST, "/orders", &[], "order").await;
    }
    flush(&experiment).await;

    let noise = experiment.noise().unwrap();
    // Every calibration was one more call to the primary, for GETs only.
    let calibrations = primary_calls.load(Ordering::SeqCst) as u64 - 200;
    assert_eq!(noise.calibrations, calibrations);
    assert!((60..=150).contains(&calibrations), "{calibrations}");
    let path = |p: &str| noise.paths.iter().find(|n| n.path == p).unwrap().clone();
    assert!(path("$.body.request_id").is_noise);
    assert!(!path("$.body.price").is_noise);

    let report = insight.report();
    let v2 = &report.candidates[0];
    assert_eq!(v2.runs, 220);
    assert_eq!(v2.mismatched, 20, "ids ≡ 3 (mod 10) mismatch on the price");
    assert_eq!(v2.groups.len(), 1);
    assert_eq!(v2.groups[0].shape[0].path, "$.body.price");
    // 180 GETs and 20 POSTs (identical echoes): noise or match, never a mismatch.
    assert_eq!(v2.noise + v2.matched, 200);
    assert_eq!(v2.matched, 20);
    assert!(experiment.stats().reconciles());
}

// ---------------------------------------------------------------------------------------------
// The layer is invisible: streaming responses, unread request bodies, `Expect: 100-continue`.

/// A primary answering `GET /events` with a server-sent-event stream whose events the test
/// produces one by one through the returned sender; a candidate answering the same events at
/// once.
fn streaming_apps(events: usize) -> (Router, Router, tokio::sync::mpsc::Sender<String>) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<String>(1);
    let receiver = Arc::new(tokio::sync::Mutex::new(Some(receiver)));
    let primary = Router::new().route(
        "/events",
        get(move || {
            let receiver = receiver.clone();
            async move {
                let receiver = receiver.lock().await.take().expect("one stream");
                let stream = futures::stream::unfold(receiver, |mut receiver| async move {
                    let event = receiver.recv().await?;
                    let frame = http_body::Frame::data(Bytes::from(event));
                    Some((Ok::<_, std::convert::Infallible>(frame), receiver))
                });
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::new(http_body_util::StreamBody::new(stream)),
                )
            }
        }),
    );
    let candidate = Router::new().route(
        "/events",
        get(move || async move {
            let all: String = (0..events).map(|i| format!("data: {i}\n\n")).collect();
            ([("content-type", "text/event-stream")], all)
        }),
    );
    (primary, candidate, sender)
}

fn streaming_experiment(recorder: &Recorder<ShadowResponse, ShadowError>) -> ShadowExperiment {
    Experiment::builder("shadow-stream")
        .sampler(Sampler::always())
        .candidate_timeout(Duration::from_secs(2))
        .on_error(|_| {})
        .publisher(recorder.clone())
        .build()
        .unwrap()
}

/// Guarantee 12: a streamed response reaches the client event by event. Each event is only
/// produced once the client has received the one before, so a layer that held the body back
/// would never deliver the first (and the test would time out instead of hanging).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_response_arrives_event_by_event() {
    const EVENTS: usize = 5;
    let recorder = Recorder::new();
    let experiment = streaming_experiment(&recorder);
    let (primary, candidate, producer) = streaming_apps(EVENTS);
    let layer = ShadowLayer::new(experiment.clone(), candidate);
    let addr = serve(primary.layer(layer.clone())).await;
    let client = client();
    let request = Request::get(format!("http://{addr}/events"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.request(request).await }
    });
    // The first event is produced before the client has even seen the headers.
    producer.send("data: 0\n\n".into()).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .expect("the headers reach the client while the stream is still open")
        .unwrap()
        .expect("response");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut received = Vec::new();
    for i in 0..EVENTS {
        if i > 0 {
            producer.send(format!("data: {i}\n\n")).await.unwrap();
        }
        let frame = tokio::time::timeout(Duration::from_secs(2), body.frame())
            .await
            .unwrap_or_else(|_| {
                panic!("event {i} reaches the client before event {} exists", i + 1)
            })
            .expect("a frame")
            .expect("no body error");
        let data = frame.into_data().expect("a data frame");
        assert_eq!(&data[..], format!("data: {i}\n\n").as_bytes());
        received.push(data);
    }
    drop(producer);
    assert!(
        body.frame().await.is_none(),
        "the stream ends when the producer does"
    );
    flush(&experiment).await;
    // The copy taken on the side was compared once the stream had ended.
    let results = recorder.results();
    assert_eq!(results.len(), 1);
    assert!(
        results[0].matched(),
        "{:?}",
        results[0].candidates()[0].verdict()
    );
    assert_eq!(layer.stats().shadowed, 1);
    assert!(experiment.stats().reconciles());
}

/// Opens a connection and sends a chunked POST whose body never ends (one chunk, then
/// nothing); returns the stream, which keeps the body open while it lives. Raw TCP: the test
/// reads the answer's head while the request is still unfinished on the wire.
async fn never_ending_post(addr: SocketAddr, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads from `stream` until the end of a response head (`\r\n\r\n`); what was read.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut read = Vec::new();
    let mut chunk = [0u8; 1024];
    while !read.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        read.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&read).into_owned()
}

/// A request body that never ends does not hold the primary back (it answers without reading
/// it), takes no in-flight slot (with `max_in_flight(1)`, later requests are still shadowed
/// while those connections stay open), and leaves nothing for a flush to wait for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_ends_delays_nothing_and_holds_no_slot() {
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-unread")
        .sampler(Sampler::always())
        .max_in_flight(1)
        .candidate_timeout(Duration::from_secs(1))
        .on_error(|_| {})
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = ShadowLayer::new(experiment.clone(), candidate_app(calls.clone()))
        .shadow_unsafe_methods(true);
    let primary = primary_app().route("/ignore", post(|| async { "answered without the body" }));
    let addr = serve(primary.layer(layer.clone())).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = never_ending_post(addr, "/ignore").await;
        let head = tokio::time::timeout(Duration::from_secs(2), read_head(&mut stream))
            .await
            .expect("the primary answers at once, without the body");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(stream);
    }
    // The three bodies are still open; every later sampled request is still shadowed.
    let client = client();
    for id in 0..3 {
        send(&client, addr, Method::GET, &format!("/items/{id}"), &[], "").await;
        flush(&experiment).await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "each GET reached the candidate"
    );
    let report = experiment.flush(Duration::from_millis(200)).await;
    assert!(report.is_complete(), "nothing stuck: {report}");
    assert_eq!(experiment.stats().shed, 0);
    assert_eq!(layer.stats().shadowed, 3);
    drop(open);
}

/// `Expect: 100-continue` reaches the client exactly as without the layer: a primary that
/// answers without the body sends no `100 Continue`; one that reads it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_is_answered_only_when_the_primary_reads_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup(Sampler::always(), |layer| layer.shadow_unsafe_methods(true));
    let app = || primary_app().route("/ignore", post(|| async { "answered without the body" }));
    let plain = serve(app()).await;
    let shadowed = serve(app().layer(s.layer.clone())).await;
    let head = |addr: SocketAddr, path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 5\r\n\
             Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
    };
    // Raw TCP: hyper's client writes a body right after its head, without waiting for
    // `100 Continue`, so through it neither the order of the answers nor their bytes show.
    for addr in [plain, shadowed] {
        // The primary never reads the body: its answer comes first, no interim response.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(head(addr, "/ignore").as_bytes())
            .await
            .unwrap();
        let first = tokio::time::timeout(Duration::from_secs(2), read_head(&mut stream))
            .await
            .expect("an answer without the body");
        assert!(first.starts_with("HTTP/1.1 200 OK"), "{addr}: {first}");
        assert!(!first.contains("100 Continue"), "{addr}: {first}");

        // The primary reads the body: `100 Continue` first, then the answer to the body.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(head(addr, "/orders").as_bytes())
            .await
            .unwrap();
        let interim = tokio::time::timeout(Duration::from_secs(2), read_head(&mut stream))
            .await
            .expect("an interim response");
        assert!(
            interim.starts_with("HTTP/1.1 100 Continue"),
            "{addr}: {interim}"
        );
        stream.write_all(b"hello").await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest))
            .await
            .expect("the answer")
            .unwrap();
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.starts_with("HTTP/1.1 201"), "{addr}: {rest}");
        assert!(rest.ends_with("hello"), "{addr}: {rest}");
    }
    flush(&s.experiment).await;
    // Only the request whose body the primary read was shadowed (and matched: the candidate
    // echoes the same body).
    assert_eq!(s.layer.stats().shadowed, 1);
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    assert!(s.recorder.results()[0].matched());
    assert!(s.experiment.stats().reconciles());
}

/// Sends a POST whose body is `chunks`, streamed with no length known up front (so hyper
/// sends it chunked), pausing `pause` after the first chunk; reads the whole answer.
async fn chunked_post(addr: SocketAddr, path: &str, chunks: &[&[u8]], pause: Duration) -> Reply {
    use futures::StreamExt;
    let chunks: Vec<Bytes> = chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect();
    let frames =
        futures::stream::iter(chunks.into_iter().enumerate()).then(move |(i, chunk)| async move {
            if i == 1 {
                tokio::time::sleep(pause).await;
            }
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk))
        });
    let client = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(format!("http://{addr}{path}"))
        .body(http_body_util::StreamBody::new(Box::pin(frames)))
        .unwrap();
    let started = Instant::now();
    let response = client.request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        took: started.elapsed(),
    }
}

/// Item 9: a sampled request that cannot be compared ends its run as `skipped`, counted in
/// the layer's stats under its reason — never as `shed`, which means over `max_in_flight`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_be_compared_are_counted_by_reason_not_as_shed() {
    let s = setup(Sampler::always(), |layer| {
        layer
            .shadow_unsafe_methods(true)
            .max_request_body(64)
            .max_response_body(64)
            .max_request_wait(Duration::from_millis(100))
    });
    let app = primary_app().route("/big", get(|| async { "x".repeat(200) }));
    let addr = serve(app.layer(s.layer.clone())).await;
    let client = client();

    // Over the request limit, length known: not even sampled.
    let big = vec![b'x'; 4096];
    let reply = send(&client, addr, Method::POST, "/orders", &[], big.clone()).await;
    assert_eq!(&reply.body[..], &big[..]);
    // Over the request limit, found while the primary reads it.
    let chunks: [&[u8]; 2] = [&[b'a'; 40], &[b'b'; 40]];
    let reply = chunked_post(addr, "/orders", &chunks, Duration::ZERO).await;
    assert_eq!(
        reply.body,
        format!("{}{}", "a".repeat(40), "b".repeat(40)).into_bytes()
    );
    // The primary's response over the response limit.
    let reply = send(&client, addr, Method::GET, "/big", &[], "").await;
    assert_eq!(reply.body.len(), 200);
    // A request body the primary finishes reading only after `max_request_wait` (100 ms):
    // the primary still gets all of it.
    let reply = chunked_post(
        addr,
        "/orders",
        &[b"slow ", b"body"],
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(&reply.body[..], b"slow body");
    // And one that is shadowed.
    send(&client, addr, Method::POST, "/orders", &[], "small").await;
    flush(&s.experiment).await;

    let layer = s.layer.stats();
    assert_eq!(layer.request_oversized, 2, "{layer:?}");
    assert_eq!(layer.response_oversized, 1, "{layer:?}");
    assert_eq!(layer.request_timeouts, 1, "{layer:?}");
    assert_eq!(layer.shadowed, 1, "{layer:?}");
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    let stats = s.experiment.stats();
    assert_eq!(
        stats.sampled, 4,
        "the known-oversized request was not offered to the sampler"
    );
    assert_eq!(
        (stats.skipped, stats.shed, stats.published),
        (3, 0, 1),
        "{stats:?}"
    );
    assert!(stats.reconciles());
}

/// A primary's error reaches the client as it would (here as the 500 an error handler makes
/// of it), and the run is skipped and counted as a primary error, not shed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_error_is_passed_through_and_counted_as_such() {
    use darklaunch::tower::ShadowBody;
    use tower::{service_fn, Layer, ServiceExt};
    let s = setup(Sampler::always(), |layer| layer);
    let primary = service_fn(
        |request: Request<ShadowBody<axum::body::Body>>| async move {
            if request.uri().path() == "/fail" {
                return Err(std::io::Error::other("primary failed"));
            }
            Ok(axum::http::Response::new(Full::new(Bytes::from_static(
                b"fine",
            ))))
        },
    );
    let service = s.layer.layer(primary);
    // What an error handler in front of the layer makes of the primary's error.
    let shadowed = service_fn(move |request: Request<axum::body::Body>| {
        let service = service.clone();
        async move {
            let response = service.oneshot(request).await.unwrap_or_else(|_| {
                let mut response =
                    axum::http::Response::new(ShadowBody::new(Full::new(Bytes::new())));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            });
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let addr = serve(Router::new().fallback_service(shadowed)).await;
    let client = client();
    let failed = send(&client, addr, Method::GET, "/fail", &[], "").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let fine = send(&client, addr, Method::GET, "/text", &[], "").await;
    assert_eq!(&fine.body[..], b"fine");
    flush(&s.experiment).await;
    let layer = s.layer.stats();
    assert_eq!((layer.primary_errors, layer.shadowed), (1, 1), "{layer:?}");
    let stats = s.experiment.stats();
    assert_eq!(
        (stats.sampled, stats.skipped, stats.shed),
        (2, 1, 0),
        "{stats:?}"
    );
    assert!(stats.reconciles());
}

/// A stream that outlasts `max_response_wait` is not compared: the deadline ends the run while
/// the stream is still open (the layer's timer, not the stream's end), and the client still
/// gets every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlasting_max_response_wait_is_not_compared() {
    let recorder = Recorder::new();
    let experiment = streaming_experiment(&recorder);
    let (primary, candidate, producer) = streaming_apps(3);
    let layer = ShadowLayer::new(experiment.clone(), candidate)
        .max_response_wait(Duration::from_millis(100));
    let addr = serve(primary.layer(layer.clone())).await;
    let request = Request::get(format!("http://{addr}/events"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    producer.send("data: 0\n\n".into()).await.unwrap();
    let response = client().request(request).await.expect("response");
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"data: 0\n\n");
    // The stream is open and idle: the deadline passes and the run ends, skipped.
    let started = Instant::now();
    while experiment.stats().skipped == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the deadline never fired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(layer.stats().response_timeouts, 1);
    for i in 1..3 {
        producer.send(format!("data: {i}\n\n")).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&frame[..], format!("data: {i}\n\n").as_bytes());
    }
    drop(producer);
    assert!(body.frame().await.is_none());
    flush(&experiment).await;
    assert!(recorder.is_empty(), "not compared");
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.skipped, stats.shed), (1, 1, 0));
    assert!(stats.reconciles());
    assert_eq!(layer.stats().shadowed, 0);
}

/// A JSON array `depth` levels deep around `leaf`.
fn nested_json(depth: usize, leaf: u32) -> String {
    format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Guarantee 10 through the shadow layer: response bodies 10,000 and 100,000 levels deep,
/// compared and diffed on the runtime's 2 MiB workers, overflow nothing; the client gets the
/// primary's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_bodies_are_compared_without_overflow() {
    for depth in [100, 10_000, 100_000] {
        let primary =
            Router::new().route("/deep", get(move || async move { nested_json(depth, 1) }));
        let candidate =
            Router::new().route("/deep", get(move || async move { nested_json(depth, 2) }));
        let options = DiffOptions::new();
        let recorder = Recorder::new();
        let experiment: ShadowExperiment = Experiment::builder("deep-bodies")
            .compare(ShadowResponse::json_compare(options.clone()))
            .diff(options)
            .candidate_timeout(Duration::from_secs(10))
            .publisher(recorder.clone())
            .build()
            .unwrap();
        let layer = ShadowLayer::new(experiment.clone(), candidate).max_response_body(1 << 20);
        let addr = serve(primary.layer(layer)).await;
        let reply = send(&client(), addr, Method::GET, "/deep", &[], Bytes::new()).await;
        assert_eq!(
            reply.body,
            nested_json(depth, 1).into_bytes(),
            "depth {depth}"
        );
        flush(&experiment).await;
        let results = recorder.take();
        assert_eq!(results.len(), 1, "depth {depth}");
        let candidate = &results[0].candidates()[0];
        assert_eq!(candidate.verdict(), Verdict::Mismatch, "depth {depth}");
        let diff = candidate.diff().expect("a diff");
        assert!(!diff.is_empty(), "depth {depth}: {diff}");
        assert!(
            diff.to_string().len() < 16 * 1024,
            "depth {depth}: the diff is capped"
        );
    }
}

/// A request cancelled before the primary answers (the client hung up) ends its sampled run as
/// dropped, so that the accounting still reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_before_the_primary_answers_counts_as_dropped() {
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let primary = Router::new().route(
        "/slow",
        get(move || {
            let entered = entered_tx.clone();
            async move {
                let _ = entered.send(()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }
        }),
    );
    let candidate = Router::new().route("/slow", get(|| async { "late" }));
    let experiment: ShadowExperiment = Experiment::builder("cancelled-requests").build().unwrap();
    let addr = serve(primary.layer(ShadowLayer::new(experiment.clone(), candidate))).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = Request::get("/slow")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let _pending = tokio::spawn(sender.send_request(request));
    entered_rx.recv().await.expect("the primary was called");
    // The client hangs up: its connection, and with it the socket, is dropped.
    connection.abort();
    // hyper notices the closed connection and drops the request's future.
    let deadline = Instant::now() + Duration::from_secs(10);
    while experiment.stats().dropped == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.dropped), (1, 1), "{stats:?}");
    assert!(stats.reconciles(), "{stats:?}");
}
