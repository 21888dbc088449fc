//! Admission: whether a call becomes a sampled run (the sampler, the shutdown flag, the
//! in-flight cap, `before_run`), and shedding.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::experiment::Inner;
use crate::hook::Operation;
use crate::run::{ActiveRun, EndRun, PendingRun};
use crate::stats::RunEnd;
use crate::trace::RunTrace;

impl<T, E> Inner<T, E> {
    /// Counts the call and decides whether it runs candidates. `None`: run only the control.
    /// `all_held` is asked only once the call is sampled in: whether guards hold back every
    /// candidate (then the call runs the control alone and is not counted as sampled).
    #[inline]
    pub(crate) fn admit(
        &self,
        key: Option<u64>,
        all_held: impl FnOnce() -> bool,
    ) -> Option<ActiveRun<'_, T, E>> {
        self.state.counters.run();
        if !self.decide(key) || all_held() {
            return None;
        }
        self.admit_sampled()
    }

    /// Whether the guard of the experiment's default candidate holds it back on this call
    /// (for the one-candidate run forms); a held candidate is counted.
    #[inline]
    pub(crate) fn default_held(&self) -> bool {
        match &self.settings.default_guard {
            None => false,
            Some(guard) => {
                let held = !guard.allows();
                if held {
                    self.state.counters.guard_held();
                }
                held
            }
        }
    }

    /// Like [`admit`](Self::admit), but the sampled run takes no in-flight slot until its
    /// candidates [start](PendingRun::start).
    pub(crate) fn admit_pending(self: &Arc<Self>, key: Option<u64>) -> Option<PendingRun<T, E>> {
        self.state.counters.run();
        if !self.decide(key) || self.state.closed.load(Ordering::Acquire) {
            return None;
        }
        if let Some(setup) = &self.settings.before_run {
            self.guarded(Operation::BeforeRun, None, setup)?;
        }
        self.state.counters.sampled();
        Some(PendingRun {
            inner: self.clone(),
            ended: false,
            // Always a trace when one is wanted: the seam may be given a parent later.
            trace: self
                .settings
                .traces
                .then(|| Box::new(RunTrace::start(self.settings.trace_times))),
        })
    }

    fn admit_sampled(&self) -> Option<ActiveRun<'_, T, E>> {
        let already = self.state.in_flight.fetch_add(1, Ordering::AcqRel);
        let run = ActiveRun::new(self);
        if self.state.closed.load(Ordering::Acquire) {
            // Shut down: no new candidates. The call counts as sampled out.
            run.abandon();
            return None;
        }
        if already >= self.settings.max_in_flight {
            self.state.counters.sampled();
            self.shed(run);
            return None;
        }
        if let Some(setup) = &self.settings.before_run {
            if self.guarded(Operation::BeforeRun, None, setup).is_none() {
                run.abandon();
                return None;
            }
        }
        self.state.counters.sampled();
        Some(run.traced(self.capture_trace()))
    }

    /// The run's place in the caller's trace, captured now when a publisher wants it; nothing
    /// for an untimed run outside any trace, which has nothing to tell.
    #[inline]
    fn capture_trace(&self) -> Option<Box<RunTrace>> {
        if !self.settings.traces {
            return None;
        }
        let trace = RunTrace::start(self.settings.trace_times);
        (trace.parent().is_some() || trace.started().is_some()).then(|| Box::new(trace))
    }

    /// Ends a run as shed and tells the publishers.
    pub(crate) fn shed(&self, run: impl EndRun) {
        run.end_as(RunEnd::Shed);
        self.count_shed_in_guards();
        for publisher in &self.settings.publishers {
            self.guarded(Operation::Publish, None, || {
                publisher.shed(&self.settings.name)
            });
        }
    }
}
