//! Verdict statistics: Wilson intervals against reference values, histogram percentiles
//! within the histogram's stated error, and the plain-words verdict.

use crate::common;

use std::time::Duration;

use darklaunch::insight::{Insight, InsightOptions, Proportion, ReleaseStatus, Z_95};
use darklaunch::{Clock, Experiment, ManualClock};

/// `(count, total, low, high)` from statsmodels 0.14
/// `proportion_confint(count, total, alpha=0.05, method="wilson")`.
const WILSON_95: [(u64, u64, f64, f64); 10] = [
    (0, 10, 0.000000000000, 0.277532799863),
    (1, 10, 0.017876213095, 0.404150026795),
    (5, 10, 0.236593090513, 0.763406909487),
    (10, 10, 0.722467200137, 1.000000000000),
    (0, 500, 0.000000000000, 0.007624340462),
    (3, 1000, 0.001020783881, 0.008783014054),
    (81, 263, 0.255288519878, 0.366209576983),
    (1, 1_000_000, 0.000000176525, 0.000005664912),
    (999, 1000, 0.994357441402, 0.999823453629),
    (12, 12345, 0.000556160333, 0.001698420303),
];

#[test]
fn wilson_interval_matches_reference_values() {
    for (count, total, low, high) in WILSON_95 {
        let rate = Proportion::wilson(count, total);
        assert!(
            (rate.low - low).abs() < 1e-9,
            "{count}/{total}: low {} vs {low}",
            rate.low
        );
        assert!(
            (rate.high - high).abs() < 1e-9,
            "{count}/{total}: high {} vs {high}",
            rate.high
        );
        assert_eq!(rate.estimate, count as f64 / total as f64);
    }
    // 99 %: statsmodels gives (0.11715888001404891, 0.32017353261544496) for 20/100.
    let rate = Proportion::wilson_with_z(20, 100, 2.5758293035489004);
    assert!((rate.low - 0.117_158_880_014).abs() < 1e-9);
    assert!((rate.high - 0.320_173_532_615).abs() < 1e-9);
}

#[test]
fn wilson_edge_cases_never_panic_or_escape_the_unit_interval() {
    let nothing = Proportion::wilson(0, 0);
    assert_eq!(
        (nothing.low, nothing.high, nothing.estimate),
        (0.0, 1.0, 0.0)
    );
    let clamped = Proportion::wilson(7, 3);
    assert_eq!((clamped.count, clamped.high), (3, 1.0));
    let huge = Proportion::wilson(u64::MAX / 2, u64::MAX);
    assert!(huge.low <= huge.estimate && huge.estimate <= huge.high);
    let bad_z = Proportion::wilson_with_z(1, 10, f64::NAN);
    assert_eq!(bad_z, Proportion::wilson_with_z(1, 10, Z_95));
}

/// Runs `latencies` through an experiment on a manual clock: the control takes each latency,
/// the candidate twice as long; returns the report.
fn latency_report(latencies: &[u64], digits: u8) -> darklaunch::insight::Report {
    let clock = ManualClock::new();
    let mut options = InsightOptions::default();
    options.significant_digits = digits;
    let insight = Insight::with_options(options);
    let experiment: Experiment<u64> = Experiment::builder("latency")
        .clock(Clock::manual(&clock))
        .publisher(insight.clone())
        .build()
        .unwrap();
    for &nanos in latencies {
        experiment.run(
            || {
                clock.advance(Duration::from_nanos(nanos));
                1
            },
            || {
                clock.advance(Duration::from_nanos(nanos * 2));
                1
            },
        );
    }
    insight.report()
}

/// The exact percentile as HDR histograms define it: the value at rank ⌈q·n⌉.
fn exact(sorted: &[u64], quantile: f64) -> u64 {
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

#[test]
fn histogram_percentiles_are_within_the_stated_error() {
    // A long-tailed distribution from 200 ns to ~50 ms.
    let mut rng = fastrand::Rng::with_seed(42);
    let latencies: Vec<u64> = (0..100_000)
        .map(|_| {
            let exponent = rng.f64() * rng.f64() * 12.5;
            (200.0 * exponent.exp()) as u64
        })
        .collect();
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    for digits in [2u8, 3] {
        let report = latency_report(&latencies, digits);
        let stated = 10f64.powi(-i32::from(digits));
        for (latency, scale) in [
            (&report.control_latency, 1),
            (&report.candidates[0].latency, 2),
        ] {
            assert_eq!(latency.count, 100_000);
            assert_eq!(latency.relative_error, stated);
            for (quantile, measured) in
                [(0.5, latency.p50), (0.9, latency.p90), (0.99, latency.p99)]
            {
                let truth = exact(&sorted, quantile) * scale;
                let measured = measured.as_nanos() as f64;
                let error = (measured - truth as f64).abs() / truth as f64;
                assert!(
                    error <= stated,
                    "{digits} digits, p{}: {measured} vs exact {truth} (error {error})",
                    quantile * 100.0
                );
            }
            assert_eq!(
                latency.max.as_nanos() as u64,
                sorted[sorted.len() - 1] * scale
            );
            assert_eq!(latency.quantiles.first().unwrap().quantile, 0.0);
            assert_eq!(latency.quantiles.last().unwrap().latency, latency.max);
        }
    }
}

#[test]
fn verdict_in_plain_words() {
    // Safe: 2,000 matching runs.
    let insight = Insight::new();
    let experiment: Experiment<u64> = Experiment::builder("safe")
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..10_000u64 {
        experiment.run(|| n, || n);
    }
    let report = insight.report();
    let verdict = &report.candidates[0].verdict;
    assert_eq!(verdict.status, ReleaseStatus::Safe);
    assert!(
        verdict
            .summary
            .starts_with("candidate looks safe to release: 0 mismatches in 10,000 runs"),
        "{}",
        verdict.summary
    );

    // Too few runs.
    let insight = Insight::new();
    let experiment: Experiment<u64> = Experiment::builder("young")
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..10u64 {
        experiment.run(|| n, || n);
    }
    let verdict = &insight.report().candidates[0].verdict;
    assert_eq!(verdict.status, ReleaseStatus::Inconclusive);
    assert_eq!(
        verdict.summary,
        "candidate: not enough evidence yet: 10 of the 100 runs needed"
    );

    // Not safe: 5 % mismatches, and panics.
    let insight = Insight::new();
    let experiment: Experiment<u64> = Experiment::builder("broken")
        .on_error(|_| {})
        .publisher(insight.clone())
        .build()
        .unwrap();
    common::silence_expected_panics(&["boom"]);
    for n in 0..1_000u64 {
        experiment.run(
            || n,
            || match n % 100 {
                0..=4 => n + 1,
                5 => panic!("boom"),
                _ => n,
            },
        );
    }
    let report = insight.report();
    let candidate = &report.candidates[0];
    assert_eq!((candidate.mismatched, candidate.errors), (50, 10));
    assert_eq!(candidate.verdict.status, ReleaseStatus::NotSafe);
    assert!(
        candidate
            .verdict
            .summary
            .contains("5.00 % of runs mismatch (anytime 95.0 % bounds 1.14–13.0 %)"),
        "{}",
        candidate.verdict.summary
    );
    assert!(
        candidate.verdict.summary.contains("10 candidate errors"),
        "{}",
        candidate.verdict.summary
    );
    assert_eq!(candidate.groups.len(), 1);
    assert_eq!(candidate.groups[0].count, 50);
    assert_eq!(candidate.groups[0].samples.len(), 3);
    let text = report.to_terminal();
    assert!(
        text.contains("[not_safe] candidate is not safe to release"),
        "{text}"
    );
}
