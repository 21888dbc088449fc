//! Comparing intended writes: code paths that write can be dark-launched through an effects
//! recorder.
//!
//! A behaviour that writes (to a database, a queue, a mail service) cannot simply run twice:
//! the candidate would write a second time. Instead, each behaviour is handed an [`Effects`]
//! recorder and makes its writes through [`perform`](Effects::perform). The control's recorder
//! [carries them out](Effects::carrying_out) and records them; the candidate's
//! [records them only](Effects::recording_only) and never calls the write. Each behaviour ends
//! with [`finish`](Effects::finish), which pairs its return value with the writes it meant:
//! an [`Effected`] value that the experiment compares and diffs like any other, so a candidate
//! whose writes differ from the control's is a mismatch whose diff names the write (at
//! `$.effects[i]`) and the field. Order matters by default; [`same_unordered`] compares the
//! writes as a multiset, with [`DiffOptions::unordered_arrays`] on `$.effects` for the diff.
//!
//! ```
//! use std::sync::Mutex;
//! use darklaunch::effects::{Effected, Effects};
//! use darklaunch::publish::Recorder;
//! use darklaunch::Experiment;
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize)]
//! enum Write { Insert { table: &'static str, id: u64 } }
//!
//! let database = Mutex::new(Vec::new()); // what really got written
//! let save = |fx: &Effects<Write>, id: u64, table: &'static str| {
//!     fx.perform(Write::Insert { table, id }, |write| database.lock().unwrap().push(write.clone()))
//!         .expect("recorder open");
//!     fx.finish(id)
//! };
//!
//! let recorder = Recorder::new();
//! let experiment: Experiment<Effected<u64, Write>> = Experiment::builder("save-order")
//!     .publisher(recorder.clone())
//!     .build()
//!     .unwrap();
//! let saved = experiment.run(
//!     || save(&Effects::carrying_out(), 7, "orders"),
//!     || save(&Effects::recording_only(), 7, "orders_v2"),
//! );
//! assert_eq!(saved.value, 7);
//! // Only the control's write was carried out ...
//! assert_eq!(*database.lock().unwrap(), [Write::Insert { table: "orders", id: 7 }]);
//! // ... and the candidate's differing write is a mismatch.
//! assert!(recorder.results()[0].has_mismatch());
//! ```
//!
//! [`DiffOptions::unordered_arrays`]: crate::diff::DiffOptions::unordered_arrays

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;

/// A behaviour's return value and the writes it meant, in order: what an experiment over a
/// writing code path compares.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Effected<T, W> {
    /// What the behaviour returned.
    pub value: T,
    /// The writes it made through its [`Effects`], in order (carried out for the control,
    /// only recorded for a candidate).
    pub effects: Vec<W>,
}

/// Whether `a` and `b` hold equal values and the same writes in any order (a multiset
/// comparison, quadratic in the number of writes): a comparator for
/// [`compare`](crate::ExperimentBuilder::compare) when the order of writes does not matter.
///
/// ```
/// use darklaunch::effects::{same_unordered, Effected};
///
/// let a = Effected { value: (), effects: vec![1, 2, 2] };
/// assert!(same_unordered(&a, &Effected { value: (), effects: vec![2, 1, 2] }));
/// assert!(!same_unordered(&a, &Effected { value: (), effects: vec![1, 1, 2] }));
/// ```
pub fn same_unordered<T: PartialEq, W: PartialEq>(a: &Effected<T, W>, b: &Effected<T, W>) -> bool {
    if a.value != b.value || a.effects.len() != b.effects.len() {
        return false;
    }
    let mut used = vec![false; b.effects.len()];
    a.effects.iter().all(|effect| {
        let found = b
            .effects
            .iter()
            .zip(used.iter_mut())
            .find(|(other, used)| !**used && *other == effect);
        match found {
            Some((_, used)) => {
                *used = true;
                true
            }
            None => false,
        }
    })
}

/// The error of a recorder used after its behaviour [finished](Effects::finish): the write was
/// neither carried out nor recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectsEnded;

impl fmt::Display for EffectsEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "effects recorder used after its behaviour finished: the write was neither carried out nor recorded",
        )
    }
}

impl std::error::Error for EffectsEnded {}

struct Log<W> {
    effects: Vec<W>,
    ended: bool,
}

/// A behaviour's writes recorder: see the [module docs](self). Cheap to clone (clones share
/// the record), `Send` and `Sync` when the writes are, so it can follow a detached candidate.
pub struct Effects<W> {
    carries_out: bool,
    log: Arc<Mutex<Log<W>>>,
}

impl<W> Clone for Effects<W> {
    fn clone(&self) -> Self {
        Self {
            carries_out: self.carries_out,
            log: self.log.clone(),
        }
    }
}

impl<W> fmt::Debug for Effects<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.lock();
        f.debug_struct("Effects")
            .field("carries_out", &self.carries_out)
            .field("recorded", &log.effects.len())
            .field("ended", &log.ended)
            .finish()
    }
}

impl<W> Effects<W> {
    fn new(carries_out: bool) -> Self {
        Self {
            carries_out,
            log: Arc::new(Mutex::new(Log {
                effects: Vec::new(),
                ended: false,
            })),
        }
    }

    /// The control's recorder: every write is carried out, then recorded.
    pub fn carrying_out() -> Self {
        Self::new(true)
    }

    /// A candidate's recorder: every write is recorded and never carried out.
    pub fn recording_only() -> Self {
        Self::new(false)
    }

    /// Whether this recorder carries writes out (the control's) or only records them.
    pub fn carries_out(&self) -> bool {
        self.carries_out
    }

    fn lock(&self) -> MutexGuard<'_, Log<W>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the write `effect`: the control's recorder calls `carry_out` with it and returns
    /// `Some` of what it returned; a candidate's returns `None` without calling it. Either way
    /// the write is recorded (after `carry_out` returned; a write whose `carry_out` panics is
    /// not recorded, and the panic goes on).
    ///
    /// # Errors
    ///
    /// [`EffectsEnded`] once the behaviour has [finished](Self::finish): nothing is carried
    /// out or recorded.
    pub fn perform<R>(
        &self,
        effect: W,
        carry_out: impl FnOnce(&W) -> R,
    ) -> Result<Option<R>, EffectsEnded> {
        if self.lock().ended {
            return Err(EffectsEnded);
        }
        let returned = self.carries_out.then(|| carry_out(&effect));
        let mut log = self.lock();
        if log.ended {
            // Finished while the write was being carried out: it happened, but the record is
            // closed.
            return Err(EffectsEnded);
        }
        log.effects.push(effect);
        Ok(returned)
    }

    /// Records `effect` without carrying it out, whichever recorder this is (a write the
    /// behaviour describes but makes elsewhere).
    ///
    /// # Errors
    ///
    /// [`EffectsEnded`] once the behaviour has finished.
    pub fn record(&self, effect: W) -> Result<(), EffectsEnded> {
        let mut log = self.lock();
        if log.ended {
            return Err(EffectsEnded);
        }
        log.effects.push(effect);
        Ok(())
    }

    /// Ends the recording and pairs `value` with the writes made so far, in order: the
    /// behaviour's return value. Later writes through this recorder or its clones are
    /// [`EffectsEnded`] errors; a second `finish` pairs `value` with no writes.
    pub fn finish<T>(&self, value: T) -> Effected<T, W> {
        let mut log = self.lock();
        log.ended = true;
        Effected {
            value,
            effects: std::mem::take(&mut log.effects),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_carries_out_and_a_candidate_only_records() {
        let mut done = Vec::new();
        let control = Effects::carrying_out();
        assert!(control.carries_out());
        assert!(!Effects::<u8>::recording_only().carries_out());
        assert_eq!(
            control.perform(1, |w| {
                done.push(*w);
                "ok"
            }),
            Ok(Some("ok"))
        );
        let candidate = Effects::recording_only();
        assert_eq!(
            candidate.perform(2, |_| unreachable!("never carried out")),
            Ok(None::<()>)
        );
        assert_eq!(done, [1]);
        assert_eq!(control.finish('a').effects, [1]);
        assert_eq!(candidate.finish('b').effects, [2]);
    }

    #[test]
    fn a_recorder_used_after_finishing_is_an_error() {
        let effects = Effects::recording_only();
        let clone = effects.clone();
        effects.record(1).unwrap();
        assert_eq!(effects.finish(()).effects, [1]);
        assert_eq!(clone.perform(2, |_| ()), Err(EffectsEnded));
        assert_eq!(clone.record(3), Err(EffectsEnded));
        assert!(effects.finish(()).effects.is_empty());
        assert!(EffectsEnded
            .to_string()
            .contains("after its behaviour finished"));
    }

    #[test]
    fn unordered_comparison_is_a_multiset_comparison() {
        let of = |value: u8, effects: Vec<u8>| Effected { value, effects };
        assert!(same_unordered(&of(1, vec![1, 2, 3]), &of(1, vec![3, 1, 2])));
        assert!(!same_unordered(&of(1, vec![1, 2]), &of(2, vec![1, 2])));
        assert!(!same_unordered(&of(1, vec![1, 2]), &of(1, vec![1, 2, 2])));
        assert!(!same_unordered(
            &of(1, vec![1, 1, 2]),
            &of(1, vec![1, 2, 2])
        ));
        assert!(same_unordered(&of(1, vec![]), &of(1, vec![])));
    }
}
