//! Recorded inputs: kept, cleaned, redacted and capped on the runs that need them, in every run
//! form; never serialized when not needed; a failing input never loses the run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::common;

use darklaunch::input::RecordInputs;
use darklaunch::publish::{JsonLinesPublisher, Recorder};
use darklaunch::{CallbackError, ConfigError, Experiment, Operation, Sampler, Verdict};

#[derive(Serialize)]
struct Order {
    id: u64,
    card: String,
    items: Vec<u64>,
}

fn order(id: u64) -> Order {
    Order {
        id,
        card: String::from("4111 1111 1111 1111"),
        items: vec![id, id + 1],
    }
}

fn experiment(
    inputs: RecordInputs,
    recorder: &Recorder<u64>,
) -> (Experiment<u64>, Arc<Mutex<Vec<CallbackError>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let experiment = Experiment::builder("inputs")
        .record_inputs(inputs)
        .publisher(recorder.clone())
        .candidate_timeout(Duration::from_millis(50))
        .on_error(move |error| seen.lock().unwrap().push(error.clone()))
        .build()
        .unwrap();
    (experiment, errors)
}

#[test]
fn mismatches_errors_and_timeouts_keep_their_input_and_matches_do_not() {
    common::silence_expected_panics(&["candidate fails on purpose"]);
    let recorder = Recorder::new();
    let (experiment, _) = experiment(RecordInputs::new().try_redact("$.card").unwrap(), &recorder);
    let input = order(7);
    let run = |candidate: &dyn Fn() -> u64| {
        experiment
            .trial()
            .input(&input)
            .control(|| 7)
            .candidate("v2", candidate)
            .run()
    };
    assert_eq!(run(&|| 7), 7);
    assert_eq!(run(&|| 8), 7);
    assert_eq!(run(&|| panic!("candidate fails on purpose")), 7);
    let results = recorder.results();
    let verdicts: Vec<Verdict> = results
        .iter()
        .map(|r| r.candidates()[0].verdict())
        .collect();
    assert_eq!(
        verdicts,
        [Verdict::Match, Verdict::Mismatch, Verdict::CandidateError]
    );
    assert!(
        results[0].input().is_none(),
        "a match keeps no input by default"
    );
    let expected = json!({"id": 7, "card": "[redacted]", "items": [7, 8]});
    for result in &results[1..] {
        let kept = result.input().expect("kept");
        assert_eq!(kept.value(), &expected);
        assert!(!kept.is_cut());
    }
    // The context never carries it.
    assert!(results.iter().all(|r| r.context().is_empty()));
}

#[tokio::test]
async fn timeouts_and_detached_runs_keep_their_input() {
    let recorder = Recorder::new();
    let (experiment, _) = experiment(RecordInputs::new(), &recorder);
    let input = order(1);
    let value = experiment
        .trial()
        .input(&input)
        .control(async { 1 })
        .candidate("slow", async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            1
        })
        .run_async()
        .await;
    assert_eq!(value, 1);
    let value = experiment
        .trial()
        .input(&order(2))
        .control(async { 2 })
        .candidate("v2", async { 3 })
        .run_detached()
        .await;
    assert_eq!(value, 2);
    let blocking = experiment.clone();
    let value = tokio::task::spawn_blocking(move || {
        blocking
            .trial()
            .input(&order(3))
            .control(|| 3)
            .candidate("v2", || 4)
            .run_detached_blocking()
    })
    .await
    .unwrap();
    assert_eq!(value, 3);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let mut ids: Vec<(Verdict, u64)> = recorder
        .results()
        .iter()
        .map(|r| {
            (
                r.candidates()[0].verdict(),
                r.input().expect("kept").value()["id"].as_u64().unwrap(),
            )
        })
        .collect();
    ids.sort_by_key(|(_, id)| *id);
    assert_eq!(
        ids,
        [
            (Verdict::TimedOut, 1),
            (Verdict::Mismatch, 2),
            (Verdict::Mismatch, 3)
        ]
    );
}

#[test]
fn a_share_of_matches_keeps_its_input() {
    let recorder = Recorder::new();
    let (all, _) = experiment(RecordInputs::new().matches_percent(100.0), &recorder);
    all.trial()
        .input(&order(1))
        .control(|| 1)
        .candidate("v2", || 1)
        .run();
    assert!(recorder.results()[0].input().is_some());

    let recorder = Recorder::new();
    let (half, _) = experiment(RecordInputs::new().matches_percent(50.0), &recorder);
    for i in 0..2_000 {
        half.trial()
            .input(&order(i))
            .control(|| 1)
            .candidate("v2", || 1)
            .run();
    }
    let kept = recorder
        .results()
        .iter()
        .filter(|r| r.input().is_some())
        .count();
    // Binomial(2000, 0.5): five standard deviations either side.
    assert!(
        (888..=1_112).contains(&kept),
        "{kept} of 2,000 kept at 50 %"
    );
}

/// Counts its own serializations.
struct Counted<'a>(&'a AtomicUsize);

impl Serialize for Counted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_u64(1)
    }
}

#[test]
fn an_input_is_serialized_only_on_sampled_in_runs_of_a_recording_experiment() {
    let count = AtomicUsize::new(0);
    let input = Counted(&count);
    let not_recording: Experiment<u64> = Experiment::builder("plain").build().unwrap();
    not_recording
        .trial()
        .input(&input)
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let recorder = Recorder::new();
    let sampled_out: Experiment<u64> = Experiment::builder("out")
        .sampler(Sampler::never())
        .record_inputs(RecordInputs::new())
        .publisher(recorder.clone())
        .build()
        .unwrap();
    sampled_out
        .trial()
        .input(&input)
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let (recording, _) = experiment(RecordInputs::new(), &recorder);
    recording
        .trial()
        .input(&input)
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(recorder.results()[0].input().unwrap().value(), &json!(1));
}

/// A `Serialize` that fails, or panics.
struct Hostile {
    panics: bool,
}

impl Serialize for Hostile {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        if self.panics {
            panic!("input serialization panics on purpose");
        }
        Err(serde::ser::Error::custom("this input refuses to serialize"))
    }
}

#[test]
fn an_input_that_fails_or_panics_loses_nothing_but_itself() {
    common::silence_expected_panics(&["input serialization panics on purpose"]);
    let recorder = Recorder::new();
    let (experiment, errors) = experiment(RecordInputs::new(), &recorder);
    for panics in [false, true] {
        let value = experiment
            .trial()
            .input(&Hostile { panics })
            .control(|| 1)
            .candidate("v2", || 2)
            .run();
        assert_eq!(value, 1);
    }
    let results = recorder.results();
    assert_eq!(results.len(), 2, "both runs are published");
    assert!(results.iter().all(|r| r.input().is_none()));
    assert!(results.iter().all(|r| r.has_mismatch()));
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.operation == Operation::Input));
    assert!(
        errors[0]
            .message
            .contains("this input refuses to serialize"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[1].message.contains("panics on purpose"),
        "{}",
        errors[1].message
    );
    assert_eq!(experiment.stats().callback_errors_by(Operation::Input), 2);
    assert_eq!(experiment.stats().published, 2);
}

#[test]
fn the_input_clean_runs_first_and_a_panicking_clean_keeps_no_input() {
    common::silence_expected_panics(&["input clean panics on purpose"]);
    let recorder = Recorder::new();
    let cleaning = RecordInputs::new().clean(|mut value| {
        value["card"] = json!("****");
        value
    });
    let (cleaned, _) = experiment(cleaning, &recorder);
    cleaned
        .trial()
        .input(&order(1))
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    assert_eq!(
        recorder.results()[0].input().unwrap().value()["card"],
        "****"
    );

    let recorder = Recorder::new();
    let panicking = RecordInputs::new().clean(|_| panic!("input clean panics on purpose"));
    let (failing, errors) = experiment(panicking, &recorder);
    failing
        .trial()
        .input(&order(1))
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    assert!(recorder.results()[0].input().is_none());
    assert_eq!(errors.lock().unwrap()[0].operation, Operation::Input);
}

/// A list nested `depth` levels deep, built without recursion.
#[derive(Serialize)]
struct Nested(Option<Box<Nested>>);

fn nested(depth: usize) -> Nested {
    let mut value = Nested(None);
    for _ in 0..depth {
        value = Nested(Some(Box::new(value)));
    }
    value
}

#[test]
fn huge_and_deep_inputs_are_cut_and_say_so() {
    let recorder = Recorder::new();
    let (experiment, _) = experiment(RecordInputs::new().max_bytes(1024), &recorder);
    let huge = "x".repeat(1 << 20);
    experiment
        .trial()
        .input(&huge)
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    let kept = recorder.results()[0].input().unwrap().clone();
    assert!(kept.is_cut());
    let text = kept.value().as_str().unwrap();
    assert!(
        text.len() <= 1024 + '…'.len_utf8() && text.ends_with('…'),
        "{}",
        text.len()
    );

    // 100,000 levels: captured without recursion past the depth limit, on a 2 MiB thread.
    let deep = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let input = nested(100_000);
            experiment
                .trial()
                .input(&input)
                .control(|| 1)
                .candidate("v2", || 2)
                .run();
            // Dropping it iteratively is the test's business, not the library's.
            let mut next = input.0;
            while let Some(node) = next {
                next = node.0;
            }
        })
        .unwrap();
    deep.join().unwrap();
    let results = recorder.results();
    assert!(results[1].input().unwrap().is_cut());
}

#[test]
fn json_lines_records_carry_the_input() {
    let buffer = SharedBuffer::default();
    let experiment: Experiment<u64> = Experiment::builder("jsonl-inputs")
        .record_inputs(RecordInputs::new().max_bytes(8))
        .publisher(JsonLinesPublisher::new(buffer.clone()))
        .build()
        .unwrap();
    experiment
        .trial()
        .input(&json!([1, 2]))
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    experiment
        .trial()
        .input(&"far too long for eight bytes")
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["input"], json!([1, 2]));
    assert!(lines[0].get("input_cut").is_none());
    assert_eq!(lines[1]["input_cut"], json!(true));
}

#[test]
fn a_bad_share_of_matches_is_a_config_error() {
    for bad in [-1.0, 100.5, f64::NAN] {
        let built = Experiment::<u64>::builder("bad")
            .record_inputs(RecordInputs::new().matches_percent(bad))
            .build();
        assert!(
            matches!(built, Err(ConfigError::InvalidPercent { .. })),
            "{bad}: {built:?}"
        );
    }
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "insight")]
#[test]
fn insight_samples_show_the_recorded_input() {
    let insight = darklaunch::insight::Insight::<u64>::new();
    let experiment: Experiment<u64> = Experiment::builder("insight-inputs")
        .record_inputs(RecordInputs::new().try_redact("$.card").unwrap())
        .publisher(insight.clone())
        .build()
        .unwrap();
    experiment
        .trial()
        .input(&order(5))
        .control(|| 1)
        .candidate("v2", || 2)
        .run();
    let report = insight.report();
    let sample = &report.candidates[0].groups[0].samples[0];
    assert_eq!(
        sample.input.as_deref(),
        Some(r#"{"card":"[redacted]","id":5,"items":[5,6]}"#)
    );
    assert!(report
        .to_terminal()
        .contains(r#"input: {"card":"[redacted]""#));
    assert!(report.to_html().contains("<p class=\"input\">input <code>"));
}

#[test]
fn the_default_cap_is_16_kib() {
    let recorder = Recorder::new();
    let (experiment, _) = experiment(RecordInputs::new(), &recorder);
    let under = "x".repeat(16 * 1024 - 2); // 16 KiB of JSON with its quotes
    let over = "x".repeat(16 * 1024 - 1);
    for input in [&under, &over] {
        experiment
            .trial()
            .input(input)
            .control(|| 1)
            .candidate("v2", || 2)
            .run();
    }
    let results = recorder.results();
    let kept = results[0].input().unwrap();
    assert!(!kept.is_cut());
    assert_eq!(kept.value().as_str().unwrap().len(), 16 * 1024 - 2);
    assert!(results[1].input().unwrap().is_cut());
    assert_eq!(darklaunch::input::DEFAULT_MAX_INPUT_BYTES, 16 * 1024);
}

/// Recording inputs of non-matching runs only draws nothing for matches, so a seeded
/// experiment's sampling decisions are the same with or without it.
#[test]
fn recording_without_a_match_share_leaves_seeded_decisions_alone() {
    let decisions = |record: bool| {
        let mut builder = Experiment::<u64>::builder("seeded-inputs")
            .sampler(Sampler::percent(50.0))
            .seed(9);
        if record {
            builder = builder.record_inputs(RecordInputs::new());
        }
        let experiment = builder.build().unwrap();
        let ran = AtomicUsize::new(0);
        (0..200u64)
            .map(|i| {
                let before = ran.load(Ordering::SeqCst);
                experiment
                    .trial()
                    .input(&i)
                    .control(|| i)
                    .candidate("v2", || {
                        ran.fetch_add(1, Ordering::SeqCst);
                        i
                    })
                    .run();
                ran.load(Ordering::SeqCst) > before
            })
            .collect::<Vec<bool>>()
    };
    assert_eq!(decisions(true), decisions(false));
}
