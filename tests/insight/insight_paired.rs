//! Paired latency: the candidate's duration over the control's on the same runs. Synthetic
//! candidates 1.0×, 1.1× and 2× the control (on inputs whose cost varies tenfold) reach the
//! expected latency verdicts, and the distribution-free interval on the median ratio covers the
//! true median at its stated rate over seeded repetitions.

use std::time::Duration;

use darklaunch::insight::{Insight, InsightOptions, ReleasePolicy, ReleaseStatus};
use darklaunch::{Clock, Experiment, ManualClock};

/// An insight over `runs` runs whose control takes 0.5–5 ms (the input's cost) and whose
/// candidate takes `ratio(rng)` times that, on a manual clock.
fn paired_run(
    runs: u64,
    seed: u64,
    policy: ReleasePolicy,
    mut ratio: impl FnMut(&mut fastrand::Rng) -> f64,
) -> darklaunch::insight::CandidateReport {
    let clock = ManualClock::new();
    let mut options = InsightOptions::default();
    options.policy = policy;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("paired")
        .clock(Clock::manual(&clock))
        .publisher(insight.clone())
        .build()
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    for n in 0..runs {
        let cost = Duration::from_micros(rng.u64(500..5_000));
        let candidate = cost.mul_f64(ratio(&mut rng));
        experiment.run(
            || {
                clock.advance(cost);
                n
            },
            || {
                clock.advance(candidate);
                n
            },
        );
    }
    insight.report().candidates.remove(0)
}

fn policy() -> ReleasePolicy {
    let mut policy = ReleasePolicy::default();
    policy.mismatch_tolerance = 0.01;
    policy.error_tolerance = 0.01;
    policy.max_median_slowdown = Some(1.2);
    policy.max_p99_slowdown = Some(1.5);
    policy
}

#[test]
fn synthetic_slowdowns_reach_the_expected_latency_verdicts() {
    // ±5 % noise around each factor, on inputs whose cost varies tenfold.
    for (factor, latency, release) in [
        (1.0, ReleaseStatus::Safe, ReleaseStatus::Safe),
        (1.1, ReleaseStatus::Safe, ReleaseStatus::Safe),
        (2.0, ReleaseStatus::NotSafe, ReleaseStatus::NotSafe),
    ] {
        let report = paired_run(2_000, 3, policy(), |rng| factor * (0.95 + 0.1 * rng.f64()));
        let median = report.paired_latency.median.unwrap();
        assert!(
            (median.estimate - factor).abs() < 0.02 * factor,
            "{factor}: {median:?}"
        );
        assert_eq!(
            report.latency_status,
            Some(latency),
            "{factor}: {:?}",
            report.paired_latency
        );
        assert_eq!(
            report.verdict.status, release,
            "{factor}: {}",
            report.verdict.summary
        );
        if release == ReleaseStatus::NotSafe {
            assert!(
                report
                    .verdict
                    .summary
                    .contains("median latency 2.01× the control's on the same runs"),
                "{}",
                report.verdict.summary
            );
        }
    }
    // The unpaired percentiles stay beside the paired ratios, in every report form.
    let report = paired_run(500, 4, policy(), |_| 2.0);
    assert!(report.latency.p50 > Duration::from_millis(1));
    // Too few runs to bound the p99: undecided, not safe.
    let report = paired_run(120, 5, policy(), |_| 1.0);
    assert_eq!(report.latency_status, Some(ReleaseStatus::Inconclusive));
    assert_eq!(report.verdict.status, ReleaseStatus::Inconclusive);
}

#[test]
fn the_median_interval_covers_the_true_median_at_its_stated_rate() {
    // Ratio uniform on [1, 2]: its true median is 1.5.
    let repetitions = 300;
    let covered = (0..repetitions)
        .filter(|seed| {
            let report = paired_run(200, *seed, policy(), |rng| 1.0 + rng.f64());
            let median = report.paired_latency.median.unwrap();
            median.low <= 1.5 && 1.5 <= median.high
        })
        .count();
    let rate = covered as f64 / repetitions as f64;
    // 95 % stated; three standard errors of 300 repetitions (1.3 points each) below it.
    assert!(rate >= 0.95 - 3.0 * 0.0126, "covered {rate}");
    eprintln!("median interval covered the true median in {covered} of {repetitions} repetitions");
}

#[test]
fn the_reports_show_the_paired_ratios() {
    let clock = ManualClock::new();
    let insight: Insight<u64> = Insight::new();
    let experiment: Experiment<u64> = Experiment::builder("paired-report")
        .clock(Clock::manual(&clock))
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..300u64 {
        experiment.run(
            || {
                clock.advance(Duration::from_millis(1));
                n
            },
            || {
                clock.advance(Duration::from_micros(1_500));
                n
            },
        );
    }
    let report = insight.report();
    let terminal = report.to_terminal();
    assert!(terminal.contains("Paired with the control"), "{terminal}");
    assert!(terminal.contains("1.50× (1.50–1.50×)"), "{terminal}");
    let html = report.to_html();
    assert!(html.contains(r#"<table class="paired">"#));
    assert!(html.contains("1.50× (1.50–1.50×)"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["candidates"][0]["paired_latency"]["runs"], 300);
}
