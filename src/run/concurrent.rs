//! The concurrent runner: control and candidates polled together in the caller's task, each
//! poll guarded against panics, the wait for candidates bounded by `candidate_timeout`.

use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use crate::clock::Tick;
use crate::context::Context;
use crate::cpu::CpuMeter;
use crate::experiment::Inner;
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};
use crate::output::BehaviorOutput;
use crate::run::finish::{finish, ControlReturn};
use crate::run::serve::served_output;
use crate::run::{candidate_outcome, outcome_and_payload, unless_late, EndRun, Finished};

/// The candidates of a concurrent run, polled by index.
pub(crate) trait PendingCandidates<O> {
    fn len(&self) -> usize;
    fn take_name(&mut self, index: usize) -> Cow<'static, str>;
    fn poll_candidate(&mut self, index: usize, cx: &mut TaskContext<'_>) -> Poll<O>;
}

/// The one candidate of `run_async`, pinned on the caller's stack: no allocation.
pub(crate) struct SingleCandidate<'p, K> {
    name: Cow<'static, str>,
    future: Pin<&'p mut K>,
}

impl<'p, K> SingleCandidate<'p, K> {
    pub(crate) fn new(name: Cow<'static, str>, future: Pin<&'p mut K>) -> Self {
        Self { name, future }
    }
}

impl<O, K: Future<Output = O>> PendingCandidates<O> for SingleCandidate<'_, K> {
    fn len(&self) -> usize {
        1
    }

    fn take_name(&mut self, _index: usize) -> Cow<'static, str> {
        std::mem::take(&mut self.name)
    }

    fn poll_candidate(&mut self, _index: usize, cx: &mut TaskContext<'_>) -> Poll<O> {
        self.future.as_mut().poll(cx)
    }
}

/// Several named candidates of differing types, boxed (a trial's candidates).
pub(crate) type BoxedCandidates<'a, O> = Vec<(
    Cow<'static, str>,
    Pin<Box<dyn Future<Output = O> + Send + 'a>>,
)>;

impl<O> PendingCandidates<O> for BoxedCandidates<'_, O> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn take_name(&mut self, index: usize) -> Cow<'static, str> {
        std::mem::take(&mut self[index].0)
    }

    fn poll_candidate(&mut self, index: usize, cx: &mut TaskContext<'_>) -> Poll<O> {
        self[index].1.as_mut().poll(cx)
    }
}

/// Runs an admitted run's control and candidates concurrently and returns what the control
/// returned (or resumes its panic).
pub(crate) async fn run_concurrent<T, E, O, C, P>(
    inner: &Inner<T, E>,
    run: impl EndRun,
    context: Context,
    control: C,
    candidates: &mut P,
    served: Option<usize>,
) -> O
where
    O: BehaviorOutput<T, E>,
    C: Future<Output = O>,
    P: PendingCandidates<O>,
{
    let start = inner.settings.clock.now();
    let mut poller = CandidatePoller::new(inner, candidates, start);
    poller.served = served;
    let mut control = pin!(control);
    let mut control_done = None;
    let mut control_cpu = CpuMeter::new(inner.settings.cpu_time);

    poll_fn(|cx| {
        if control_done.is_none() {
            let polled = control_cpu
                .measure(|| catch_unwind(AssertUnwindSafe(|| control.as_mut().poll(cx))));
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(output)) => {
                    control_done = Some((Ok(output), inner.settings.clock.now()))
                }
                Err(payload) => control_done = Some((Err(payload), inner.settings.clock.now())),
            }
        }
        let all_done = poller.poll(cx);
        match (&control_done, all_done) {
            (None, _) => Poll::Pending,
            (Some(_), true) => Poll::Ready(()),
            // The control is done; candidates still running may hold the caller only until the
            // deadline.
            (Some(_), false) => poller.poll_deadline(cx),
        }
    })
    .await;

    let served_payload = poller.served_payload.take();
    let observed = poller.into_results();
    let Some((returned, finished_at)) = control_done else {
        // poll_fn above only completes once the control is done.
        resume_unwind(Box::new("darklaunch: the control did not complete"));
    };
    let (outcome, payload) = outcome_and_payload(returned);
    let took = finished_at.saturating_duration_since(start);
    let control = Observation::new(inner.settings.control_name.clone(), took, outcome)
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

/// Polls a run's candidates, each poll guarded against panics, and records when each finished.
pub(crate) struct CandidatePoller<'c, T, E, P> {
    inner: &'c Inner<T, E>,
    candidates: &'c mut P,
    start: Tick,
    deadline: Deadline,
    finished: Finished<T, E, Tick>,
    /// Each candidate's CPU time, when the experiment measures it.
    cpu: smallvec::SmallVec<[CpuMeter; 1]>,
    remaining: usize,
    /// The served candidate's index, whose panic payload is kept for the caller.
    pub(crate) served: Option<usize>,
    pub(crate) served_payload: Option<Box<dyn std::any::Any + Send>>,
}

impl<'c, T, E, P> CandidatePoller<'c, T, E, P> {
    pub(crate) fn new<O>(inner: &'c Inner<T, E>, candidates: &'c mut P, start: Tick) -> Self
    where
        P: PendingCandidates<O>,
    {
        let count = candidates.len();
        Self {
            inner,
            candidates,
            start,
            deadline: Deadline::new(inner, start),
            finished: (0..count).map(|_| None).collect(),
            cpu: (0..count)
                .map(|_| CpuMeter::new(inner.settings.cpu_time))
                .collect(),
            remaining: count,
            served: None,
            served_payload: None,
        }
    }

    /// Polls every candidate still running; true once all have finished.
    pub(crate) fn poll<O>(&mut self, cx: &mut TaskContext<'_>) -> bool
    where
        P: PendingCandidates<O>,
        O: BehaviorOutput<T, E>,
    {
        for (index, (slot, cpu)) in self.finished.iter_mut().zip(&mut self.cpu).enumerate() {
            if slot.is_some() {
                continue;
            }
            let candidates = &mut *self.candidates;
            let polled = cpu.measure(|| {
                catch_unwind(AssertUnwindSafe(|| candidates.poll_candidate(index, cx)))
            });
            let outcome = match polled {
                Ok(Poll::Pending) => continue,
                Ok(Poll::Ready(output)) => candidate_outcome(Ok(output)),
                Err(payload) if self.served == Some(index) => {
                    let outcome = Outcome::Panicked(crate::run::panic_message(&*payload));
                    self.served_payload = Some(payload);
                    outcome
                }
                Err(payload) => candidate_outcome::<T, E, O>(Err(payload)),
            };
            *slot = Some((outcome, self.inner.settings.clock.now()));
            self.remaining -= 1;
        }
        self.remaining == 0
    }

    /// Ready once `candidate_timeout` has passed since the start.
    pub(crate) fn poll_deadline(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.deadline.poll(self.inner, cx)
    }

    /// Each candidate's observation; a candidate that finished late or not at all timed out.
    pub(crate) fn into_results<O>(self) -> Vec<CandidateResult<T, E>>
    where
        P: PendingCandidates<O>,
    {
        let Self {
            inner,
            candidates,
            start,
            finished,
            cpu,
            ..
        } = self;
        let timeout = inner.settings.candidate_timeout;
        finished
            .into_iter()
            .zip(cpu)
            .enumerate()
            .map(|(index, (done, cpu))| {
                let (outcome, duration) = match done {
                    Some((outcome, at)) => {
                        let took = at.saturating_duration_since(start);
                        (unless_late(outcome, took, timeout), took)
                    }
                    None => (
                        Outcome::TimedOut,
                        timeout.unwrap_or_else(|| {
                            inner.settings.clock.now().saturating_duration_since(start)
                        }),
                    ),
                };
                let name = candidates.take_name(index);
                let observation =
                    Observation::new(name, duration, outcome).with_cpu_time(cpu.total());
                CandidateResult::new(observation, Verdict::Match)
            })
            .collect()
    }
}

/// When the caller stops waiting for candidates: `candidate_timeout` after the run began. The
/// timer is only created if the control finishes first with candidates still running, so runs
/// whose candidates finish in time never touch the timer wheel.
pub(crate) struct Deadline {
    limit: Option<Duration>,
    start: Tick,
    /// Timers run on real time: with a manual clock, the real start is read separately.
    real_start: Option<std::time::Instant>,
    timer: Option<crate::timer::TimerSleep>,
}

impl Deadline {
    pub(crate) fn new<T, E>(inner: &Inner<T, E>, start: Tick) -> Self {
        let limit = inner.settings.candidate_timeout;
        Self {
            limit,
            start,
            real_start: (limit.is_some() && !inner.settings.clock.is_system())
                .then(crate::real_clock::instant),
            timer: None,
        }
    }

    /// Ready once the deadline has passed; pending forever without a deadline (or, should not
    /// even the fallback timer thread start, without a timer).
    pub(crate) fn poll<T, E>(&mut self, inner: &Inner<T, E>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let clock = &inner.settings.clock;
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        let elapsed = match self.real_start {
            Some(real_start) => crate::real_clock::since(real_start),
            None => clock.now().saturating_duration_since(self.start),
        };
        let Some(remaining) = limit.checked_sub(elapsed).filter(|left| !left.is_zero()) else {
            return Poll::Ready(());
        };
        if self.timer.is_none() {
            self.timer = inner.state.timers.sleep(remaining, |message| {
                inner.report(Operation::Timer, None, message)
            });
        }
        match &mut self.timer {
            Some(timer) => Pin::new(timer).poll(cx),
            None => Poll::Pending,
        }
    }
}
