//! Offline replay: recorded inputs read back from JSON lines of several instances, checked
//! against the unfixed, the fixed and a newly broken candidate; nothing unreadable is skipped
//! silently.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use darklaunch::diff::DiffOptions;
use darklaunch::input::RecordInputs;
use darklaunch::publish::JsonLinesPublisher;
use darklaunch::replay::Cases;
use darklaunch::{Experiment, Verdict};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Cart {
    items: Vec<u64>,
    coupon: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
struct Price {
    subtotal: u64,
    discount: u64,
    total: u64,
}

fn price_today(cart: &Cart) -> Price {
    let subtotal: u64 = cart.items.iter().sum();
    let discount = if cart.coupon.as_deref() == Some("TEN") {
        subtotal / 10
    } else {
        0
    };
    Price {
        subtotal,
        discount,
        total: subtotal - discount,
    }
}

/// The known defect: the coupon is applied twice on carts over 1,000.
fn price_unfixed(cart: &Cart) -> Price {
    let mut price = price_today(cart);
    if price.subtotal > 1_000 && price.discount > 0 {
        price.discount *= 2;
        price.total = price.subtotal - price.discount;
    }
    price
}

fn price_fixed(cart: &Cart) -> Price {
    price_today(cart)
}

/// A new defect: carts of exactly three items lose their last one.
fn price_newly_broken(cart: &Cart) -> Price {
    let mut cart = cart.clone();
    if cart.items.len() == 3 {
        cart.items.pop();
    }
    price_today(&cart)
}

fn carts() -> Vec<Cart> {
    (0..120u64)
        .map(|i| Cart {
            items: (0..(i % 4 + 1)).map(|k| 100 + i * 7 + k * 90).collect(),
            coupon: (i % 3 == 0).then(|| String::from("TEN")),
        })
        .collect()
}

fn experiment(path: Option<&PathBuf>) -> Experiment<Price> {
    let mut builder = Experiment::builder("checkout-pricing")
        .diff(DiffOptions::new())
        // Every match too: a regression corpus the new defect can show up in.
        .record_inputs(RecordInputs::new().matches_percent(100.0));
    if let Some(path) = path {
        let publisher = JsonLinesPublisher::to_file(path)
            .unwrap()
            .include(Verdict::Match, true);
        builder = builder.publisher(publisher);
    }
    builder.build().unwrap()
}

fn temp(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "darklaunch-replay-{}-{name}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// Two instances serve half the traffic each, with the unfixed candidate.
fn record(instances: &[PathBuf]) -> Vec<BTreeSet<(String, String)>> {
    let experiments: Vec<_> = instances
        .iter()
        .map(|path| experiment(Some(path)))
        .collect();
    let mut shapes = Vec::new();
    for (i, cart) in carts().iter().enumerate() {
        let experiment = &experiments[i % experiments.len()];
        let price = experiment
            .trial()
            .input(cart)
            .control(|| price_today(cart))
            .candidate("v2", || price_unfixed(cart))
            .run();
        assert_eq!(price, price_today(cart));
        if price_unfixed(cart) != price_today(cart) {
            shapes.push(BTreeSet::from([
                ("$.discount".to_owned(), "changed".to_owned()),
                ("$.total".to_owned(), "changed".to_owned()),
            ]));
        }
    }
    shapes
}

#[test]
fn recorded_mismatches_replay_exactly_then_are_fixed_and_a_new_defect_is_named() {
    let instances = [temp("a"), temp("b")];
    let expected_shapes = record(&instances);
    assert!(
        expected_shapes.len() >= 10,
        "the defect shows: {}",
        expected_shapes.len()
    );

    let cases: Cases<Cart> = Cases::read("checkout-pricing", &instances).unwrap();
    assert_eq!(
        cases.len(),
        carts().len(),
        "every run was recorded with its input"
    );
    assert!(cases.unreadable().is_empty(), "{:?}", cases.unreadable());
    let recorded_mismatches = cases
        .cases()
        .iter()
        .filter(|c| c.verdict == Verdict::Mismatch)
        .count();
    assert_eq!(recorded_mismatches, expected_shapes.len());
    let experiment = experiment(None);

    // The unfixed candidate reproduces exactly the recorded groups.
    let unfixed = experiment.replay(&cases, price_today, price_unfixed);
    assert_eq!(unfixed.still_differ.len(), recorded_mismatches);
    assert!(unfixed.fixed.is_empty() && unfixed.newly_differ.is_empty());
    assert_eq!(unfixed.still_agree, carts().len() - recorded_mismatches);
    assert_eq!(unfixed.cases(), carts().len());
    for case in &unfixed.still_differ {
        assert!(case.same_shape_as_recorded(), "{case:?}");
        assert_eq!(
            case.diff, case.recorded_diff,
            "the same values, so the same diff"
        );
    }
    let shapes: Vec<BTreeSet<(String, String)>> = unfixed
        .still_differ
        .iter()
        .map(|case| {
            case.diff
                .as_ref()
                .unwrap()
                .differences
                .iter()
                .map(|d| (d.path.clone(), format!("{:?}", d.kind).to_lowercase()))
                .collect()
        })
        .collect();
    assert_eq!(shapes, expected_shapes);
    let failure = std::panic::catch_unwind(|| unfixed.assert_fixed()).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.contains(&format!("{recorded_mismatches} still differ")),
        "{message}"
    );
    assert!(message.contains("still differs: "), "{message}");
    assert!(message.contains("$.discount"), "{message}");

    // The fixed candidate fixes every recorded mismatch.
    let fixed = experiment.replay(&cases, price_today, price_fixed);
    assert_eq!(fixed.fixed.len(), recorded_mismatches);
    assert!(fixed.still_differ.is_empty() && fixed.newly_differ.is_empty());
    assert_eq!(fixed.cases(), carts().len());
    assert!(fixed.summary().contains(&format!(
        "{} cases: {recorded_mismatches} fixed",
        carts().len()
    )));
    fixed.assert_fixed();

    // A candidate with a new defect: exactly the carts of three items are named.
    let broken = experiment.replay(&cases, price_today, price_newly_broken);
    let named: BTreeSet<Vec<u64>> = broken
        .newly_differ
        .iter()
        .map(|case| {
            let case = cases
                .cases()
                .iter()
                .find(|c| c.source == case.source)
                .unwrap();
            case.input.items.clone()
        })
        .collect();
    let expected: BTreeSet<Vec<u64>> = carts()
        .into_iter()
        .filter(|cart| cart.items.len() == 3 && price_unfixed(cart) == price_today(cart))
        .map(|cart| cart.items)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(named, expected);
    assert_eq!(broken.cases(), carts().len());
    assert!(
        broken.summary().contains("newly differs: "),
        "{}",
        broken.summary()
    );
    for path in &instances {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn lines_that_cannot_be_read_are_counted_and_named_never_skipped_silently() {
    let path = temp("mixed");
    let good = serde_json::json!({
        "experiment": "mixed", "candidate": "v2", "verdict": "mismatch", "context": {},
        "control_outcome": "value", "candidate_outcome": "value", "input": 41
    });
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "{good}").unwrap();
    writeln!(file, "{{not json").unwrap();
    writeln!(file, "[1, 2]").unwrap();
    let mut other_type = good.clone();
    other_type["input"] = serde_json::json!("forty-one");
    writeln!(file, "{other_type}").unwrap();
    let mut cut = good.clone();
    cut["input_cut"] = serde_json::json!(true);
    writeln!(file, "{cut}").unwrap();
    let mut other = good.clone();
    other["experiment"] = serde_json::json!("another");
    writeln!(file, "{other}").unwrap();
    let mut no_input = good.clone();
    no_input.as_object_mut().unwrap().remove("input");
    writeln!(file, "{no_input}").unwrap();
    writeln!(
        file,
        r#"{{"experiment":"mixed","candidate":"v2","guard":"tripped"}}"#
    )
    .unwrap();
    writeln!(file).unwrap();
    let mut deep = String::new();
    for _ in 0..100_000 {
        deep.push('[');
    }
    writeln!(file, "{deep}").unwrap();
    file.write_all(&[0xff, 0xfe, b'\n']).unwrap();
    // The last line ends without a newline.
    write!(file, "{good}").unwrap();
    drop(file);

    let cases: Cases<u64> = Cases::read("mixed", [&path]).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases.cases()[0].input, 41);
    assert_eq!(cases.cases()[0].source.line, 1);
    assert_eq!(cases.cases()[1].source.line, 12);
    let skipped = cases.skipped();
    assert_eq!(
        (
            skipped.other_experiment,
            skipped.without_input,
            skipped.guard_records,
            skipped.blank_lines
        ),
        (1, 1, 1, 1)
    );
    let lines: Vec<u64> = cases.unreadable().iter().map(|u| u.source.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 10, 11]);
    let reasons: Vec<&str> = cases
        .unreadable()
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert!(reasons[0].starts_with("not JSON"), "{reasons:?}");
    assert_eq!(reasons[1], "not a JSON object");
    assert!(reasons[2].contains("is not a u64"), "{reasons:?}");
    assert!(reasons[3].contains("was cut"), "{reasons:?}");

    let experiment: Experiment<u64> = Experiment::builder("mixed").build().unwrap();
    let report = experiment.replay(&cases, |n: &u64| n + 1, |n: &u64| n + 1);
    assert_eq!(report.fixed.len(), 2);
    assert!(!report.all_agree(), "unreadable lines fail the check");
    let failure = std::panic::catch_unwind(|| report.assert_fixed()).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("6 unreadable lines"), "{message}");
    assert!(message.contains(":4: its input is not a u64"), "{message}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_missing_file_is_an_error_that_names_it_and_an_empty_replay_proves_nothing() {
    let missing = std::env::temp_dir().join("darklaunch-replay-no-such-file.jsonl");
    let error = Cases::<u64>::read("x", [&missing]).unwrap_err();
    assert!(
        error.to_string().contains("darklaunch-replay-no-such-file"),
        "{error}"
    );

    let cases = Cases::<u64>::from_reader("x", "empty", std::io::empty()).unwrap();
    let experiment: Experiment<u64> = Experiment::builder("x").build().unwrap();
    let report = experiment.replay(&cases, |n: &u64| *n, |n: &u64| *n);
    let failure = std::panic::catch_unwind(|| report.assert_fixed()).unwrap_err();
    assert!(failure
        .downcast_ref::<String>()
        .unwrap()
        .contains("nothing is proven"));
}

#[test]
fn a_panicking_candidate_is_judged_as_a_panic_in_a_replay() {
    crate::common::silence_expected_panics(&["replayed candidate panics on purpose"]);
    let line = serde_json::json!({
        "experiment": "p", "candidate": "v2", "verdict": "mismatch", "context": {"route": "/a"},
        "control_outcome": "value", "candidate_outcome": "value", "input": 1
    });
    let cases = Cases::<u64>::from_reader("p", "inline", line.to_string().as_bytes()).unwrap();
    assert_eq!(cases.cases()[0].context["route"], "/a");
    let experiment: Experiment<u64> = Experiment::builder("p").build().unwrap();
    let report = experiment.replay(
        &cases,
        |n: &u64| *n,
        |_: &u64| -> u64 { panic!("replayed candidate panics on purpose") },
    );
    assert_eq!(report.still_differ[0].now, Verdict::CandidateError);
    assert!(report.still_differ[0].outcome.contains("panics on purpose"));
}

#[test]
fn a_summary_lists_twenty_cases_of_a_kind_and_counts_the_rest() {
    let lines = |n: u64, verdict: &str| -> String {
        (0..n)
            .map(|i| {
                serde_json::json!({
                    "experiment": "many", "candidate": "v2", "verdict": verdict, "context": {},
                    "control_outcome": "value", "candidate_outcome": "value", "input": i
                })
                .to_string()
                    + "\n"
            })
            .collect()
    };
    let experiment: Experiment<u64> = Experiment::builder("many").build().unwrap();
    let differ = |n: &u64| n + 1;
    for (count, more) in [(20u64, None), (25, Some(5u64))] {
        let text =
            lines(count, "mismatch") + &lines(count, "match") + &"{bad\n".repeat(count as usize);
        let cases = Cases::<u64>::from_reader("many", "inline", text.as_bytes()).unwrap();
        let report = experiment.replay(&cases, |n: &u64| *n, differ);
        assert_eq!(report.to_string(), report.summary());
        let summary = report.summary();
        for title in ["still differs", "newly differs"] {
            let listed = summary.matches(&format!("  {title}: ")).count();
            assert_eq!(listed, 20, "{title}: {summary}");
            match more {
                Some(more) => assert!(
                    summary.contains(&format!("… and {more} more that {title}")),
                    "{summary}"
                ),
                None => assert!(
                    !summary.contains(&format!("more that {title}")),
                    "{summary}"
                ),
            }
        }
        assert_eq!(summary.matches("  unreadable: ").count(), 20);
        match more {
            Some(more) => assert!(summary.contains(&format!("… and {more} more unreadable lines"))),
            None => assert!(!summary.contains("more unreadable lines")),
        }
    }
}

/// Offline judging classifies by what noise calibration learnt, without counting itself in.
#[test]
fn offline_judging_knows_the_noise_calibration_has_learnt() {
    use darklaunch::noise::NoiseCalibration;
    use darklaunch::Outcome;
    use std::sync::atomic::{AtomicU64, Ordering};

    static CLOCK: AtomicU64 = AtomicU64::new(0);
    fn now() -> u64 {
        CLOCK.fetch_add(1, Ordering::Relaxed)
    }
    let experiment: Experiment<(u64, u64)> = Experiment::builder("stamped-replay")
        .diff(DiffOptions::new())
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .build()
        .unwrap();
    for _ in 0..200 {
        experiment
            .trial()
            .control(|| (42, now()))
            .calibration(|| (42, now()))
            .candidate("v2", || (42, now()))
            .run();
    }
    let noise_before = experiment.noise().unwrap();
    let only_the_stamp =
        experiment.compare_outcomes(Outcome::Value((42, 1)), Outcome::Value((42, 999)));
    assert_eq!(only_the_stamp.verdict(), Verdict::Noise);
    assert!(only_the_stamp.noise()[0].is_noise);
    let the_value = experiment.compare_outcomes(Outcome::Value((42, 1)), Outcome::Value((43, 1)));
    assert_eq!(the_value.verdict(), Verdict::Mismatch);
    let both = experiment.compare_outcomes(Outcome::Value((42, 1)), Outcome::Value((43, 9)));
    assert_eq!(
        both.verdict(),
        Verdict::Mismatch,
        "a real difference beside noise is a mismatch"
    );
    assert_eq!(both.noise().len(), 2);
    assert_eq!(
        format!("{:?}", experiment.noise().unwrap()),
        format!("{noise_before:?}"),
        "judging offline teaches the model nothing"
    );
}
