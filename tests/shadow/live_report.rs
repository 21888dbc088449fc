//! The insight served live over real HTTP (axum on 127.0.0.1, hyper's client): the HTML
//! report, the JSON report, verdict documents and gate status codes for a safe, an unsafe and
//! an inconclusive candidate, the bearer token, and a document that carries numbers only; the
//! mergeable snapshot, behind the same token.

#![cfg(all(feature = "tower", feature = "insight"))]

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use bytes::Bytes;
use darklaunch::insight::live::ReportService;
use darklaunch::insight::{Insight, InsightOptions, ReleasePolicy, Snapshot};
use darklaunch::Experiment;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const TOKEN: &str = "correct horse battery staple";

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

async fn get(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("request");
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

/// An insight with three candidates: `clean` (safe), `broken` (not safe), `young` (10 runs).
fn insight() -> Insight<u64> {
    let mut policy = ReleasePolicy::default();
    policy.mismatch_tolerance = 0.01;
    policy.error_tolerance = 0.01;
    let mut options = InsightOptions::default();
    options.policy = policy;
    let insight = Insight::try_with_options(options).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("live")
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..1_000u64 {
        let trial = experiment
            .trial()
            .context("secret-context", "do-not-show")
            .control(|| n)
            .candidate("clean", || n)
            .candidate("broken", || if n % 5 == 0 { n + 7_777_777 } else { n });
        if n < 10 {
            trial.candidate("young", || n).run();
        } else {
            trial.run();
        }
    }
    insight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_report_and_gate_answer_over_http() {
    let service = ReportService::new(insight()).bearer_token(TOKEN);
    let addr = serve(Router::new().nest_service("/darklaunch", service)).await;

    for (candidate, result, gate) in [
        ("clean", "safe", StatusCode::OK),
        ("broken", "not_safe", StatusCode::PRECONDITION_FAILED),
        ("young", "inconclusive", StatusCode::TOO_EARLY),
    ] {
        let (status, headers, body) = get(
            addr,
            Method::GET,
            &format!("/darklaunch/verdict/{candidate}"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{candidate}: the document is always 200"
        );
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["cache-control"], "no-store");
        let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(document["result"], result, "{document}");
        assert_eq!(document["candidate"], candidate);
        // Numbers and states only: no context, no sample, no value.
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("do-not-show") && !text.contains("7777"),
            "{text}"
        );

        let (status, _, body) = get(
            addr,
            Method::GET,
            &format!("/darklaunch/gate/{candidate}"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, gate, "{candidate}");
        let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(document["result"], result);
    }
    let (status, _, body) = get(addr, Method::GET, "/darklaunch/verdict/v9", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("no such candidate"));

    let (status, headers, body) = get(addr, Method::GET, "/darklaunch/", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("live"),
        "{html:.200}"
    );

    let (status, _, body) = get(addr, Method::GET, "/darklaunch/report.json", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["candidates"].as_array().unwrap().len(), 3);

    let (status, _, body) = get(addr, Method::HEAD, "/darklaunch/gate/clean", Some(TOKEN)).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    let (status, headers, _) = get(addr, Method::POST, "/darklaunch/gate/clean", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_token_every_path_is_401() {
    let service = ReportService::new(insight()).bearer_token(TOKEN);
    let addr = serve(Router::new().nest_service("/darklaunch", service)).await;
    for path in [
        "/darklaunch/",
        "/darklaunch/report.json",
        "/darklaunch/snapshot.json",
        "/darklaunch/gate/clean",
        "/darklaunch/verdict/clean",
    ] {
        for token in [
            None,
            Some("wrong"),
            Some("correct horse battery stapl"),
            Some(""),
        ] {
            let (status, headers, body) = get(addr, Method::GET, path, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token:?}");
            assert!(headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
            assert!(body.is_empty(), "{path} {token:?}: a 401 says nothing more");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_is_served_behind_the_token_and_merges() {
    let served = insight();
    let service = ReportService::new(served.clone()).bearer_token(TOKEN);
    let addr = serve(Router::new().nest_service("/darklaunch", service)).await;
    let (status, headers, body) =
        get(addr, Method::GET, "/darklaunch/snapshot.json", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    let snapshot = Snapshot::from_json(&body).expect("the served snapshot decodes");
    assert_eq!(snapshot.experiment(), "live");
    assert_eq!(snapshot.runs(), 1_000);
    // Two processes' snapshots (here: the same one twice) merge into twice the counts.
    let mut merged = snapshot.clone();
    merged.merge(&snapshot).unwrap();
    let report = merged.report();
    let broken = report
        .candidates
        .iter()
        .find(|c| c.name == "broken")
        .unwrap();
    assert_eq!(broken.runs, 2_000);
    assert_eq!(broken.mismatched, 400);
    assert_eq!(
        served.report().candidates[1].mismatched * 2,
        broken.mismatched
    );
    let (status, _, body) = get(addr, Method::HEAD, "/darklaunch/snapshot.json", Some(TOKEN)).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    let (status, _, body) = get(addr, Method::GET, "/darklaunch/snapshot.json", None).await;
    assert_eq!((status, body.len()), (StatusCode::UNAUTHORIZED, 0));
}
