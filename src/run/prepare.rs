//! A run's result made ready for the publishers: every candidate judged, values cleaned,
//! mismatches diffed and classified by noise calibration, verdicts counted.

use std::mem;

use crate::context::Context;
use crate::experiment::Inner;
use crate::hook::Operation;
#[cfg(feature = "serde")]
use crate::observation::Verdict;
use crate::observation::{CandidateResult, ExperimentResult, Observation, Outcome};
use crate::run::judge::judge;

/// A run's result, judged and made ready for the publishers.
pub(crate) struct Prepared<T, E> {
    pub(crate) result: ExperimentResult<T, E>,
    /// The control's own outcome where `clean` replaced it in the result.
    pub(crate) original_control: Option<Outcome<T, E>>,
    /// False when the cleaner failed: uncleaned values must not be published.
    pub(crate) publishable: bool,
    /// The served candidate's own outcome where `clean` replaced it in the result.
    pub(crate) original_served: Option<Outcome<T, E>>,
}

/// Judges every candidate (counting the verdicts), then cleans and diffs for publication. With
/// `calibrated`, the last of `candidates` is noise calibration's second run of the control.
/// `served` is the index of the candidate whose outcome the caller gets, on a served call.
pub(crate) fn prepare<T, E>(
    inner: &Inner<T, E>,
    mut context: Context,
    mut control: Observation<T, E>,
    mut candidates: Vec<CandidateResult<T, E>>,
    calibrated: bool,
    served: Option<usize>,
    trace: Option<Box<crate::trace::RunTrace>>,
) -> Prepared<T, E> {
    if !inner.settings.default_context.is_empty() {
        context = context.over(&inner.settings.default_context);
    }
    fabricate_durations(inner, &mut control, &mut candidates);
    // The calibration's result is the last, when the run has one.
    let calibration = calibrated.then(|| candidates.pop()).flatten();
    #[cfg(feature = "serde")]
    let mut calibration = calibration.map(|result| result.observation);
    #[cfg(not(feature = "serde"))]
    let _ = calibration;
    for candidate in &mut candidates {
        candidate.verdict = judge(
            inner,
            &control.outcome,
            &candidate.observation.name,
            &candidate.observation.outcome,
        );
    }

    let mut publishable = true;
    let mut original_control = None;
    let mut original_served = None;
    if let Some(clean) = &inner.settings.clean {
        if let Outcome::Value(value) = &control.outcome {
            match inner.guarded(Operation::Clean, None, || clean(value)) {
                Some(cleaned) => {
                    original_control =
                        Some(mem::replace(&mut control.outcome, Outcome::Value(cleaned)))
                }
                None => publishable = false,
            }
        }
        #[cfg(feature = "serde")]
        let calibration = calibration.as_mut();
        #[cfg(not(feature = "serde"))]
        let calibration = None::<&mut Observation<T, E>>;
        let observations = candidates
            .iter_mut()
            .map(|candidate| &mut candidate.observation)
            .chain(calibration)
            .enumerate();
        for (index, observation) in observations {
            if let Outcome::Value(value) = &observation.outcome {
                match inner.guarded(Operation::Clean, Some(&observation.name), || clean(value)) {
                    Some(cleaned) => {
                        let original =
                            mem::replace(&mut observation.outcome, Outcome::Value(cleaned));
                        if served == Some(index) {
                            original_served = Some(original);
                        }
                    }
                    None => publishable = false,
                }
            }
        }
    }

    #[cfg(feature = "serde")]
    if publishable {
        attach_diffs(inner, &control.outcome, &mut candidates);
    }
    #[cfg(feature = "serde")]
    if publishable {
        crate::run::calibration::classify(inner, &control.outcome, calibration, &mut candidates);
    }
    for candidate in &candidates {
        inner.state.counters.verdict(candidate.verdict);
    }
    inner.count_in_guards(&control, &candidates);

    let served = served
        .and_then(|index| candidates.get(index))
        .map(|candidate| {
            let outcome = original_served
                .as_ref()
                .unwrap_or(&candidate.observation.outcome);
            crate::observation::ServedCall {
                candidate: candidate.observation.name.clone(),
                fell_back: !crate::run::serve::reaches_caller(inner, outcome),
            }
        });
    #[cfg(feature = "serde")]
    let input = recorded_input(inner, context.input.take(), &candidates, publishable);
    Prepared {
        result: ExperimentResult {
            experiment: inner.settings.name.clone(),
            context,
            control,
            candidates,
            served,
            #[cfg(feature = "serde")]
            input,
            trace,
        },
        original_control,
        publishable,
        original_served,
    }
}

/// Replaces the measured durations of the behaviours named in `fabricate_duration`.
fn fabricate_durations<T, E>(
    inner: &Inner<T, E>,
    control: &mut Observation<T, E>,
    candidates: &mut [CandidateResult<T, E>],
) {
    let fabricated = &inner.settings.fabricated;
    if fabricated.is_empty() {
        return;
    }
    let observations =
        std::iter::once(control).chain(candidates.iter_mut().map(|c| &mut c.observation));
    for observation in observations {
        if let Some((_, duration)) = fabricated
            .iter()
            .find(|(name, _)| *name == observation.name)
        {
            observation.duration = *duration;
        }
    }
}

/// The run's input as it may be published, when the experiment records inputs and this run's
/// verdicts (or the share of matches) want it.
#[cfg(feature = "serde")]
fn recorded_input<T, E>(
    inner: &Inner<T, E>,
    captured: Option<Box<crate::capture::Captured>>,
    candidates: &[CandidateResult<T, E>],
    publishable: bool,
) -> Option<crate::input::RecordedInput> {
    let (Some(captured), Some(options), true) =
        (captured, &inner.settings.record_inputs, publishable)
    else {
        return None;
    };
    let verdicts = candidates.iter().map(|candidate| candidate.verdict);
    if !options.wants(verdicts, || inner.settings.draws.u64()) {
        return None;
    }
    options.publishable(*captured, |value| {
        let clean = options.clean.as_ref()?;
        inner.guarded(Operation::Input, None, || clean(value))
    })
}

/// Diffs the (cleaned) values of every mismatched candidate, when a differ is configured.
#[cfg(feature = "serde")]
pub(super) fn attach_diffs<T, E>(
    inner: &Inner<T, E>,
    control: &Outcome<T, E>,
    candidates: &mut [CandidateResult<T, E>],
) {
    let (Some(differ), Outcome::Value(expected)) = (&inner.settings.differ, control) else {
        return;
    };
    for candidate in candidates
        .iter_mut()
        .filter(|c| c.verdict == Verdict::Mismatch)
    {
        let name = &candidate.observation.name;
        let Outcome::Value(actual) = &candidate.observation.outcome else {
            continue;
        };
        match inner.guarded(Operation::Diff, Some(name), || differ(expected, actual)) {
            Some(Ok(diff)) => {
                // Every difference was on an ignore path: that does not count, as in Diffy.
                if diff.is_empty() && diff.ignored > 0 {
                    candidate.verdict = Verdict::Ignored;
                }
                candidate.diff = Some(std::sync::Arc::new(diff));
            }
            Some(Err(message)) => inner.report(Operation::Diff, Some(name), message),
            None => {}
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use crate::diff::DiffOptions;
    use crate::{Experiment, Verdict};

    /// Values the comparator calls different but the diff finds equal (nothing ignored) stay a
    /// mismatch: only a diff whose every difference was on an ignore path makes a run ignored.
    #[test]
    fn an_empty_diff_with_nothing_ignored_is_still_a_mismatch() {
        let recorder = crate::publish::Recorder::new();
        let experiment: Experiment<u8> = Experiment::builder("empty-diff")
            .compare(|_, _| false)
            .diff(DiffOptions::new())
            .publisher(recorder.clone())
            .build()
            .unwrap();
        experiment.run(|| 1, || 1);
        let result = &recorder.results()[0];
        let candidate = &result.candidates()[0];
        assert_eq!(candidate.verdict(), Verdict::Mismatch);
        let diff = candidate.diff().expect("mismatches are diffed");
        assert!(diff.is_empty());
        assert_eq!(diff.ignored, 0);
        assert_eq!(experiment.stats().mismatched, 1);
    }
}
