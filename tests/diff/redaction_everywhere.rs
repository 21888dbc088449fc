//! Guarantee 11: every route by which a value leaves the process applies `clean`, redaction
//! and the size caps. One secret, different in the control and the candidate (so a publisher
//! that ignored redaction would have it in its diff), goes through every output at once:
//! JSON lines, `tracing` events, OpenTelemetry spans and events, the insight's terminal, HTML
//! and serialized reports, the mismatch panic, the error hook, and the recorded result's diff. Nothing may carry it, nor a 1 MiB value uncut.

#![cfg(all(
    feature = "serde",
    feature = "tracing",
    feature = "opentelemetry",
    feature = "insight"
))]

use crate::common;

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use darklaunch::diff::DiffOptions;
use darklaunch::publish::{JsonLinesPublisher, OtelPublisher, Recorder, TracingPublisher};
use darklaunch::{Experiment, Verdict};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde::Serialize;

const SECRET_CONTROL: &str = "4111-1111-1111-1111";
const SECRET_CANDIDATE: &str = "5500-0000-0000-0004";
const HUGE: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Payment {
    amount: u64,
    card: Card,
    memo: String,
    /// Ids used as map keys: one 1 MiB key that differs, so paths must be capped too.
    by_id: std::collections::BTreeMap<String, u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Card {
    number: String,
    holder: String,
}

fn payment(amount: u64, number: &str, memo_byte: char) -> Payment {
    Payment {
        amount,
        card: Card {
            number: number.to_owned(),
            holder: "ann".to_owned(),
        },
        memo: memo_byte.to_string().repeat(HUGE),
        by_id: std::collections::BTreeMap::from([(memo_byte.to_string().repeat(HUGE), 1)]),
    }
}

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
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedBuf {
    type Writer = SharedBuf;
    fn make_writer(&'a self) -> SharedBuf {
        self.clone()
    }
}

fn assert_clean(route: &str, text: &str) {
    assert!(!text.is_empty(), "{route}: nothing was written");
    assert!(
        !text.contains(SECRET_CONTROL) && !text.contains(SECRET_CANDIDATE),
        "{route} carries the secret: {text}"
    );
    assert!(
        text.len() < 64 * 1024,
        "{route} is not capped: {} bytes",
        text.len()
    );
}

#[test]
fn one_secret_reaches_no_output() {
    common::silence_expected_panics(&["darklaunch: experiment"]);
    let lines = SharedBuf::default();
    let logs = SharedBuf::default();
    let spans = InMemorySpanExporter::default();
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let hook = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_messages = hook.clone();
    let recorder = Recorder::new();
    let insight = darklaunch::insight::Insight::new();
    let experiment: Experiment<Payment> = Experiment::builder("payments-v2")
        .publisher(insight.clone())
        .diff(
            DiffOptions::new()
                .try_redact("$.card.number")
                .unwrap()
                .max_value_bytes(64),
        )
        .publisher(JsonLinesPublisher::new(lines.clone()))
        .publisher(TracingPublisher::new())
        .publisher(OtelPublisher::new().with_tracer(tracers.tracer("darklaunch")))
        .publisher(recorder.clone())
        .on_error(move |error| hook_messages.lock().unwrap().push(error.to_string()))
        .raise_on_mismatches(true)
        .build()
        .unwrap();

    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let raised = tracing::subscriber::with_default(subscriber, || {
        catch_unwind(AssertUnwindSafe(|| {
            experiment.run(
                || payment(100, SECRET_CONTROL, 'a'),
                || payment(101, SECRET_CANDIDATE, 'b'),
            )
        }))
    });
    let message = raised
        .expect_err("the mismatch raises")
        .downcast::<darklaunch::MismatchError>()
        .map(|error| error.to_string())
        .expect("a MismatchError");

    let result = &recorder.results()[0];
    assert_eq!(result.candidates()[0].verdict(), Verdict::Mismatch);
    let diff = result.candidates()[0].diff().expect("a diff");
    assert!(
        diff.paths().any(|p| p == "$.card.number"),
        "the secret differs, so a diff without redaction would show it: {diff}"
    );
    assert!(
        diff.differences
            .iter()
            .any(|d| d.path.starts_with("$.by_id") && d.path_cut),
        "the 1 MiB key's path is cut: {diff}"
    );
    assert_clean("the recorded diff", &diff.to_string());
    assert_clean("the mismatch panic", &message);
    assert_clean("JSON lines", &lines.text());
    assert_clean("tracing", &logs.text());
    tracers.force_flush().unwrap();
    let exported = format!("{:?}", spans.get_finished_spans().unwrap());
    assert_clean("OpenTelemetry spans", &exported);
    assert!(
        exported.contains("$.card.number"),
        "the span event names the path"
    );
    let report = insight.report();
    assert_eq!(report.candidates[0].mismatched, 1);
    assert_clean("the terminal report", &report.to_terminal());
    assert_clean("the HTML report", &report.to_html());
    assert_clean(
        "the serialized report",
        &serde_json::to_string(&report).expect("a report serializes"),
    );
    let hooked = hook.lock().unwrap().join("\n");
    assert!(!hooked.contains(SECRET_CONTROL) && !hooked.contains(SECRET_CANDIDATE));
}

/// A `Serialize` that fails with the value's text in its message: the hook gets it capped.
struct Leaky(String);

impl Serialize for Leaky {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(format!(
            "cannot serialize {}",
            self.0
        )))
    }
}

impl PartialEq for Leaky {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Clone for Leaky {
    fn clone(&self) -> Self {
        Leaky(self.0.clone())
    }
}

#[test]
fn serialize_errors_reach_the_error_hook_capped() {
    let hook = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_messages = hook.clone();
    let experiment: Experiment<Leaky> = Experiment::builder("leaky")
        .diff(DiffOptions::new())
        .on_error(move |error| hook_messages.lock().unwrap().push(error.message.clone()))
        .build()
        .unwrap();
    experiment.run(|| Leaky("x".repeat(5 * 1024)), || Leaky("y".into()));
    let messages = hook.lock().unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].len() <= 1024,
        "the diff error is capped: {} bytes",
        messages[0].len()
    );
    assert!(messages[0].contains('…'), "{}", messages[0]);
}
