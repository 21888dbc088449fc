//! The automatic ramp: serving shares advance only after the verdict has been safe for the
//! minimum runs and time at a step, drop to 0 % at once on *not safe* or a guard trip, and
//! every step change is announced exactly once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use darklaunch::guard::GuardRails;
use darklaunch::insight::{Insight, InsightOptions, Ramp, RampStep, ReleasePolicy};
use darklaunch::{Clock, ConfigError, Experiment, ManualClock, ServeShare};

struct Setup {
    clock: ManualClock,
    share: ServeShare,
    experiment: Experiment<u64>,
    ramp: Ramp<u64, std::convert::Infallible>,
    steps: Arc<Mutex<Vec<RampStep>>>,
}

fn setup() -> Setup {
    let clock = ManualClock::new();
    let share = ServeShare::new(0.0);
    let mut policy = ReleasePolicy::default();
    policy.mismatch_tolerance = 0.01;
    policy.error_tolerance = 0.01;
    let mut options = InsightOptions::default();
    options.policy = policy;
    let insight: Insight<u64> = Insight::try_with_options(options).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("ramp")
        .clock(Clock::manual(&clock))
        .serve(share.clone())
        .guard(GuardRails::new().cool_down(Duration::from_secs(3_600)))
        .publisher(insight.clone())
        .build()
        .unwrap();
    let steps = Arc::new(Mutex::new(Vec::new()));
    let seen = steps.clone();
    let ramp = Ramp::new(
        &experiment,
        insight,
        share.clone(),
        "candidate",
        &[1.0, 5.0, 25.0, 100.0],
    )
    .unwrap()
    .min_runs(1_000)
    .min_time(Duration::from_secs(60))
    .on_step(move |step| seen.lock().unwrap().push(step.clone()));
    Setup {
        clock,
        share,
        experiment,
        ramp,
        steps,
    }
}

fn clean(experiment: &Experiment<u64>, n: u64) {
    for i in 0..n {
        experiment.run(|| i, || i);
    }
}

#[test]
fn a_safe_candidate_advances_step_by_step_only_after_its_runs_and_time() {
    let s = setup();
    assert_eq!(s.ramp.evaluate(), 1.0, "the first step at once");
    clean(&s.experiment, 5_000);
    assert_eq!(s.ramp.evaluate(), 1.0, "enough runs, not enough time");
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.ramp.evaluate(), 5.0);
    s.clock.advance(Duration::from_secs(120));
    assert_eq!(
        s.ramp.evaluate(),
        5.0,
        "enough time, no new runs at this step"
    );
    clean(&s.experiment, 1_000);
    assert_eq!(s.ramp.evaluate(), 25.0);
    clean(&s.experiment, 1_000);
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.ramp.evaluate(), 100.0);
    clean(&s.experiment, 1_000);
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.ramp.evaluate(), 100.0, "the last step stays");
    assert_eq!(s.share.percent(), 100.0);
    let steps: Vec<_> = s
        .steps
        .lock()
        .unwrap()
        .iter()
        .map(|step| (step.from, step.to, step.reason))
        .collect();
    assert_eq!(
        steps,
        [
            (0.0, 1.0, "started"),
            (1.0, 5.0, "advanced"),
            (5.0, 25.0, "advanced"),
            (25.0, 100.0, "advanced")
        ]
    );
}

#[test]
fn not_safe_drops_to_zero_at_once_and_stops_until_restarted() {
    let s = setup();
    s.ramp.evaluate();
    clean(&s.experiment, 2_000);
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.ramp.evaluate(), 5.0);
    // A defect: 20 % mismatches.
    for i in 0..1_000u64 {
        s.experiment
            .run(|| i, || if i % 5 == 0 { i + 1 } else { i });
    }
    assert_eq!(s.ramp.evaluate(), 0.0);
    assert!(s.ramp.is_stopped());
    assert_eq!(s.share.percent(), 0.0, "every key back on the control");
    clean(&s.experiment, 100_000);
    s.clock.advance(Duration::from_secs(600));
    assert_eq!(s.ramp.evaluate(), 0.0, "stopped stays stopped");
    let last = s.steps.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.from, last.to, last.reason), (5.0, 0.0, "not_safe"));
    s.ramp.restart();
    assert_eq!(s.share.percent(), 1.0);
    assert!(!s.ramp.is_stopped());
}

#[test]
fn a_guard_trip_drops_to_zero_at_once() {
    let s = setup();
    s.ramp.evaluate();
    s.experiment.guard("candidate").unwrap().trip();
    assert_eq!(s.ramp.evaluate(), 0.0);
    let last = s.steps.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.reason, "guard_tripped");
    assert_eq!(
        s.steps.lock().unwrap().len(),
        2,
        "each change announced once"
    );
}

#[test]
fn bad_schedules_are_config_errors() {
    let s = setup();
    let insight: Insight<u64> = Insight::new();
    for (steps, says) in [
        (&[][..], "empty"),
        (&[0.0, 10.0][..], "above 0"),
        (&[10.0, 120.0][..], "at most 100"),
        (&[10.0, 5.0][..], "increase"),
        (&[5.0, 5.0][..], "increase"),
        (&[f64::NAN][..], "above 0"),
    ] {
        let error = Ramp::new(
            &s.experiment,
            insight.clone(),
            s.share.clone(),
            "candidate",
            steps,
        )
        .unwrap_err();
        assert!(matches!(error, ConfigError::InvalidRamp { .. }));
        assert!(error.to_string().contains(says), "{error}");
    }
}

/// A defect that appears at the 25 % step: the verdict (over all runs so far) turns not safe
/// once the anytime lower bound of the mismatch rate passes the tolerance. With k defective
/// runs at rate 1 in 5 after n clean ones, that is the first k where the confidence sequence
/// excludes the tolerance from below; evaluated every 100 runs, serving is at 0 % no more than
/// 100 runs after it.
#[test]
fn a_defect_at_the_25_percent_step_sends_serving_to_zero_within_its_bound() {
    use darklaunch::insight::ConfidenceSequence;
    let s = setup();
    s.ramp.evaluate();
    let mut clean_runs = 0;
    while s.ramp.percent() < 25.0 {
        clean(&s.experiment, 1_000);
        clean_runs += 1_000;
        s.clock.advance(Duration::from_secs(60));
        s.ramp.evaluate();
    }
    // The bound, from the same statistics the verdict uses (tolerance 1 %, 95 %).
    let sequence = ConfidenceSequence::new(0.95, 0.01).unwrap();
    let bound = (1..)
        .find(|k: &u64| {
            let (count, total) = (k / 5, clean_runs + k);
            count as f64 > 0.01 * total as f64 && sequence.excludes(count, total, 0.01)
        })
        .unwrap();
    let mut defective = 0u64;
    while s.ramp.percent() > 0.0 {
        for _ in 0..100 {
            let i = defective;
            s.experiment
                .run(|| i, || if i % 5 == 4 { i + 1 } else { i });
            defective += 1;
        }
        s.ramp.evaluate();
        assert!(
            defective <= bound + 100,
            "still serving after {defective} defective runs (bound {bound})"
        );
    }
    assert!(
        defective >= bound,
        "stopped after {defective}, before the evidence ({bound})"
    );
    assert_eq!(s.steps.lock().unwrap().last().unwrap().reason, "not_safe");
}
