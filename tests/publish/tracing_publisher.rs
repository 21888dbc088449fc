//! `TracingPublisher`: target, levels and exact structured fields of the events it emits,
//! captured with a recording `tracing_subscriber` layer.
#![cfg(all(feature = "tracing", feature = "serde"))]

use crate::common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use darklaunch::diff::DiffOptions;
use darklaunch::publish::{Publisher, TracingPublisher};
use darklaunch::{Clock, Experiment, ManualClock};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// A recorded field value, keeping the type it was recorded with.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Str(String),
    U64(u64),
    I64(i64),
    Bool(bool),
    F64(f64),
    Debug(String),
}

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V::Str(s) | V::Debug(s) => f.write_str(s),
            V::U64(n) => write!(f, "{n}"),
            V::I64(n) => write!(f, "{n}"),
            V::Bool(b) => write!(f, "{b}"),
            V::F64(x) => write!(f, "{x}"),
        }
    }
}

fn s(text: &str) -> V {
    V::Str(text.to_owned())
}

#[derive(Clone, Debug)]
struct Captured {
    target: String,
    level: Level,
    fields: BTreeMap<String, V>,
}

impl Captured {
    fn message(&self) -> String {
        self.fields
            .get("message")
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct FieldVisitor(BTreeMap<String, V>);

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), V::Str(value.to_owned()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), V::U64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), V::I64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), V::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), V::F64(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), V::Debug(format!("{value:?}")));
    }
}

/// Records every event it sees.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields: visitor.0,
        });
    }
}

/// Runs `f` with a subscriber that records every event at `max_level` or above, and returns
/// the events.
fn capture_at(max_level: LevelFilter, f: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone().with_filter(max_level));
    tracing::subscriber::with_default(subscriber, f);
    let events = capture.0.lock().unwrap().clone();
    for event in &events {
        assert_eq!(event.target, "darklaunch", "{event:?}");
    }
    events
}

fn capture(f: impl FnOnce()) -> Vec<Captured> {
    capture_at(LevelFilter::TRACE, f)
}

fn fields(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Customer {
    name: String,
    card: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Quote {
    price: u32,
    currency: &'static str,
    customer: Option<Customer>,
    lines: Vec<Customer>,
}

fn quote(price: u32) -> Quote {
    Quote {
        price,
        currency: "EUR",
        customer: Some(Customer {
            name: "alice".into(),
            card: "4111-SECRET-0001".into(),
        }),
        lines: vec![],
    }
}

fn experiment(clock: &ManualClock, publisher: TracingPublisher) -> Experiment<Quote> {
    Experiment::<Quote>::builder("quote-v2")
        .clock(Clock::manual(clock))
        .randomize_order(false)
        .publisher(publisher)
        .diff(
            DiffOptions::default()
                .try_redact("$..card")
                .unwrap()
                .max_value_bytes(200),
        )
        .build()
        .unwrap()
}

fn timed<T>(clock: &ManualClock, micros: u64, value: T) -> T {
    clock.advance(Duration::from_micros(micros));
    value
}

#[test]
fn a_match_is_one_debug_event_with_structured_fields() {
    let clock = ManualClock::new();
    let experiment = experiment(&clock, TracingPublisher::new());
    let events = capture(|| {
        let q = experiment.run(
            || timed(&clock, 120, quote(10)),
            || timed(&clock, 95, quote(10)),
        );
        assert_eq!(q.price, 10);
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.level, Level::DEBUG);
    assert_eq!(
        event.fields,
        fields(&[
            ("message", V::Debug("darklaunch run".into())),
            ("experiment", s("quote-v2")),
            ("candidate", s("candidate")),
            ("verdict", s("match")),
            ("control_outcome", s("value")),
            ("candidate_outcome", s("value")),
            ("control_duration_us", V::U64(120)),
            ("candidate_duration_us", V::U64(95)),
        ])
    );
}

#[test]
fn a_mismatch_has_one_event_per_difference_and_redacted_values_never_appear() {
    let clock = ManualClock::new();
    let experiment = experiment(&clock, TracingPublisher::new());
    let mut candidate = quote(12);
    candidate.customer = None;
    candidate.lines = vec![Customer {
        name: "bob".into(),
        card: "5500-SECRET-0002".into(),
    }];
    candidate.currency = "USD";
    let events = capture(|| {
        experiment
            .trial()
            .context("user", "alice")
            .context("attempt", 2u32)
            .control(|| timed(&clock, 40, quote(10)))
            .candidate("v2", || timed(&clock, 60, candidate.clone()))
            .run();
    });
    let all_text: String = events
        .iter()
        .flat_map(|e| e.fields.values().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!all_text.contains("SECRET"), "{all_text}");

    assert_eq!(events.len(), 5, "{events:#?}");
    assert!(events.iter().all(|e| e.level == Level::WARN));
    assert_eq!(
        events[0].fields,
        fields(&[
            ("message", V::Debug("darklaunch run".into())),
            ("experiment", s("quote-v2")),
            ("candidate", s("v2")),
            ("verdict", s("mismatch")),
            ("control_outcome", s("value")),
            ("candidate_outcome", s("value")),
            ("control_duration_us", V::U64(40)),
            ("candidate_duration_us", V::U64(60)),
            ("differences", V::U64(4)),
            ("context", s(r#"{"user":"alice","attempt":2}"#)),
        ])
    );
    let difference = |path: &str, kind: &str, control: Option<&str>, candidate: Option<&str>| {
        let mut expected = fields(&[
            ("message", V::Debug("darklaunch difference".into())),
            ("experiment", s("quote-v2")),
            ("candidate", s("v2")),
            ("path", s(path)),
            ("kind", s(kind)),
            ("truncated", V::Bool(false)),
        ]);
        if let Some(control) = control {
            expected.insert("control".into(), s(control));
        }
        if let Some(candidate) = candidate {
            expected.insert("candidate_value".into(), s(candidate));
        }
        expected
    };
    assert_eq!(
        events[1].fields,
        difference("$.currency", "changed", Some(r#""EUR""#), Some(r#""USD""#))
    );
    assert_eq!(
        events[2].fields,
        difference(
            "$.customer",
            "type_changed",
            Some(r#"{"card":"[redacted]","name":"alice"}"#),
            Some("null"),
        )
    );
    assert_eq!(
        events[3].fields,
        difference(
            "$.lines[0]",
            "added",
            None,
            Some(r#"{"card":"[redacted]","name":"bob"}"#),
        )
    );
    assert_eq!(
        events[4].fields,
        difference("$.price", "changed", Some("10"), Some("12"))
    );

    // A difference at a redacted path keeps its path and kind.
    let mut other = quote(10);
    if let Some(customer) = other.customer.as_mut() {
        customer.card = "9999-SECRET-0003".into();
    }
    let events = capture(|| {
        experiment.run(|| quote(10), || other.clone());
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    let mut expected = difference(
        "$.customer.card",
        "changed",
        Some(r#""[redacted]""#),
        Some(r#""[redacted]""#),
    );
    expected.insert("candidate".into(), s("candidate"));
    assert_eq!(events[1].fields, expected);
    let text = format!("{events:?}");
    assert!(!text.contains("SECRET"), "{text}");
}

#[test]
fn difference_events_are_bounded() {
    let clock = ManualClock::new();
    let experiment: Experiment<Vec<u32>> = Experiment::builder("bounded")
        .clock(Clock::manual(&clock))
        .publisher(TracingPublisher::new().max_differences(2))
        .diff(DiffOptions::default())
        .build()
        .unwrap();
    let events = capture(|| {
        experiment.run(|| vec![1, 2, 3, 4, 5], || vec![9, 9, 9, 9, 9]);
    });
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0].fields["differences"], V::U64(5));
    assert_eq!(events[1].fields["path"], s("$[0]"));
    assert_eq!(events[2].fields["path"], s("$[1]"));
    assert!(events[1..]
        .iter()
        .all(|e| e.message() == "darklaunch difference"));

    let none: Experiment<Vec<u32>> = Experiment::builder("no-differences")
        .publisher(TracingPublisher::new().max_differences(0))
        .diff(DiffOptions::default())
        .build()
        .unwrap();
    let events = capture(|| {
        none.run(|| vec![1], || vec![2]);
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].fields["differences"], V::U64(1));
}

#[test]
fn a_candidate_panic_is_a_warning_with_its_message() {
    common::silence_expected_panics(&["candidate exploded"]);
    let clock = ManualClock::new();
    let experiment = experiment(&clock, TracingPublisher::new());
    let events = capture(|| {
        let q = experiment.run(
            || timed(&clock, 7, quote(10)),
            || -> Quote {
                clock.advance(Duration::from_micros(3));
                panic!("candidate exploded: SECRET-free message")
            },
        );
        assert_eq!(q.price, 10);
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(
        events[0].fields,
        fields(&[
            ("message", V::Debug("darklaunch run".into())),
            ("experiment", s("quote-v2")),
            ("candidate", s("candidate")),
            ("verdict", s("candidate_error")),
            ("control_outcome", s("value")),
            ("candidate_outcome", s("panicked")),
            ("control_duration_us", V::U64(7)),
            ("candidate_duration_us", V::U64(3)),
            (
                "candidate_panic",
                s("candidate exploded: SECRET-free message")
            ),
        ])
    );
}

#[test]
fn errors_and_timeouts() {
    let clock = ManualClock::new();
    let experiment: Experiment<u32, String> = Experiment::builder("parse-v2")
        .clock(Clock::manual(&clock))
        .randomize_order(false)
        .candidate_timeout(Duration::from_millis(10))
        .publisher(TracingPublisher::new())
        .build()
        .unwrap();
    let events = capture(|| {
        let _ = experiment.run(|| Ok(1), || Err("no".to_string()));
        let _ = experiment.run(
            || Ok(1),
            || {
                clock.advance(Duration::from_millis(11));
                Ok(1)
            },
        );
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].fields["verdict"], s("mismatch"));
    assert_eq!(events[0].fields["candidate_outcome"], s("error"));
    assert_eq!(events[1].level, Level::WARN);
    assert_eq!(events[1].fields["verdict"], s("timeout"));
    assert_eq!(events[1].fields["candidate_outcome"], s("timed_out"));
    assert_eq!(events[1].fields["candidate_duration_us"], V::U64(11_000));
    assert!(!events[1].fields.contains_key("differences"));
}

#[test]
fn levels_are_configurable_and_disabled_levels_emit_nothing() {
    let clock = ManualClock::new();
    let experiment = experiment(&clock, TracingPublisher::new());
    // Matches (DEBUG) are filtered out at INFO; mismatches (WARN) are not.
    let events = capture_at(LevelFilter::INFO, || {
        experiment.run(|| quote(1), || quote(1));
        experiment.run(|| quote(1), || quote(2));
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e.level == Level::WARN));
    assert_eq!(events[0].fields["verdict"], s("mismatch"));

    let custom = self::experiment(
        &clock,
        TracingPublisher::default()
            .match_level(Level::INFO)
            .mismatch_level(Level::ERROR),
    );
    let events = capture(|| {
        custom
            .trial()
            .context("route", "/quote")
            .control(|| quote(1))
            .candidate("same", || quote(1))
            .candidate("other", || quote(3))
            .run();
    });
    let levels: Vec<(Level, String, String)> = events
        .iter()
        .map(|e| {
            (
                e.level,
                e.message(),
                e.fields
                    .get("candidate")
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            (Level::INFO, "darklaunch run".into(), "same".into()),
            (Level::ERROR, "darklaunch run".into(), "other".into()),
            (Level::ERROR, "darklaunch difference".into(), "other".into()),
        ]
    );
    // Context is on every run event.
    for event in events.iter().filter(|e| e.message() == "darklaunch run") {
        assert_eq!(event.fields["context"], s(r#"{"route":"/quote"}"#));
    }

    // With every darklaunch level off, nothing at all is emitted.
    let events = capture_at(LevelFilter::OFF, || {
        custom.run(|| quote(1), || quote(2));
    });
    assert!(events.is_empty());
}

#[test]
fn shed_runs_are_events() {
    let publisher = TracingPublisher::new();
    let events = capture(|| {
        Publisher::<u32>::shed(&publisher, "busy-experiment");
        Publisher::<u32>::shed(&publisher.clone().shed_level(Level::INFO), "other");
    });
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].level, Level::DEBUG);
    assert_eq!(
        events[0].fields,
        fields(&[
            ("message", V::Debug("darklaunch run shed".into())),
            ("experiment", s("busy-experiment")),
        ])
    );
    assert_eq!(events[1].level, Level::INFO);
}

#[test]
fn a_trial_without_candidates_just_runs_the_control_and_publishes_nothing() {
    let clock = ManualClock::new();
    let experiment = experiment(&clock, TracingPublisher::new());
    let events = capture(|| {
        let q = experiment
            .trial()
            .context("user", "carol")
            .control(|| timed(&clock, 5, quote(1)))
            .run();
        assert_eq!(q.price, 1);
    });
    // As in Scientist: with no candidate there is no experiment, so no event.
    assert!(events.is_empty(), "{events:#?}");
    assert_eq!(experiment.stats().runs, 0);
}

/// A guard's trip is one WARN event and its re-arm one INFO event, with structured fields.
#[test]
fn guard_trips_and_rearms_are_one_event_each_with_structured_fields() {
    use darklaunch::guard::GuardRails;
    let experiment: Experiment<u64, String> = Experiment::builder("traced-guard")
        .guard(
            GuardRails::new()
                .max_error_rate(0.2)
                .window(100)
                .min_runs(50),
        )
        .publisher(TracingPublisher::new())
        .build()
        .unwrap();
    let events = capture_at(LevelFilter::INFO, || {
        for call in 0..200u64 {
            let value = experiment.run(
                || Ok(call),
                || {
                    if call % 2 == 0 {
                        Err("down".to_string())
                    } else {
                        Ok(call)
                    }
                },
            );
            assert_eq!(value, Ok(call));
        }
        experiment.guard("candidate").unwrap().reset();
    });
    let guard_events: Vec<_> = events
        .iter()
        .filter(|event| event.message().starts_with("darklaunch guard"))
        .collect();
    assert_eq!(guard_events.len(), 2, "{guard_events:?}");
    let (tripped, rearmed) = (guard_events[0], guard_events[1]);
    assert_eq!(
        (tripped.level, tripped.message()),
        (Level::WARN, "darklaunch guard tripped".into())
    );
    // 50 % errors in each judged window of 104 runs (8 buckets of 13).
    assert_eq!(
        tripped.fields,
        fields(&[
            ("message", V::Debug("darklaunch guard tripped".into())),
            ("experiment", s("traced-guard")),
            ("candidate", s("candidate")),
            ("reason", s("error_rate")),
            ("observed", V::F64(0.5)),
            ("threshold", V::F64(0.2)),
            ("runs", V::U64(52)),
            ("window", V::U64(104)),
        ])
    );
    assert_eq!(
        (rearmed.level, rearmed.message()),
        (Level::INFO, "darklaunch guard rearmed".into())
    );
    assert_eq!(rearmed.fields.get("reason"), Some(&s("manual")));
}

#[test]
fn run_events_carry_the_callers_trace_id_and_parent_span_id() {
    let experiment: Experiment<u32> = Experiment::builder("tracing-trace")
        .publisher(TracingPublisher::new())
        .build()
        .unwrap();
    let parent: darklaunch::trace::TraceParent =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap();
    let events = capture(|| {
        let run = experiment.begin().unwrap().trace_parent(parent);
        run.run(|| 1, darklaunch::SyncCandidates::new().add("v2", || 2));
        experiment.run(|| 1, || 3);
    });
    let runs: Vec<&Captured> = events
        .iter()
        .filter(|event| event.fields.get("message") == Some(&V::Debug("darklaunch run".into())))
        .collect();
    assert_eq!(runs.len(), 2, "{events:#?}");
    assert_eq!(
        runs[0].fields.get("trace_id"),
        Some(&V::Str("4bf92f3577b34da6a3ce929d0e0e4736".into()))
    );
    assert_eq!(
        runs[0].fields.get("parent_span_id"),
        Some(&V::Str("00f067aa0ba902b7".into()))
    );
    assert_eq!(runs[1].fields.get("trace_id"), None, "{:?}", runs[1]);
}
