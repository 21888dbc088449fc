//! Shadow traffic that says what it is: a payment service refuses the shadow layer's copies.
//!
//! `POST /checkout` charges a card through a payment service. The rewritten checkout is
//! dark-launched with `ShadowLayer` (unsafe methods opted in: a shadowed POST runs twice), and
//! both versions call payments with the same code, which forwards the W3C trace context and the
//! shadow marker (`x-darklaunch-shadow: 1`, on the candidate's copy only) as services forward
//! context. The payment service puts `RefuseShadow` in front of itself: the rewrite's charges
//! are refused with 403, so every order is charged once, and each run sits in its request's
//! trace.
//!
//! This example drives itself on 127.0.0.1 and exits; it fails if a card is charged twice.
//!
//! ```text
//! cargo run --features tower --example shadow_guard
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use darklaunch::diff::DiffOptions;
use darklaunch::publish::Recorder;
use darklaunch::tower::{
    RefuseShadow, ShadowExperiment, ShadowLayer, ShadowResponse, DEFAULT_SHADOW_MARKER,
};
use darklaunch::Experiment;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn serve(app: Router) -> Result<SocketAddr, std::io::Error> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// What a checkout needs to reach payments.
#[derive(Clone)]
struct Payments {
    client: HttpClient,
    addr: SocketAddr,
}

impl Payments {
    /// Charges through the payment service, forwarding the request's trace context and shadow
    /// marker as a service forwards its caller's context; the payment service's status.
    async fn charge(&self, incoming: &HeaderMap, cents: u64) -> StatusCode {
        let mut request = Request::post(format!("http://{}/charge", self.addr));
        for name in ["traceparent", "tracestate", DEFAULT_SHADOW_MARKER.0] {
            for value in incoming.get_all(name) {
                request = request.header(name, value);
            }
        }
        let body = Full::new(Bytes::from(cents.to_string()));
        match request.body(body) {
            Ok(request) => match self.client.request(request).await {
                Ok(response) => response.status(),
                Err(_) => StatusCode::BAD_GATEWAY,
            },
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Today's checkout: 12.00 EUR.
async fn checkout(State(payments): State<Payments>, headers: HeaderMap) -> Json<Value> {
    let status = payments.charge(&headers, 1200).await;
    Json(json!({"charged": status.is_success(), "cents": 1200}))
}

/// The rewrite: the same price, computed anew.
async fn checkout_v2(State(payments): State<Payments>, headers: HeaderMap) -> Json<Value> {
    let cents = 12 * 100;
    let status = payments.charge(&headers, cents).await;
    Json(json!({"charged": status.is_success(), "cents": cents}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The payment service refuses shadow calls before they reach its handler.
    let charges = Arc::new(AtomicUsize::new(0));
    let counted = charges.clone();
    let payments_app = Router::new()
        .route(
            "/charge",
            post(move |_body: Bytes| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    "charged"
                }
            }),
        )
        .layer(RefuseShadow::new());
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let payments = Payments {
        client: client.clone(),
        addr: serve(payments_app).await?,
    };

    // The checkout, with the rewrite shadowed. A publisher that wants traces makes each run's
    // span a child of its request's `traceparent`. The rewrite's charge is refused, so whether
    // it charged is not compared; the rest of its answer is.
    let recorder = Recorder::new().with_traces();
    let options = DiffOptions::new().try_ignore_path("$.body.charged")?;
    let experiment: ShadowExperiment = Experiment::builder("checkout-v2")
        .compare(ShadowResponse::json_compare(options.clone()))
        .diff(options)
        .candidate_timeout(Duration::from_secs(2))
        .publisher(recorder.clone())
        .build()?;
    let candidate = Router::new()
        .route("/checkout", post(checkout_v2))
        .with_state(payments.clone());
    let layer = ShadowLayer::new(experiment.clone(), candidate).shadow_unsafe_methods(true);
    let app = Router::new()
        .route("/checkout", post(checkout))
        .with_state(payments)
        .layer(layer.clone());
    let addr = serve(app).await?;

    let orders = 3;
    for order in 1..=orders {
        let traceparent = format!("00-{order:032x}-{order:016x}-01");
        let request = Request::post(format!("http://{addr}/checkout"))
            .header("traceparent", traceparent)
            .body(Full::new(Bytes::new()))?;
        let response = client.request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "order {order}: client got {}",
            String::from_utf8_lossy(&body)
        );
    }
    let flushed = experiment.flush(Duration::from_secs(5)).await;
    if !flushed.is_complete() {
        return Err(format!("flush incomplete: {flushed:?}").into());
    }

    for result in recorder.results() {
        let trace = result.trace().and_then(|trace| trace.trace_id_hex());
        let candidate = &result.candidates()[0];
        let answer = candidate
            .observation()
            .outcome()
            .value()
            .map(|response| String::from_utf8_lossy(&response.body).into_owned());
        println!(
            "run in trace {}: {:?}, candidate answered {}",
            trace.as_deref().unwrap_or("-"),
            candidate.verdict(),
            answer.as_deref().unwrap_or("an error")
        );
    }
    let charged = charges.load(Ordering::SeqCst);
    println!(
        "cards charged: {charged} for {orders} orders; {:?}",
        layer.stats()
    );
    if charged != orders {
        return Err(format!("{charged} charges for {orders} orders").into());
    }
    if experiment.stats().matched != orders as u64 {
        return Err(format!("expected {orders} matches: {:?}", experiment.stats()).into());
    }
    Ok(())
}
