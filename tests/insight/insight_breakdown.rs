//! The per-route breakdown: outcomes and latency by one context key's value (the shadow
//! layer's `route` by default), the most frequent values first, the rest counted as other.

use darklaunch::insight::{Insight, InsightOptions, ABSENT, OTHER};
use darklaunch::Experiment;

#[test]
fn outcomes_are_broken_down_by_route_with_bounded_cardinality() {
    let mut options = InsightOptions::default();
    options.breakdown_values = 3;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("by-route")
        .publisher(insight.clone())
        .build()
        .unwrap();
    // /checkout mismatches on every call; the rest match. 100 other routes once each.
    let mut calls = vec![
        ("/checkout", 50u64),
        ("/search", 40),
        ("/cart", 30),
        ("/about", 20),
    ];
    let rare: Vec<String> = (0..100).map(|n| format!("/rare/{n}\u{1b}")).collect();
    calls.extend(rare.iter().map(|route| (route.as_str(), 1)));
    for (route, times) in calls {
        for n in 0..times {
            experiment
                .trial()
                .context("route", route.to_string())
                .control(|| n)
                .candidate("v2", || if route == "/checkout" { n + 1 } else { n })
                .run();
        }
    }
    experiment.trial().control(|| 1).candidate("v2", || 1).run(); // no route at all
    let report = insight.report();
    assert_eq!(report.breakdown_key.as_deref(), Some("route"));
    let breakdown = &report.candidates[0].breakdown;
    let shown: Vec<_> = breakdown
        .iter()
        .map(|e| (e.value.as_str(), e.runs, e.mismatched))
        .collect();
    assert_eq!(
        shown,
        [
            ("/checkout", 50, 50),
            ("/search", 40, 0),
            ("/cart", 30, 0),
            (OTHER, 20 + 100 + 1, 0)
        ]
    );
    let total: u64 = breakdown.iter().map(|e| e.runs).sum();
    assert_eq!(
        total, report.candidates[0].runs,
        "every run is counted once"
    );
    let terminal = report.to_terminal();
    assert!(terminal.contains("v2 by route"), "{terminal}");
    assert!(!terminal.contains('\u{1b}'));
    let html = report.to_html();
    assert!(html.contains("<section id=\"breakdown\">") && html.contains("/checkout"));
}

#[test]
fn no_key_no_breakdown() {
    let mut options = InsightOptions::default();
    options.breakdown_key = None;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("no-breakdown")
        .publisher(insight.clone())
        .build()
        .unwrap();
    experiment
        .trial()
        .context("route", "/a")
        .control(|| 1)
        .candidate("v2", || 1)
        .run();
    let report = insight.report();
    assert!(report.candidates[0].breakdown.is_empty());
    assert!(!report.to_html().contains("id=\"breakdown\""));
}

#[test]
fn runs_without_the_key_are_counted_as_absent() {
    let insight: Insight<u64> = Insight::new();
    let experiment: Experiment<u64> = Experiment::builder("absent")
        .publisher(insight.clone())
        .build()
        .unwrap();
    experiment.run(|| 1, || 2);
    let report = insight.report();
    let entry = &report.candidates[0].breakdown[0];
    assert_eq!(
        (entry.value.as_str(), entry.runs, entry.mismatched),
        (ABSENT, 1, 1)
    );
}
