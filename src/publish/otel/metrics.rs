//! The metrics of a run: the `darklaunch.runs` counter and the `darklaunch.duration`
//! histogram, recorded with the cached attribute sets.

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use super::cache::{experiment_value, shed_attrs, BehaviorAttrs, Cache, CANDIDATE, EXPERIMENT};
use crate::guard::{GuardEvent, GuardEventKind};

/// The attribute of a guard event's reason.
const REASON: &str = "reason";
use crate::observation::ExperimentResult;

/// The counter of comparisons (and shed runs) by outcome.
pub const RUNS_METRIC: &str = "darklaunch.runs";
/// The histogram of behaviour durations, in seconds.
pub const DURATION_METRIC: &str = "darklaunch.duration";
/// The counter of guard trips, with attributes `experiment`, `candidate`, `reason`.
pub const GUARD_TRIPS_METRIC: &str = "darklaunch.guard.trips";
/// The counter of guard re-arms, with the same attributes.
pub const GUARD_REARMS_METRIC: &str = "darklaunch.guard.rearms";
/// The `outcome` of a shed run in [`RUNS_METRIC`].
pub const SHED_OUTCOME: &str = "shed";
/// Default bucket boundaries of [`DURATION_METRIC`], in seconds: 50 µs to 10 s, roughly
/// ×2–2.5 apart.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// The two instruments, made once from the publisher's meter.
pub(super) struct Instruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
    guard_trips: Counter<u64>,
    guard_rearms: Counter<u64>,
}

impl Instruments {
    pub(super) fn new(meter: &Meter, buckets: &[f64]) -> Self {
        Self {
            runs: meter
                .u64_counter(RUNS_METRIC)
                .with_unit("{run}")
                .with_description(
                    "Comparisons of a candidate with the control, by outcome; shed runs \
                     counted once each with an empty candidate",
                )
                .build(),
            duration: meter
                .f64_histogram(DURATION_METRIC)
                .with_unit("s")
                .with_description("Duration of each behaviour (control or candidate) of a run")
                .with_boundaries(buckets.to_vec())
                .build(),
            guard_trips: meter
                .u64_counter(GUARD_TRIPS_METRIC)
                .with_unit("{trip}")
                .with_description("Times a guard stopped a candidate, by reason")
                .build(),
            guard_rearms: meter
                .u64_counter(GUARD_REARMS_METRIC)
                .with_unit("{rearm}")
                .with_description("Times a guard let a candidate run again, by reason")
                .build(),
        }
    }

    /// Counts one guard trip or re-arm. Rare, so its attributes are made on the spot.
    pub(super) fn record_guard(&self, event: &GuardEvent) {
        let attributes = [
            KeyValue::new(EXPERIMENT, experiment_value(&event.experiment)),
            KeyValue::new(CANDIDATE, event.candidate.to_string()),
            KeyValue::new(REASON, event.reason.as_str()),
        ];
        let counter = match event.kind {
            GuardEventKind::Tripped => &self.guard_trips,
            GuardEventKind::Rearmed => &self.guard_rearms,
        };
        counter.add(1, &attributes);
    }

    /// Records one run's metrics; returns whether an attribute set was missing from the cache.
    pub(super) fn record_run<T, E>(&self, cache: &Cache, result: &ExperimentResult<T, E>) -> bool {
        let experiment = cache.experiments.get(result.name());
        let mut missed = experiment.is_none();
        let mut name = None;
        let mut behavior = |behavior: &str, record: &mut dyn FnMut(&BehaviorAttrs)| match experiment
            .and_then(|e| e.behaviors.get(behavior))
        {
            Some(attrs) => record(attrs),
            None => {
                missed = true;
                let name = name.get_or_insert_with(|| match experiment {
                    Some(e) => e.name.clone(),
                    None => experiment_value(result.name()),
                });
                record(&BehaviorAttrs::new(name, behavior));
            }
        };

        let control = result.control();
        behavior(control.name(), &mut |attrs| {
            self.duration
                .record(control.duration().as_secs_f64(), &attrs.duration)
        });
        for candidate in result.candidates() {
            behavior(candidate.name(), &mut |attrs| {
                self.runs.add(1, &attrs.runs[candidate.verdict().index()]);
                self.duration.record(
                    candidate.observation().duration().as_secs_f64(),
                    &attrs.duration,
                );
            });
        }
        missed
    }

    /// Counts one shed run of `experiment`; returns whether its attribute set was missing from
    /// the cache (and the cache has room for it).
    pub(super) fn record_shed(&self, cache: &Cache, experiment: &str) -> bool {
        match cache.experiments.get(experiment) {
            Some(attrs) => {
                self.runs.add(1, &attrs.shed);
                false
            }
            None => {
                let name = experiment_value(experiment);
                self.runs.add(1, &shed_attrs(&name));
                !cache.behaviors_full()
            }
        }
    }
}
