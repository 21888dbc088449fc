//! Offline replay: the inputs that mismatched in production, checked against a fixed candidate.
//!
//! An experiment built with [`record_inputs`](crate::ExperimentBuilder::record_inputs) and a
//! [`JsonLinesPublisher`](crate::publish::JsonLinesPublisher) writes each mismatch, candidate
//! error and timeout with its input (and, if asked, a share of matches: a regression corpus).
//! [`Cases::read`] reads those records back — from one file or many, of any number of
//! instances — into typed [`Case`]s: the input, both recorded outcomes, the recorded diff.
//! [`Experiment::replay`](crate::Experiment::replay) runs today's control and a new candidate
//! on every case and judges them with the experiment's own compare, ignore, clean, diff and
//! noise settings ([`Experiment::compare_outcomes`](crate::Experiment::compare_outcomes)):
//! which cases are now [fixed](ReplayReport::fixed), which [still
//! differ](ReplayReport::still_differ) (with the new diff), which [newly
//! differ](ReplayReport::newly_differ) (recorded as matches). [`ReplayReport::assert_fixed`]
//! fails a test with a readable summary when any case still differs.
//!
//! Nothing is skipped silently: lines of other experiments, records without an input and
//! guard records are counted in [`Skipped`]; lines that cannot be read (not JSON, a cut input,
//! an input of another type, a line over [`MAX_LINE_BYTES`]) are listed with their file, line
//! and reason.
//!
//! ```
//! use darklaunch::input::RecordInputs;
//! use darklaunch::publish::JsonLinesPublisher;
//! use darklaunch::replay::Cases;
//! use darklaunch::Experiment;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::env::temp_dir().join(format!("darklaunch-replay-doc-{}.jsonl", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! let experiment: Experiment<u64> = Experiment::builder("discount")
//!     .record_inputs(RecordInputs::new())
//!     .publisher(JsonLinesPublisher::to_file(&path)?)
//!     .build()?;
//! let old = |cents: &u64| cents / 10;
//! let buggy = |cents: &u64| if *cents > 1_000 { cents / 9 } else { cents / 10 };
//! for cents in [500_u64, 2_000, 9_000] {
//!     experiment.trial().input(&cents).control(|| old(&cents)).candidate("v2", || buggy(&cents)).run();
//! }
//!
//! // Later, in a test: the recorded inputs against the fixed candidate.
//! let cases: Cases<u64> = Cases::read("discount", [&path])?;
//! assert_eq!(cases.len(), 2); // the two mismatches
//! assert_eq!(experiment.replay(&cases, old, buggy).still_differ.len(), 2);
//! let fixed = |cents: &u64| cents / 10;
//! let report = experiment.replay(&cases, old, fixed);
//! assert_eq!(report.fixed.len(), 2);
//! report.assert_fixed();
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```

mod cases;
mod check;

pub use cases::{Case, Cases, RecordedOutcome, Skipped, Source, Unreadable, MAX_LINE_BYTES};
pub use check::{CaseReport, ReplayReport};
