//! Guarantee 10 for the insight: the memory an `Insight` holds is bounded by its options, shown
//! with measured resident memory (`VmRSS` from `/proc/self/status`). One test function in its
//! own test binary, so that nothing else allocates in the process while it measures.
//!
//! Scenarios: 300 kept samples of mismatching 1 MiB values (no differ: the insight serializes
//! the values itself); 300 mismatches whose difference is under a 256 KiB map key (an id used
//! as a key), with a differ that keeps whole values (`max_value_bytes(usize::MAX)`) of 1 MiB.

mod common;

use std::collections::BTreeMap;

use darklaunch::diff::DiffOptions;
use darklaunch::insight::{Insight, InsightOptions};
use darklaunch::Experiment;
use serde::Serialize;

const MIB: usize = 1024 * 1024;

/// Resident memory in bytes, or `None` when `/proc` cannot be read.
fn rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[derive(Clone, PartialEq, Serialize)]
struct Blob {
    id: u64,
    body: String,
}

fn blob(id: u64, fill: char) -> Blob {
    Blob {
        id,
        body: std::iter::repeat_n(fill, MIB).collect(),
    }
}

/// A unique key of `len` bytes for run `n`.
fn key(n: u64, len: usize) -> String {
    let mut key = format!("id-{n:08}-");
    while key.len() < len {
        key.push(char::from(b'a' + (key.len() % 26) as u8));
    }
    key
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

/// The growth of resident memory while `publish` runs, with everything it allocated but the
/// insight dropped.
fn growth(label: &str, publish: impl FnOnce()) -> usize {
    let before = rss().expect("checked");
    publish();
    let after = rss().expect("checked");
    let grown = after.saturating_sub(before);
    eprintln!(
        "{label}: RSS {:.1} MiB → {:.1} MiB (+{:.1} MiB)",
        mib(before),
        mib(after),
        mib(grown)
    );
    grown
}

#[test]
fn resident_memory_of_an_insight_is_bounded_by_its_options() {
    if rss().is_none() {
        common::skip_or_fail(
            "insight_memory",
            "/proc/self/status cannot be read: resident memory NOT measured",
        );
        return;
    }

    // 1. No differ: 300 samples of 1 MiB values, all kept.
    let mut options = InsightOptions::default();
    options.max_groups = 1;
    options.samples_per_group = 300;
    options.max_value_chars = 2048;
    options.significant_digits = 2;
    let kept_text = options.samples_per_group * 2 * options.max_value_chars;
    let insight = Insight::with_options(options);
    let experiment: Experiment<Blob> = Experiment::builder("blobs")
        .publisher(insight.clone())
        .build()
        .expect("valid");
    // Warm up: the histograms and the first group are allocated before measuring.
    experiment.run(|| blob(0, 'a'), || blob(0, 'b'));
    let grown = growth("300 samples of 1 MiB values, no differ", || {
        for n in 1..=300 {
            let control = blob(n, 'a');
            let candidate = blob(n, 'b');
            experiment.run(move || control, move || candidate);
        }
    });
    let report = insight.report();
    assert_eq!(report.candidates[0].mismatched, 301);
    assert_eq!(report.candidates[0].groups[0].samples.len(), 300);
    drop(report);
    // What the options let it keep (1.2 MiB of text), twice over, plus 8 MiB of slack for the
    // allocator.
    let bound = 2 * kept_text + 8 * MIB;
    let mut failures = Vec::new();
    if grown > bound {
        failures.push(format!(
            "300 samples of 1 MiB values grew RSS by {:.1} MiB, over {:.1} MiB",
            mib(grown),
            mib(bound)
        ));
    }
    drop(experiment);
    drop(insight);

    // 2. A differ keeping whole values; each mismatch under its own 256 KiB map key, so every
    //    one is a new shape until the group cap.
    let mut options = InsightOptions::default();
    options.max_groups = 100;
    options.samples_per_group = 3;
    options.max_value_chars = 2048;
    options.significant_digits = 2;
    let (groups, samples, value_chars) = (
        options.max_groups,
        options.samples_per_group,
        options.max_value_chars,
    );
    let insight = Insight::with_options(options);
    let experiment: Experiment<BTreeMap<String, String>> = Experiment::builder("keys")
        .diff(DiffOptions::new().max_value_bytes(usize::MAX))
        .publisher(insight.clone())
        .build()
        .expect("valid");
    let one = |n: u64| {
        let key = key(n, 256 * 1024);
        let control = BTreeMap::from([(key.clone(), "a".repeat(MIB))]);
        let candidate = BTreeMap::from([(key, "b".repeat(MIB))]);
        experiment.run(move || control, move || candidate);
    };
    one(0);
    let grown = growth(
        "300 mismatches under 256 KiB keys, 1 MiB values in the diff",
        || {
            for n in 1..=300 {
                one(n);
            }
        },
    );
    let report = insight.report();
    assert_eq!(report.candidates[0].mismatched, 301);
    assert_eq!(report.candidates[0].groups.len(), groups);
    drop(report);
    // Per group: a shape and its keys (paths capped near 1 KiB each), and `samples` samples of
    // a diff with two values of at most `value_chars` and a capped path.
    let per_group = 4 * 1024 + samples * (2 * value_chars + 4 * 1024);
    let bound = 2 * groups * per_group + 8 * MIB;
    if grown > bound {
        failures.push(format!(
            "300 mismatches under 256 KiB keys grew RSS by {:.1} MiB, over {:.1} MiB",
            mib(grown),
            mib(bound)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
