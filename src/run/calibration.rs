//! Noise calibration's part of a run: the control's second run (a trial's `calibration`
//! behaviour, carried through the runners in the last candidate slot of a run marked as
//! calibrated) is diffed against the control, and every candidate's diff is classified.

use std::sync::Arc;

use crate::diff::Diff;
use crate::experiment::Inner;
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};

/// The name the calibration's observation carries in error reports (a label, not a key: the
/// calibration is told apart from candidates by its place in the run, so no name is reserved).
pub(crate) const CALIBRATION: &str = "darklaunch.calibration";

/// Whether a run should carry its calibration behaviour: the experiment calibrates and this run
/// was drawn.
pub(crate) fn wanted<T, E>(inner: &Inner<T, E>) -> bool {
    inner
        .state
        .noise
        .as_ref()
        .is_some_and(|model| model.should_calibrate(&inner.settings.draws))
}

/// Records the calibration's differences from the control (after `clean`), then classifies
/// every mismatch's differing paths; a mismatch whose paths are all noise becomes
/// [`Verdict::Noise`].
pub(crate) fn classify<T, E>(
    inner: &Inner<T, E>,
    control: &Outcome<T, E>,
    calibration: Option<Observation<T, E>>,
    candidates: &mut [CandidateResult<T, E>],
) {
    let Some(model) = &inner.state.noise else {
        return;
    };
    let Outcome::Value(expected) = control else {
        return;
    };
    for candidate in candidates.iter() {
        if matches!(candidate.observation.outcome, Outcome::Value(_)) {
            model.count_comparison();
        }
    }
    if let Some(Outcome::Value(again)) = calibration.map(|observation| observation.outcome) {
        if let Some(diff) = self_diff(inner, expected, &again) {
            model.record_calibration(&diff);
        }
    }
    for candidate in candidates
        .iter_mut()
        .filter(|candidate| candidate.verdict == Verdict::Mismatch)
    {
        let Some(diff) = &candidate.diff else {
            continue;
        };
        let evidence = model.classify(diff);
        let all_noise = !diff.differences.is_empty()
            && diff.omitted == 0
            && evidence.iter().all(|path| path.is_noise);
        if all_noise {
            candidate.verdict = Verdict::Noise;
        }
        candidate.noise = Some(Arc::from(evidence));
    }
}

/// The control's differences from its second run: none when `compare` finds them equal.
fn self_diff<T, E>(inner: &Inner<T, E>, expected: &T, again: &T) -> Option<Diff> {
    let equal = inner
        .guarded(Operation::Compare, Some(CALIBRATION), || {
            (inner.settings.compare)(expected, again)
        })
        .unwrap_or(false);
    if equal {
        return Some(Diff::default());
    }
    let differ = inner.settings.differ.as_ref()?;
    match inner.guarded(Operation::Diff, Some(CALIBRATION), || {
        differ(expected, again)
    })? {
        Ok(diff) => Some(diff),
        Err(message) => {
            inner.report(Operation::Diff, Some(CALIBRATION), message);
            None
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use crate::noise::NoiseCalibration;
    use crate::publish::Recorder;
    use crate::{Candidates, Experiment, ExperimentResult, SyncCandidates, Verdict};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// `(value, stamp)`: the stamp is the noise, the value never differs.
    type Stamped = (u8, u32);

    fn calibrating(name: &str, percent: f64) -> (Experiment<Stamped>, Recorder<Stamped>) {
        let recorder = Recorder::new();
        let experiment = Experiment::builder(name)
            .calibrate_noise(NoiseCalibration::new().warmup(0).percent(percent))
            .publisher(recorder.clone())
            .build()
            .unwrap();
        (experiment, recorder)
    }

    /// One candidate named as the calibration used to be labelled (equal to the control), one
    /// that differs only where the calibration does (noise), one that differs where it does not
    /// (a real mismatch, never noise).
    fn assert_candidates(result: &ExperimentResult<Stamped>, form: &str) {
        let names: Vec<_> = result.candidates().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["darklaunch.calibration", "v2", "v3"], "{form}");
        assert_eq!(result.candidates()[0].verdict(), Verdict::Match, "{form}");
        assert_eq!(result.candidates()[1].verdict(), Verdict::Noise, "{form}");
        assert_eq!(
            result.candidates()[2].verdict(),
            Verdict::Mismatch,
            "{form}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_calibration_is_told_apart_by_its_slot_never_by_a_name_in_every_form() {
        let forms = [
            "trial().run",
            "trial().run_async",
            "trial().run_detached",
            "trial().run_detached_blocking",
            "SampledRun::run",
            "SampledRun::run_async",
            "SampledRun::detach",
        ];
        for form in forms {
            let (experiment, recorder) = calibrating(form, 100.0);
            let ran = Arc::new(AtomicUsize::new(0));
            let again = {
                let ran = ran.clone();
                move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    (1, 2)
                }
            };
            let value = match form {
                "trial().run" => experiment
                    .trial()
                    .control(|| (1, 1))
                    .candidate("darklaunch.calibration", || (1, 1))
                    .calibration(again)
                    .candidate("v2", || (1, 3))
                    .candidate("v3", || (2, 1))
                    .run(),
                "trial().run_async" => {
                    experiment
                        .trial()
                        .control(async { (1, 1) })
                        .candidate("darklaunch.calibration", async { (1, 1) })
                        .calibration(async move { again() })
                        .candidate("v2", async { (1, 3) })
                        .candidate("v3", async { (2, 1) })
                        .run_async()
                        .await
                }
                "trial().run_detached" => {
                    experiment
                        .trial()
                        .control(async { (1, 1) })
                        .candidate("darklaunch.calibration", async { (1, 1) })
                        .calibration(async move { again() })
                        .candidate("v2", async { (1, 3) })
                        .candidate("v3", async { (2, 1) })
                        .run_detached()
                        .await
                }
                "trial().run_detached_blocking" => experiment
                    .trial()
                    .control(|| (1, 1))
                    .candidate("darklaunch.calibration", || (1, 1))
                    .calibration(again)
                    .candidate("v2", || (1, 3))
                    .candidate("v3", || (2, 1))
                    .run_detached_blocking(),
                "SampledRun::run" => experiment.begin().unwrap().run(
                    || (1, 1),
                    SyncCandidates::new()
                        .add("darklaunch.calibration", || (1, 1))
                        .calibration(again)
                        .add("v2", || (1, 3))
                        .add("v3", || (2, 1)),
                ),
                "SampledRun::run_async" => {
                    experiment
                        .begin()
                        .unwrap()
                        .run_async(
                            async { (1, 1) },
                            Candidates::new()
                                .add("darklaunch.calibration", async { (1, 1) })
                                .calibration(async move { again() })
                                .add("v2", async { (1, 3) })
                                .add("v3", async { (2, 1) }),
                        )
                        .await
                }
                _ => {
                    let detached = experiment.begin().unwrap().detach(
                        crate::Outcome::Value((1, 1)),
                        Duration::from_micros(5),
                        Candidates::new()
                            .add("darklaunch.calibration", async { (1, 1) })
                            .calibration(async move { again() })
                            .add("v2", async { (1, 3) })
                            .add("v3", async { (2, 1) }),
                    );
                    assert!(detached);
                    (1, 1)
                }
            };
            assert_eq!(value, (1, 1), "{form}");
            assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
            assert_eq!(
                ran.load(Ordering::SeqCst),
                1,
                "{form}: the calibration ran once"
            );
            let results = recorder.results();
            assert_eq!(results.len(), 1, "{form}");
            assert_candidates(&results[0], form);
            let stats = experiment.stats();
            assert_eq!(
                (stats.matched, stats.noise, stats.mismatched),
                (1, 1, 1),
                "{form}"
            );
            assert_eq!(experiment.noise().unwrap().calibrations, 1, "{form}");
        }
    }

    #[test]
    fn a_run_not_drawn_for_calibration_never_runs_it_and_judges_every_candidate() {
        let (experiment, recorder) = calibrating("not-drawn", 0.0);
        let ran = AtomicUsize::new(0);
        let value = experiment
            .trial()
            .control(|| (1, 1))
            .calibration(|| {
                ran.fetch_add(1, Ordering::SeqCst);
                (1, 2)
            })
            .candidate("v2", || (1, 1))
            .run();
        assert_eq!(value, (1, 1));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let result = &recorder.results()[0];
        assert_eq!(result.candidates().len(), 1);
        assert_eq!(result.candidates()[0].verdict(), Verdict::Match);
        assert_eq!(experiment.noise().unwrap().calibrations, 0);
    }

    #[test]
    fn a_trial_whose_only_behaviour_besides_the_control_is_the_calibration_runs_the_control() {
        let (experiment, recorder) = calibrating("calibration-only", 100.0);
        let ran = AtomicUsize::new(0);
        let value = experiment
            .trial()
            .control(|| (1, 1))
            .calibration(|| {
                ran.fetch_add(1, Ordering::SeqCst);
                (1, 2)
            })
            .run();
        assert_eq!(value, (1, 1));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert!(recorder.results().is_empty());
        assert_eq!(experiment.stats().sampled, 0);
    }

    #[test]
    fn a_panicking_calibration_never_reaches_the_caller_and_teaches_nothing() {
        let (experiment, recorder) = calibrating("calibration-panics", 100.0);
        let value = experiment
            .trial()
            .control(|| (1, 1))
            .calibration(|| -> Stamped { panic!("calibration exploded") })
            .candidate("v2", || (1, 3))
            .run();
        assert_eq!(value, (1, 1));
        let result = &recorder.results()[0];
        assert_eq!(
            result.candidates().len(),
            1,
            "the calibration is not published"
        );
        // Nothing was learnt, so the difference is a real mismatch, not noise.
        assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
        assert_eq!(experiment.noise().unwrap().calibrations, 0);
        assert!(experiment.stats().reconciles());
    }

    #[tokio::test(start_paused = true)]
    #[allow(clippy::disallowed_methods)] // tokio's paused clock, not a real one
    async fn a_calibration_that_never_ends_is_dropped_at_the_timeout() {
        let recorder = Recorder::new();
        let experiment: Experiment<Stamped> = Experiment::builder("calibration-hangs")
            .calibrate_noise(NoiseCalibration::new().warmup(0).percent(100.0))
            .candidate_timeout(Duration::from_millis(50))
            .publisher(recorder.clone())
            .build()
            .unwrap();
        let started = tokio::time::Instant::now();
        let value = experiment
            .trial()
            .control(async { (1, 1) })
            .calibration(std::future::pending::<Stamped>())
            .candidate("v2", async { (1, 1) })
            .run_async()
            .await;
        assert_eq!(value, (1, 1));
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        let result = &recorder.results()[0];
        assert_eq!(result.candidates().len(), 1);
        assert_eq!(result.candidates()[0].verdict(), Verdict::Match);
        assert_eq!(experiment.noise().unwrap().calibrations, 0);
    }
}
