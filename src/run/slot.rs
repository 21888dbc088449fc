//! A sampled run's in-flight slot and its duty to end exactly once: borrowed on the caller's
//! path, owned once detached, or pending until its candidates can start.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::experiment::Inner;
use crate::stats::RunEnd;
use crate::trace::RunTrace;

/// A sampled run that holds one of the experiment's in-flight slots, with the experiment held
/// as `H`: borrowed on the caller's path ([`ActiveRun`]) or owned once detached
/// ([`OwnedRun`]). It must end as exactly one of published, publish-failed, publish-dropped,
/// shed or dropped: if it is dropped without having ended (the caller's future was cancelled),
/// it counts as dropped.
pub(crate) struct SlotRun<H: HoldsExperiment> {
    inner: H,
    ended: bool,
    /// Whether the last of the run's candidate slots is noise calibration's second run of the
    /// control.
    calibrated: bool,
    /// Where the run sits in the caller's trace, when the publishers want it.
    trace: Option<Box<RunTrace>>,
}

/// A run on the caller's path, borrowing the experiment.
pub(crate) type ActiveRun<'a, T, E> = SlotRun<&'a Inner<T, E>>;

/// A detached run: it keeps the experiment alive until it ends, wherever it ends (a tokio task,
/// a background worker, a queue dropped at shutdown).
pub(crate) type OwnedRun<T, E> = SlotRun<Arc<Inner<T, E>>>;

/// How a run holds its experiment: borrowed or shared.
pub(crate) trait HoldsExperiment {
    type T;
    type E;
    fn experiment(&self) -> &Inner<Self::T, Self::E>;
}

impl<T, E> HoldsExperiment for &Inner<T, E> {
    type T = T;
    type E = E;
    fn experiment(&self) -> &Inner<T, E> {
        self
    }
}

impl<T, E> HoldsExperiment for Arc<Inner<T, E>> {
    type T = T;
    type E = E;
    fn experiment(&self) -> &Inner<T, E> {
        self
    }
}

impl<H: HoldsExperiment> SlotRun<H> {
    pub(super) fn new(inner: H) -> Self {
        Self {
            inner,
            ended: false,
            calibrated: false,
            trace: None,
        }
    }

    /// The run with its trace captured now, if the experiment's publishers want one.
    #[inline]
    pub(super) fn traced(mut self, trace: Option<Box<RunTrace>>) -> Self {
        self.trace = trace;
        self
    }

    /// Marks the run's end in its trace: its last behaviour has finished.
    #[inline]
    pub(crate) fn mark_ended(&mut self) {
        if let Some(trace) = &mut self.trace {
            trace.end();
        }
    }

    /// Marks the run's last candidate slot as the calibration (see [`EndRun::calibrated`]).
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn calibrating(mut self) -> Self {
        self.calibrated = true;
        self
    }

    pub(crate) fn end(mut self, end: RunEnd) {
        self.inner.experiment().state.counters.ended(end);
        self.ended = true;
    }

    /// Gives the slot back without counting the run: it never became a sampled run.
    pub(super) fn abandon(mut self) {
        self.ended = true;
    }
}

impl<T, E> ActiveRun<'_, T, E> {
    /// The same run, holding the experiment itself so that it can outlive the caller.
    pub(crate) fn detach(mut self, inner: &Arc<Inner<T, E>>) -> OwnedRun<T, E> {
        // The slot and the duty to end the run move to the owned run.
        let calibrated = self.calibrated;
        let trace = self.trace.take();
        std::mem::forget(self);
        OwnedRun {
            inner: inner.clone(),
            ended: false,
            calibrated,
            trace,
        }
    }
}

impl<T, E> OwnedRun<T, E> {
    /// Ends the run as shed and tells the publishers.
    pub(crate) fn shed(self) {
        let inner = self.inner.clone();
        inner.shed(self);
    }
}

impl<H: HoldsExperiment> Drop for SlotRun<H> {
    fn drop(&mut self) {
        let inner = self.inner.experiment();
        inner.state.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !self.ended {
            inner.state.counters.ended(RunEnd::Dropped);
        }
    }
}

/// A sampled run that holds no in-flight slot yet: its candidates cannot start before its
/// inputs are complete (the shadow layer's request body read by the primary, the primary's
/// response body ended). [`start`](Self::start) takes the slot when the candidates really
/// start; a run that never gets there ends as skipped, or as dropped if it is dropped without
/// having ended. A flush does not wait for it: nothing of it is running.
pub(crate) struct PendingRun<T, E> {
    pub(super) inner: Arc<Inner<T, E>>,
    pub(super) ended: bool,
    pub(super) trace: Option<Box<RunTrace>>,
}

impl<T, E> PendingRun<T, E> {
    /// The experiment the run belongs to.
    pub(crate) fn inner(&self) -> &Arc<Inner<T, E>> {
        &self.inner
    }

    /// The run's trace, when the experiment captures one.
    pub(crate) fn trace(&self) -> Option<&RunTrace> {
        self.trace.as_deref()
    }

    /// The run's trace, to change, when the experiment captures one.
    pub(crate) fn trace_mut(&mut self) -> Option<&mut RunTrace> {
        self.trace.as_deref_mut()
    }

    /// Takes an in-flight slot for candidates that start now. Over `max_in_flight` the run is
    /// shed; after a shutdown it is skipped; either way `None`.
    pub(crate) fn start(mut self) -> Option<OwnedRun<T, E>> {
        // The duty to end the run moves to the owned run.
        self.ended = true;
        let inner = self.inner.clone();
        let already = inner.state.in_flight.fetch_add(1, Ordering::AcqRel);
        let run = OwnedRun::new(inner.clone()).traced(self.trace.take());
        if inner.state.closed.load(Ordering::Acquire) {
            run.end(RunEnd::Skipped);
            return None;
        }
        if already >= inner.settings.max_in_flight {
            inner.shed(run);
            return None;
        }
        Some(run)
    }

    /// Ends the run as skipped: there is nothing to compare its candidates on.
    pub(crate) fn skip(mut self) {
        self.ended = true;
        self.inner.state.counters.ended(RunEnd::Skipped);
    }
}

impl<T, E> Drop for PendingRun<T, E> {
    fn drop(&mut self) {
        if !self.ended {
            self.inner.state.counters.ended(RunEnd::Dropped);
        }
    }
}

/// A run that can be ended: borrowed on the caller's path or owned once detached.
pub(crate) trait EndRun {
    fn end_as(self, end: RunEnd);

    /// Whether the last of the run's candidate results is noise calibration's (the control
    /// run a second time), to be taken out before judging: the calibration is told apart by
    /// its place, never by its name, so a candidate may have any name.
    fn calibrated(&self) -> bool;

    /// Takes the run's trace (to go into its result), marking its end if no runner did.
    fn take_trace(&mut self) -> Option<Box<RunTrace>>;
}

impl<H: HoldsExperiment> EndRun for SlotRun<H> {
    fn end_as(self, end: RunEnd) {
        self.end(end);
    }

    fn calibrated(&self) -> bool {
        self.calibrated
    }

    fn take_trace(&mut self) -> Option<Box<RunTrace>> {
        self.mark_ended();
        self.trace.take()
    }
}
