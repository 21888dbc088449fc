//! Load test of the tower shadow layer, loopback only, bounded in count and time: the
//! primary's latency as the client sees it, without the layer, with it sampling nothing, and
//! with it at 100 % sampling (every request copied to a candidate that does the same work, in
//! the same process), measured in one run.
//!
//! ```text
//! cargo bench --features tower --bench shadow_load
//! SHADOW_LOAD_REQUESTS=4000 cargo bench --features tower --bench shadow_load
//! ```
//!
//! Three axum servers on 127.0.0.1 (plain, behind `ShadowLayer` at 0 % and at 100 %) are
//! driven alternately in rounds, over a few keep-alive connections each, so that all three see
//! the same machine conditions.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use darklaunch::tower::{ShadowExperiment, ShadowLayer};
use darklaunch::{Experiment, Sampler};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Concurrent keep-alive connections per server.
const CONNECTIONS: usize = 4;
/// Requests per server per round.
const ROUND: usize = 500;
/// The whole run stops after this long, whatever the count.
const TIME_LIMIT: Duration = Duration::from_secs(90);

async fn item(Path(id): Path<u32>) -> Json<Value> {
    let tags: Vec<String> = (0..8).map(|i| format!("tag-{}", (id + i) % 13)).collect();
    Json(json!({"id": id, "name": format!("item {id}"), "price": id * 3 + 7, "tags": tags}))
}

fn app() -> Router {
    Router::new().route("/items/{id}", get(item))
}

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

/// Sends `count` requests over `CONNECTIONS` concurrent keep-alive connections; returns each
/// request's latency.
async fn drive(
    client: &HttpClient,
    addr: SocketAddr,
    count: usize,
    offset: usize,
) -> Vec<Duration> {
    let per = count / CONNECTIONS;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(per);
                for i in 0..per {
                    let id = offset + c * per + i;
                    let request = Request::get(format!("http://{addr}/items/{}", id % 1000))
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let started = Instant::now();
                    let response = client.request(request).await.expect("request");
                    let body = response.into_body().collect().await.expect("body");
                    took.push(started.elapsed());
                    assert!(!body.to_bytes().is_empty());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn report(label: &str, mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort();
    let (p50, p99) = (quantile(&took, 0.50), quantile(&took, 0.99));
    println!(
        "{label:<36} n={:>6}  p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs",
        took.len(),
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
    (p50, p99)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let per_config: usize = std::env::var("SHADOW_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let experiment: ShadowExperiment = Experiment::builder("shadow-load")
            .sampler(Sampler::always())
            .candidate_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let layer = ShadowLayer::new(experiment.clone(), app());
        let plain = serve(app()).await;
        let shadowed = serve(app().layer(layer.clone())).await;
        // The same layer with every request sampled out: the cost of the layer itself.
        let never: ShadowExperiment = Experiment::builder("shadow-load-off")
            .sampler(Sampler::never())
            .build()
            .unwrap();
        let sampled_out = serve(app().layer(ShadowLayer::new(never, app()))).await;
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(CONNECTIONS)
            .build_http();

        // Warm up both servers and the connection pools.
        drive(&client, plain, 400, 0).await;
        drive(&client, shadowed, 400, 0).await;
        drive(&client, sampled_out, 400, 0).await;
        let _ = experiment.flush(Duration::from_secs(10)).await;
        let warm = experiment.stats();

        let started = Instant::now();
        let (mut off, mut on, mut out) = (Vec::new(), Vec::new(), Vec::new());
        let mut round = 0;
        while off.len() < per_config && started.elapsed() < TIME_LIMIT {
            let count = ROUND.min(per_config - off.len()).max(CONNECTIONS);
            // Alternate which server goes first.
            let offset = round * ROUND;
            if round % 2 == 0 {
                off.extend(drive(&client, plain, count, offset).await);
                on.extend(drive(&client, shadowed, count, offset).await);
                out.extend(drive(&client, sampled_out, count, offset).await);
            } else {
                out.extend(drive(&client, sampled_out, count, offset).await);
                on.extend(drive(&client, shadowed, count, offset).await);
                off.extend(drive(&client, plain, count, offset).await);
            }
            round += 1;
        }
        let elapsed = started.elapsed();
        let flushed = experiment.flush(Duration::from_secs(10)).await;
        let stats = experiment.stats();

        println!(
            "shadow_load: {} + {} + {} requests over {CONNECTIONS} keep-alive connections per server, \
             {:.1} s, 2 runtime workers",
            off.len(),
            on.len(),
            out.len(),
            elapsed.as_secs_f64()
        );
        let (off50, off99) = report("primary alone", off);
        report("primary + ShadowLayer (sampled out)", out);
        let (on50, on99) = report("primary + ShadowLayer (100 %)", on);
        println!(
            "overhead at 100 %: p50 {:+.1} µs ({:.2}×), p99 {:+.1} µs ({:.2}×)",
            (on50.as_secs_f64() - off50.as_secs_f64()) * 1e6,
            on50.as_secs_f64() / off50.as_secs_f64().max(1e-9),
            (on99.as_secs_f64() - off99.as_secs_f64()) * 1e6,
            on99.as_secs_f64() / off99.as_secs_f64().max(1e-9),
        );
        println!(
            "experiment: sampled {} · matched {} · mismatched {} · shed {} · timeouts {} · \
             flush complete {}; layer: {:?}",
            stats.sampled - warm.sampled,
            stats.matched - warm.matched,
            stats.mismatched - warm.mismatched,
            stats.shed - warm.shed,
            stats.timeouts - warm.timeouts,
            flushed.is_complete(),
            layer.stats()
        );
    });
}
