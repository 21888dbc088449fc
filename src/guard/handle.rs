//! Reading, tripping and resetting a guard from any thread.

use std::fmt;
use std::sync::Arc;

use crate::experiment::Experiment;
use crate::guard::{Guard, GuardReason};

/// A guard's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardStatus {
    /// The candidate runs on every sampled call.
    Armed,
    /// The candidate does not run.
    Tripped {
        /// Why it tripped.
        reason: GuardReason,
    },
    /// After the cool-down: the candidate runs on the probe share of sampled calls.
    Probing,
}

impl GuardStatus {
    /// `armed`, `tripped` or `probing`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardStatus::Armed => "armed",
            GuardStatus::Tripped { .. } => "tripped",
            GuardStatus::Probing => "probing",
        }
    }
}

/// Trips, resets and reads one candidate's guard from any thread; made by
/// [`Experiment::guard`]. Cheap to clone. A manual trip or reset is announced like an
/// automatic one (counted, and handed to every publisher).
pub struct GuardHandle<T, E> {
    pub(crate) experiment: Experiment<T, E>,
    pub(crate) guard: Arc<Guard>,
}

impl<T, E> GuardHandle<T, E> {
    /// The guarded candidate's name.
    pub fn candidate(&self) -> &str {
        self.guard.candidate()
    }

    /// The guard's state now.
    pub fn status(&self) -> GuardStatus {
        self.guard.status()
    }

    /// Trips the guard by hand (reason [`GuardReason::Manual`]): the candidate stops running
    /// at once, and is probed after the cool-down. Does nothing if it is tripped already.
    pub fn trip(&self) {
        if let Some(event) = self.guard.trip(GuardReason::Manual, 0.0, 0.0, 0) {
            self.experiment.inner.announce_guard(&event);
        }
    }

    /// Re-arms the guard by hand, forgetting its window: the candidate runs on every sampled
    /// call again. Does nothing if it is armed.
    pub fn reset(&self) {
        if let Some(event) = self.guard.reset() {
            self.experiment.inner.announce_guard(&event);
        }
    }
}

impl<T, E> Clone for GuardHandle<T, E> {
    fn clone(&self) -> Self {
        Self {
            experiment: self.experiment.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<T, E> fmt::Debug for GuardHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardHandle")
            .field("experiment", &self.experiment.name())
            .field("candidate", &self.candidate())
            .field("status", &self.status())
            .finish()
    }
}

impl<T, E> Experiment<T, E> {
    /// The guard of candidate `name`, if the builder gave it one
    /// ([`guard`](crate::ExperimentBuilder::guard) for the experiment's default candidate,
    /// [`guard_candidate`](crate::ExperimentBuilder::guard_candidate) for a named one).
    pub fn guard(&self, name: &str) -> Option<GuardHandle<T, E>> {
        self.inner
            .settings
            .guards
            .iter()
            .find(|guard| guard.candidate() == name)
            .map(|guard| GuardHandle {
                experiment: self.clone(),
                guard: guard.clone(),
            })
    }
}
