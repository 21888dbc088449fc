//! Publishers: where results go.
//!
//! A publisher receives every sampled run's [`ExperimentResult`]. Closures are publishers, an
//! experiment fans out to as many as it is given, and a publisher that panics is reported to
//! the error hook and never reaches the caller.

mod attachment;
#[cfg(any(feature = "serde", feature = "tracing"))]
mod fields;
#[cfg(feature = "serde")]
pub mod jsonl;
#[cfg(feature = "opentelemetry")]
pub mod otel;
mod recorder;
#[cfg(feature = "tracing")]
pub mod tracing_publisher;

use std::convert::Infallible;

use crate::observation::ExperimentResult;

pub use attachment::Attachment;
#[cfg(feature = "serde")]
pub use jsonl::JsonLinesPublisher;
#[cfg(feature = "opentelemetry")]
pub use otel::OtelPublisher;
pub use recorder::Recorder;
#[cfg(feature = "tracing")]
pub use tracing_publisher::TracingPublisher;

/// Receives the result of every sampled run.
///
/// Implemented for every `Fn(&ExperimentResult<T, E>) + Send + Sync + 'static` closure.
///
/// ```
/// use darklaunch::{Experiment, ExperimentResult};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let mismatches = Arc::new(AtomicUsize::new(0));
/// let counter = mismatches.clone();
/// let experiment: Experiment<u32> = Experiment::builder("closure-publisher")
///     .publisher(move |result: &ExperimentResult<u32>| {
///         if result.has_mismatch() {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build()
///     .unwrap();
/// experiment.run(|| 1, || 2);
/// assert_eq!(mismatches.load(Ordering::Relaxed), 1);
/// ```
pub trait Publisher<T, E = Infallible>: Send + Sync {
    /// Publishes one result. Called on the thread or task that finished the run (for detached
    /// runs, a background worker).
    fn publish(&self, result: &ExperimentResult<T, E>);

    /// A sampled run of `experiment` was shed (over `max_in_flight`, or a full queue of
    /// detached candidates): it has no result. Telemetry publishers count it; the default does
    /// nothing.
    fn shed(&self, experiment: &str) {
        let _ = experiment;
    }

    /// A guard tripped or re-armed ([`crate::guard`]): called once per event, on the thread
    /// that judged the run that tripped it (or that called the
    /// [`GuardHandle`](crate::guard::GuardHandle)). Telemetry publishers log, count and mark
    /// it; the default does nothing. A panic here goes to the error hook.
    fn guard(&self, event: &crate::guard::GuardEvent) {
        let _ = event;
    }

    /// Called once by `build()` for every publisher the experiment was given, before any run,
    /// with what a publisher may need to know about the experiment (a report links its noise
    /// calibration here). The default does nothing. A panic here goes to the error hook.
    fn attach(&self, experiment: &Attachment<'_>) {
        let _ = experiment;
    }

    /// Whether this publisher uses a run's [`trace`](ExperimentResult::trace): the span it ran
    /// in. An experiment captures it on its sampled runs when one of its publishers says yes (a
    /// context lookup a run; the real start and end only for [`wants_run_times`](Self::wants_run_times));
    /// the default says no.
    fn wants_trace(&self) -> bool {
        false
    }

    /// Whether this publisher also uses a run's real start and end
    /// ([`RunTrace::started`](crate::trace::RunTrace::started), `ended`): then the experiment
    /// reads the wall clock when each sampled run starts and ends. Only asked of publishers
    /// that [want traces](Self::wants_trace); the default says no.
    fn wants_run_times(&self) -> bool {
        false
    }
}

impl<T, E, F> Publisher<T, E> for F
where
    F: Fn(&ExperimentResult<T, E>) + Send + Sync,
{
    fn publish(&self, result: &ExperimentResult<T, E>) {
        self(result)
    }
}
