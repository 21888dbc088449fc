//! Judging outside a run: a replayed case or a generated input compared with the experiment's
//! own compare, ignore, clean, diff and noise settings. Nothing is counted, guarded by rails or
//! published; a panicking callback still goes to the error hook.

use std::borrow::Cow;
use std::time::Duration;

use crate::experiment::Inner;
use crate::hook::Operation;
#[cfg(feature = "serde")]
use crate::observation::Verdict;
use crate::observation::{CandidateResult, Observation, Outcome};
use crate::run::judge::judge;

/// The candidate's outcome judged against the control's, as a run would judge it: its verdict,
/// and for a mismatch of two values the diff (of the cleaned values) and what noise calibration
/// knows of its paths. The returned observation holds the cleaned value.
pub(crate) fn judge_offline<T, E>(
    inner: &Inner<T, E>,
    control: Outcome<T, E>,
    name: Cow<'static, str>,
    candidate: Outcome<T, E>,
) -> CandidateResult<T, E> {
    let verdict = judge(inner, &control, &name, &candidate);
    let mut result =
        CandidateResult::new(Observation::new(name, Duration::ZERO, candidate), verdict);
    let Some(control) = cleaned(inner, control, None) else {
        return result;
    };
    let outcome = std::mem::replace(&mut result.observation.outcome, Outcome::TimedOut);
    let Some(outcome) = cleaned(inner, outcome, Some(&result.observation.name)) else {
        return result;
    };
    result.observation.outcome = outcome;
    #[cfg(feature = "serde")]
    {
        crate::run::prepare::attach_diffs(inner, &control, std::slice::from_mut(&mut result));
        classify_uncounted(inner, &mut result);
    }
    #[cfg(not(feature = "serde"))]
    let _ = control;
    result
}

/// `outcome` with its value cleaned (`None` when the cleaner panicked; the hook was told).
fn cleaned<T, E>(
    inner: &Inner<T, E>,
    outcome: Outcome<T, E>,
    name: Option<&str>,
) -> Option<Outcome<T, E>> {
    match (&inner.settings.clean, outcome) {
        (Some(clean), Outcome::Value(value)) => inner
            .guarded(Operation::Clean, name, || clean(&value))
            .map(Outcome::Value),
        (_, outcome) => Some(outcome),
    }
}

#[cfg(feature = "serde")]
fn classify_uncounted<T, E>(inner: &Inner<T, E>, result: &mut CandidateResult<T, E>) {
    let (Some(model), Some(diff), Verdict::Mismatch) =
        (&inner.state.noise, &result.diff, result.verdict)
    else {
        return;
    };
    let evidence = model.classify_uncounted(diff);
    let all_noise = !diff.differences.is_empty()
        && diff.omitted == 0
        && evidence.iter().all(|path| path.is_noise);
    if all_noise {
        result.verdict = Verdict::Noise;
    }
    result.noise = Some(std::sync::Arc::from(evidence));
}
