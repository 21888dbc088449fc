//! Dark-launching a rewritten axum endpoint with `darklaunch::tower::ShadowLayer`.
//!
//! The service answers `GET /quote/{sku}` with the legacy pricing code; the rewrite gets a
//! copy of every sampled request in the background, and the two JSON answers are compared
//! (ignoring `generated_at`, which always differs). Users only ever see the legacy answer.
//!
//! This example drives itself: it starts the server on 127.0.0.1, sends some requests, prints
//! what the experiment saw, and exits.
//!
//! ```text
//! cargo run --features tower --example axum_shadow
//! ```

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use darklaunch::diff::DiffOptions;
use darklaunch::publish::Recorder;
use darklaunch::tower::{ShadowExperiment, ShadowLayer, ShadowResponse};
use darklaunch::{Experiment, Sampler};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Today's pricing: integer cents, 8 % tax rounded half up.
async fn legacy_quote(Path(sku): Path<u32>) -> Json<Value> {
    let net = 995 + u64::from(sku % 7) * 125;
    let gross = (net * 108 + 50) / 100;
    Json(json!({"sku": sku, "price_cents": gross, "currency": "EUR", "generated_at": now_millis()}))
}

/// The rewrite: floating point, and its new bulk-tier branch rounds down — off by one cent
/// for the dearer SKUs.
async fn rewritten_quote(Path(sku): Path<u32>) -> Json<Value> {
    let net = 9.95 + f64::from(sku % 7) * 1.25;
    let cents = net * 1.08 * 100.0;
    let gross = if net > 15.0 {
        cents.floor()
    } else {
        cents.round()
    } as u64;
    Json(json!({"sku": sku, "price_cents": gross, "currency": "EUR", "generated_at": now_millis()}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The experiment: which requests are shadowed, how responses compare, where results go.
    let options = DiffOptions::new().try_ignore_path("$.body.generated_at")?;
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("quote-endpoint-v2")
        .sampler(Sampler::keyed(100.0)) // sticky per user; lower it in production
        .compare(ShadowResponse::json_compare(options.clone()))
        .diff(options)
        .candidate_timeout(Duration::from_millis(250))
        .publisher(recorder.clone())
        .build()?;

    let candidate = Router::new().route("/quote/{sku}", get(rewritten_quote));
    let shadow = ShadowLayer::new(experiment.clone(), candidate)
        .key_header(HeaderName::from_static("x-user-id"));
    let app = Router::new()
        .route("/quote/{sku}", get(legacy_quote))
        .layer(shadow.clone());

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving on http://{addr}");

    // Drive it like a few users would.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for sku in 0..20u32 {
        let request = Request::get(format!("http://{addr}/quote/{sku}"))
            .header("x-user-id", format!("user-{}", sku % 5))
            .body(Full::new(Bytes::new()))?;
        let response = client.request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        if sku < 3 {
            println!("GET /quote/{sku} -> {}", String::from_utf8_lossy(&body));
        }
    }

    let report = experiment.flush(Duration::from_secs(5)).await;
    println!("\nflush: complete = {}", report.is_complete());
    println!("layer: {:?}", shadow.stats());
    let stats = experiment.stats();
    println!(
        "experiment: sampled {} · matched {} · mismatched {} · candidate errors {} · timeouts {}",
        stats.sampled, stats.matched, stats.mismatched, stats.candidate_errors, stats.timeouts
    );
    if let Some(result) = recorder.results().iter().find(|r| r.has_mismatch()) {
        let route = result
            .context()
            .get("route")
            .map(|v| v.to_string())
            .unwrap_or_default();
        let candidate = &result.candidates()[0];
        println!("\nfirst mismatch, {route}:");
        if let Some(diff) = candidate.diff() {
            println!("{diff}");
        }
        println!(
            "control took {:?}, candidate took {:?}",
            result.control().duration(),
            candidate.observation().duration()
        );
    }
    server.abort();
    Ok(())
}
