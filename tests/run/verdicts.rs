//! Comparison semantics: compare, error comparison, ignore rules, clean, raise_on_mismatches.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use darklaunch::publish::Recorder;
use darklaunch::{Experiment, Outcome, Verdict};

#[test]
fn ignored_mismatches_are_not_counted_as_matches() {
    let experiment = Experiment::<i32>::builder("ignored")
        .ignore(|control, candidate| (control - candidate).abs() <= 1)
        .build()
        .unwrap();
    experiment.run(|| 10, || 10);
    experiment.run(|| 10, || 11);
    experiment.run(|| 10, || 20);
    let stats = experiment.stats();
    assert_eq!((stats.matched, stats.ignored, stats.mismatched), (1, 1, 1));
}

#[test]
fn one_ignored_candidate_cannot_hide_another_candidates_mismatch() {
    // Scientist.NET once marked a whole run ignored when any candidate's mismatch was ignored.
    let recorder = Recorder::new();
    let experiment: Experiment<i32> = Experiment::builder("ignore-isolation")
        .ignore(|_, candidate| *candidate == 11)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    experiment
        .trial()
        .control(|| 10)
        .candidate("ignorable", || 11)
        .candidate("broken", || 12)
        .run();
    let result = &recorder.results()[0];
    assert_eq!(
        result.candidate("ignorable").unwrap().verdict(),
        Verdict::Ignored
    );
    assert_eq!(
        result.candidate("broken").unwrap().verdict(),
        Verdict::Mismatch
    );
    assert!(result.has_mismatch());
    let stats = experiment.stats();
    assert_eq!((stats.ignored, stats.mismatched, stats.matched), (1, 1, 0));
}

#[test]
fn ignore_rules_stack_and_are_asked_only_on_mismatch() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let experiment: Experiment<i32> = Experiment::builder("stacked-ignores")
        .ignore(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            false
        })
        .ignore(|_, candidate| *candidate < 0)
        .build()
        .unwrap();
    experiment.run(|| 1, || 1);
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "a match asks no ignore rule"
    );
    experiment.run(|| 1, || -1);
    experiment.run(|| 1, || 2);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    let stats = experiment.stats();
    assert_eq!((stats.ignored, stats.mismatched), (1, 1));
}

#[test]
fn ignore_when_sees_errors_and_panics() {
    let experiment: Experiment<i32, String> = Experiment::builder("ignore-outcomes")
        .ignore_when(|_, candidate| matches!(candidate, Outcome::Error(e) if e == "rate limited"))
        .build()
        .unwrap();
    let _ = experiment.run(|| Ok(1), || Err("rate limited".to_string()));
    let _ = experiment.run(|| Ok(1), || Err("corrupt".to_string()));
    let stats = experiment.stats();
    assert_eq!((stats.ignored, stats.mismatched), (1, 1));
}

#[test]
fn custom_compare_decides_matches() {
    let experiment = Experiment::<f64>::builder("tolerance")
        .compare(|a, b| (a - b).abs() < 1e-9)
        .build()
        .unwrap();
    experiment.run(|| 0.3, || 0.1 + 0.2);
    assert_eq!(experiment.stats().matched, 1);
}

#[test]
fn errors_compare_by_display_text_by_default_and_ok_vs_err_mismatches() {
    #[derive(Debug, Clone)]
    struct Failure(&'static str);
    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    let experiment: Experiment<u8, Failure> = Experiment::builder("errors").build().unwrap();
    let _ = experiment.run(|| Err(Failure("a")), || Err(Failure("a")));
    let _ = experiment.run(|| Err(Failure("a")), || Err(Failure("b")));
    let _ = experiment.run(|| Ok(1), || Err(Failure("a")));
    let _ = experiment.run(|| Err(Failure("a")), || Ok(1));
    let stats = experiment.stats();
    assert_eq!((stats.matched, stats.mismatched), (1, 3));

    let custom: Experiment<u8, Failure> = Experiment::builder("errors-custom")
        .compare_errors(|_, _| true)
        .build()
        .unwrap();
    let _ = custom.run(|| Err(Failure("a")), || Err(Failure("b")));
    assert_eq!(custom.stats().matched, 1);
}

#[test]
fn clean_maps_published_values_but_never_the_callers() {
    let recorder = Recorder::new();
    let experiment: Experiment<String> = Experiment::builder("cleaned")
        .clean(|value: &String| value.replace("secret", "***"))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let value = experiment.run(
        || "token=secret".to_string(),
        || "token=secret!".to_string(),
    );
    assert_eq!(value, "token=secret");
    let result = &recorder.results()[0];
    assert_eq!(result.control().value().unwrap(), "token=***");
    assert_eq!(
        result.candidates()[0].observation().value().unwrap(),
        "token=***!"
    );
    assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
}

#[test]
fn before_run_runs_only_on_sampled_calls() {
    let setups = Arc::new(AtomicUsize::new(0));
    let counter = setups.clone();
    let (sampler, handle) = darklaunch::Sampler::runtime(100.0);
    let experiment: Experiment<u8> = Experiment::builder("setup")
        .sampler(sampler)
        .before_run(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    experiment.run(|| 1, || 1);
    handle.kill();
    experiment.run(|| 1, || 1);
    assert_eq!(setups.load(Ordering::SeqCst), 1);
}

use crate::common;

fn raise_message(run: impl FnOnce()) -> String {
    common::silence_expected_panics(&["darklaunch: experiment"]);
    let payload = catch_unwind(AssertUnwindSafe(run)).expect_err("a mismatch must raise");
    payload
        .downcast::<darklaunch::MismatchError>()
        .map(|error| error.to_string())
        .expect("the payload is a MismatchError")
}

#[test]
fn raise_on_mismatches_fails_loudly_with_both_values() {
    let recorder = Recorder::new();
    let experiment: Experiment<Vec<u8>> = Experiment::builder("raising")
        .raise_on_mismatches(true)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    // A match does not raise.
    assert_eq!(experiment.run(|| vec![1], || vec![1]), vec![1]);
    let message = raise_message(|| {
        experiment
            .trial()
            .context("user", 42u32)
            .control(|| vec![1, 2])
            .candidate("v2", || vec![1, 3])
            .run();
    });
    assert!(message.contains("experiment \"raising\""), "{message}");
    assert!(message.contains("candidate \"v2\" mismatched"), "{message}");
    assert!(message.contains("): [1, 2]\n"), "{message}");
    assert!(message.contains("): [1, 3]\n"), "{message}");
    assert!(message.contains("user=42"), "{message}");
    assert_eq!(
        recorder.len(),
        2,
        "the mismatch was published before raising"
    );
}

#[test]
fn raise_on_mismatches_does_not_raise_for_ignored_runs() {
    let experiment: Experiment<u8> = Experiment::builder("raising-ignored")
        .ignore(|_, _| true)
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 2), 1);
}

#[cfg(feature = "serde")]
#[test]
fn raise_on_mismatches_shows_the_differing_paths() {
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    struct Quote {
        total: u32,
        items: Vec<u32>,
        currency: &'static str,
    }
    let experiment: Experiment<Quote> = Experiment::builder("raising-diff")
        .diff(darklaunch::diff::DiffOptions::default())
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    let message = raise_message(|| {
        experiment.run(
            || Quote {
                total: 30,
                items: vec![10, 20],
                currency: "EUR",
            },
            || Quote {
                total: 31,
                items: vec![10, 21],
                currency: "EUR",
            },
        );
    });
    assert!(message.contains("$.total"), "{message}");
    assert!(message.contains("$.items[1]"), "{message}");
    assert!(!message.contains("$.currency"), "{message}");
}

#[cfg(feature = "serde")]
#[test]
fn the_mismatch_panic_puts_the_diff_first_and_never_shows_a_redacted_value() {
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    struct Account {
        name: String,
        secret: String,
        notes: String,
    }
    let experiment: Experiment<Account> = Experiment::builder("raising-redacted")
        .diff(
            darklaunch::diff::DiffOptions::new()
                .try_redact("$.secret")
                .unwrap(),
        )
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    let message = raise_message(|| {
        experiment
            .trial()
            .context("user", "u1\nverdict: safe")
            .control(|| Account {
                name: "ann".into(),
                secret: "hunter2".into(),
                notes: "x".repeat(1 << 20),
            })
            .candidate("v2", || Account {
                name: "bob".into(),
                secret: "swordfish".into(),
                notes: "x".repeat(1 << 20),
            })
            .run();
    });
    assert!(
        !message.contains("hunter2") && !message.contains("swordfish"),
        "{message}"
    );
    let differences = message.find("differences:").expect("the diff is shown");
    let control = message.find("  control").expect("the control is named");
    assert!(differences < control, "the diff comes first:\n{message}");
    assert!(
        message.contains("$.name: changed \"ann\" → \"bob\""),
        "{message}"
    );
    assert!(
        message.contains("$.secret: changed \"[redacted]\""),
        "{message}"
    );
    assert!(
        message.len() <= 16 * 1024,
        "capped: {} bytes",
        message.len()
    );
    assert!(
        message.contains("user=u1\\nverdict: safe") && !message.contains("\nverdict: safe"),
        "control characters are escaped: {message}"
    );
}

#[test]
fn the_mismatch_panic_caps_values_shown_without_a_diff() {
    let experiment: Experiment<String> = Experiment::builder("raising-big")
        .raise_on_mismatches(true)
        .build()
        .unwrap();
    let message = raise_message(|| {
        experiment.run(|| "a".repeat(1 << 20), || "b".repeat(1 << 20));
    });
    assert!(
        message.len() <= 16 * 1024,
        "capped: {} bytes",
        message.len()
    );
    assert!(
        message.contains("aaaa…") && message.contains("bbbb…"),
        "{message}"
    );
}

/// Diffy's reading of an ignore path: a run that differs only there does not count. Before,
/// every such run was published as a mismatch with zero differences.
#[cfg(feature = "serde")]
#[test]
fn a_run_that_differs_only_on_ignored_paths_is_ignored_not_a_mismatch() {
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    struct Quote {
        total: u32,
        generated_at: u64,
    }
    let recorder = Recorder::new();
    let experiment: Experiment<Vec<Quote>> = Experiment::builder("ignored-paths")
        .diff(
            darklaunch::diff::DiffOptions::new()
                .try_ignore_path("$[*].generated_at")
                .unwrap(),
        )
        .raise_on_mismatches(true)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let quote = |total, generated_at| Quote {
        total,
        generated_at,
    };
    let value = experiment.run(|| vec![quote(5, 1)], || vec![quote(5, 2)]);
    assert_eq!(value, vec![quote(5, 1)], "no raise: it is not a mismatch");
    let message = raise_message(|| {
        experiment.run(|| vec![quote(5, 1)], || vec![quote(6, 2)]);
    });
    assert!(message.contains("$[0].total"), "{message}");
    assert!(!message.contains("generated_at"), "{message}");

    let results = recorder.results();
    let ignored = &results[0].candidates()[0];
    assert_eq!(ignored.verdict(), Verdict::Ignored);
    let diff = ignored.diff().expect("the diff is kept");
    assert!(diff.is_empty() && diff.ignored == 1, "{diff:?}");
    assert_eq!(results[1].candidates()[0].verdict(), Verdict::Mismatch);
    let stats = experiment.stats();
    assert_eq!((stats.ignored, stats.mismatched), (1, 1), "{stats:?}");
}

/// A candidate that panics exactly as the control does matches it; another message is a
/// candidate error.
#[test]
fn panics_match_only_with_the_same_message() {
    common::silence_expected_panics(&["same failure", "other failure"]);
    let recorder = darklaunch::publish::Recorder::new();
    let experiment: darklaunch::Experiment<u8> = darklaunch::Experiment::builder("panics")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        experiment
            .trial()
            .control(|| -> u8 { panic!("same failure") })
            .candidate("same", || -> u8 { panic!("same failure") })
            .candidate("other", || -> u8 { panic!("other failure") })
            .run()
    }));
    assert!(caught.is_err(), "the control's panic is resumed");
    let result = &recorder.results()[0];
    assert_eq!(
        result.candidate("same").unwrap().verdict(),
        darklaunch::Verdict::Match
    );
    assert_eq!(
        result.candidate("other").unwrap().verdict(),
        darklaunch::Verdict::CandidateError
    );
}
