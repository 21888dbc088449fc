//! Carrying out a run: admission (sampling, caps, setup), the in-flight slot, the public seam,
//! the sync, concurrent and detached runners, and the stages they share (outcomes, judging,
//! cleaning and diffs, noise calibration, publishing).

mod admit;
#[cfg(feature = "serde")]
pub(crate) mod calibration;
mod concurrent;
mod detached;
mod finish;
mod guarding;
mod judge;
mod offline;
mod outcome;
mod prepare;
pub(crate) mod raise;
pub(crate) mod sampled_run;
pub(crate) mod serve;
mod slot;
mod sync;

pub(crate) use concurrent::{run_concurrent, BoxedCandidates, SingleCandidate};
pub(crate) use detached::{
    detach_boxed, dispatch, run_detached_blocking, DetachedCandidate, QueuedRun,
};
pub(crate) use finish::finish;
pub(crate) use offline::judge_offline;
pub(crate) use outcome::{
    candidate_outcome, outcome_and_payload, panic_message, returned_outcome, unless_late,
};
pub(crate) use slot::{ActiveRun, EndRun, OwnedRun, PendingRun};
pub(crate) use sync::{run_sync, SyncCandidate};

/// Each candidate's outcome once it is known, with when (or how long) it finished.
pub(crate) type Finished<T, E, M> =
    smallvec::SmallVec<[Option<(crate::observation::Outcome<T, E>, M)>; 1]>;
