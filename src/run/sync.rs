//! The sync runner: behaviours one after another, in random order, each panic caught.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use smallvec::SmallVec;

use crate::clock::Tick;
use crate::context::Context;
use crate::cpu::CpuMeter;
use crate::experiment::Inner;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};
use crate::output::BehaviorOutput;
use crate::run::finish::{finish, ControlReturn};
use crate::run::serve::served_output;
use crate::run::{
    candidate_outcome, outcome_and_payload, returned_outcome, unless_late, EndRun, Finished,
};

/// A behaviour that can be run once through a `&mut` (so that candidates of different types
/// fit in one list).
pub(crate) trait RunOnce<O> {
    fn run_once(&mut self) -> Option<O>;
}

impl<O, F: FnOnce() -> O> RunOnce<O> for Option<F> {
    fn run_once(&mut self) -> Option<O> {
        self.take().map(|behavior| behavior())
    }
}

/// A candidate lent to the sync runner: its name and the behaviour to run once.
pub struct SyncCandidate<'s, O> {
    pub(crate) name: std::borrow::Cow<'static, str>,
    pub(crate) behavior: &'s mut dyn RunOnce<O>,
}

/// Runs the control and the candidates of an admitted run and returns what the control
/// returned (or resumes its panic); on a served call (`served`: the served candidate's index),
/// what the served candidate returned, or the control's on fallback.
pub(crate) fn run_sync<T, E, O>(
    inner: &Inner<T, E>,
    run: impl EndRun,
    context: Context,
    control: impl FnOnce() -> O,
    candidates: &mut [SyncCandidate<'_, O>],
    served: Option<usize>,
) -> O
where
    O: BehaviorOutput<T, E>,
{
    let count = candidates.len();
    let mut order: SmallVec<[usize; 4]> = (0..count).collect();
    let control_at = if inner.settings.randomize_order {
        inner.settings.draws.order(&mut order)
    } else {
        0
    };
    let mut finished: Finished<T, E, Duration> = candidates.iter().map(|_| None).collect();
    let measure_cpu = inner.settings.cpu_time;
    let mut cpu: SmallVec<[Option<Duration>; 4]> = candidates.iter().map(|_| None).collect();
    let mut served_payload = None;
    let mut run_candidates = |indices: &[usize], last: &mut Tick| {
        for &index in indices {
            let slot = &mut candidates[index];
            let mut meter = CpuMeter::new(measure_cpu);
            let returned =
                meter.measure(|| catch_unwind(AssertUnwindSafe(|| slot.behavior.run_once())));
            cpu[index] = meter.total();
            let now = inner.settings.clock.now();
            let duration = now.saturating_duration_since(*last);
            *last = now;
            let outcome = match returned {
                Ok(Some(output)) => returned_outcome(output),
                Ok(None) => Outcome::Panicked(String::from("candidate was already run")),
                Err(payload) if served == Some(index) => {
                    let outcome = Outcome::Panicked(crate::run::panic_message(&*payload));
                    served_payload = Some(payload);
                    outcome
                }
                Err(payload) => candidate_outcome::<T, E, O>(Err(payload)),
            };
            let outcome = unless_late(outcome, duration, inner.settings.candidate_timeout);
            finished[index] = Some((outcome, duration));
        }
    };

    // One clock read per behaviour: each one's end is the next one's start.
    let mut last = inner.settings.clock.now();
    run_candidates(&order[..control_at], &mut last);
    let mut control_cpu = CpuMeter::new(measure_cpu);
    let returned = control_cpu.measure(|| catch_unwind(AssertUnwindSafe(control)));
    let now = inner.settings.clock.now();
    let control_duration = now.saturating_duration_since(last);
    last = now;
    run_candidates(&order[control_at..], &mut last);

    let observed = candidates
        .iter_mut()
        .zip(finished)
        .zip(cpu)
        .map(|((slot, done), cpu)| {
            let (outcome, duration) = done.unwrap_or((Outcome::TimedOut, Duration::ZERO));
            let name = std::mem::take(&mut slot.name);
            let observation = Observation::new(name, duration, outcome).with_cpu_time(cpu);
            CandidateResult::new(observation, Verdict::Match)
        })
        .collect();
    let (outcome, payload) = outcome_and_payload(returned);
    let control = Observation::new(
        inner.settings.control_name.clone(),
        control_duration,
        outcome,
    )
    .with_cpu_time(control_cpu.total());
    let ControlReturn {
        outcome,
        raise,
        served,
    } = finish(inner, run, context, control, observed, served);
    // Raised only where the control returned (a control panic is resumed instead).
    if let (Some(error), true) = (raise, outcome.is_ok()) {
        crate::run::raise::raise(inner, error);
    }
    if let Some(output) = served.and_then(|served| served_output(inner, served, served_payload)) {
        return output;
    }
    match outcome {
        Ok(result) => O::from_result(result),
        Err(message) => resume_unwind(payload.unwrap_or_else(|| Box::new(message))),
    }
}
