//! `JsonLinesPublisher`: one JSON object per recorded candidate, to a shared buffer, a failing
//! writer and an appended file.
#![cfg(feature = "serde")]

use crate::common;

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use darklaunch::diff::DiffOptions;
use darklaunch::publish::JsonLinesPublisher;
use darklaunch::{Clock, Experiment, ManualClock, Operation, Verdict};
use serde::Serialize;
use serde_json::{json, Value};

/// A writer whose clones share one buffer.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line, parsed; each must be one JSON object ending with a newline.
    fn lines(&self) -> Vec<Value> {
        parse_lines(&self.text())
    }
}

fn parse_lines(text: &str) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

fn keys(record: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    price: u32,
    card: &'static str,
}

fn quote(price: u32) -> Quote {
    Quote {
        price,
        card: "4111-SECRET",
    }
}

fn experiment(clock: &ManualClock, publisher: &JsonLinesPublisher) -> Experiment<Quote> {
    Experiment::<Quote>::builder("quote-v2")
        .clock(Clock::manual(clock))
        .randomize_order(false)
        .candidate_timeout(Duration::from_millis(10))
        .publisher(publisher.clone())
        .diff(DiffOptions::default().try_redact("$.card").unwrap())
        .build()
        .unwrap()
}

fn timed<T>(clock: &ManualClock, micros: u64, value: T) -> T {
    clock.advance(Duration::from_micros(micros));
    value
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`): an
/// independent check of the publisher's `civil_from_days`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS.ffffffZ` into microseconds since the epoch.
fn parse_timestamp(text: &str) -> i64 {
    let b = text.as_bytes();
    assert_eq!(text.len(), 27, "{text}");
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        assert_eq!(b[i], c, "{text}");
    }
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, s, us) = (n(11..13), n(14..16), n(17..19), n(20..26));
    assert!((1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 60);
    ((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + us
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[test]
fn writes_mismatches_errors_and_timeouts_but_not_matches() {
    common::silence_expected_panics(&["candidate blew up"]);
    let buf = SharedBuf::default();
    let publisher = JsonLinesPublisher::new(buf.clone());
    let clock = ManualClock::new();
    let experiment = experiment(&clock, &publisher);

    let before = now_micros();
    // A match: not written.
    experiment.run(|| quote(10), || quote(10));
    assert_eq!(buf.text(), "");
    // A mismatch with context.
    experiment
        .trial()
        .context("user", "alice")
        .context("attempt", 2u32)
        .context("beta", true)
        .control(|| timed(&clock, 120, quote(10)))
        .candidate("v2", || timed(&clock, 95, quote(12)))
        .run();
    // A candidate panic.
    experiment.run(
        || timed(&clock, 4, quote(10)),
        || -> Quote {
            clock.advance(Duration::from_micros(6));
            panic!("candidate blew up")
        },
    );
    // A timeout.
    experiment.run(|| quote(10), || timed(&clock, 11_000, quote(10)));
    let after = now_micros();

    let text = buf.text();
    assert!(!text.contains("SECRET"), "{text}");
    let lines = buf.lines();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(publisher.lines_written(), 3);
    assert_eq!(publisher.write_errors(), 0);

    for line in &lines {
        let at = parse_timestamp(line["timestamp"].as_str().unwrap());
        // Microseconds are cut, not rounded.
        assert!(
            before - 1 <= at && at <= after,
            "{before} <= {at} <= {after}"
        );
    }

    let mismatch = &lines[0];
    assert_eq!(
        keys(mismatch),
        [
            "candidate",
            "candidate_duration_us",
            "candidate_outcome",
            "context",
            "control_duration_us",
            "control_outcome",
            "diff",
            "experiment",
            "timestamp",
            "verdict",
        ]
    );
    let mut without_timestamp = mismatch.clone();
    without_timestamp
        .as_object_mut()
        .unwrap()
        .remove("timestamp");
    assert_eq!(
        without_timestamp,
        json!({
            "experiment": "quote-v2",
            "candidate": "v2",
            "verdict": "mismatch",
            "context": {"user": "alice", "attempt": 2, "beta": true},
            "control_duration_us": 120,
            "candidate_duration_us": 95,
            "control_outcome": "value",
            "candidate_outcome": "value",
            "diff": {
                "differences": [{
                    "path": "$.price",
                    "segments": ["price"],
                    "kind": "changed",
                    "control": 10,
                    "candidate": 12,
                    "truncated": false,
                }],
                "omitted": 0,
            },
        })
    );
    // The diff field deserializes back into a `Diff`.
    let diff: darklaunch::diff::Diff = serde_json::from_value(mismatch["diff"].clone()).unwrap();
    assert_eq!(diff.paths().collect::<Vec<_>>(), ["$.price"]);

    let panic = &lines[1];
    assert_eq!(panic["verdict"], "candidate_error");
    assert_eq!(panic["candidate"], "candidate");
    assert_eq!(panic["control_outcome"], "value");
    assert_eq!(panic["candidate_outcome"], "panicked");
    assert_eq!(panic["candidate_panic"], "candidate blew up");
    assert_eq!(panic["control_duration_us"], 4);
    assert_eq!(panic["candidate_duration_us"], 6);
    assert_eq!(panic["context"], json!({}));
    assert!(panic.get("diff").is_none() && panic.get("control_panic").is_none());

    let timeout = &lines[2];
    assert_eq!(timeout["verdict"], "timeout");
    assert_eq!(timeout["candidate_outcome"], "timed_out");
    assert_eq!(timeout["candidate_duration_us"], 11_000);
    assert!(timeout.get("diff").is_none());
}

#[test]
fn verdicts_are_configurable_and_each_candidate_is_a_line() {
    let buf = SharedBuf::default();
    let publisher = JsonLinesPublisher::new(buf.clone())
        .include(Verdict::Match, true)
        .include(Verdict::TimedOut, false)
        .flush_each_line(false);
    let clock = ManualClock::new();
    let experiment = experiment(&clock, &publisher);
    experiment
        .trial()
        .control(|| quote(1))
        .candidate("same", || quote(1))
        .candidate("other", || quote(2))
        .candidate("slow", || timed(&clock, 20_000, quote(1)))
        .run();
    let lines = buf.lines();
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["candidate"].as_str().unwrap(),
                l["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("same", "match"), ("other", "mismatch")]);
    // Records of one run share their timestamp.
    assert_eq!(lines[0]["timestamp"], lines[1]["timestamp"]);
    publisher.flush().unwrap();

    // Errors of an experiment over `Result`s are reported by kind.
    let buf = SharedBuf::default();
    let errors: Experiment<u32, String> = Experiment::builder("parse-v2")
        .publisher(JsonLinesPublisher::new(buf.clone()))
        .build()
        .unwrap();
    assert_eq!(
        errors.run(|| Err("bad".to_string()), || Ok(1)),
        Err("bad".to_string())
    );
    let lines = buf.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["control_outcome"], "error");
    assert_eq!(lines[0]["candidate_outcome"], "value");
}

/// Fails every write, or only every flush.
struct Failing {
    flush_only: bool,
    calls: Arc<AtomicUsize>,
}

impl Write for Failing {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.flush_only {
            Ok(bytes.len())
        } else {
            Err(io::Error::other("disk on fire"))
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
    }
}

#[test]
fn write_errors_are_counted_and_never_panic() {
    let calls = Arc::new(AtomicUsize::new(0));
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let publisher = JsonLinesPublisher::new(Failing {
        flush_only: false,
        calls: calls.clone(),
    });
    let hook = hook_calls.clone();
    let experiment: Experiment<u32> = Experiment::builder("failing")
        .publisher(publisher.clone())
        .on_error(move |_| {
            hook.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    for i in 0..5 {
        assert_eq!(experiment.run(|| i, || i + 1), i);
    }
    assert_eq!(publisher.write_errors(), 5);
    assert_eq!(publisher.lines_written(), 0);
    assert!(calls.load(Ordering::SeqCst) >= 5);
    assert_eq!(hook_calls.load(Ordering::SeqCst), 0);
    assert_eq!(experiment.stats().callback_errors_by(Operation::Publish), 0);
    assert!(format!("{publisher:?}").contains("write_errors: 5"));

    // A failing flush is a write error too, unless lines are not flushed.
    let flushing = JsonLinesPublisher::new(Failing {
        flush_only: true,
        calls: Arc::new(AtomicUsize::new(0)),
    });
    let experiment: Experiment<u32> = Experiment::builder("failing-flush")
        .publisher(flushing.clone())
        .publisher(flushing.clone().flush_each_line(false))
        .build()
        .unwrap();
    experiment.run(|| 1, || 2);
    assert_eq!(flushing.write_errors(), 1);
    assert_eq!(flushing.lines_written(), 1);
    assert!(flushing.flush().is_err());
}

/// Panics on its first write, then works.
struct PanicsOnce {
    panicked: bool,
    out: SharedBuf,
}

impl Write for PanicsOnce {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.panicked {
            self.panicked = true;
            panic!("writer exploded");
        }
        self.out.write(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panicking_writer_does_not_reach_the_caller_or_stop_later_lines() {
    common::silence_expected_panics(&["writer exploded"]);
    let out = SharedBuf::default();
    let publisher = JsonLinesPublisher::new(PanicsOnce {
        panicked: false,
        out: out.clone(),
    });
    let experiment: Experiment<u32> = Experiment::builder("panicky")
        .publisher(publisher.clone())
        .on_error(|_| {})
        .build()
        .unwrap();
    assert_eq!(experiment.run(|| 1, || 2), 1);
    assert_eq!(experiment.stats().callback_errors_by(Operation::Publish), 1);
    assert_eq!(experiment.run(|| 3, || 4), 3);
    let lines = out.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["experiment"], "panicky");
}

#[test]
fn to_file_appends() {
    let path = std::env::temp_dir().join(format!(
        "darklaunch-jsonl-test-{}-{}.jsonl",
        std::process::id(),
        now_micros()
    ));
    std::fs::write(&path, "{\"existing\":true}\n").unwrap();

    let publisher = JsonLinesPublisher::to_file(&path).unwrap();
    let experiment: Experiment<u32> = Experiment::builder("file")
        .publisher(publisher.clone())
        .build()
        .unwrap();
    experiment.run(|| 1, || 2);
    experiment.run(|| 1, || 1);
    experiment.run(|| 1, || 3);
    drop(experiment);

    // A second publisher on the same file appends after the first.
    let again = JsonLinesPublisher::to_file(&path).unwrap();
    let experiment: Experiment<u32> = Experiment::builder("file-again")
        .publisher(again)
        .build()
        .unwrap();
    experiment.run(|| 5, || 6);

    let lines = parse_lines(&std::fs::read_to_string(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let experiments: Vec<&Value> = lines
        .iter()
        .map(|l| l.get("experiment").unwrap_or(&l["existing"]))
        .collect();
    assert_eq!(
        experiments,
        [
            &json!(true),
            &json!("file"),
            &json!("file"),
            &json!("file-again")
        ]
    );
    assert_eq!(publisher.lines_written(), 2);

    let missing = std::env::temp_dir()
        .join("darklaunch-no-such-dir-for-jsonl")
        .join("x.jsonl");
    assert!(JsonLinesPublisher::to_file(missing).is_err());
}

/// With noise calibration, records carry each kept difference's raw and noise counts, and
/// noise verdicts are recorded only when asked for.
#[cfg(feature = "insight")]
#[test]
fn records_carry_noise_counts() {
    use darklaunch::noise::NoiseCalibration;

    let buf = SharedBuf::default();
    let experiment: Experiment<(u64, u64)> = Experiment::builder("jsonl-noise")
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .publisher(JsonLinesPublisher::new(buf.clone()).include(Verdict::Noise, true))
        .build()
        .unwrap();
    // (value, stamp): the stamp differs on every call; the value differs on input 2.
    for (input, stamp) in [(0u64, 10u64), (1, 20), (2, 30)] {
        experiment
            .trial()
            .control(|| (input, stamp))
            .calibration(|| (input, stamp + 1))
            .candidate("v2", || (input + u64::from(input == 2), stamp + 2))
            .run();
    }
    let lines = buf.lines();
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["noise", "noise", "mismatch"]);
    assert_eq!(
        lines[2]["noise"],
        json!([
            {"path": "$[0]", "raw": 1, "noise": 0, "comparisons": 3, "calibrations": 3, "is_noise": false},
            {"path": "$[1]", "raw": 3, "noise": 3, "comparisons": 3, "calibrations": 3, "is_noise": true}
        ])
    );
    // Without `include(Noise)` noise is not recorded.
    let quiet = SharedBuf::default();
    let experiment: Experiment<(u64, u64)> = Experiment::builder("jsonl-noise-default")
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .publisher(JsonLinesPublisher::new(quiet.clone()))
        .build()
        .unwrap();
    experiment
        .trial()
        .control(|| (1, 1))
        .calibration(|| (1, 2))
        .candidate("v2", || (1, 3))
        .run();
    assert_eq!(experiment.stats().noise, 1);
    assert!(quiet.lines().is_empty());
}

#[test]
fn a_guard_trip_and_rearm_are_one_record_each() {
    use darklaunch::guard::GuardRails;
    let buf = SharedBuf::default();
    let publisher = JsonLinesPublisher::new(buf.clone());
    let experiment: Experiment<u64> = Experiment::builder("jsonl-guard")
        .guard(GuardRails::new())
        .publisher(publisher.clone())
        .build()
        .unwrap();
    let guard = experiment.guard("candidate").unwrap();
    let before = now_micros();
    guard.trip();
    guard.trip(); // tripped already: no record
    guard.reset();
    let after = now_micros();
    let lines = buf.lines();
    assert_eq!(lines.len(), 2, "{}", buf.text());
    for (line, kind) in lines.iter().zip(["tripped", "rearmed"]) {
        assert_eq!(
            keys(line),
            [
                "candidate",
                "experiment",
                "guard",
                "observed",
                "reason",
                "runs",
                "threshold",
                "timestamp",
                "window"
            ]
        );
        assert_eq!(line["guard"], kind);
        assert_eq!(line["experiment"], "jsonl-guard");
        assert_eq!(line["candidate"], "candidate");
        assert_eq!(line["reason"], "manual");
        assert_eq!(
            (line["runs"].as_u64(), line["window"].as_u64()),
            (Some(0), Some(1_000))
        );
        let at = parse_timestamp(line["timestamp"].as_str().unwrap());
        assert!((before..=after).contains(&at), "{line}");
    }
}

#[test]
fn records_carry_the_callers_trace_id_and_parent_span_id() {
    let buf = SharedBuf::default();
    let publisher = JsonLinesPublisher::new(buf.clone());
    let experiment: Experiment<u32> = Experiment::builder("jsonl-trace")
        .publisher(publisher)
        .build()
        .unwrap();
    let parent: darklaunch::trace::TraceParent =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap();
    let run = experiment.begin().unwrap().trace_parent(parent);
    run.run(|| 1, darklaunch::SyncCandidates::new().add("v2", || 2));
    // Outside a trace: no trace fields at all.
    experiment.run(|| 1, || 3);
    let lines = buf.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(lines[0]["parent_span_id"], "00f067aa0ba902b7");
    assert!(lines[1].get("trace_id").is_none(), "{}", lines[1]);
    assert!(lines[1].get("parent_span_id").is_none(), "{}", lines[1]);
}
