//! What a flush or shutdown reports: exactly what did not finish in time.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::experiment::Experiment;

/// The outcome of [`Experiment::flush`](crate::Experiment::flush) or
/// [`shutdown`](crate::Experiment::shutdown): what was still under way when it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a flush report says what was lost"]
pub struct FlushReport {
    /// Sampled runs whose candidates were still running (detached, or a concurrent call still
    /// in progress), or whose result was being published.
    pub candidates_running: usize,
    /// Detached candidates still queued for a background worker, never started: the workers
    /// were busy (a slow `run_detached_blocking` candidate, a publisher that blocks). See
    /// [`Background`](crate::Background) for the remedy.
    pub candidates_waiting: usize,
    /// Detached results still waiting in the publish queue.
    pub results_queued: usize,
    /// How long the flush waited.
    pub waited: Duration,
}

impl FlushReport {
    pub(crate) fn new(
        candidates_running: usize,
        candidates_waiting: usize,
        results_queued: usize,
        waited: Duration,
    ) -> Self {
        Self {
            candidates_running,
            candidates_waiting,
            results_queued,
            waited,
        }
    }

    /// Whether everything finished: nothing running, waiting or queued.
    pub fn is_complete(&self) -> bool {
        self.unfinished() == 0
    }

    /// Runs that did not finish: candidates running or waiting, plus results queued.
    pub fn unfinished(&self) -> usize {
        self.candidates_running + self.candidates_waiting + self.results_queued
    }
}

impl fmt::Display for FlushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            write!(f, "flushed: nothing under way (waited {:?})", self.waited)
        } else {
            write!(
                f,
                "not flushed after {:?}: {} candidate run(s) still running or publishing, {} \
                 result(s) still queued for publication",
                self.waited, self.candidates_running, self.results_queued
            )?;
            if self.candidates_waiting > 0 {
                write!(
                    f,
                    ", {} detached candidate(s) queued for a background worker and never \
                     started (the workers are busy: a blocking candidate or publisher?)",
                    self.candidates_waiting
                )?;
            }
            Ok(())
        }
    }
}

impl<T, E> Experiment<T, E> {
    /// Waits up to `deadline` for every run under way — detached candidates still running and
    /// results still queued for publication — and reports what did not finish.
    ///
    /// An async function for any executor (the `tokio` feature): it naps on tokio's timers,
    /// or, on a runtime without them, on darklaunch's own timer thread (said once through the
    /// error hook, [`Operation::Timer`](crate::Operation::Timer)). Sync services use
    /// [`flush_blocking`](Self::flush_blocking).
    #[cfg(feature = "tokio")]
    pub async fn flush(&self, deadline: Duration) -> FlushReport {
        let started = crate::real_clock::instant();
        loop {
            match self.flush_step(started, deadline) {
                Ok(report) => return report,
                Err(nap) => {
                    let inner = &self.inner;
                    let sleep = inner.state.timers.sleep(nap, |message| {
                        inner.report(crate::Operation::Timer, None, message)
                    });
                    match sleep {
                        Some(sleep) => sleep.await,
                        // No timer at all: look again after letting other tasks run.
                        None => tokio::task::yield_now().await,
                    }
                }
            }
        }
    }

    /// [`flush`](Self::flush) for callers without an async runtime: blocks the thread.
    pub fn flush_blocking(&self, deadline: Duration) -> FlushReport {
        let started = crate::real_clock::instant();
        loop {
            match self.flush_step(started, deadline) {
                Ok(report) => return report,
                Err(nap) => std::thread::sleep(nap),
            }
        }
    }

    /// Stops starting candidates (later calls run only the control, as if sampled out), then
    /// flushes. Runs that do not finish by the deadline are reported; should they finish later
    /// they are still published and counted.
    #[cfg(feature = "tokio")]
    pub async fn shutdown(&self, deadline: Duration) -> FlushReport {
        self.inner.state.closed.store(true, Ordering::Release);
        self.flush(deadline).await
    }

    /// [`shutdown`](Self::shutdown) for callers without an async runtime: blocks the thread.
    pub fn shutdown_blocking(&self, deadline: Duration) -> FlushReport {
        self.inner.state.closed.store(true, Ordering::Release);
        self.flush_blocking(deadline)
    }

    /// One look of a flush: the report once everything finished or the deadline passed;
    /// otherwise the background is nudged and the time to wait before looking again.
    fn flush_step(
        &self,
        started: std::time::Instant,
        deadline: Duration,
    ) -> Result<FlushReport, Duration> {
        let queued = self.inner.state.queued_results.load(Ordering::Acquire);
        let in_flight = self.inner.state.in_flight.load(Ordering::Acquire);
        let waiting = self.inner.state.waiting_to_start.load(Ordering::Acquire);
        let waited = crate::real_clock::since(started);
        let running = in_flight.saturating_sub(queued).saturating_sub(waiting);
        let report = FlushReport::new(running, waiting, queued, waited);
        if report.is_complete() || waited >= deadline {
            return Ok(report);
        }
        if let Some(background) = self.inner.state.background.get() {
            background.wake_all();
        }
        Err(FLUSH_POLL.min(deadline - waited))
    }
}

/// How often a flush looks again.
const FLUSH_POLL: Duration = Duration::from_millis(1);
