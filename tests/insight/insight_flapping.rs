//! A verdict that does not flap: a new status is reported only once it has held for the
//! policy's consecutive evaluations (each a report with new runs), and every change of the
//! reported status is announced exactly once.

use std::sync::{Arc, Mutex};

use darklaunch::insight::{Insight, InsightOptions, ReleasePolicy, ReleaseStatus, StatusChange};
use darklaunch::Experiment;

fn insight(consecutive: u32) -> (Insight<u64>, Experiment<u64>, Arc<Mutex<Vec<StatusChange>>>) {
    let mut policy = ReleasePolicy::default();
    policy.mismatch_tolerance = 0.01;
    policy.error_tolerance = 0.01;
    policy.consecutive_evaluations = consecutive;
    let mut options = InsightOptions::default();
    options.policy = policy;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    insight.on_status_change(move |change| seen.lock().unwrap().push(change.clone()));
    let experiment = Experiment::builder("flapping")
        .publisher(insight.clone())
        .build()
        .unwrap();
    (insight, experiment, changes)
}

/// Runs `n` calls, mismatching on every `every`-th (never if 0).
fn runs(experiment: &Experiment<u64>, n: u64, every: u64) {
    for i in 0..n {
        experiment.run(
            || i,
            || {
                if every > 0 && i % every == 0 {
                    i + 1
                } else {
                    i
                }
            },
        );
    }
}

#[test]
fn a_new_status_is_reported_only_after_it_holds() {
    let (insight, experiment, changes) = insight(3);
    runs(&experiment, 600, 0); // clean: safe at 1 %
    let statuses: Vec<_> = (0..4)
        .map(|_| {
            let report = insight.report();
            runs(&experiment, 10, 0);
            (
                report.candidates[0].evaluated_status,
                report.candidates[0].verdict.status,
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (ReleaseStatus::Safe, ReleaseStatus::Inconclusive),
            (ReleaseStatus::Safe, ReleaseStatus::Inconclusive),
            (ReleaseStatus::Safe, ReleaseStatus::Safe),
            (ReleaseStatus::Safe, ReleaseStatus::Safe),
        ]
    );
    // Reads without new runs are not evaluations.
    let report = insight.report();
    assert_eq!(report.candidates[0].verdict.status, ReleaseStatus::Safe);
    let changes = changes.lock().unwrap().clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].from, changes[0].to),
        (ReleaseStatus::Inconclusive, ReleaseStatus::Safe)
    );
}

#[test]
fn a_single_bad_evaluation_does_not_flip_a_held_verdict() {
    let (insight, experiment, changes) = insight(2);
    runs(&experiment, 600, 0);
    insight.report();
    insight.report(); // no new runs: not an evaluation
    runs(&experiment, 10, 0);
    assert_eq!(
        insight.report().candidates[0].verdict.status,
        ReleaseStatus::Safe
    );
    // A burst of mismatches: not safe at once by the numbers, but reported only once it holds.
    runs(&experiment, 200, 2);
    let first = insight.report();
    assert_eq!(first.candidates[0].evaluated_status, ReleaseStatus::NotSafe);
    assert_eq!(first.candidates[0].verdict.status, ReleaseStatus::Safe);
    assert!(first.candidates[0]
        .verdict
        .summary
        .contains("reported safe until not_safe holds"));
    runs(&experiment, 10, 2);
    assert_eq!(
        insight.report().candidates[0].verdict.status,
        ReleaseStatus::NotSafe
    );
    let kinds: Vec<_> = changes
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(
        kinds,
        [
            (ReleaseStatus::Inconclusive, ReleaseStatus::Safe),
            (ReleaseStatus::Safe, ReleaseStatus::NotSafe)
        ]
    );
}

#[test]
fn zero_consecutive_evaluations_is_a_config_error() {
    let mut options = InsightOptions::default();
    options.policy.consecutive_evaluations = 0;
    let error = Insight::<u64>::try_with_options(options).unwrap_err();
    assert!(
        error.to_string().contains("consecutive_evaluations"),
        "{error}"
    );
}

/// Every change is also an OpenTelemetry span event on the global tracer provider, once.
#[cfg(feature = "opentelemetry")]
#[test]
fn a_change_is_an_opentelemetry_span_event() {
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    let spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    // The only test in this binary that installs a global provider.
    opentelemetry::global::set_tracer_provider(provider.clone());
    let (insight, _, _) = insight(1);
    let experiment: Experiment<u64> = Experiment::builder("flapping-otel")
        .publisher(insight.clone())
        .build()
        .unwrap();
    runs(&experiment, 600, 0);
    insight.report();
    insight.report();
    provider.force_flush().unwrap();
    let finished = spans.get_finished_spans().unwrap();
    let ours: Vec<_> = finished
        .iter()
        .filter(|span| span.name == "darklaunch.verdict")
        .filter(|span| {
            span.events.iter().any(|event| {
                event.attributes.iter().any(|kv| {
                    kv.key.as_str() == "darklaunch.experiment"
                        && kv.value.as_str() == "flapping-otel"
                })
            })
        })
        .collect();
    assert_eq!(ours.len(), 1, "{finished:?}");
    let event = &ours[0].events.events[0];
    assert_eq!(event.name, "darklaunch.verdict.changed");
    let to = event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "darklaunch.to")
        .unwrap();
    assert_eq!(to.value.as_str(), "safe");
}
