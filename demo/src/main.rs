//! A dark launch from start to verdict: a simulated quote service under load runs its
//! rewritten pricing function as a detached candidate on a sampled share of traffic, learns
//! which fields are nondeterministic, and ends with a verdict, the mismatch groups and an HTML
//! report.
//!
//! Run: `cargo run --release -p darklaunch-demo` (optionally followed by the number of
//! requests and the report's path; defaults 300000 and `target/dark_launch_report.html`).
//! With `--features live` and `--serve 127.0.0.1:8080`, the live report (HTML at `/`, JSON,
//! verdict documents and a gate) is served on that address while the demo runs.
//!
//! Quotes come in on three routes, and the report breaks each candidate down by route; the
//! verdict is drawn from anytime-valid bounds, and latency is judged paired, run by run.
//!
//! The rewrite has two subtle defects, on small fractions of inputs: it truncates a
//! percentage discount instead of rounding it (coupon carts whose discount has a half cent),
//! and it drops order lines whose quantity is zero. Every quote also carries a fresh
//! `quote_id` and the replica that served it: nondeterminism that noise calibration must
//! recognise as noise rather than report as mismatches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use darklaunch::insight::{Insight, InsightOptions};
use darklaunch::noise::NoiseCalibration;
use darklaunch::{Experiment, Sampler};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// A quote request: who asks, what is in the cart, and an optional coupon.
#[derive(Clone, Debug)]
struct Request {
    user: u64,
    lines: Vec<(u32, u32, u64)>,
    coupon_percent: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Line {
    sku: u32,
    quantity: u32,
    total_cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    quote_id: String,
    served_by: &'static str,
    lines: Vec<Line>,
    subtotal_cents: u64,
    discount_cents: u64,
    total_cents: u64,
}

const REPLICAS: [&str; 3] = ["quote-a", "quote-b", "quote-c"];

/// Burns about `micros` of CPU, standing in for real work (parsing, lookups, rules).
fn work(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    let mut x = 0u64;
    while Instant::now() < until {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// The nondeterministic parts every quote carries.
fn stamp() -> (String, &'static str) {
    (
        format!("q-{:016x}", fastrand::u64(..)),
        REPLICAS[fastrand::usize(..REPLICAS.len())],
    )
}

/// Today's pricing.
fn quote_v1(request: &Request) -> Quote {
    work(if fastrand::u32(..100) == 0 { 150 } else { 20 });
    let lines: Vec<Line> = request
        .lines
        .iter()
        .map(|&(sku, quantity, unit)| Line {
            sku,
            quantity,
            total_cents: u64::from(quantity) * unit,
        })
        .collect();
    let subtotal: u64 = lines.iter().map(|line| line.total_cents).sum();
    // Rounded to the nearest cent, half up.
    let discount = request
        .coupon_percent
        .map_or(0, |percent| (subtotal * percent + 50) / 100);
    let (quote_id, served_by) = stamp();
    Quote {
        quote_id,
        served_by,
        lines,
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

/// The rewrite: leaner on the common path, with two defects.
fn quote_v2(request: &Request) -> Quote {
    work(if fastrand::u32(..50) == 0 { 250 } else { 16 });
    let lines: Vec<Line> = request
        .lines
        .iter()
        // Defect 1: zero-quantity lines disappear from the quote.
        .filter(|&&(_, quantity, _)| quantity > 0)
        .map(|&(sku, quantity, unit)| Line {
            sku,
            quantity,
            total_cents: u64::from(quantity) * unit,
        })
        .collect();
    let subtotal: u64 = lines.iter().map(|line| line.total_cents).sum();
    // Defect 2: the discount is truncated, a cent short whenever it has a half cent or more.
    let discount = request
        .coupon_percent
        .map_or(0, |percent| subtotal * percent / 100);
    let (quote_id, served_by) = stamp();
    Quote {
        quote_id,
        served_by,
        lines,
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

/// A random request from one of 20,000 users: 1–4 lines, a coupon on 6 % of carts, a
/// zero-quantity line (a removed item) on 0.5 %.
fn random_request() -> Request {
    let mut lines: Vec<(u32, u32, u64)> = (0..fastrand::u32(1..=4))
        .map(|_| {
            (
                fastrand::u32(1000..9999),
                fastrand::u32(1..=3),
                fastrand::u64(199..=9999),
            )
        })
        .collect();
    if fastrand::u32(..200) == 0 {
        lines.push((fastrand::u32(1000..9999), 0, fastrand::u64(199..=9999)));
    }
    Request {
        user: fastrand::u64(..20_000),
        lines,
        coupon_percent: (fastrand::u32(..100) < 6).then(|| [5, 15, 25][fastrand::usize(..3)]),
    }
}

/// The route a request came in on: coupon carts and bulk carts have their own.
fn route_of(request: &Request) -> &'static str {
    if request.coupon_percent.is_some() {
        "/quote/coupon"
    } else if request.lines.len() >= 4 {
        "/quote/bulk"
    } else {
        "/quote"
    }
}

/// Serves the live report on `addr` while the demo runs.
#[cfg(feature = "live")]
fn serve_live(
    runtime: &tokio::runtime::Runtime,
    addr: &str,
    insight: Insight<Quote>,
) -> Result<(), Box<dyn std::error::Error>> {
    use darklaunch::insight::live::ReportService;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
    println!(
        "live report: http://{}/ (verdict documents at /verdict/v2, a gate at /gate/v2)",
        listener.local_addr()?
    );
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service =
                hyper_util::service::TowerToHyperService::new(ReportService::new(insight.clone()));
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(())
}

#[cfg(not(feature = "live"))]
fn serve_live(
    _runtime: &tokio::runtime::Runtime,
    _addr: &str,
    _insight: Insight<Quote>,
) -> Result<(), Box<dyn std::error::Error>> {
    Err("--serve needs the live report: cargo run --release -p darklaunch-demo --features live -- --serve 127.0.0.1:8080".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut serve_at: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--serve" {
            serve_at = Some(
                args.next()
                    .ok_or("--serve needs an address, e.g. 127.0.0.1:8080")?,
            );
        } else {
            positional.push(arg);
        }
    }
    let requests: u64 = match positional.first() {
        Some(n) => n.parse()?,
        None => 300_000,
    };
    let html_path = positional
        .get(1)
        .cloned()
        .unwrap_or_else(|| String::from("target/dark_launch_report.html"));

    // The experiment: a sticky 25 % of users, detached candidates, noise calibration on 10 %
    // of sampled runs, everything gathered by an Insight.
    // Latency is judged paired: v2 may be at most 1.5× the control's median on the same runs.
    let mut options = InsightOptions::default();
    options.policy.max_median_slowdown = Some(1.5);
    let insight = Insight::try_with_options(options)?;
    let experiment: Experiment<Quote> = Experiment::builder("quote-v2")
        .sampler(Sampler::keyed(25.0))
        .calibrate_noise(NoiseCalibration::new().percent(10.0))
        .candidate_timeout(Duration::from_millis(250))
        .max_in_flight(4096)
        .publisher(insight.clone())
        .build()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    if let Some(addr) = &serve_at {
        serve_live(&runtime, addr, insight.clone())?;
    }

    let progress = ProgressBar::new(requests);
    progress.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} requests · eta {eta} · {msg}",
    )?);
    let started = Instant::now();
    let served = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        const CLIENTS: u64 = 16;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let experiment = experiment.clone();
                let progress = progress.clone();
                let served = served.clone();
                tokio::spawn(async move {
                    let share = requests / CLIENTS + u64::from(client < requests % CLIENTS);
                    for _ in 0..share {
                        let request = random_request();
                        let (again, rewrite) = (request.clone(), request.clone());
                        let quote = experiment
                            .trial()
                            .key(request.user)
                            .context("route", route_of(&request))
                            .context("user", request.user)
                            .control(async { quote_v1(&request) })
                            .calibration(async move { quote_v1(&again) })
                            .candidate("v2", async move { quote_v2(&rewrite) })
                            .run_detached()
                            .await;
                        // The caller always gets today's answer.
                        debug_assert_eq!(
                            quote.total_cents + quote.discount_cents,
                            quote.subtotal_cents
                        );
                        let done = served.fetch_add(1, Ordering::Relaxed) + 1;
                        if done % 2_000 == 0 {
                            let stats = experiment.stats();
                            progress.set_message(format!(
                                "sampled {} · mismatches {} · noise {}",
                                stats.sampled, stats.mismatched, stats.noise
                            ));
                        }
                        progress.inc(1);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.expect("a client task panicked");
        }
        let flushed = experiment.flush(Duration::from_secs(10)).await;
        if !flushed.is_complete() {
            eprintln!("flush: {flushed:?}");
        }
    });
    progress.finish_and_clear();
    let elapsed = started.elapsed();

    let stats = experiment.stats();
    println!(
        "served {} requests in {:.1} s; sampled {} ({} shed), {} mismatches, {} noise, {} matches\n",
        stats.runs,
        elapsed.as_secs_f64(),
        stats.sampled,
        stats.shed,
        stats.mismatched,
        stats.noise,
        stats.matched
    );
    let report = insight.report();
    println!("{}", report.to_terminal());
    if let Some(parent) = std::path::Path::new(&html_path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    report.write_html(&html_path)?;
    println!("HTML report: {html_path}");
    Ok(())
}
