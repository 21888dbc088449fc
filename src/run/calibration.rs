//! Noise calibration's part of a run: the control's second run (a trial's `calibration`
//! behaviour, carried through the runners as a candidate under a reserved name) is taken out
//! of the candidates, diffed against the control, and every candidate's diff is classified.

use std::sync::Arc;

use crate::diff::Diff;
use crate::experiment::Inner;
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};

/// The reserved name under which a trial's calibration behaviour travels with the candidates.
pub(crate) const CALIBRATION: &str = "darklaunch.calibration";

/// Whether a run should keep its calibration behaviour: the experiment calibrates and this run
/// was drawn.
pub(crate) fn wanted<T, E>(inner: &Inner<T, E>) -> bool {
    inner
        .state
        .noise
        .as_ref()
        .is_some_and(|model| model.should_calibrate())
}

/// Takes the calibration's observation out of the candidates, if it ran.
pub(crate) fn take<T, E>(
    inner: &Inner<T, E>,
    candidates: &mut Vec<CandidateResult<T, E>>,
) -> Option<Observation<T, E>> {
    inner.state.noise.as_ref()?;
    let index = candidates
        .iter()
        .position(|candidate| candidate.observation.name == CALIBRATION)?;
    Some(candidates.remove(index).observation)
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
