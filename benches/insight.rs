//! What insight costs per sampled run, side by side in one run: the same trial with no
//! publisher, with an `Insight` (histograms, counters, timeline under one lock), and with noise
//! calibration on top (a diff, a classification and, on 10 % of runs, the control a second
//! time); the cost of a mismatch's grouping; and making a report.
//!
//! Run: `cargo bench --bench insight`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use darklaunch::diff::DiffOptions;
use darklaunch::insight::Insight;
use darklaunch::noise::NoiseCalibration;
use darklaunch::Experiment;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    sku: u32,
    items: Vec<u32>,
    total_cents: u64,
    request_id: u64,
}

static IDS: AtomicU64 = AtomicU64::new(0);

fn quote(total_cents: u64, fresh_id: bool) -> Quote {
    Quote {
        sku: 42,
        items: vec![1, 2, 3, 4],
        total_cents,
        request_id: if fresh_id {
            IDS.fetch_add(1, Ordering::Relaxed)
        } else {
            7
        },
    }
}

fn experiment(name: &str, insight: Option<&Insight<Quote>>, calibrate: bool) -> Experiment<Quote> {
    let mut builder = Experiment::<Quote>::builder(name)
        .randomize_order(false)
        .diff(DiffOptions::default());
    if calibrate {
        builder = builder.calibrate_noise(NoiseCalibration::new().percent(10.0));
    }
    if let Some(insight) = insight {
        builder = builder.publisher(insight.clone());
    }
    builder.build().expect("valid configuration")
}

fn insight(c: &mut Criterion) {
    let bare = experiment("bench-bare", None, false);
    let gathered = Insight::new();
    let with_insight = experiment("bench-insight", Some(&gathered), false);
    let calibrated_insight = Insight::new();
    let calibrated = experiment("bench-calibrated", Some(&calibrated_insight), true);

    let mut group = c.benchmark_group("insight");
    group.measurement_time(Duration::from_secs(3));
    let run = |experiment: &Experiment<Quote>, total: u64, fresh_ids: bool| {
        experiment
            .trial()
            .control(|| quote(100, fresh_ids))
            .calibration(|| quote(100, fresh_ids))
            .candidate("v2", || quote(black_box(total), fresh_ids))
            .run()
    };
    group.bench_function("match/no_publisher", |b| b.iter(|| run(&bare, 100, false)));
    group.bench_function("match/insight", |b| {
        b.iter(|| run(&with_insight, 100, false))
    });
    group.bench_function("match/insight_calibrated", |b| {
        b.iter(|| run(&calibrated, 100, false))
    });
    // Every run differs on `request_id`, which calibration classifies as noise.
    group.bench_function("noise/no_publisher", |b| b.iter(|| run(&bare, 100, true)));
    group.bench_function("noise/insight_calibrated", |b| {
        b.iter(|| run(&calibrated, 100, true))
    });
    group.bench_function("mismatch/no_publisher", |b| {
        b.iter(|| run(&bare, 101, false))
    });
    group.bench_function("mismatch/insight", |b| {
        b.iter(|| run(&with_insight, 101, false))
    });
    group.finish();

    let mut group = c.benchmark_group("report");
    group.bench_function("report+terminal+html", |b| {
        b.iter(|| {
            let report = gathered.report();
            black_box((report.to_terminal().len(), report.to_html().len()))
        })
    });
    group.finish();
}

criterion_group!(benches, insight);
criterion_main!(benches);
