//! Progressive delivery in process: guard rails, serving the candidate, rates from a flag
//! service.
//!
//! A pricing service dark-launches v2 beside its old code; v2's errors spike and its guard
//! stops it. v3 is dark-launched clean, and the share of users it serves is raised step by
//! step through an OpenFeature flag (the old code runs as the shadow all along, so the
//! comparison goes on); a late defect in v3 trips its guard and every user falls back to the
//! old code at once. Prints a timeline and the final stats, and exits non-zero if the story
//! did not happen.
//!
//! Run: `cargo run --example progressive_delivery --features openfeature`

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use darklaunch::flags::{FlagRates, FlagValue, InMemoryFlags};
use darklaunch::guard::{GuardEvent, GuardEventKind, GuardRails, GuardStatus};
use darklaunch::{Experiment, ExperimentResult, Publisher, Sampler, ServeShare};
use open_feature::OpenFeature;

/// Requests at which the story's events are staged.
const V2_BREAKS: u64 = 1_500;
const RAMP: [(u64, f64); 4] = [
    (4_000, 10.0),
    (6_000, 50.0),
    (8_000, 100.0),
    (11_000, 100.0),
];
const V3_BREAKS: u64 = 10_000;
const REQUESTS: u64 = 12_000;

type Price = Result<u64, String>;

fn price_v1(order: u64) -> Price {
    Ok(order * 3 + 7)
}

/// v2 starts failing on 40 % of orders at request `V2_BREAKS`.
async fn price_v2(request: u64, order: u64) -> Price {
    if request >= V2_BREAKS && request % 5 < 2 {
        return Err("v2: pricing table unavailable".into());
    }
    Ok(order * 3 + 7)
}

/// v3 is right until request `V3_BREAKS`, then fails on 30 % of orders.
async fn price_v3(request: u64, order: u64) -> Price {
    if request >= V3_BREAKS && request % 10 < 3 {
        return Err("v3: currency service timed out".into());
    }
    Ok(order * 3 + 7)
}

/// Prints guard trips and re-arms as they happen, stamped with the request under way.
struct Timeline {
    request: Arc<AtomicU64>,
}

impl Publisher<u64, String> for Timeline {
    fn publish(&self, _result: &ExperimentResult<u64, String>) {}

    fn guard(&self, event: &GuardEvent) {
        let verb = match event.kind {
            GuardEventKind::Tripped => "TRIPPED",
            GuardEventKind::Rearmed => "re-armed",
        };
        println!(
            "request {:>6}  guard {verb} for {}: {} {:.1} % over {} runs (limit {:.1} %)",
            self.request.load(Ordering::Relaxed),
            event.candidate,
            event.reason,
            event.observed * 100.0,
            event.runs,
            event.threshold * 100.0,
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let request = Arc::new(AtomicU64::new(0));

    // The flag service: an OpenFeature provider whose flags the release manager changes.
    let flags = InMemoryFlags::new();
    flags.set("pricing.sample", FlagValue::Float(100.0));
    flags.set("pricing.serve-v3", FlagValue::Float(0.0));
    flags.set("pricing.kill", FlagValue::Bool(false));
    let client = {
        let mut api = OpenFeature::singleton_mut().await;
        api.set_named_provider("pricing", flags.clone()).await;
        api.create_named_client("pricing")
    };

    let rails = || {
        GuardRails::new()
            .max_error_rate(0.05)
            .max_latency_ratio(5.0)
            .window(500)
            .min_runs(200)
            .cool_down(Duration::from_secs(3_600))
    };
    let (sampler, sampling) = Sampler::runtime_keyed(0.0);
    let share = ServeShare::new(0.0);
    let experiment: Experiment<u64, String> = Experiment::builder("pricing")
        .sampler(sampler)
        .guard_candidate("v2", rails())
        .guard_candidate("v3", rails())
        .serve_candidate("v3", share.clone())
        .publisher(Timeline {
            request: request.clone(),
        })
        .build()
        .expect("a valid experiment");
    let poller = FlagRates::new(client, &experiment)
        .sampling_percent("pricing.sample", sampling.clone())
        .serving_share("pricing.serve-v3", share.clone())
        .kill_switch("pricing.kill", sampling)
        .poll_interval(Duration::from_millis(20))
        .spawn(&tokio::runtime::Handle::current());

    println!("dark-launching v2 and v3 beside the old pricing code, 100 % sampled\n");
    let mut served_before_defect = 0;
    let mut served_at_full_share = 0;
    let mut wrong_prices = 0;
    for n in 0..REQUESTS {
        request.store(n, Ordering::Relaxed);
        if let Some((_, percent)) = RAMP.iter().find(|(at, _)| *at == n) {
            flags.set("pricing.serve-v3", FlagValue::Float(*percent));
            // The poller applies it within one poll interval.
            tokio::time::sleep(Duration::from_millis(60)).await;
            let armed =
                experiment.guard("v3").map(|guard| guard.status()) == Some(GuardStatus::Armed);
            if armed {
                println!(
                    "request {n:>6}  flag pricing.serve-v3 = {percent} %: v3 now serves {} % of users",
                    share.percent()
                );
            } else {
                println!(
                    "request {n:>6}  flag pricing.serve-v3 = {percent} %, but v3's guard is tripped: every user gets the old code"
                );
            }
        }
        if n == V3_BREAKS {
            served_before_defect = experiment.stats().served;
            println!("request {n:>6}  (v3 starts failing on 30 % of orders)");
        }
        let user = n % 997;
        let order = n % 113;
        let price = experiment
            .trial()
            .key(user)
            .context("user", user)
            .control(async { price_v1(order) })
            .candidate("v2", price_v2(n, order))
            .candidate("v3", price_v3(n, order))
            .run_async()
            .await;
        if price != price_v1(order) {
            wrong_prices += 1;
        }
        if n == V3_BREAKS - 1 {
            served_at_full_share = experiment.stats().served;
        }
    }
    drop(poller);

    let stats = experiment.stats();
    let v2 = experiment.guard("v2").expect("v2 is guarded").status();
    let v3 = experiment.guard("v3").expect("v3 is guarded").status();
    println!("\nfinal: v2 {}, v3 {}", v2.as_str(), v3.as_str());
    println!(
        "stats: {} requests, {} sampled, {} served by v3, {} fell back to the old code, \
         {} guard trips, {} candidate runs held back by guards, {} wrong prices",
        stats.runs,
        stats.sampled,
        stats.served,
        stats.fallbacks,
        stats.guard_trips,
        stats.guard_held,
        wrong_prices
    );

    let mut failures = Vec::new();
    if !matches!(v2, GuardStatus::Tripped { .. }) {
        failures.push("v2's guard did not trip");
    }
    if !matches!(v3, GuardStatus::Tripped { .. }) {
        failures.push("v3's guard did not trip on its late defect");
    }
    if served_at_full_share == 0 {
        failures.push("v3 served nobody during the ramp");
    }
    if stats.served > served_before_defect + 500 {
        failures.push("v3 went on serving long after its defect");
    }
    if wrong_prices != 0 {
        failures.push("a user got a wrong price");
    }
    if !stats.reconciles() {
        failures.push("the counters do not reconcile");
    }
    if failures.is_empty() {
        println!("\nthe story held: v2 stopped, v3 ramped up, v3 stopped, users never noticed");
        ExitCode::SUCCESS
    } else {
        for failure in failures {
            eprintln!("FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
