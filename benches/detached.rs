//! Caller-side latency of detached runs, and memory per in-flight candidate, measured side by
//! side in one run.
//!
//! Variants, around a ~1 µs control with a ~1 µs candidate:
//! * `control alone`;
//! * `hand-written`: the minimal spawn-based experiment (run the control, clone its value,
//!   spawn the candidate and a comparison);
//! * `darklaunch`: `run_detached` (from a runtime worker, or handed over from a plain thread),
//!   `run_detached_blocking` from a plain thread;
//! * `thesis` (crates.io): joins control and candidate in the caller's task.
//!
//! Each variant runs `CALLS` times; every call is timed on its own and the percentiles are
//! taken over all calls. Budgets (the README's Performance section): p50 ≤ 400 ns over the
//! control alone; p99 within 1 µs of the hand-written experiment's p99; ≤ 512 B resident per
//! in-flight candidate beyond what it captures.
//!
//! Run: `cargo bench --bench detached`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::{Experiment, ExperimentResult};

const CALLS: usize = 200_000;
const IN_FLIGHT: usize = 100_000;

static HAND_WRITTEN_MISMATCHES: AtomicU64 = AtomicU64::new(0);

/// About a microsecond of dependent arithmetic.
fn work(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..800u64 {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

fn experiment(name: &str, max_in_flight: usize) -> Experiment<u64> {
    Experiment::builder(name)
        .max_in_flight(max_in_flight)
        .publisher(|result: &ExperimentResult<u64>| {
            black_box(result.matched());
        })
        .build()
        .expect("valid configuration")
}

/// The minimal hand-written experiment: run the control, spawn the candidate and the
/// comparison, return the control's value.
fn hand_written(runtime: &tokio::runtime::Handle, i: u64) -> u64 {
    let value = work(i);
    runtime.spawn(async move {
        if work(i) != value {
            HAND_WRITTEN_MISMATCHES.fetch_add(1, Ordering::Relaxed);
        }
    });
    value
}

struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
}

fn percentiles(mut samples: Vec<u64>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize] as f64;
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
    }
}

/// Times each of `CALLS` calls of `call` from inside a task on a runtime worker.
fn from_worker<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    clock: &quanta::Clock,
    call: F,
) -> Percentiles
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let clock = clock.clone();
    let samples = runtime.block_on(async move {
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(CALLS);
            for i in 0..CALLS as u64 {
                let start = clock.now();
                black_box(call(i).await);
                samples.push((clock.now() - start).as_nanos() as u64);
                // A service yields between requests, which lets the candidates run.
                tokio::task::yield_now().await;
            }
            samples
        })
        .await
        .expect("the measuring task")
    });
    percentiles(samples)
}

/// Times each of `CALLS` calls of `call` from a plain thread (not a runtime worker).
fn from_thread(clock: &quanta::Clock, call: impl Fn(u64) -> u64) -> Percentiles {
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..CALLS as u64 {
        let start = clock.now();
        black_box(call(i));
        samples.push((clock.now() - start).as_nanos() as u64);
    }
    percentiles(samples)
}

fn row(name: &str, p: &Percentiles, control: &Percentiles, hand: Option<&Percentiles>) {
    let vs_hand = hand.map_or(String::new(), |h| format!("{:+9.0}", p.p99 - h.p99));
    println!(
        "  {name:<44} {:>8.0} {:>8.0} {:>9.0}   {:>+8.0} {vs_hand:>9}",
        p.p50,
        p.p99,
        p.p999,
        p.p50 - control.p50
    );
}

fn header(title: &str) {
    println!("\n{title}");
    println!(
        "  {:<44} {:>8} {:>8} {:>9}   {:>8} {:>9}",
        "variant (ns)", "p50", "p99", "p99.9", "p50-ctl", "p99-hand"
    );
}

fn settle(experiment: &Experiment<u64>) {
    let report = experiment.flush_blocking(Duration::from_secs(30));
    assert!(report.is_complete(), "{report}");
}

fn caller_latency() {
    let clock = quanta::Clock::new();
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");

    header("from a runtime worker (a tokio task), async API");
    let control = from_worker(&runtime, &clock, |i| async move { work(i) });
    row("control alone", &control, &control, None);
    let worker_handle = runtime.handle().clone();
    let hand = from_worker(&runtime, &clock, move |i| {
        let handle = worker_handle.clone();
        async move { hand_written(&handle, i) }
    });
    row(
        "hand-written spawn experiment",
        &hand,
        &control,
        Some(&hand),
    );
    let ours = experiment("bench-detached", 4_096);
    let shared = ours.clone();
    let detached = from_worker(&runtime, &clock, move |i| {
        let experiment = shared.clone();
        async move {
            experiment
                .run_detached(async move { work(i) }, async move { work(i) })
                .await
        }
    });
    settle(&ours);
    row("darklaunch run_detached", &detached, &control, Some(&hand));
    println!("    ({:?})", ours.stats());
    let thesis = from_worker(&runtime, &clock, |i| async move {
        thesis::Experiment::new("bench-thesis")
            .control(async move { work(i) })
            .experimental(async move { work(i) })
            .rollout_strategy(thesis::rollout::Percent::new(100.0))
            .on_mismatch(|mismatch| mismatch.control)
            .run()
            .await
    });
    row(
        "thesis (joins both in the caller's task)",
        &thesis,
        &control,
        Some(&hand),
    );

    header("from a plain thread (not a runtime worker)");
    let handle = runtime.handle().clone();
    let control = from_thread(&clock, work);
    row("control alone", &control, &control, None);
    let hand = from_thread(&clock, |i| hand_written(&handle, i));
    row(
        "hand-written Handle::spawn experiment",
        &hand,
        &control,
        Some(&hand),
    );
    std::thread::sleep(Duration::from_millis(200));
    let blocking = experiment("bench-detached-blocking", 4_096);
    let ours_blocking = from_thread(&clock, |i| {
        blocking.run_detached_blocking(move || work(i), move || work(i))
    });
    settle(&blocking);
    row(
        "darklaunch run_detached_blocking",
        &ours_blocking,
        &control,
        Some(&hand),
    );
    println!("    ({:?})", blocking.stats());

    header("from a plain thread through Handle::block_on, async API");
    let control = from_thread(&clock, |i| handle.block_on(async move { work(i) }));
    row("control alone", &control, &control, None);
    let hand = from_thread(&clock, |i| {
        handle.block_on(async { hand_written(&handle, i) })
    });
    row(
        "hand-written spawn experiment",
        &hand,
        &control,
        Some(&hand),
    );
    std::thread::sleep(Duration::from_millis(200));
    let handed = experiment("bench-detached-hand-over", 4_096);
    let ours_handed = from_thread(&clock, |i| {
        handle.block_on(handed.run_detached(async move { work(i) }, async move { work(i) }))
    });
    settle(&handed);
    row(
        "darklaunch run_detached (handed over)",
        &ours_handed,
        &control,
        Some(&hand),
    );
    println!("    ({:?})", handed.stats());
    println!(
        "\n  hand-written mismatches (must be 0): {}",
        HAND_WRITTEN_MISMATCHES.load(Ordering::Relaxed)
    );
}

/// Resident memory of this process, in bytes (Linux); `None` where it cannot be read.
fn resident_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024)
}

fn memory_per_in_flight() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // A closed semaphore releases every waiter, present and future.
    let hand_gate = Arc::new(tokio::sync::Semaphore::new(0));
    let our_gate = Arc::new(tokio::sync::Semaphore::new(0));

    if resident_bytes().is_none() {
        println!("\nresident memory per in-flight candidate: NOT MEASURED (/proc/self/status unreadable)");
        return;
    }
    let rss = || resident_bytes().unwrap_or(0);
    // Hand-written: a spawned task that holds the same capture (the gate) and a u64.
    let before = rss();
    let spawned = runtime.spawn({
        let gate = hand_gate.clone();
        async move {
            for i in 0..IN_FLIGHT as u64 {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _ = gate.acquire().await;
                    black_box(i)
                });
            }
        }
    });
    runtime.block_on(spawned).expect("the spawning task");
    let hand_per = (rss().saturating_sub(before)) as f64 / IN_FLIGHT as f64;

    let experiment = experiment("bench-memory", IN_FLIGHT + 1);
    let before = rss();
    // From a task on a worker, so that every candidate is spawned directly.
    let spawned = runtime.spawn({
        let gate = our_gate.clone();
        let experiment = experiment.clone();
        async move {
            for i in 0..IN_FLIGHT as u64 {
                let gate = gate.clone();
                experiment
                    .run_detached(async move { i }, async move {
                        let _ = gate.acquire().await;
                        i
                    })
                    .await;
            }
        }
    });
    runtime.block_on(spawned).expect("the spawning task");
    let ours_per = (rss().saturating_sub(before)) as f64 / IN_FLIGHT as f64;
    let in_flight = experiment.stats().in_flight();
    hand_gate.close();
    our_gate.close();
    settle(&experiment);
    println!("\nresident memory per in-flight candidate ({IN_FLIGHT} in flight)");
    println!("  hand-written spawned task with the same capture: {hand_per:7.0} B");
    println!(
        "  darklaunch run_detached:                         {ours_per:7.0} B  ({:+.0} B over the hand-written task; budget ≤ 512 B)",
        ours_per - hand_per
    );
    println!("  (in flight when measured: {in_flight})");
}

fn main() {
    // Memory first, on a quiet heap.
    memory_per_in_flight();
    caller_latency();
}
