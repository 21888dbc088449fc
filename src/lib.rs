//! # darklaunch
//!
//! Shadow execution in the style of GitHub's Scientist. An [`Experiment`] runs the **control**
//! (the code in production today) and one or more **candidates** (the rewrite), **always
//! returns the control's result** — its value, its `Err`, or its panic — and publishes what it
//! observed: matches, mismatches with a structured diff, durations, errors, panics, timeouts.
//!
//! ## Quickstart
//!
//! ```
//! use darklaunch::{Experiment, Sampler, Verdict};
//! use darklaunch::publish::Recorder;
//! use std::time::Duration;
//!
//! fn old_total(items: &[u32]) -> u32 { items.iter().sum() }
//! fn new_total(items: &[u32]) -> u32 { items.iter().fold(0, |a, b| a + b) }
//!
//! # fn main() -> Result<(), darklaunch::ConfigError> {
//! // Define once (cheap to clone, Send + Sync), run many times.
//! let recorder = Recorder::new();
//! let experiment: Experiment<u32> = Experiment::builder("cart-total-v2")
//!     .sampler(Sampler::percent(100.0))
//!     .candidate_timeout(Duration::from_millis(50))
//!     .publisher(recorder.clone())
//!     .build()?;
//!
//! let items = [3, 4, 5];
//! let total = experiment.run(|| old_total(&items), || new_total(&items));
//! assert_eq!(total, 12); // always the control's answer
//!
//! // Several named candidates, a sticky sampling key and context, per call:
//! let total = experiment
//!     .trial()
//!     .key("user-42")
//!     .context("route", "/cart")
//!     .control(|| old_total(&items))
//!     .candidate("fold", || new_total(&items))
//!     .candidate("off-by-one", || new_total(&items) + 1)
//!     .run();
//! assert_eq!(total, 12);
//!
//! let stats = experiment.stats();
//! assert_eq!((stats.matched, stats.mismatched), (2, 1));
//! assert!(stats.reconciles());
//! let last = &recorder.results()[1];
//! assert_eq!(last.candidate("off-by-one").unwrap().verdict(), Verdict::Mismatch);
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees
//!
//! * The control's value, `Err` or panic payload reaches the caller unchanged; a control panic
//!   is resumed with its original payload after the run is recorded.
//! * A candidate's panic, error or timeout is recorded and never reaches the caller.
//! * A panic in a user callback (compare, ignore, clean, sampler, before-run, publisher) never
//!   reaches the caller: it goes to the error hook ([`ExperimentBuilder::on_error`]) with the
//!   operation's name, and is counted ([`Stats::callback_errors_by`]).
//! * A call that is sampled out runs only the control: no candidate, no allocation, no clock.
//! * Every sampled run ends as exactly one of published, publish-failed, shed or dropped
//!   ([`Stats::reconciles`]).
//! * `#![forbid(unsafe_code)]`, and no global state: everything is injected.
//!
//! ## Behaviours that return `Result`
//!
//! In an `Experiment<T, E>` behaviours return `Result<T, E>`: an `Err` is an error outcome,
//! two errors compare with [`ExperimentBuilder::compare_errors`] (default: equal `Display`
//! text), and `Ok` against `Err` is a mismatch.
//!
//! ```
//! use darklaunch::Experiment;
//!
//! let experiment: Experiment<u32, String> = Experiment::builder("parse-v2").build().unwrap();
//! let parsed = experiment.run(|| "7".parse::<u32>().map_err(|e| e.to_string()), || Ok(7));
//! assert_eq!(parsed, Ok(7));
//! let failed = experiment.run(|| Err("bad input".to_string()), || Ok(0));
//! assert_eq!(failed, Err("bad input".to_string()));
//! assert_eq!(experiment.stats().mismatched, 1);
//! ```
//!
//! ## Features
//!
//! * `tokio` (default): detached runs ([`Experiment::run_detached`],
//!   [`Trial::run_detached`], [`Experiment::run_detached_blocking`]), async `flush` and
//!   `shutdown`, and async candidate timeouts on tokio's timer (on a runtime without timers,
//!   on a timer thread of the experiment's own). Without it, `run_async` still bounds the wait
//!   on that thread.
//! * `serde` (default): structural diffs of `Serialize` values ([`diff`],
//!   [`ExperimentBuilder::diff`]) and noise calibration ([`noise`],
//!   [`ExperimentBuilder::calibrate_noise`], [`Trial::calibration`]).
//! * `tracing` (default): the default error hook logs through `tracing`, target `darklaunch`.
//! * `insight` (default): [`insight`] — mismatches grouped by diff shape, verdict statistics
//!   and terminal and HTML reports, with what noise calibration learnt.
//! * `opentelemetry`: `publish::OtelPublisher`, metrics and spans.
//! * `tower`: `tower::ShadowLayer`, dark-launching whole HTTP endpoints.
//! * `cpu-time`: per-behaviour thread CPU time (`ExperimentBuilder::cpu_time`).
//! * `proptest`: differential property tests (`differential`).
//!
//! ## The developer's loop
//!
//! With `serde`: [`input`] records a trial's input on the runs that mismatched, [`replay`]
//! reads them back from JSON lines and checks a fixed candidate against them, [`effects`] lets
//! code paths that write be dark-launched by comparing the writes instead of making them
//! twice, and [`cross`] compares a candidate of another type.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::disallowed_methods)]

mod background;
#[cfg(feature = "serde")]
mod capture;
mod clock;
mod context;
mod cpu;
pub mod cross;
mod deprecated;
#[cfg(feature = "serde")]
pub mod diff;
#[cfg(feature = "proptest")]
pub mod differential;
#[cfg(feature = "serde")]
pub mod effects;
mod error;
mod experiment;
#[cfg(feature = "openfeature")]
pub mod flags;
pub mod guard;
mod hook;
#[cfg(feature = "serde")]
pub mod input;
#[cfg(feature = "insight")]
pub mod insight;
#[cfg(feature = "serde")]
pub mod noise;
mod observation;
mod output;
pub mod publish;
mod random;
mod real_clock;
#[cfg(feature = "serde")]
pub mod replay;
mod run;
mod sample;
mod serve;
mod stats;
mod text;
mod thread_slot;
mod timer;
#[cfg(feature = "tower")]
pub mod tower;
pub mod trace;

pub use background::{Background, BackgroundBuilder};
pub use clock::{Clock, ManualClock};
pub use context::{Context, ContextValue, MAX_CONTEXT_TEXT};
// Old paths, deprecated since 0.2.0: see `deprecated.rs`.
#[cfg(feature = "serde")]
#[allow(deprecated)]
pub use deprecated::{path, Diff, DiffKind, DiffOptions, Difference};
#[allow(deprecated)]
pub use deprecated::{Control, CustomCompare, DefaultCompare, Named, NoControl};
pub use error::ConfigError;
pub use experiment::builder::ExperimentBuilder;
pub use experiment::flush::FlushReport;
pub use experiment::trial::Trial;

/// The builder's typestate: whether a custom comparator was given.
pub mod builder {
    pub use crate::experiment::builder::{CustomCompare, DefaultCompare};
}

/// A trial's typestate: the markers that say whether a control and a calibration were given,
/// and the type-level lists of its candidates (sealed: only darklaunch implements them).
pub mod trial {
    pub use crate::experiment::trial::list::{
        AsyncList, BlockingList, BoxedBlocking, CalibrationSlot, CandidateList, SyncList,
    };
    pub use crate::experiment::trial::{Calibration, Control, Named, NoCalibration, NoControl};
}
pub use experiment::{Experiment, DEFAULT_MAX_IN_FLIGHT, DEFAULT_PUBLISH_CAPACITY};
pub use hook::{CallbackError, Operation};
pub use observation::{
    CandidateResult, ExperimentResult, Observation, Outcome, ServedCall, Verdict,
};
pub use output::BehaviorOutput;
pub use publish::Publisher;
pub use run::raise::MismatchError;
pub use run::sampled_run::{Candidates, SampledRun, SyncCandidates};
pub use sample::{stable_key_hash, Sampler, SamplerHandle};
pub use serve::ServeShare;
pub use stats::Stats;
pub use timer::Sleep;

/// Instrumentation for darklaunch's own tests (feature `test-probes`); not for production.
#[cfg(feature = "test-probes")]
pub mod probe {
    pub use crate::real_clock::real_clock_reads;
}

/// The README's examples, compiled and run as doctests (with `--all-features`, the README's
/// test command: its examples use the optional integrations).
#[cfg(all(doctest, feature = "openfeature"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
