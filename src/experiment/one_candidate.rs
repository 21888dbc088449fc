//! The experiment's one-candidate run forms, each a call of the runner a trial's form uses,
//! with the candidate under the experiment's default name: [`Trial`](crate::Trial) has every
//! form with any number of candidates.
//!
//! They call the runners directly instead of building a one-candidate trial, because the trial
//! costs more: in `benches/overhead.rs` (empty behaviours, one run) a trial took 31.7 ns sampled
//! out against 9.9 ns here, 369 ns against 247 ns sampled in, and 493 ns against 341 ns with
//! `run_async` (a trial boxes its async candidates; these forms keep theirs on the stack).

use std::future::Future;
use std::pin::pin;

use crate::context::Context;
use crate::experiment::Experiment;
use crate::output::BehaviorOutput;
use crate::run::{self, serve, SingleCandidate};

impl<T, E> Experiment<T, E> {
    /// Runs `control` and, when sampled, `candidate` (in random order unless configured
    /// otherwise); returns exactly what `control` returned, or resumes its panic.
    ///
    /// The candidate's panic, error or slowness never reaches the caller; a sync candidate
    /// cannot be interrupted, so one that runs longer than `candidate_timeout` is recorded as
    /// timed out when it returns.
    pub fn run<O>(&self, control: impl FnOnce() -> O, candidate: impl FnOnce() -> O) -> O
    where
        O: BehaviorOutput<T, E>,
    {
        let inner = &*self.inner;
        let served = inner.serves_default(None);
        let Some(run) = inner.admit(None, || inner.default_held()) else {
            return if served {
                serve::serve_alone(inner, control, candidate)
            } else {
                control()
            };
        };
        let mut candidate = Some(candidate);
        let mut slots = [run::SyncCandidate {
            name: inner.settings.candidate_name.clone(),
            behavior: &mut candidate,
        }];
        let served = served.then_some(0);
        run::run_sync(inner, run, Default::default(), control, &mut slots, served)
    }

    /// Runs both futures concurrently in the caller's task and returns exactly what `control`
    /// returned (or resumes its panic). Borrowed data is fine.
    ///
    /// With a `candidate_timeout` (and a tokio runtime with timers), the caller never waits for
    /// the candidate longer than that after the call began; a candidate still running then is
    /// dropped and recorded as timed out.
    pub async fn run_async<O, C, K>(&self, control: C, candidate: K) -> O
    where
        O: BehaviorOutput<T, E>,
        C: Future<Output = O>,
        K: Future<Output = O>,
    {
        let inner = &*self.inner;
        let served = inner.serves_default(None);
        let Some(run) = inner.admit(None, || inner.default_held()) else {
            return if served {
                serve::serve_alone_async(inner, control, candidate).await
            } else {
                control.await
            };
        };
        let candidate = pin!(candidate);
        let mut pending = SingleCandidate::new(inner.settings.candidate_name.clone(), candidate);
        let served = served.then_some(0);
        run::run_concurrent(
            inner,
            run,
            Default::default(),
            control,
            &mut pending,
            served,
        )
        .await
    }
}

impl<T, E> Experiment<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// Awaits `control` and returns its result at once; when sampled, `candidate` runs in the
    /// background on tokio, and the comparison and publishing happen off the caller's path.
    ///
    /// On a runtime worker the candidate is spawned directly; from any other thread it is
    /// handed to a background worker that spawns it, so the caller never wakes a thread. At
    /// most `max_in_flight` detached runs are under way: further sampled calls are shed. The
    /// candidate is bounded by `candidate_timeout`; its panics are caught. The control's value
    /// is cloned for the comparison. `raise_on_mismatches` does not apply (the comparison
    /// happens after the call returned).
    ///
    /// ```
    /// use darklaunch::Experiment;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let experiment: Experiment<u64> = Experiment::builder("detached").build().unwrap();
    /// let price = experiment.run_detached(async { 42 }, async { 42 }).await;
    /// assert_eq!(price, 42);
    /// let report = experiment.flush(Duration::from_secs(5)).await;
    /// assert!(report.is_complete());
    /// assert_eq!(experiment.stats().matched, 1);
    /// # }
    /// ```
    pub async fn run_detached<O, C, K>(&self, control: C, candidate: K) -> O
    where
        O: BehaviorOutput<T, E> + Send + 'static,
        C: Future<Output = O>,
        K: Future<Output = O> + Send + 'static,
    {
        let inner = &*self.inner;
        let served = inner.serves_default(None);
        let Some(run) = inner.admit(None, || inner.default_held()) else {
            return if served {
                serve::serve_alone_async(inner, control, candidate).await
            } else {
                control.await
            };
        };
        if served {
            // The caller waits for the candidate it is served, and the control is its
            // fallback: both run in the caller's task.
            let candidate = pin!(candidate);
            let mut pending =
                SingleCandidate::new(inner.settings.candidate_name.clone(), candidate);
            return run::run_concurrent(
                inner,
                run,
                Default::default(),
                control,
                &mut pending,
                Some(0),
            )
            .await;
        }
        let (control, returned) = self.observe_control(control).await;
        let inner = self.inner.clone();
        run::dispatch(&self.inner, run.detach(&self.inner), move |run| {
            run::DetachedCandidate::new(inner, run, control, candidate)
        });
        returned.into_output()
    }

    /// The blocking form of [`run_detached`](Self::run_detached), for sync services: runs
    /// `control` and returns its result at once; when sampled, `candidate` runs on a background
    /// worker thread (which cannot interrupt it: one that overruns `candidate_timeout` is
    /// recorded as timed out when it returns). The caller only pushes onto a queue; it never
    /// wakes a thread per call.
    pub fn run_detached_blocking<O>(
        &self,
        control: impl FnOnce() -> O,
        candidate: impl FnOnce() -> O + Send + 'static,
    ) -> O
    where
        O: BehaviorOutput<T, E>,
    {
        let inner = &*self.inner;
        let served = inner.serves_default(None);
        let Some(run) = inner.admit(None, || inner.default_held()) else {
            return if served {
                serve::serve_alone(inner, control, candidate)
            } else {
                control()
            };
        };
        if served {
            // Served: the caller waits for the candidate, as in `run`.
            let mut candidate = Some(candidate);
            let mut slots = [run::SyncCandidate {
                name: inner.settings.candidate_name.clone(),
                behavior: &mut candidate,
            }];
            return run::run_sync(inner, run, Default::default(), control, &mut slots, Some(0));
        }
        let candidates =
            smallvec::smallvec![(self.inner.settings.candidate_name.clone(), candidate)];
        run::run_detached_blocking(
            &self.inner,
            run.detach(&self.inner),
            Context::new(),
            control,
            candidates,
        )
    }
}
