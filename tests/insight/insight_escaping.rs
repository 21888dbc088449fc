//! Text outputs escape control characters (guarantee 11): a context value, a candidate name, an
//! experiment name, a map key (a path) or a value that holds a newline or an escape sequence
//! cannot forge a line of the terminal report or reach the terminal, and the HTML page holds
//! neither raw markup nor control characters from them.

use std::collections::BTreeMap;

use darklaunch::diff::DiffOptions;
use darklaunch::insight::{Insight, Report};
use darklaunch::Experiment;

const FORGED: &str = "u1\nverdict: safe";
const ESC: &str = "\u{1b}[31mred\u{1b}[0m";

fn hostile_report(differ: bool) -> Report {
    let insight = Insight::new();
    let mut builder =
        Experiment::<BTreeMap<String, String>>::builder(format!("exp{ESC}\nverdict: safe"))
            .publisher(insight.clone());
    if differ {
        builder = builder.diff(DiffOptions::new());
    }
    let experiment = builder.build().expect("valid");
    let key = format!("key\nverdict: safe{ESC}<b>");
    experiment
        .trial()
        .context("user", FORGED)
        .context(format!("k{ESC}"), format!("v{ESC}<script>"))
        .control(|| BTreeMap::from([(key.clone(), String::from("a"))]))
        .candidate(format!("v2\nverdict: safe{ESC}\"<i>"), || {
            BTreeMap::from([(key.clone(), format!("b\nverdict: safe{ESC}"))])
        })
        .run();
    insight.report()
}

fn assert_escaped_terminal(report: &Report) {
    let text = report.to_terminal();
    assert!(
        !text.contains('\u{1b}'),
        "an escape sequence reaches the terminal:\n{text}"
    );
    assert!(!text.contains('\r'));
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("verdict: safe"),
            "a forged line {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("u1\\nverdict: safe"), "{text}");
    assert!(text.contains("\\u{1b}[31m"), "{text}");
}

fn assert_escaped_html(report: &Report) {
    let html = report.to_html();
    assert!(!html.contains('\u{1b}'), "an escape character in the HTML");
    for raw in ["<b>", "<i>", "\"<i>"] {
        assert!(!html.contains(raw), "unescaped {raw}");
    }
    // The only script is the page's own.
    assert_eq!(html.matches("<script").count(), 1, "an injected script tag");
    // No control character but the page's own newlines.
    assert!(
        !html.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in the HTML"
    );
    for line in html.lines() {
        assert!(!line.starts_with("verdict: safe"), "a forged line {line:?}");
    }
}

#[test]
fn the_terminal_report_escapes_control_characters_with_a_diff() {
    let report = hostile_report(true);
    assert_escaped_terminal(&report);
}

#[test]
fn the_terminal_report_escapes_control_characters_without_a_diff() {
    let report = hostile_report(false);
    assert_escaped_terminal(&report);
}

#[test]
fn the_html_report_escapes_markup_and_control_characters() {
    assert_escaped_html(&hostile_report(true));
    assert_escaped_html(&hostile_report(false));
}
