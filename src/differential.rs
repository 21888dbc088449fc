//! Differential property tests (feature `proptest`): the check a developer runs before anything
//! is dark-launched. Control and candidate run on inputs that a [`proptest`] strategy
//! generates and are judged with the experiment's own compare, ignore, clean, diff and noise
//! settings ([`Experiment::compare_outcomes`]); a disagreement is shrunk to a minimal input
//! and reported with the structural diff.
//!
//! ```
//! use darklaunch::differential::{assert_agree, check, Config};
//! use darklaunch::Experiment;
//! use proptest::prelude::*;
//!
//! let experiment: Experiment<u64> = Experiment::builder("sum")
//!     .diff(darklaunch::diff::DiffOptions::new())
//!     .build()
//!     .unwrap();
//! let inputs = proptest::collection::vec(0u64..1_000, 0..20);
//! let old = |xs: &Vec<u64>| xs.iter().sum::<u64>();
//! let new = |xs: &Vec<u64>| xs.iter().fold(0, |a, b| a + b);
//! assert_agree(&experiment, Config::with_cases(200), &inputs, old, new);
//!
//! // A rewrite that drops values of 500 and more: shrunk to the smallest such input.
//! let broken = |xs: &Vec<u64>| xs.iter().filter(|x| **x < 500).sum::<u64>();
//! let disagreement = check(&experiment, Config::with_cases(200), &inputs, old, broken).unwrap_err();
//! assert_eq!(disagreement.input(), Some(&vec![500]));
//! assert!(disagreement.to_string().contains("$: changed 500 → 0"));
//! ```

use std::cell::Cell;
use std::fmt::{self, Debug, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use proptest::strategy::Strategy;
pub use proptest::test_runner::Config;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::experiment::Experiment;
use crate::observation::{CandidateResult, Verdict};
use crate::output::BehaviorOutput;
use crate::run::outcome_and_payload;
use crate::text::{capped, capped_display, escape_control};

/// The longest rendering of the minimal input in a message, in bytes.
const MAX_INPUT_TEXT: usize = 4 * 1024;

/// How a differential test passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// How many generated inputs control and candidate agreed on.
    pub cases: u32,
}

/// Why a differential test failed: the two disagreed (with the minimal input found), or
/// proptest gave up (too many rejected inputs). Its [`Display`](fmt::Display) is the readable
/// report.
#[derive(Clone, Debug)]
pub struct Disagreement<I> {
    input: Option<I>,
    verdict: Option<Verdict>,
    #[cfg(feature = "serde")]
    diff: Option<crate::diff::Diff>,
    message: String,
}

impl<I> Disagreement<I> {
    /// The minimal input they disagree on; `None` when proptest gave up instead.
    pub fn input(&self) -> Option<&I> {
        self.input.as_ref()
    }

    /// The verdict on the minimal input (a mismatch, a candidate error).
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// The structural diff on the minimal input, when the experiment diffs.
    #[cfg(feature = "serde")]
    pub fn diff(&self) -> Option<&crate::diff::Diff> {
        self.diff.as_ref()
    }
}

impl<I> fmt::Display for Disagreement<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<I: Debug> std::error::Error for Disagreement<I> {}

/// Whether a verdict says the candidate disagreed with the control.
fn disagrees(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Mismatch | Verdict::CandidateError | Verdict::TimedOut
    )
}

/// Runs both behaviours on `input` (each panic caught, as in a run) and judges them.
fn judge<T, E, I, O>(
    experiment: &Experiment<T, E>,
    input: &I,
    control: &impl Fn(&I) -> O,
    candidate: &impl Fn(&I) -> O,
) -> CandidateResult<T, E>
where
    O: BehaviorOutput<T, E>,
{
    let (expected, _) = outcome_and_payload(catch_unwind(AssertUnwindSafe(|| control(input))));
    let (actual, _) = outcome_and_payload(catch_unwind(AssertUnwindSafe(|| candidate(input))));
    experiment.compare_outcomes(expected, actual)
}

/// Checks that `control` and `candidate` agree on `config.cases` inputs drawn from `inputs`,
/// judged as [`Experiment::compare_outcomes`] judges (ignored and noise verdicts agree). On
/// the first disagreement, proptest shrinks the input, and the minimal one is returned with
/// its verdict and diff. Nothing is counted or published.
///
/// # Errors
///
/// The [`Disagreement`], or proptest's reason for giving up.
pub fn check<T, E, S, O>(
    experiment: &Experiment<T, E>,
    config: Config,
    inputs: &S,
    control: impl Fn(&S::Value) -> O,
    candidate: impl Fn(&S::Value) -> O,
) -> Result<Agreement, Disagreement<S::Value>>
where
    S: Strategy,
    S::Value: Clone,
    O: BehaviorOutput<T, E>,
{
    let config = Config {
        // A helper called from any test: no regression files beside the caller's sources.
        failure_persistence: None,
        ..config
    };
    let mut runner = TestRunner::new(config);
    let cases = Cell::new(0u32);
    let ran = runner.run(inputs, |input| {
        let judged = judge(experiment, &input, &control, &candidate);
        if disagrees(judged.verdict()) {
            return Err(TestCaseError::fail(judged.verdict().as_str()));
        }
        cases.set(cases.get() + 1);
        Ok(())
    });
    match ran {
        Ok(()) => Ok(Agreement { cases: cases.get() }),
        Err(TestError::Abort(reason)) => Err(Disagreement {
            input: None,
            verdict: None,
            #[cfg(feature = "serde")]
            diff: None,
            message: format!(
                "differential test of experiment \"{}\" gave up: {reason}",
                escape_control(experiment.name())
            ),
        }),
        Err(TestError::Fail(_, input)) => {
            let judged = judge(experiment, &input, &control, &candidate);
            let message = report(experiment.name(), &input, &judged);
            Err(Disagreement {
                verdict: Some(judged.verdict()),
                #[cfg(feature = "serde")]
                diff: judged.diff().cloned(),
                input: Some(input),
                message,
            })
        }
    }
}

/// [`check`], as an assertion: panics with the readable report (the minimal input, the
/// verdict, the diff) when control and candidate disagree.
///
/// # Panics
///
/// When they disagree, or proptest gives up.
#[track_caller]
pub fn assert_agree<T, E, S, O>(
    experiment: &Experiment<T, E>,
    config: Config,
    inputs: &S,
    control: impl Fn(&S::Value) -> O,
    candidate: impl Fn(&S::Value) -> O,
) -> Agreement
where
    S: Strategy,
    S::Value: Clone,
    O: BehaviorOutput<T, E>,
{
    match check(experiment, config, inputs, control, candidate) {
        Ok(agreement) => agreement,
        Err(disagreement) => panic!("{disagreement}"),
    }
}

fn report<T, E, I: Debug>(experiment: &str, input: &I, judged: &CandidateResult<T, E>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "differential test of experiment \"{}\": control and candidate disagree ({}) on the minimal input",
        escape_control(experiment),
        judged.verdict()
    );
    let input = capped_display(format_args!("{input:?}"), MAX_INPUT_TEXT);
    let _ = writeln!(out, "  input: {}", escape_control(&input));
    #[cfg(feature = "serde")]
    if let Some(diff) = judged.diff() {
        let _ = writeln!(out, "  differences:");
        for line in diff.to_string().lines() {
            let _ = writeln!(out, "    {}", escape_control(line));
        }
    }
    if let crate::Outcome::Panicked(message) = judged.observation().outcome() {
        let _ = writeln!(out, "  candidate panicked: {}", escape_control(message));
    }
    capped(&out, 64 * 1024)
}
