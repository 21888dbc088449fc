//! Trace links with the SDK's in-memory exporter: in every run form, a sampled run's
//! `darklaunch.experiment` span is a child of the span current where the run began (the
//! request's), with the request's trace id and parent span id, and its real start and end lie
//! within the request's; detached runs too, though they are published on a background worker.
//! With `tracing` + `tracing-opentelemetry`, the current `tracing` span is the parent. The span
//! policy: every noteworthy run gets a span, and by default few matching runs do. Sampled-out
//! calls capture nothing.
//!
//! Every publisher here has its own meter (the `otel_publisher` module owns the global one).

#![cfg(feature = "opentelemetry")]

use std::time::{Duration, SystemTime};

use darklaunch::publish::otel::SpanPolicy;
use darklaunch::publish::OtelPublisher;
use darklaunch::trace::TraceParent;
use darklaunch::{Candidates, Experiment, Sampler, SyncCandidates};
use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanId, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

/// A tracer provider exporting to memory, with an application tracer for request spans.
struct Traces {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    meters: SdkMeterProvider,
}

impl Traces {
    fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Self {
            provider,
            exporter,
            meters: SdkMeterProvider::builder().build(),
        }
    }

    fn publisher(&self, policy: SpanPolicy) -> OtelPublisher {
        OtelPublisher::new()
            .with_meter(self.meters.meter("darklaunch"))
            .with_tracer(self.provider.tracer("darklaunch"))
            .with_span_policy(policy)
    }

    fn experiment(&self, name: &str) -> Experiment<u32> {
        Experiment::builder(name)
            .publisher(self.publisher(SpanPolicy::every_run()))
            .build()
            .unwrap()
    }

    fn app(&self) -> opentelemetry_sdk::trace::Tracer {
        self.provider.tracer("app")
    }

    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// Each `darklaunch.experiment` span is a child of the one `request` span, inside its time;
/// returns them.
fn children_of_the_request(spans: &[SpanData], runs: usize) -> Vec<&SpanData> {
    let requests = named(spans, "request");
    assert_eq!(requests.len(), 1, "{spans:#?}");
    let request = requests[0];
    let experiments = named(spans, "darklaunch.experiment");
    assert_eq!(experiments.len(), runs, "{spans:#?}");
    for span in &experiments {
        assert_eq!(
            span.span_context.trace_id(),
            request.span_context.trace_id(),
            "the request's trace: {span:#?}"
        );
        assert_eq!(
            span.parent_span_id,
            request.span_context.span_id(),
            "a child of the request's span: {span:#?}"
        );
        assert!(
            request.start_time <= span.start_time
                && span.start_time <= span.end_time
                && span.end_time <= request.end_time,
            "within the request: request {:?}..{:?}, run {:?}..{:?}",
            request.start_time,
            request.end_time,
            span.start_time,
            span.end_time
        );
    }
    experiments
}

/// The span covers at least `at_least` of real time: its run's behaviours took that long.
fn assert_lasted_at_least(span: &SpanData, at_least: Duration) {
    let lasted = span.end_time.duration_since(span.start_time).unwrap();
    assert!(lasted >= at_least, "{lasted:?} < {at_least:?}: {span:#?}");
}

fn slow(value: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(5));
    value
}

#[test]
fn run_and_trial_run_spans_are_children_of_the_request() {
    let traces = Traces::new();
    let experiment = traces.experiment("trace-run");
    traces.app().in_span("request", |_| {
        assert_eq!(experiment.run(|| slow(1), || 2), 1);
        let got = experiment
            .trial()
            .control(|| 1)
            .candidate("v2", || 1)
            .candidate("v3", || 3)
            .run();
        assert_eq!(got, 1);
    });
    let spans = traces.spans();
    let runs = children_of_the_request(&spans, 2);
    // The first run's span covers its behaviours' real time (the control sleeps 5 ms).
    let first = runs
        .iter()
        .min_by_key(|span| span.start_time)
        .expect("two runs");
    assert_lasted_at_least(first, Duration::from_millis(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_async_run_detached_and_the_seams_spans_are_children_of_the_request() {
    let traces = Traces::new();
    let experiment = traces.experiment("trace-async");
    let request = Context::current_with_span(traces.app().start("request"));
    async {
        let got = experiment
            .run_async(async { 1 }, async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                1
            })
            .await;
        assert_eq!(got, 1);
        // Detached: the candidate runs on another task and the result is published on a
        // background worker, after the caller has its answer.
        let got = experiment
            .run_detached(async { 1 }, async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                2
            })
            .await;
        assert_eq!(got, 1);
        let got = experiment
            .trial()
            .control(async { 1 })
            .candidate("v2", async { 1 })
            .run_detached()
            .await;
        assert_eq!(got, 1);
        let got = experiment
            .trial()
            .control(async { 1 })
            .candidate("v2", async { 1 })
            .run_async()
            .await;
        assert_eq!(got, 1);
        // The seam: begun in the request, its candidates run concurrently or detached.
        let run = experiment.begin().unwrap();
        let got = run
            .run_async(async { 1 }, Candidates::new().add("v2", async { 1 }))
            .await;
        assert_eq!(got, 1);
        let run = experiment.begin().unwrap();
        assert!(run.detach(
            darklaunch::Outcome::Value(1),
            Duration::from_micros(10),
            Candidates::new().add("v2", async { 1 }),
        ));
        assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    }
    .with_context(request.clone())
    .await;
    request.span().end();
    let spans = traces.spans();
    let runs = children_of_the_request(&spans, 6);
    // The detached mismatch's span lasts until its candidate finished, 20 ms after it began.
    let detached = runs
        .iter()
        .find(|span| span.events.iter().any(|e| e.name == "darklaunch.mismatch"))
        .expect("the detached mismatch");
    assert_lasted_at_least(detached, Duration::from_millis(20));
}

#[test]
fn run_detached_blocking_spans_are_children_of_the_request() {
    let traces = Traces::new();
    let experiment = traces.experiment("trace-blocking");
    traces.app().in_span("request", |_| {
        assert_eq!(experiment.run_detached_blocking(|| 1, || slow(2)), 1);
        let got = experiment
            .trial()
            .control(|| 1)
            .candidate("v2", || 1)
            .run_detached_blocking();
        assert_eq!(got, 1);
        assert!(experiment
            .flush_blocking(Duration::from_secs(5))
            .is_complete());
    });
    let spans = traces.spans();
    let runs = children_of_the_request(&spans, 2);
    let mismatch = runs
        .iter()
        .find(|span| !span.events.is_empty())
        .expect("the mismatch");
    assert_lasted_at_least(mismatch, Duration::from_millis(5));
}

#[test]
fn a_parent_given_to_the_seam_is_used_unless_the_run_began_inside_a_span() {
    let traces = Traces::new();
    let experiment = traces.experiment("trace-seam");
    let header: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        .parse()
        .unwrap();
    // Outside any span: the given parent (a remote one, as from a `traceparent` header).
    let run = experiment.begin().unwrap().trace_parent(header);
    run.run(|| 1, SyncCandidates::new().add("v2", || 1));
    // Inside a span: that span, which is closer to the run than the header's.
    traces.app().in_span("request", |_| {
        let run = experiment.begin().unwrap().trace_parent(header);
        run.run(|| 1, SyncCandidates::new().add("v2", || 1));
    });
    let spans = traces.spans();
    let experiments = named(&spans, "darklaunch.experiment");
    assert_eq!(experiments.len(), 2);
    let by_header = experiments
        .iter()
        .find(|span| span.parent_span_id == SpanId::from_bytes(header.span_id()))
        .expect("a span under the header's parent");
    assert_eq!(
        by_header.span_context.trace_id().to_bytes(),
        header.trace_id()
    );
    let request = named(&spans, "request")[0];
    assert!(experiments
        .iter()
        .any(|span| span.parent_span_id == request.span_context.span_id()));
}

#[test]
fn outside_any_span_a_run_is_a_root_span() {
    let traces = Traces::new();
    let experiment = traces.experiment("trace-root");
    experiment.run(|| 1, || 1);
    assert_eq!(
        experiment.run_detached_blocking(|| 1, || 1),
        1,
        "the control's value"
    );
    assert!(experiment
        .flush_blocking(Duration::from_secs(5))
        .is_complete());
    let spans = traces.spans();
    let experiments = named(&spans, "darklaunch.experiment");
    assert_eq!(experiments.len(), 2);
    for span in experiments {
        assert_eq!(span.parent_span_id, SpanId::INVALID, "{span:#?}");
    }
}

#[test]
fn the_default_span_policy_keeps_every_noteworthy_run_and_few_matches() {
    let traces = Traces::new();
    let experiment: Experiment<u32> = Experiment::builder("trace-policy")
        .publisher(traces.publisher(SpanPolicy::default()))
        .candidate_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    for _ in 0..500 {
        experiment.run(|| 1, || 1);
    }
    for value in 2..6 {
        experiment.run(|| 1, || value);
    }
    crate::common::silence_expected_panics(&["policy candidate panicked"]);
    experiment.run(|| 1, || panic!("policy candidate panicked"));
    experiment.run(|| 1, || slow(1));
    let spans = traces.spans();
    let experiments = named(&spans, "darklaunch.experiment");
    let noteworthy = experiments
        .iter()
        .filter(|span| {
            span.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "darklaunch.matched" && kv.value.as_str() == "false")
        })
        .count();
    // Four mismatches, one panic and one timeout.
    assert_eq!(noteworthy, 6, "{experiments:#?}");
    let matches = experiments.len() - noteworthy;
    // 1 % of 500 is 5; 25 or more has a probability below 1e-9.
    assert!(matches < 25, "{matches} spans of 500 matching runs");
    assert_eq!(experiment.stats().matched, 500);

    let none = Traces::new();
    let quiet: Experiment<u32> = Experiment::builder("trace-policy-quiet")
        .publisher(none.publisher(SpanPolicy::noteworthy_only()))
        .build()
        .unwrap();
    for _ in 0..100 {
        quiet.run(|| 1, || 1);
    }
    quiet.run(|| 1, || 2);
    assert_eq!(named(&none.spans(), "darklaunch.experiment").len(), 1);
}

#[cfg(feature = "test-probes")]
#[test]
fn a_sampled_out_call_captures_no_trace_and_reads_no_clock() {
    let traces = Traces::new();
    let experiment: Experiment<u32> = Experiment::builder("trace-sampled-out")
        .sampler(Sampler::never())
        .publisher(traces.publisher(SpanPolicy::every_run()))
        .build()
        .unwrap();
    traces.app().in_span("request", |_| {
        let before = darklaunch::probe::real_clock_reads();
        for _ in 0..100 {
            assert_eq!(experiment.run(|| 1, || 2), 1);
        }
        assert_eq!(darklaunch::probe::real_clock_reads(), before);
    });
    assert!(named(&traces.spans(), "darklaunch.experiment").is_empty());
}

#[test]
fn run_traces_carry_the_real_start_and_end() {
    let traces = Traces::new();
    let recorder = darklaunch::publish::Recorder::new();
    let experiment: Experiment<u32> = Experiment::builder("trace-times")
        .publisher(traces.publisher(SpanPolicy::every_run()))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let before = SystemTime::now();
    traces.app().in_span("request", |cx| {
        experiment.run(|| slow(1), || 1);
        let request = cx.span().span_context().clone();
        let result = &recorder.results()[0];
        let trace = result
            .trace()
            .expect("captured: the OTel publisher wants it");
        let parent = trace.parent().expect("inside the request");
        assert_eq!(parent.trace_id(), request.trace_id().to_bytes());
        assert_eq!(parent.span_id(), request.span_id().to_bytes());
        assert_eq!(
            result.trace_id_hex().as_deref(),
            Some(request.trace_id().to_string().as_str())
        );
        let ended = trace.ended().expect("ended before it was published");
        let started = trace
            .started()
            .expect("timed: the OTel publisher wants run times");
        assert!(before <= started && started <= ended);
        assert!(ended.duration_since(started).unwrap() >= Duration::from_millis(5));
    });
}

#[cfg(feature = "tracing-opentelemetry")]
#[test]
fn with_tracing_opentelemetry_the_current_tracing_span_is_the_parent() {
    use tracing_subscriber::layer::SubscriberExt as _;

    // With context activation (the layer's default) an entered span is also OpenTelemetry's
    // current context; without it, only the `tracing` span knows its OpenTelemetry context.
    for activation in [true, false] {
        let traces = Traces::new();
        let experiment = traces.experiment("trace-tracing");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(traces.app())
            .with_context_activation(activation);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            let _entered = request.enter();
            assert_eq!(experiment.run(|| slow(1), || 1), 1);
            assert_eq!(experiment.run_detached_blocking(|| 1, || 2), 1);
            assert!(experiment
                .flush_blocking(Duration::from_secs(5))
                .is_complete());
        });
        let spans = traces.spans();
        children_of_the_request(&spans, 2);
    }
}

#[test]
fn the_parent_is_where_the_run_began_not_where_it_is_published() {
    use darklaunch::Publisher as _;

    let traces = Traces::new();
    let experiment = traces.experiment("trace-began");
    // Begun outside any span, finished inside one: still a root span.
    let run = experiment.begin().unwrap();
    traces.app().in_span("request", |_| {
        run.run(|| 1, SyncCandidates::new().add("v2", || 1));
    });
    // A result built by hand has no trace: published inside a span, it is that span's child.
    let publisher = traces.publisher(SpanPolicy::every_run());
    traces.app().in_span("hand-built", |_| {
        let result = darklaunch::ExperimentResult::<u32>::new(
            "trace-hand-built",
            darklaunch::Context::new(),
            darklaunch::Observation::new("control", Duration::ZERO, darklaunch::Outcome::Value(1)),
            Vec::new(),
        );
        publisher.publish(&result);
    });
    let spans = traces.spans();
    let experiments = named(&spans, "darklaunch.experiment");
    assert_eq!(experiments.len(), 2, "{spans:#?}");
    let begun = experiments
        .iter()
        .find(|span| {
            span.span_context.trace_id() != named(&spans, "hand-built")[0].span_context.trace_id()
        })
        .expect("the seam's run");
    assert_eq!(begun.parent_span_id, SpanId::INVALID, "{begun:#?}");
    let hand_built = named(&spans, "hand-built")[0];
    assert!(experiments
        .iter()
        .any(|span| span.parent_span_id == hand_built.span_context.span_id()));
}

/// Only a publisher that wants the run's times makes it read the wall clock: two reads a run
/// (its start and end) for the OpenTelemetry publisher, none for ids-only publishers.
#[cfg(all(feature = "test-probes", feature = "serde"))]
#[test]
fn only_publishers_that_want_run_times_make_a_run_read_the_wall_clock() {
    let traces = Traces::new();
    let reads_per_run = |experiment: &Experiment<u32>| {
        experiment.run(|| 1, || 1); // bind lazily made instruments first
        let before = darklaunch::probe::real_clock_reads();
        traces.app().in_span("request", |_| {
            for _ in 0..10 {
                experiment.run(|| 1, || 1);
            }
        });
        (darklaunch::probe::real_clock_reads() - before) / 10
    };
    let bare: Experiment<u32> = Experiment::builder("reads-bare").build().unwrap();
    let ids_only: Experiment<u32> = Experiment::builder("reads-ids")
        .publisher(darklaunch::publish::JsonLinesPublisher::new(std::io::sink()))
        .build()
        .unwrap();
    let timed: Experiment<u32> = Experiment::builder("reads-timed")
        .publisher(traces.publisher(SpanPolicy::noteworthy_only()))
        .build()
        .unwrap();
    let bare_reads = reads_per_run(&bare);
    assert_eq!(reads_per_run(&ids_only), bare_reads);
    assert_eq!(reads_per_run(&timed), bare_reads + 2);
}
