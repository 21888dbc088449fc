//! Detached runs: the caller awaits only the control; the candidates run in the background, and
//! their results are judged and published from the background's queue.

use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use smallvec::SmallVec;
use std::task::Poll;
use std::time::Duration;

use crate::background::{Drain, Job};
use crate::clock::Tick;
use crate::context::Context;
use crate::cpu::CpuMeter;
use crate::experiment::{Experiment, Inner};
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};
use crate::output::BehaviorOutput;
use crate::run::concurrent::{BoxedCandidates, CandidatePoller, Deadline, PendingCandidates};
use crate::run::prepare::prepare;
use crate::run::{candidate_outcome, outcome_and_payload, unless_late, EndRun, OwnedRun};
use crate::stats::RunEnd;

/// Starts the background part of a detached run: `make_task` builds the future that runs the
/// candidates. On a runtime worker it is spawned at once; from any other thread it is handed to
/// a background worker, which spawns it, so that the caller never wakes a thread.
pub(crate) fn dispatch<T, E, F, Fut>(inner: &Arc<Inner<T, E>>, run: OwnedRun<T, E>, make_task: F)
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(OwnedRun<T, E>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    #[cfg(feature = "tokio")]
    match tokio::runtime::Handle::try_current() {
        // Inside a task, or on a current-thread runtime (whose only thread is this one),
        // spawning wakes no other thread.
        Ok(handle)
            if tokio::task::try_id().is_some()
                || handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread =>
        {
            handle.spawn(make_task(run));
        }
        Ok(handle) => {
            let background = inner.state.background();
            background.submit_candidate(Box::new(HandOver {
                waiting: WaitingToStart::new(inner),
                handle,
                run,
                make_task,
                background: background.clone(),
            }))
        }
        Err(_) => no_runtime(inner, run),
    }
    #[cfg(not(feature = "tokio"))]
    {
        let _ = make_task;
        no_runtime(inner, run);
    }
}

fn no_runtime<T, E>(inner: &Inner<T, E>, run: OwnedRun<T, E>) {
    inner.report(
        Operation::Detach,
        None,
        String::from(
            "no tokio runtime to run the detached candidate on (enable the `tokio` feature and \
             call run_detached inside a runtime); the run was shed",
        ),
    );
    inner.shed(run);
}

/// Counts a detached candidate as waiting for a background worker until it starts, is
/// rejected, or is dropped unstarted (so that a flush can say it never started).
pub(crate) struct WaitingToStart(Arc<AtomicUsize>);

impl WaitingToStart {
    pub(crate) fn new<T, E>(inner: &Inner<T, E>) -> Self {
        inner.state.waiting_to_start.fetch_add(1, Ordering::AcqRel);
        WaitingToStart(inner.state.waiting_to_start.clone())
    }
}

impl Drop for WaitingToStart {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A detached task handed from a thread that is not a runtime worker to a background worker.
#[cfg(feature = "tokio")]
struct HandOver<T, E, F> {
    waiting: WaitingToStart,
    handle: tokio::runtime::Handle,
    run: OwnedRun<T, E>,
    make_task: F,
    background: crate::background::Background,
}

#[cfg(feature = "tokio")]
impl<T, E, F, Fut> Job for HandOver<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(OwnedRun<T, E>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn run(self: Box<Self>) {
        let HandOver {
            waiting,
            handle,
            run,
            make_task,
            background,
        } = *self;
        drop(waiting);
        background.count_hand_over();
        handle.spawn(make_task(run));
    }

    fn reject(self: Box<Self>) {
        self.run.shed();
    }
}

/// Runs a detached run's boxed candidates in the background (spawned or handed over, as
/// [`dispatch`] decides), then queues the run for publication.
pub(crate) fn detach_boxed<T, E, O>(
    inner: &Arc<Inner<T, E>>,
    run: OwnedRun<T, E>,
    context: Option<Box<Context>>,
    control: Observation<T, E>,
    candidates: BoxedCandidates<'static, O>,
) where
    T: Send + 'static,
    E: Send + 'static,
    O: BehaviorOutput<T, E> + Send + 'static,
{
    let shared = inner.clone();
    dispatch(inner, run, move |run| async move {
        let mut candidates = candidates;
        complete_candidates(shared, run, context, control, &mut candidates).await;
    });
}

/// The background task of a detached run: awaits the candidates (each bounded by
/// `candidate_timeout`), then queues the run for judging and publishing.
async fn complete_candidates<T, E, O, P>(
    inner: Arc<Inner<T, E>>,
    run: OwnedRun<T, E>,
    context: Option<Box<Context>>,
    control: Observation<T, E>,
    candidates: &mut P,
) where
    T: Send + 'static,
    E: Send + 'static,
    O: BehaviorOutput<T, E>,
    P: PendingCandidates<O>,
{
    let start = inner.settings.clock.now();
    let mut poller = CandidatePoller::new(&inner, candidates, start);
    poll_fn(|cx| {
        if poller.poll(cx) {
            Poll::Ready(())
        } else {
            poller.poll_deadline(cx)
        }
    })
    .await;
    let observed = poller.into_results();
    queue_for_publication(&inner, run, context, control, SmallVec::from_vec(observed));
}

pin_project_lite::pin_project! {
    /// The background task of `run_detached`: one candidate, polled with its panics caught and
    /// bounded by `candidate_timeout`, then queued for publication. A hand-written future
    /// rather than an `async` block, to keep what each in-flight candidate holds small.
    pub(crate) struct DetachedCandidate<T, E, K> {
        #[pin]
        candidate: K,
        inner: Arc<Inner<T, E>>,
        run: Option<OwnedRun<T, E>>,
        control: Option<Observation<T, E>>,
        started: Option<(Tick, Deadline)>,
        cpu: CpuMeter,
    }
}

impl<T, E, K> DetachedCandidate<T, E, K> {
    pub(crate) fn new(
        inner: Arc<Inner<T, E>>,
        run: OwnedRun<T, E>,
        control: Observation<T, E>,
        candidate: K,
    ) -> Self {
        Self {
            cpu: CpuMeter::new(inner.settings.cpu_time),
            candidate,
            inner,
            run: Some(run),
            control: Some(control),
            started: None,
        }
    }
}

impl<T, E, O, K> Future for DetachedCandidate<T, E, K>
where
    T: Send + 'static,
    E: Send + 'static,
    O: BehaviorOutput<T, E>,
    K: Future<Output = O>,
{
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.run.is_none() {
            return Poll::Ready(());
        }
        let inner = &**this.inner;
        let (start, deadline) = this.started.get_or_insert_with(|| {
            let start = inner.settings.clock.now();
            (start, Deadline::new(inner, start))
        });
        let candidate = &mut this.candidate;
        let polled = this
            .cpu
            .measure(|| catch_unwind(AssertUnwindSafe(|| candidate.as_mut().poll(cx))));
        let outcome = match polled {
            Ok(Poll::Pending) => match deadline.poll(inner, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => Outcome::TimedOut,
            },
            Ok(Poll::Ready(output)) => candidate_outcome(Ok(output)),
            Err(payload) => candidate_outcome::<T, E, O>(Err(payload)),
        };
        let took = inner.settings.clock.now().saturating_duration_since(*start);
        let outcome = unless_late(outcome, took, inner.settings.candidate_timeout);
        let (Some(run), Some(control)) = (this.run.take(), this.control.take()) else {
            return Poll::Ready(());
        };
        let name = inner.settings.candidate_name.clone();
        let observed = smallvec::smallvec![CandidateResult::new(
            Observation::new(name, took, outcome).with_cpu_time(this.cpu.total()),
            Verdict::Match,
        )];
        queue_for_publication(this.inner, run, None, control, observed);
        Poll::Ready(())
    }
}

/// The candidates' observations of one run; one candidate is stored inline.
pub(crate) type Observed<T, E> = SmallVec<[CandidateResult<T, E>; 1]>;

/// A finished detached run waiting in its experiment's publish queue. Stored by value, so that
/// queuing allocates nothing that another thread would have to free.
pub(crate) struct QueuedRun<T, E> {
    run: OwnedRun<T, E>,
    context: Option<Box<Context>>,
    control: Observation<T, E>,
    candidates: Observed<T, E>,
}

/// Queues a finished run; judging, cleaning, diffing and publishing happen on a background
/// worker. A full queue drops the result (counted as publish-dropped).
pub(crate) fn queue_for_publication<T, E>(
    inner: &Arc<Inner<T, E>>,
    mut run: OwnedRun<T, E>,
    context: Option<Box<Context>>,
    control: Observation<T, E>,
    candidates: Observed<T, E>,
) where
    T: Send + 'static,
    E: Send + 'static,
{
    // The run ends here, not when its result is published after waiting in the queue.
    run.mark_ended();
    let background = inner.state.background();
    let workers_running = *inner.state.draining.get_or_init(|| {
        let drain: Weak<dyn Drain> = Arc::downgrade(inner) as Weak<dyn Drain>;
        background.register(drain);
        background.start()
    });
    let queued = inner.state.queued_results.fetch_add(1, Ordering::AcqRel);
    if queued >= inner.settings.publish_capacity || !workers_running {
        inner.state.queued_results.fetch_sub(1, Ordering::AcqRel);
        run.end(RunEnd::PublishDropped);
        return;
    }
    inner.state.publish_queue.push(QueuedRun {
        run,
        context,
        control,
        candidates,
    });
    if queued + 1 == (inner.settings.publish_capacity / 8).max(1) {
        background.wake_one();
    }
}

impl<T: Send + 'static, E: Send + 'static> Drain for Inner<T, E> {
    fn drain(&self, budget: usize) -> usize {
        let mut published = 0;
        while published < budget {
            let Some(queued) = self.state.publish_queue.pop() else {
                break;
            };
            let QueuedRun {
                mut run,
                context,
                control,
                candidates,
            } = queued;
            let context = context.map(|context| *context).unwrap_or_default();
            let calibrated = run.calibrated();
            let prepared = prepare(
                self,
                context,
                control,
                candidates.into_vec(),
                calibrated,
                None,
                run.take_trace(),
            );
            run.end(prepared.publish(self));
            // Counted as queued until published, so that a flush waits for it.
            self.state.queued_results.fetch_sub(1, Ordering::AcqRel);
            published += 1;
        }
        published
    }
}

/// The candidates of `run_detached_blocking` (one for the experiment's form, any number for a
/// trial's), run one after another on a background worker.
pub(crate) struct BlockingCandidates<T, E, F> {
    pub(crate) waiting: WaitingToStart,
    pub(crate) inner: Arc<Inner<T, E>>,
    pub(crate) run: OwnedRun<T, E>,
    pub(crate) context: Context,
    pub(crate) control: Observation<T, E>,
    pub(crate) candidates: SmallVec<[(Cow<'static, str>, F); 1]>,
}

impl<T, E, O, F> Job for BlockingCandidates<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    O: BehaviorOutput<T, E>,
    F: FnOnce() -> O + Send + 'static,
{
    fn run(self: Box<Self>) {
        let BlockingCandidates {
            waiting,
            inner,
            mut run,
            context,
            control,
            candidates,
        } = *self;
        drop(waiting);
        let observed = candidates
            .into_iter()
            .map(|(name, candidate)| {
                let start = inner.settings.clock.now();
                let mut cpu = CpuMeter::new(inner.settings.cpu_time);
                let returned = cpu.measure(|| catch_unwind(AssertUnwindSafe(candidate)));
                let took = inner.settings.clock.now().saturating_duration_since(start);
                let outcome = unless_late(
                    candidate_outcome(returned),
                    took,
                    inner.settings.candidate_timeout,
                );
                let observation = Observation::new(name, took, outcome).with_cpu_time(cpu.total());
                CandidateResult::new(observation, Verdict::Match)
            })
            .collect();
        // Already off the caller's path: judge and publish here.
        let calibrated = run.calibrated();
        let prepared = prepare(
            &inner,
            context,
            control,
            observed,
            calibrated,
            None,
            run.take_trace(),
        );
        run.end(prepared.publish(&inner));
    }

    fn reject(self: Box<Self>) {
        self.run.shed();
    }
}

/// Runs `control` on the caller's thread and hands `candidates` to a background worker thread;
/// returns what the control returned (or resumes its panic).
pub(crate) fn run_detached_blocking<T, E, O, F>(
    inner: &Arc<Inner<T, E>>,
    run: OwnedRun<T, E>,
    context: Context,
    control: impl FnOnce() -> O,
    candidates: SmallVec<[(Cow<'static, str>, F); 1]>,
) -> O
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
    O: BehaviorOutput<T, E>,
    F: FnOnce() -> O + Send + 'static,
{
    let start = inner.settings.clock.now();
    let mut cpu = CpuMeter::new(inner.settings.cpu_time);
    let returned = cpu.measure(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(control)));
    let took = inner.settings.clock.now().saturating_duration_since(start);
    let (control, returned) = ControlReturned::split(inner, took, returned);
    let control = control.with_cpu_time(cpu.total());
    inner
        .state
        .background()
        .submit_candidate(Box::new(BlockingCandidates {
            waiting: WaitingToStart::new(inner),
            inner: inner.clone(),
            run,
            context,
            control,
            candidates,
        }));
    returned.into_output()
}

impl<T, E> Experiment<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// Awaits the control, timing it and catching its panic; returns the observation to
    /// publish (with a clone of the value) and what to hand back to the caller.
    pub(crate) async fn observe_control<O, C>(
        &self,
        control: C,
    ) -> (Observation<T, E>, ControlReturned<T, E>)
    where
        O: BehaviorOutput<T, E>,
        C: Future<Output = O>,
    {
        let start = self.inner.settings.clock.now();
        let mut control = pin!(control);
        let mut cpu = CpuMeter::new(self.inner.settings.cpu_time);
        let returned = std::future::poll_fn(|cx| {
            let polled = cpu.measure(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| control.as_mut().poll(cx)))
            });
            match polled {
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
                Err(payload) => std::task::Poll::Ready(Err(payload)),
            }
        })
        .await;
        let took = self
            .inner
            .settings
            .clock
            .now()
            .saturating_duration_since(start);
        let (control, returned) = ControlReturned::split(&self.inner, took, returned);
        (control.with_cpu_time(cpu.total()), returned)
    }
}

/// What a detached run's control did, to be handed back to the caller.
pub(crate) struct ControlReturned<T, E> {
    outcome: Result<Result<T, E>, Box<dyn std::any::Any + Send>>,
}

impl<T: Clone, E: Clone> ControlReturned<T, E> {
    fn split<O: BehaviorOutput<T, E>>(
        inner: &Inner<T, E>,
        took: Duration,
        returned: std::thread::Result<O>,
    ) -> (Observation<T, E>, Self) {
        let (outcome, payload) = outcome_and_payload(returned);
        let published = outcome.clone();
        let outcome = match (outcome, payload) {
            (_, Some(payload)) => Err(payload),
            (Outcome::Value(value), None) => Ok(Ok(value)),
            (Outcome::Error(error), None) => Ok(Err(error)),
            (other, None) => Err(
                Box::new(format!("darklaunch: control ended as {}", other.kind()))
                    as Box<dyn std::any::Any + Send>,
            ),
        };
        (
            Observation::new(inner.settings.control_name.clone(), took, published),
            Self { outcome },
        )
    }
}

impl<T, E> ControlReturned<T, E> {
    /// The control's value or error, or its panic resumed with the original payload.
    pub(crate) fn into_output<O: BehaviorOutput<T, E>>(self) -> O {
        match self.outcome {
            Ok(result) => O::from_result(result),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use crate::Experiment;
    use std::time::Duration;

    #[test]
    fn only_callers_outside_runtime_tasks_hand_over_to_a_worker() {
        let experiment: Experiment<u8> = Experiment::builder("hand-over").build().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // From block_on's thread (not a task): handed over.
        runtime.block_on(experiment.run_detached(async { 1 }, async { 1 }));
        assert!(experiment
            .flush_blocking(Duration::from_secs(5))
            .is_complete());
        assert_eq!(experiment.inner.state.background().handed_over(), 1);
        // From inside a task on a worker: spawned directly.
        let inside = experiment.clone();
        runtime
            .block_on(
                runtime.spawn(async move { inside.run_detached(async { 2 }, async { 2 }).await }),
            )
            .unwrap();
        assert!(experiment
            .flush_blocking(Duration::from_secs(5))
            .is_complete());
        assert_eq!(experiment.inner.state.background().handed_over(), 1);
        assert_eq!(experiment.stats().matched, 2);
    }
}
