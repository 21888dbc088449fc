//! Where guards meet runs: each judged candidate counted in its guard's window, shed runs
//! counted in every guard, trips and re-arms announced, held candidates taken out of a run.

use crate::experiment::Inner;
use crate::guard::GuardEvent;
use crate::hook::Operation;
use crate::observation::{CandidateResult, Observation};

impl<T, E> Inner<T, E> {
    /// Counts a trip or re-arm and hands it to every publisher (a panicking one goes to the
    /// error hook).
    pub(crate) fn announce_guard(&self, event: &GuardEvent) {
        self.state.counters.guard_event(event.kind);
        for publisher in &self.settings.publishers {
            self.guarded(Operation::Publish, Some(&event.candidate), || {
                publisher.guard(event)
            });
        }
    }

    /// Whether a call of a one-candidate run form (key hash `key`) is served.
    #[inline]
    pub(crate) fn serves_default(&self, key: Option<u64>) -> bool {
        self.settings
            .serving
            .as_ref()
            .is_some_and(|serving| serving.default_candidate && serving.serves(key))
    }

    /// Counts every judged candidate in its guard's window.
    pub(crate) fn count_in_guards(
        &self,
        control: &Observation<T, E>,
        candidates: &[CandidateResult<T, E>],
    ) {
        if self.settings.guards.is_empty() {
            return;
        }
        for candidate in candidates {
            let Some(guard) = self.settings.guard_of(&candidate.observation.name) else {
                continue;
            };
            let sample = guard.sample(control, &candidate.observation, candidate.verdict);
            if let Some(event) = guard.record(sample) {
                self.announce_guard(&event);
            }
        }
    }

    /// Counts a shed run in every guard's window (shedding is the experiment's, not one
    /// candidate's).
    pub(crate) fn count_shed_in_guards(&self) {
        for guard in &self.settings.guards {
            if let Some(event) = guard.record_shed() {
                self.announce_guard(&event);
            }
        }
    }

    /// Whether candidate `name` runs on this sampled call (see
    /// [`Guard::allows`](crate::guard::Guard)); a held one is counted.
    pub(crate) fn guard_allows(&self, name: &str) -> bool {
        let allowed = self
            .settings
            .guard_of(name)
            .is_none_or(|guard| guard.allows());
        if !allowed {
            self.state.counters.guard_held();
        }
        allowed
    }
}
