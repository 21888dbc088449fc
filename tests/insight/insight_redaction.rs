//! Guarantee 11 for the insight: a redacted value never reaches a report, whatever the diff
//! looks like. One secret differs between control and candidate; every insight output (the
//! terminal text, the HTML page, the serialized `Report`) is searched for it, in the ordinary
//! case and in every case where the diff is empty (the only difference on an ignored path,
//! NaN fields, `max_differences(0)`), and when the control fails while the candidate returns a
//! value. Without a differ, whole values are shown, after `clean`, capped.

use darklaunch::diff::DiffOptions;
use darklaunch::insight::{Insight, InsightOptions, Report};
use darklaunch::Experiment;
use serde::Serialize;

const CONTROL_SECRET: &str = "hunter2-control-secret";
const CANDIDATE_SECRET: &str = "hunter2-candidate-secret";

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Inner {
    secret: String,
    note: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Account {
    id: u64,
    secret: String,
    score: f64,
    /// A subtree the diff ignores.
    audit: Inner,
}

fn account(id: u64, secret: &str, score: f64, audit_secret: &str, note: u64) -> Account {
    Account {
        id,
        secret: secret.to_owned(),
        score,
        audit: Inner {
            secret: audit_secret.to_owned(),
            note,
        },
    }
}

/// Every text output of the report: terminal, HTML and serde_json.
fn outputs(report: &Report) -> [(&'static str, String); 3] {
    [
        ("terminal", report.to_terminal()),
        ("html", report.to_html()),
        (
            "serialized Report",
            serde_json::to_string(report).expect("a report serializes"),
        ),
    ]
}

fn assert_no_secret(case: &str, report: &Report) {
    assert_eq!(report.candidates.len(), 1, "{case}");
    assert!(
        report.candidates[0].mismatched >= 1,
        "{case}: the run must be a mismatch"
    );
    for (output, text) in outputs(report) {
        for secret in [CONTROL_SECRET, CANDIDATE_SECRET] {
            assert!(
                !text.contains(secret),
                "{case}: the secret {secret:?} leaks into the {output}:\n{text}"
            );
        }
    }
}

fn redacting(options: DiffOptions) -> DiffOptions {
    options.try_redact("$..secret").expect("a valid pattern")
}

fn report_of(options: DiffOptions, control: Account, candidate: Account) -> Report {
    let insight = Insight::new();
    let experiment: Experiment<Account> = Experiment::builder("accounts")
        .diff(options)
        .publisher(insight.clone())
        .build()
        .expect("valid");
    experiment.run(|| control, || candidate);
    insight.report()
}

#[test]
fn an_ordinary_diff_keeps_the_secret_redacted_in_every_output() {
    let report = report_of(
        redacting(DiffOptions::new()),
        account(1, CONTROL_SECRET, 1.0, "a", 1),
        account(2, CANDIDATE_SECRET, 1.0, "a", 1),
    );
    assert_no_secret("ordinary diff", &report);
    let sample = &report.candidates[0].groups[0].samples[0];
    let diff = sample.diff.as_ref().expect("a diff");
    assert!(diff.paths().any(|path| path == "$.id"));
    assert!(report.to_terminal().contains("[redacted]"));
}

#[test]
fn a_difference_only_on_an_ignored_path_is_ignored_and_shows_no_values() {
    let options = redacting(DiffOptions::new())
        .try_ignore_path("$.audit")
        .expect("valid");
    let report = report_of(
        options,
        account(1, "same", 1.0, CONTROL_SECRET, 1),
        account(1, "same", 1.0, CANDIDATE_SECRET, 2),
    );
    // A run that differs only on an ignore path is not a mismatch (it is ignored), so it has
    // no sample at all; and nothing of its values reaches any output.
    assert_eq!(report.candidates[0].mismatched, 0);
    assert_eq!(report.candidates[0].ignored, 1);
    for (output, text) in outputs(&report) {
        for secret in [CONTROL_SECRET, CANDIDATE_SECRET] {
            assert!(
                !text.contains(secret),
                "the secret leaks into the {output}:\n{text}"
            );
        }
    }
}

#[test]
fn nan_fields_show_no_values() {
    // NaN != NaN, so the values mismatch; the diff sees "NaN" on both sides and is empty.
    let secret = format!("{CONTROL_SECRET}-shared");
    let report = report_of(
        redacting(DiffOptions::new()),
        account(1, &secret, f64::NAN, "a", 1),
        account(1, &secret, f64::NAN, "a", 1),
    );
    for (output, text) in outputs(&report) {
        assert!(
            !text.contains(&secret),
            "NaN: the secret leaks into the {output}:\n{text}"
        );
    }
    assert_no_secret("NaN fields", &report);
}

#[test]
fn max_differences_zero_shows_no_values() {
    let report = report_of(
        redacting(DiffOptions::new()).max_differences(0),
        account(1, CONTROL_SECRET, 1.0, "a", 1),
        account(2, CANDIDATE_SECRET, 1.0, "a", 1),
    );
    assert_no_secret("max_differences(0)", &report);
    let sample = &report.candidates[0].groups[0].samples[0];
    assert!(sample.diff.as_ref().is_some_and(|diff| diff.omitted == 2));
}

#[test]
fn a_value_against_an_error_shows_no_value_when_a_differ_is_configured() {
    let insight = Insight::new();
    let experiment: Experiment<Account, String> = Experiment::builder("accounts")
        .diff(redacting(DiffOptions::new()))
        .publisher(insight.clone())
        .build()
        .expect("valid");
    let _ = experiment.run(
        || Err::<Account, String>(String::from("control failed")),
        || Ok(account(2, CANDIDATE_SECRET, 1.0, "a", 1)),
    );
    let _ = experiment.run(
        || Ok::<Account, String>(account(2, CONTROL_SECRET, 1.0, "a", 1)),
        || Err(String::from("candidate failed")),
    );
    let report = insight.report();
    assert_no_secret("value vs error", &report);
    assert!(report.to_terminal().contains("control failed"));
}

#[test]
fn without_a_differ_values_are_shown_cleaned_and_capped() {
    let mut options = InsightOptions::default();
    options.max_value_chars = 200;
    let insight = Insight::with_options(options);
    let experiment: Experiment<Account> = Experiment::builder("accounts")
        .clean(|account: &Account| Account {
            secret: String::from("[cleaned]"),
            ..account.clone()
        })
        .publisher(insight.clone())
        .build()
        .expect("valid");
    let long = "x".repeat(10_000);
    experiment.run(
        || account(1, CONTROL_SECRET, 1.0, &long, 1),
        || account(2, CANDIDATE_SECRET, 1.0, &long, 1),
    );
    let report = insight.report();
    assert_no_secret("no differ, cleaned", &report);
    let sample = &report.candidates[0].groups[0].samples[0];
    assert!(sample.diff.is_none());
    assert!(
        sample
            .control
            .starts_with(r#"{"id":1,"secret":"[cleaned]""#),
        "{}",
        sample.control
    );
    assert!(sample.control.len() <= 200, "{}", sample.control.len());
    assert!(sample.control.ends_with('…'));
}

#[test]
fn error_messages_in_samples_are_capped_and_escaped() {
    let mut options = InsightOptions::default();
    options.max_value_chars = 300;
    let insight = Insight::with_options(options);
    let experiment: Experiment<u64, String> = Experiment::builder("errors")
        .publisher(insight.clone())
        .build()
        .expect("valid");
    let message = format!("boom\nverdict: safe\u{1b}[2J{}", "y".repeat(100_000));
    let _ = experiment.run(|| Ok::<u64, String>(1), || Err(message.clone()));
    let report = insight.report();
    let sample = &report.candidates[0].groups[0].samples[0];
    assert!(sample.candidate.len() <= 300, "{}", sample.candidate.len());
    let terminal = report.to_terminal();
    assert!(!terminal.contains('\u{1b}'), "{terminal}");
    assert!(
        !terminal
            .lines()
            .any(|line| line.starts_with("verdict: safe")),
        "{terminal}"
    );
    assert!(!report.to_html().contains('\u{1b}'));
}
