//! A message consumer that dark-launches a rewritten handler, written only on darklaunch's
//! public seam (`Experiment::begin_keyed` → `SampledRun`), the way the shadow layer is built:
//! the consumer handles every message with today's code and acknowledges it at once; for a
//! sticky share of customers the rewrite also handles a copy in the background, and the two
//! outcomes are compared and published off the consumer's path.
//!
//! Run: `cargo run --example queue_consumer`

use std::time::Duration;

use darklaunch::publish::Recorder;
use darklaunch::{Candidates, Experiment, Outcome, Sampler};
use tokio::sync::mpsc;

/// A message from the queue: a customer's order.
#[derive(Clone, Debug)]
struct OrderPlaced {
    customer: String,
    items: Vec<u32>,
}

/// What handling an order decides: loyalty points to credit.
type Points = Result<u32, String>;

/// Today's handler.
fn points_v1(order: &OrderPlaced) -> Points {
    if order.items.is_empty() {
        return Err(String::from("empty order"));
    }
    Ok(order.items.iter().sum::<u32>() / 10)
}

/// The rewrite: asynchronous, and it rounds up, which differs whenever the sum is not a
/// multiple of ten.
async fn points_v2(order: OrderPlaced) -> Points {
    tokio::task::yield_now().await;
    if order.items.is_empty() {
        return Err(String::from("empty order"));
    }
    Ok(order.items.iter().sum::<u32>().div_ceil(10))
}

/// Handles one message: the control inline, the candidate (when sampled) in the background.
fn handle(experiment: &Experiment<u32, String>, order: OrderPlaced) -> Points {
    let Some(mut run) = experiment.begin_keyed(order.customer.as_str()) else {
        return points_v1(&order);
    };
    run = run
        .context("customer", order.customer.clone())
        .context("items", order.items.len());
    run.start_clock();
    let points = points_v1(&order);
    let took = run.elapsed();
    let outcome = match &points {
        Ok(value) => Outcome::Value(*value),
        Err(error) => Outcome::Error(error.clone()),
    };
    run.detach(outcome, took, Candidates::new().candidate(points_v2(order)));
    points
}

#[tokio::main]
async fn main() {
    let recorder = Recorder::new();
    let experiment: Experiment<u32, String> = Experiment::builder("loyalty-points-v2")
        .sampler(Sampler::keyed(50.0))
        .candidate_timeout(Duration::from_millis(100))
        .publisher(recorder.clone())
        .build()
        .expect("a valid experiment");

    let (queue, mut messages) = mpsc::channel::<OrderPlaced>(64);
    let producer = tokio::spawn(async move {
        for n in 0..2_000u32 {
            let order = OrderPlaced {
                customer: format!("customer-{}", n % 200),
                items: (0..n % 4).map(|i| 5 * (n % 7) + i * 10).collect(),
            };
            if queue.send(order).await.is_err() {
                return;
            }
        }
    });

    let consumer = experiment.clone();
    let mut acknowledged = 0u32;
    while let Some(order) = messages.recv().await {
        let _points = handle(&consumer, order);
        acknowledged += 1;
    }
    producer.await.expect("the producer finished");

    let report = experiment.flush(Duration::from_secs(10)).await;
    let stats = experiment.stats();
    println!("acknowledged {acknowledged} messages");
    println!("{stats:?}");
    println!("flush: {report}");
    let mismatched: Vec<String> = recorder
        .results()
        .iter()
        .filter(|result| result.has_mismatch())
        .take(3)
        .map(|result| {
            let candidate = &result.candidates()[0];
            format!(
                "{}: control {:?}, candidate {:?}",
                result
                    .context()
                    .get("customer")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                result.control().outcome(),
                candidate.observation().outcome(),
            )
        })
        .collect();
    println!("first mismatches:\n  {}", mismatched.join("\n  "));

    // What the run must show; CI runs this example, so a broken seam fails it.
    assert_eq!(acknowledged, 2_000);
    assert!(report.is_complete(), "{report}");
    assert!(stats.reconciles(), "{stats:?}");
    assert!(
        stats.sampled > 600 && stats.sampled < 1_400,
        "about half: {stats:?}"
    );
    assert!(stats.mismatched > 0 && stats.matched > 0, "{stats:?}");
    assert_eq!(stats.published, stats.sampled, "{stats:?}");
}
