//! Differential property tests: a planted defect is found and shrunk to the known minimal
//! input, reported with its diff; a correct rewrite passes the configured number of cases; the
//! experiment's own settings (ignore rules) decide what agrees.

use std::panic::{catch_unwind, AssertUnwindSafe};

use proptest::prelude::*;

use darklaunch::diff::DiffOptions;
use darklaunch::differential::{assert_agree, check, Config};
use darklaunch::{Experiment, Verdict};

#[allow(clippy::ptr_arg)] // the strategy generates `Vec`s; the helpers take what it gives
fn sort_old(xs: &Vec<u32>) -> Vec<u32> {
    let mut xs = xs.clone();
    xs.sort_unstable();
    xs
}

/// Loses every value of 40 or more: the minimal input that shows it is `[40]`.
#[allow(clippy::ptr_arg)]
fn sort_planted(xs: &Vec<u32>) -> Vec<u32> {
    let mut out = sort_old(xs);
    out.retain(|x| *x < 40);
    out
}

fn experiment() -> Experiment<Vec<u32>> {
    Experiment::builder("sort")
        .diff(DiffOptions::new())
        .build()
        .unwrap()
}

fn inputs() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..100, 0..40)
}

#[test]
fn a_planted_defect_shrinks_to_the_known_minimal_input_with_its_diff() {
    let failure = check(
        &experiment(),
        Config::with_cases(512),
        &inputs(),
        sort_old,
        sort_planted,
    )
    .unwrap_err();
    assert_eq!(failure.input(), Some(&vec![40]));
    assert_eq!(failure.verdict(), Some(Verdict::Mismatch));
    let diff = failure.diff().unwrap();
    assert_eq!(diff.differences[0].path, "$[0]");
    let message = failure.to_string();
    assert!(message.contains("experiment \"sort\""), "{message}");
    assert!(message.contains("input: [40]"), "{message}");
    assert!(message.contains("$[0]: removed 40"), "{message}");
    assert_eq!(experiment().stats().sampled, 0);
}

#[test]
fn a_correct_rewrite_passes_the_configured_number_of_cases() {
    let calls = std::sync::atomic::AtomicU32::new(0);
    let agreement = assert_agree(
        &experiment(),
        Config::with_cases(300),
        &inputs(),
        sort_old,
        |xs| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut xs = xs.clone();
            xs.sort();
            xs
        },
    );
    assert_eq!(agreement.cases, 300);
    assert_eq!(calls.into_inner(), 300);
}

#[test]
fn assert_agree_panics_with_the_readable_report_and_panics_are_candidate_errors() {
    crate::common::silence_expected_panics(&[
        "differential test of experiment",
        "a value of 50 or more on purpose",
    ]);
    let raised = catch_unwind(AssertUnwindSafe(|| {
        assert_agree(
            &experiment(),
            Config::with_cases(64),
            &inputs(),
            sort_old,
            |xs| {
                // Nearly every generated case has such a value, so the failure is found on
                // any seed, and it shrinks to the one minimal input `[50]`.
                if xs.iter().any(|x| *x >= 50) {
                    panic!("a value of 50 or more on purpose");
                }
                sort_old(xs)
            },
        )
    }))
    .unwrap_err();
    let message = raised.downcast_ref::<String>().unwrap();
    assert!(message.contains("disagree (candidate_error)"), "{message}");
    assert!(message.contains("input: [50]"), "{message}");
    assert!(
        message.contains("candidate panicked: a value of 50 or more on purpose"),
        "{message}"
    );
}

#[test]
fn the_experiments_ignore_rules_decide_what_agrees() {
    let lenient: Experiment<Vec<u32>> = Experiment::builder("sort-lenient")
        .ignore(|control: &Vec<u32>, candidate: &Vec<u32>| control.len() != candidate.len())
        .build()
        .unwrap();
    let agreement = check(
        &lenient,
        Config::with_cases(128),
        &inputs(),
        sort_old,
        sort_planted,
    )
    .unwrap();
    assert_eq!(agreement.cases, 128);
}
