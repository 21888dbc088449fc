//! Dark-launch a rewritten pricing function: every caller gets the old price, a sampled share of
//! calls also runs the rewrite, and every disagreement is recorded with the fields that differ.
//!
//! Run: `cargo run --example quickstart`

use std::time::Duration;

use darklaunch::diff::DiffOptions;
use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Sampler, Verdict};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    subtotal_cents: u64,
    discount_cents: u64,
    total_cents: u64,
}

/// Today's code: 10 % off carts of five items or more.
fn old_price(items: &[u64]) -> Quote {
    let subtotal: u64 = items.iter().sum();
    let discount = if items.len() >= 5 { subtotal / 10 } else { 0 };
    Quote {
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

/// The rewrite: faster, but it rounds the discount to nearest instead of down.
fn new_price(items: &[u64]) -> Quote {
    let subtotal = items.iter().copied().reduce(|a, b| a + b).unwrap_or(0);
    let discount = if items.len() >= 5 {
        (subtotal + 5) / 10
    } else {
        0
    };
    Quote {
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    }
}

fn main() -> Result<(), darklaunch::ConfigError> {
    let recorder = Recorder::new();
    let experiment: Experiment<Quote> = Experiment::builder("pricing-v2")
        // A sticky 25 % of users, the same on every instance and after restarts.
        .sampler(Sampler::keyed(25.0))
        .diff(DiffOptions::default())
        .candidate_timeout(Duration::from_millis(50))
        .publisher(recorder.clone())
        .build()?;

    let mut rng = fastrand::Rng::with_seed(7);
    for request in 0..10_000u32 {
        let user = rng.u32(0..2_000);
        let items: Vec<u64> = (0..rng.usize(1..9)).map(|_| rng.u64(100..5_000)).collect();
        let quote = experiment
            .trial()
            .key(user)
            .context("request", request)
            .control(|| old_price(&items))
            .candidate("v2", || new_price(&items))
            .run();
        // The caller always gets today's answer.
        assert_eq!(quote, old_price(&items));
    }

    let stats = experiment.stats();
    println!("experiment \"{}\"", experiment.name());
    println!(
        "  runs {}  sampled {}  matched {}  mismatched {}  candidate errors {}  timeouts {}",
        stats.runs,
        stats.sampled,
        stats.matched,
        stats.mismatched,
        stats.candidate_errors,
        stats.timeouts
    );
    println!(
        "  published {}  publish failed {}  shed {}  reconciles: {}",
        stats.published,
        stats.publish_failed,
        stats.shed,
        stats.reconciles()
    );

    let results = recorder.take();
    let mismatches: Vec<_> = results.iter().filter(|r| r.has_mismatch()).collect();
    if let Some(first) = mismatches.first() {
        let candidate = first.candidate("v2").expect("the v2 candidate ran");
        println!(
            "\nfirst of {} mismatches (request {}):",
            mismatches.len(),
            first.context().get("request").expect("context was set")
        );
        if let Some(diff) = candidate.diff() {
            for line in diff.to_string().lines() {
                println!("  {line}");
            }
        }
    }
    let slowest = results
        .iter()
        .flat_map(|r| r.candidates())
        .filter(|c| c.verdict() != Verdict::TimedOut)
        .map(|c| c.observation().duration())
        .max()
        .unwrap_or_default();
    println!("\nslowest candidate run: {slowest:?}");
    Ok(())
}
