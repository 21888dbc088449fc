//! Mergeable snapshots: one stream of runs split at random over four insights, their snapshots
//! serialized, decoded and merged, says exactly what one insight fed the whole stream says
//! (counts, groups, latency quantiles, noise classification); every refusal of bad input; the
//! round trip; and the trace ids samples carry, shown and linked in the reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use darklaunch::insight::{Insight, InsightOptions, Report, Snapshot, SnapshotError};
use darklaunch::noise::NoiseCalibration;
use darklaunch::trace::{RunTrace, TraceParent};
use darklaunch::{
    CandidateResult, ConfigError, Context, Experiment, ExperimentResult, ManualClock, Observation,
    Outcome, Publisher, Verdict,
};
use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Reply {
    total: u64,
    tax: u64,
    items: Vec<u64>,
    /// Noise: the control differs from itself here on every calibrated run.
    request_id: u64,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Match,
    /// Only the request id differs: noise.
    Noise,
    Total,
    Tax,
    Item,
    TotalAndItem,
    Panic,
    Timeout,
}

#[derive(Clone, Copy, Debug)]
struct Run {
    kind: Kind,
    /// The request id differs too.
    noisy: bool,
    control_us: u64,
    candidate_us: u64,
    shard: usize,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Match),
        2 => Just(Kind::Noise),
        2 => Just(Kind::Total),
        1 => Just(Kind::Tax),
        1 => Just(Kind::Item),
        1 => Just(Kind::TotalAndItem),
        1 => Just(Kind::Panic),
        1 => Just(Kind::Timeout),
    ]
}

fn run() -> impl Strategy<Value = Run> {
    (kind(), any::<bool>(), 1..20_000u64, 1..20_000u64, 0..4usize).prop_map(
        |(kind, noisy, control_us, candidate_us, shard)| Run {
            kind,
            noisy,
            control_us,
            candidate_us,
            shard,
        },
    )
}

const TIMEOUT: Duration = Duration::from_millis(100);
const PANIC: &str = "snapshot-test: the candidate panicked on purpose";

/// Silences this file's own candidate panics (and only those).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PANIC) {
                previous(info);
            }
        }));
    });
}

/// One process: an experiment with its own clock and insight.
struct Process {
    clock: ManualClock,
    insight: Insight<Reply>,
    experiment: Experiment<Reply>,
}

fn process() -> Process {
    let clock = ManualClock::new();
    let insight = Insight::new();
    let experiment = Experiment::builder("checkout-v2")
        .clock(darklaunch::Clock::manual(&clock))
        .candidate_timeout(TIMEOUT)
        .calibrate_noise(NoiseCalibration::new().percent(100.0).window(100_000_000))
        .publisher(insight.clone())
        .build()
        .unwrap();
    Process {
        clock,
        insight,
        experiment,
    }
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn feed(process: &Process, input: u64, run: Run) {
    let reply = |request_id| Reply {
        total: input * 3,
        tax: input % 7,
        items: vec![input, input + 1, input + 2],
        request_id,
    };
    let id = IDS.fetch_add(2, Ordering::Relaxed);
    let clock = &process.clock;
    process
        .experiment
        .trial()
        .control(|| {
            clock.advance(Duration::from_micros(run.control_us));
            reply(id)
        })
        // The control again: its request id always differs, so that path is learnt as noise.
        .calibration(|| reply(id + 1))
        .candidate("v2", || {
            let mut answer = reply(if run.noisy { id + 1 } else { id });
            match run.kind {
                Kind::Match => answer.request_id = id,
                Kind::Noise => answer.request_id = id + 1,
                Kind::Total => answer.total += 1,
                Kind::Tax => answer.tax += 10,
                Kind::Item => answer.items[1] = 0,
                Kind::TotalAndItem => {
                    answer.total += 2;
                    answer.items[2] = 0;
                }
                Kind::Panic => std::panic::panic_any(PANIC),
                Kind::Timeout => clock.advance(TIMEOUT * 2),
            }
            clock.advance(Duration::from_micros(run.candidate_us));
            answer
        })
        .candidate("v3", || {
            clock.advance(Duration::from_micros(run.candidate_us / 2 + 1));
            reply(id)
        })
        .run();
}

/// What must agree between one insight's report and the merged snapshots' report.
#[derive(Debug, PartialEq)]
struct Essentials {
    runs: u64,
    control: (u64, Vec<(u64, Duration)>, Duration),
    candidates: Vec<CandidateEssentials>,
    noise: Option<NoiseEssentials>,
}

/// Comparisons, calibrations, and per path: raw, noise, classification.
type NoiseEssentials = (u64, u64, Vec<(String, u64, u64, bool)>);

#[derive(Debug, PartialEq)]
struct CandidateEssentials {
    name: String,
    counts: [u64; 7],
    groups: BTreeMap<Vec<(String, String)>, u64>,
    ungrouped: u64,
    latency: (u64, Vec<(u64, Duration)>, Duration, Duration),
    paired: String,
    timeline_runs: u64,
    status: darklaunch::insight::ReleaseStatus,
}

fn quantiles(latency: &darklaunch::insight::LatencySummary) -> Vec<(u64, Duration)> {
    latency
        .quantiles
        .iter()
        .map(|point| ((point.quantile * 10_000.0) as u64, point.latency))
        .collect()
}

fn essentials(report: &Report) -> Essentials {
    let mut candidates: Vec<CandidateEssentials> = report
        .candidates
        .iter()
        .map(|c| CandidateEssentials {
            name: c.name.clone(),
            counts: [
                c.runs,
                c.matched,
                c.mismatched,
                c.noise,
                c.ignored,
                c.errors,
                c.timeouts,
            ],
            groups: c
                .groups
                .iter()
                .map(|g| {
                    let shape = g
                        .shape
                        .iter()
                        .map(|e| (e.path.clone(), e.kind.clone()))
                        .collect();
                    (shape, g.count)
                })
                .collect(),
            ungrouped: c.ungrouped_mismatches,
            latency: (
                c.latency.count,
                quantiles(&c.latency),
                c.latency.max,
                c.latency.mean,
            ),
            paired: format!("{:?}", c.paired_latency),
            timeline_runs: c.timeline.iter().map(|p| p.runs).sum(),
            status: c.evaluated_status,
        })
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    Essentials {
        runs: report.runs,
        control: (
            report.control_latency.count,
            quantiles(&report.control_latency),
            report.control_latency.max,
        ),
        candidates,
        noise: report.noise.as_ref().map(|noise| {
            let mut paths: Vec<_> = noise
                .paths
                .iter()
                .map(|p| (p.path.clone(), p.raw, p.noise, p.is_noise))
                .collect();
            paths.sort();
            (noise.comparisons, noise.calibrations, paths)
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn merged_snapshots_of_a_split_stream_say_what_one_insight_says(
        runs in proptest::collection::vec(run(), 1..160)
    ) {
        quiet_panics();
        let whole = process();
        let shards: Vec<Process> = (0..4).map(|_| process()).collect();
        for (input, run) in runs.iter().enumerate() {
            feed(&whole, input as u64, *run);
            feed(&shards[run.shard], input as u64, *run);
        }
        // Through JSON, as processes would hand them over; an insight that saw no run too.
        let mut merged: Option<Snapshot> = None;
        for shard in &shards {
            let json = shard.insight.snapshot().to_json().unwrap();
            let snapshot = Snapshot::from_json(&json).unwrap();
            match &mut merged {
                None => merged = Some(snapshot),
                Some(merged) => merged.merge(&snapshot).unwrap(),
            }
        }
        let merged = merged.unwrap();
        let expected = essentials(&whole.insight.report());
        let actual = essentials(&merged.report());
        prop_assert_eq!(&actual, &expected);
        // The stream really exercised what it claims to, when it had the runs for it.
        let v2 = expected.candidates.iter().find(|c| c.name == "v2").unwrap();
        let count = |kind: fn(&Kind) -> bool| runs.iter().filter(|run| kind(&run.kind)).count() as u64;
        prop_assert_eq!(v2.counts[5], count(|k| matches!(k, Kind::Panic)));
        prop_assert_eq!(v2.counts[6], count(|k| matches!(k, Kind::Timeout)));
        prop_assert_eq!(
            v2.counts[2],
            count(|k| matches!(k, Kind::Total | Kind::Tax | Kind::Item | Kind::TotalAndItem))
        );
        let noise = expected.noise.as_ref().unwrap();
        prop_assert!(noise.2.iter().all(|(path, _, _, is_noise)| *is_noise == (path == "$.request_id")));
    }
}

/// A snapshot of a small insight with a mismatch group, noise counts and a trace id.
fn sample_snapshot() -> (Process, Snapshot) {
    quiet_panics();
    let process = process();
    for input in 0..40u64 {
        let kind = match input % 5 {
            0 => Kind::Total,
            1 => Kind::Noise,
            _ => Kind::Match,
        };
        let run = Run {
            kind,
            noisy: false,
            control_us: 10 + input,
            candidate_us: 20 + input,
            shard: 0,
        };
        feed(&process, input, run);
    }
    let snapshot = process.insight.snapshot();
    (process, snapshot)
}

fn json_of(snapshot: &Snapshot) -> Value {
    serde_json::from_slice(&snapshot.to_json().unwrap()).unwrap()
}

fn decode(value: &Value) -> Result<Snapshot, SnapshotError> {
    Snapshot::from_json(&serde_json::to_vec(value).unwrap())
}

#[test]
fn a_snapshot_round_trips_and_reports_what_its_insight_reports() {
    let (process, snapshot) = sample_snapshot();
    let json = snapshot.to_json().unwrap();
    let value: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["format"], "darklaunch.insight.snapshot");
    assert_eq!(value["version"], 1);
    assert_eq!(value["experiment"], "checkout-v2");
    let decoded = Snapshot::from_json(&json).unwrap();
    assert_eq!(decoded.to_json().unwrap(), json, "decoding loses nothing");
    assert_eq!(
        decoded.report().to_terminal(),
        snapshot.report().to_terminal()
    );
    assert_eq!(decoded.report().to_html(), snapshot.report().to_html());
    assert_eq!(
        essentials(&decoded.report()),
        essentials(&process.insight.report())
    );
    let v2 = &decoded.report().candidates[0];
    assert_eq!((v2.mismatched, v2.groups.len()), (8, 1));
    assert_eq!(v2.groups[0].shape[0].path, "$.total");
    // Merging a snapshot with itself doubles every count and keeps the groups.
    let mut doubled = decoded.clone();
    doubled.merge(&decoded).unwrap();
    let report = doubled.report();
    assert_eq!(report.runs, 80);
    assert_eq!(report.candidates[0].groups[0].count, 16);
    assert_eq!(report.candidates[0].groups[0].samples.len(), 3, "capped");
    assert_eq!(report.control_latency.count, 80);
    assert_eq!(
        report.control_latency.p50,
        snapshot.report().control_latency.p50
    );
}

#[test]
fn another_version_or_format_is_refused() {
    let (_, snapshot) = sample_snapshot();
    let mut value = json_of(&snapshot);
    value["version"] = Value::from(2);
    assert!(
        matches!(
            decode(&value),
            Err(SnapshotError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        ),
        "{:?}",
        decode(&value)
    );
    value["version"] = Value::from(1);
    value["format"] = Value::from("something.else");
    assert!(matches!(decode(&value), Err(SnapshotError::Format { .. })));
    let missing = serde_json::json!({"experiment": "checkout-v2"});
    assert!(matches!(
        decode(&missing),
        Err(SnapshotError::Format { .. })
    ));
}

#[test]
fn another_experiment_or_other_noise_thresholds_are_refused_and_nothing_merges() {
    let (_, snapshot) = sample_snapshot();
    let mut value = json_of(&snapshot);
    value["experiment"] = Value::from("tax-v2");
    let other = decode(&value).unwrap();
    let mut merged = snapshot.clone();
    let refused = merged.merge(&other);
    assert!(
        matches!(&refused, Err(SnapshotError::DifferentExperiment { ours, theirs })
            if ours == "checkout-v2" && theirs == "tax-v2"),
        "{refused:?}"
    );
    assert_eq!(merged.runs(), snapshot.runs(), "nothing merged");

    let mut value = json_of(&snapshot);
    value["noise"]["relative_threshold"] = Value::from(0.5);
    let other = decode(&value).unwrap();
    let refused = merged.merge(&other);
    assert!(
        matches!(refused, Err(SnapshotError::DifferentNoiseSettings { .. })),
        "{refused:?}"
    );
    assert_eq!(merged.runs(), snapshot.runs(), "nothing merged");
    assert_eq!(merged.to_json().unwrap(), snapshot.to_json().unwrap());
}

#[test]
fn truncated_or_corrupt_snapshots_are_errors() {
    let (_, snapshot) = sample_snapshot();
    let json = snapshot.to_json().unwrap();
    for cut in [0, 1, json.len() / 3, json.len() / 2, json.len() - 1] {
        assert!(
            matches!(
                Snapshot::from_json(&json[..cut]),
                Err(SnapshotError::Json(_))
            ),
            "cut at {cut}"
        );
    }
    let mut value = json_of(&snapshot);
    value["control_latency"]["histogram"] = Value::from("not base64 at all!");
    assert!(matches!(decode(&value), Err(SnapshotError::Base64 { .. })));
    // Valid base64, not a histogram.
    let mut value = json_of(&snapshot);
    value["control_latency"]["histogram"] = Value::from("AAAAAAAAAAAAAAAA");
    assert!(matches!(
        decode(&value),
        Err(SnapshotError::Histogram { .. })
    ));
    // A histogram, but of another range: the paired ratios' where a latency goes.
    let mut value = json_of(&snapshot);
    let ratios = value["candidates"][0]["paired_ratios"].clone();
    value["control_latency"]["histogram"] = ratios;
    let error = decode(&value).unwrap_err();
    assert!(
        matches!(&error, SnapshotError::Histogram { problem, .. } if problem.contains("range")),
        "{error}"
    );
    // A histogram cut short.
    let mut value = json_of(&snapshot);
    let text = value["control_latency"]["histogram"]
        .as_str()
        .unwrap()
        .to_owned();
    value["control_latency"]["histogram"] = Value::from(&text[..text.len() - 8]);
    assert!(matches!(
        decode(&value),
        Err(SnapshotError::Histogram { .. } | SnapshotError::Base64 { .. })
    ));
    // Any single corrupted byte: an error or a snapshot, never a panic.
    fastrand::seed(14);
    for _ in 0..400 {
        let mut bytes = json.clone();
        let at = fastrand::usize(..bytes.len());
        bytes[at] = fastrand::u8(..);
        let _ = Snapshot::from_json(&bytes);
    }
}

#[test]
fn counts_that_do_not_add_up_are_refused() {
    let (_, snapshot) = sample_snapshot();
    type Tamper = fn(&mut Value);
    let tamper: [(&str, Tamper); 6] = [
        ("runs", |v| {
            v["runs"] = Value::from(v["runs"].as_u64().unwrap() + 1)
        }),
        ("candidate runs", |v| {
            v["candidates"][0]["runs"] =
                Value::from(v["candidates"][0]["runs"].as_u64().unwrap() + 1)
        }),
        ("verdict count", |v| {
            v["candidates"][0]["counts"]["matched"] = Value::from(1_000_000)
        }),
        ("group count", |v| {
            v["candidates"][0]["groups"][0]["count"] = Value::from(1)
        }),
        ("timeline", |v| {
            v["candidates"][0]["timeline"] = Value::Array(Vec::new())
        }),
        ("overflow", |v| {
            v["candidates"][0]["counts"]["matched"] = Value::from(u64::MAX);
            v["candidates"][0]["counts"]["noise"] = Value::from(u64::MAX);
        }),
    ];
    for (what, tamper) in tamper {
        let mut value = json_of(&snapshot);
        tamper(&mut value);
        assert!(
            matches!(decode(&value), Err(SnapshotError::Invalid(_))),
            "{what}: {:?}",
            decode(&value).map(|s| s.runs())
        );
    }
}

#[test]
fn sizes_beyond_the_insights_caps_are_refused() {
    let (_, snapshot) = sample_snapshot();
    // Caps larger than the decoding insight's.
    let mut value = json_of(&snapshot);
    value["limits"]["max_groups"] = Value::from(1_000_000_000u64);
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
    let mut value = json_of(&snapshot);
    value["limits"]["significant_digits"] = Value::from(5);
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
    // ... which an insight with such caps decodes.
    let mut options = InsightOptions::default();
    options.significant_digits = 5;
    assert!(Snapshot::from_json_with(&serde_json::to_vec(&value).unwrap(), &options).is_ok());
    // More samples than the cap, though the counts would allow them.
    let mut value = json_of(&snapshot);
    let group = &mut value["candidates"][0]["groups"][0];
    let sample = group["samples"][0].clone();
    let samples = group["samples"].as_array_mut().unwrap();
    samples.push(sample);
    assert!(samples.len() > 3);
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
    // An overlong sample text, a bad trace id.
    let mut value = json_of(&snapshot);
    value["candidates"][0]["groups"][0]["samples"][0]["candidate"] =
        Value::from("x".repeat(100_000));
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
    let mut value = json_of(&snapshot);
    value["candidates"][0]["groups"][0]["samples"][0]["trace_id"] = Value::from("\"><script>");
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
    // More candidates than tracked.
    let mut value = json_of(&snapshot);
    let candidate = value["candidates"][0].clone();
    value["candidates"] = Value::Array(vec![candidate; 17]);
    assert!(matches!(decode(&value), Err(SnapshotError::Invalid(_))));
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traced_mismatch() -> ExperimentResult<u64> {
    let parent: TraceParent = format!("00-{TRACE}-00f067aa0ba902b7-01").parse().unwrap();
    ExperimentResult::new(
        "traced",
        Context::new(),
        Observation::new("control", Duration::from_micros(5), Outcome::Value(1)),
        vec![CandidateResult::new(
            Observation::new("v2", Duration::from_micros(6), Outcome::Value(2)),
            Verdict::Mismatch,
        )],
    )
    .with_trace(RunTrace::new(
        Some(parent),
        Some(SystemTime::UNIX_EPOCH),
        None,
    ))
}

#[test]
fn samples_carry_the_trace_id_and_the_html_links_it() {
    let options =
        InsightOptions::default().trace_link("https://tempo.example/trace/{trace_id}?org=1&view=2");
    let insight: Insight<u64> = Insight::try_with_options(options.clone()).unwrap();
    assert!(
        Publisher::<u64>::wants_trace(&insight),
        "so experiments capture traces"
    );
    insight.publish(&traced_mismatch());
    let report = insight.report();
    let sample = &report.candidates[0].groups[0].samples[0];
    assert_eq!(sample.trace_id.as_deref(), Some(TRACE));
    assert!(report.to_terminal().contains(&format!("trace: {TRACE}")));
    let link = format!(
        "<a href=\"https://tempo.example/trace/{TRACE}?org=1&amp;view=2\" rel=\"noopener noreferrer\"><code>{TRACE}</code></a>"
    );
    let html = report.to_html();
    assert!(html.contains(&link), "{html}");
    // Snapshots carry the trace id, and their reports link it the same way.
    let json = insight.snapshot().to_json().unwrap();
    let decoded = Snapshot::from_json(&json).unwrap();
    let report = decoded.report_with(&options);
    assert_eq!(
        report.candidates[0].groups[0].samples[0]
            .trace_id
            .as_deref(),
        Some(TRACE)
    );
    assert!(report.to_html().contains(&link));
    // Without a template the id is shown, not linked.
    let html = decoded.report().to_html();
    assert!(html.contains(&format!("<code>{TRACE}</code>")) && !html.contains("tempo.example"));
}

#[test]
fn a_bad_trace_link_template_is_a_config_error() {
    for template in [
        "ftp://tempo.example/{trace_id}",
        "javascript:alert(1)//{trace_id}",
        "https://tempo.example/trace/",
        "https://tempo.example/{trace_id}\" onmouseover=\"alert(1)",
        "https://tempo.example/<script>/{trace_id}",
        "/relative/{trace_id}",
    ] {
        let options = InsightOptions::default().trace_link(template);
        let result = Insight::<u64>::try_with_options(options.clone());
        assert!(
            matches!(result, Err(ConfigError::InvalidTraceLink { .. })),
            "{template}"
        );
        // Unchecked, a bad template is dropped: ids are shown, never linked.
        let insight: Insight<u64> = Insight::with_options(options);
        insight.publish(&traced_mismatch());
        let html = insight.report().to_html();
        assert!(
            html.contains(&format!("<code>{TRACE}</code>")),
            "{template}"
        );
        assert!(
            !html.contains("rel=\"noopener noreferrer\""),
            "{template}: linked"
        );
    }
    let options = InsightOptions::default().trace_link("HTTPS://tempo.example/{trace_id}");
    assert!(Insight::<u64>::try_with_options(options).is_ok());
}
