//! What a caller sees from every run form: the control's outcome unchanged, candidates
//! isolated, sampling, callbacks, verdicts, the trial's shape, configuration errors and the
//! public seam for one sampled run. One test binary (one link of the dev-dependencies), one
//! module per guarantee; the README's guarantee→test table names each file.
//!
//! Process-wide state here is per thread or per test: the counting allocator of
//! `allocation-counter` (in `sampling` and `sampled_run`) counts the measuring thread only, as
//! does the clock probe (`darklaunch::probe`), and `sampling` re-runs this binary as a child
//! process with one exact test name.

#[path = "../common/mod.rs"]
mod common;

mod callbacks;
mod candidate_isolation;
mod config_errors;
mod control_unchanged;
#[cfg(feature = "proptest")]
mod differential;
#[cfg(feature = "serde")]
mod effects;
#[cfg(feature = "openfeature")]
mod flags;
mod guards;
#[cfg(feature = "serde")]
mod inputs;
#[cfg(feature = "serde")]
mod replay;
mod run_forms;
mod sampled_run;
mod sampling;
mod scientist;
mod serving;
mod timerless_runtime;
mod trial_shape;
mod verdicts;
