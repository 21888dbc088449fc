//! An in-memory publisher for tests and examples.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::guard::GuardEvent;
use crate::observation::ExperimentResult;
use crate::publish::Publisher;

/// Keeps every published result in memory; clones share one store.
///
/// Meant for tests and examples: it keeps everything, so do not leave it attached to a
/// long-running experiment.
///
/// ```
/// use darklaunch::{Experiment, Verdict};
/// use darklaunch::publish::Recorder;
///
/// let recorder = Recorder::new();
/// let experiment: Experiment<u64> = Experiment::builder("recorded")
///     .publisher(recorder.clone())
///     .build()
///     .unwrap();
/// assert_eq!(experiment.run(|| 40 + 2, || 42), 42);
/// let results = recorder.results();
/// assert_eq!(results.len(), 1);
/// assert_eq!(results[0].candidates()[0].verdict(), Verdict::Match);
/// ```
pub struct Recorder<T, E = Infallible> {
    results: Arc<Mutex<Vec<ExperimentResult<T, E>>>>,
    guard_events: Arc<Mutex<Vec<GuardEvent>>>,
    traces: bool,
}

impl<T, E> Recorder<T, E> {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            results: Arc::new(Mutex::new(Vec::new())),
            guard_events: Arc::new(Mutex::new(Vec::new())),
            traces: false,
        }
    }

    /// The same recorder, asking experiments to capture each run's
    /// [trace](ExperimentResult::trace), with its real start and end (see
    /// [`Publisher::wants_trace`] and [`Publisher::wants_run_times`]).
    pub fn with_traces(mut self) -> Self {
        self.traces = true;
        self
    }

    /// Every guard trip and re-arm announced so far ([`crate::guard`]), oldest first.
    pub fn guard_events(&self) -> Vec<GuardEvent> {
        self.guard_events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A copy of every result recorded so far, oldest first.
    pub fn results(&self) -> Vec<ExperimentResult<T, E>>
    where
        T: Clone,
        E: Clone,
    {
        self.lock().clone()
    }

    /// Takes every result recorded so far, leaving the recorder empty.
    pub fn take(&self) -> Vec<ExperimentResult<T, E>> {
        std::mem::take(&mut *self.lock())
    }

    /// How many results are recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no result is recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every recorded result.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ExperimentResult<T, E>>> {
        // A publisher that panicked while holding the lock cannot have left a half-pushed Vec.
        self.results
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T, E> Clone for Recorder<T, E> {
    fn clone(&self) -> Self {
        Self {
            results: self.results.clone(),
            guard_events: self.guard_events.clone(),
            traces: self.traces,
        }
    }
}

impl<T, E> Default for Recorder<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> fmt::Debug for Recorder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("results", &self.len())
            .finish()
    }
}

impl<T, E> Publisher<T, E> for Recorder<T, E>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn publish(&self, result: &ExperimentResult<T, E>) {
        let copy = result.clone();
        self.lock().push(copy);
    }

    fn guard(&self, event: &GuardEvent) {
        self.guard_events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(event.clone());
    }

    fn wants_trace(&self) -> bool {
        self.traces
    }

    fn wants_run_times(&self) -> bool {
        self.traces
    }
}
