//! Unit tests of the shadow layer: the tee, skipped runs and their counters, JSON comparison.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};

use super::body::{Ending, Launch, Sink};
use super::service::{is_safe, tee_deadline};
use super::{ShadowBody, ShadowError, ShadowExperiment, ShadowLayer, ShadowResponse};
use crate::diff::DiffOptions;
use crate::publish::Recorder;
use crate::{Experiment, Verdict};

fn text(body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, "text/plain".parse().unwrap());
    response
}

#[tokio::test]
async fn a_failing_candidate_is_recorded_and_the_primary_answers() {
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("failing-candidate")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let primary = service_fn(|_req: Request<ShadowBody<Full<Bytes>>>| async {
        Ok::<_, Infallible>(text("primary"))
    });
    let candidate = service_fn(|_req: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, _>(ShadowError {
            kind: "test",
            message: "backend down".into(),
        })
    });
    let service = ShadowLayer::new(experiment.clone(), candidate).layer(primary);
    let request = Request::get("/x").body(Full::new(Bytes::new())).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], "text/plain");
    assert_eq!(response.body().size_hint().exact(), Some(7));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"primary");
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let result = &recorder.results()[0];
    let candidate = &result.candidates()[0];
    assert_eq!(candidate.verdict(), Verdict::Mismatch);
    let error = candidate.observation().outcome().error().unwrap();
    assert_eq!(error.kind, "service");
    assert!(error.message.contains("backend down"));
    assert_eq!(
        result.control().value().unwrap().body,
        Bytes::from_static(b"primary")
    );
}

/// A sink that records how a teed body ended.
#[derive(Clone, Default)]
struct Told(Arc<std::sync::Mutex<Vec<String>>>);

impl Launch for Told {
    fn finish(self: Box<Self>, ending: Ending) {
        let text = match ending {
            Ending::Complete(bytes) => format!("complete {}", String::from_utf8_lossy(&bytes)),
            other => format!("{other:?}"),
        };
        self.0.lock().unwrap().push(text);
    }
}

impl Told {
    fn sink(&self) -> Sink {
        Sink::Response(Box::new(self.clone()))
    }
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

type Chunks = http_body_util::StreamBody<
    futures::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>>,
>;

/// A body of these frames, each ready at once.
fn chunks(parts: &[&'static str]) -> Chunks {
    let frames: Vec<_> = parts
        .iter()
        .map(|part| Ok(http_body::Frame::data(Bytes::from_static(part.as_bytes()))))
        .collect();
    http_body_util::StreamBody::new(futures::stream::iter(frames))
}

#[tokio::test]
async fn the_tee_forwards_every_frame_and_hint_and_tells_how_the_body_ended() {
    // Whole, within the limit: forwarded as is, the copy handed over at the end.
    let told = Told::default();
    let body = Full::new(Bytes::from_static(b"0123456789"));
    let tee = ShadowBody::tee(body, 64, None, told.sink());
    assert_eq!(tee.size_hint().exact(), Some(10));
    assert!(!tee.is_end_stream());
    assert!(
        told.seen().is_empty(),
        "nothing is read ahead of the reader"
    );
    let forwarded = tee.collect().await.unwrap().to_bytes();
    assert_eq!(&forwarded[..], b"0123456789");
    assert_eq!(told.seen(), ["complete 0123456789"]);

    // Several frames over the limit: all forwarded, the copy given up on at once.
    let told = Told::default();
    let tee = ShadowBody::tee(chunks(&["abc", "def", "ghi"]), 5, None, told.sink());
    let forwarded = tee.collect().await.unwrap().to_bytes();
    assert_eq!(&forwarded[..], b"abcdefghi");
    assert_eq!(told.seen(), ["Oversized"]);

    // Known to be over the limit: told before anything is read.
    let told = Told::default();
    let tee = ShadowBody::tee(
        Full::new(Bytes::from_static(b"0123456789")),
        4,
        None,
        told.sink(),
    );
    assert_eq!(told.seen(), ["Oversized"]);
    assert_eq!(&tee.collect().await.unwrap().to_bytes()[..], b"0123456789");

    // Empty: complete at once (a reader may never poll an ended body).
    let told = Told::default();
    let tee = ShadowBody::tee(Full::new(Bytes::new()), 4, None, told.sink());
    assert!(tee.is_end_stream());
    assert_eq!(tee.size_hint().exact(), Some(0));
    assert_eq!(told.seen(), ["complete "]);

    // Dropped before its end.
    let told = Told::default();
    let mut tee = ShadowBody::tee(chunks(&["abc", "def"]), 64, None, told.sink());
    let first = tee.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"abc");
    drop(tee);
    assert_eq!(told.seen(), ["Unfinished"]);
}

#[tokio::test]
async fn a_body_waiting_past_its_deadline_is_given_up_on_and_still_forwarded() {
    let told = Told::default();
    let (sender, body) = tokio_channel_body();
    let experiment: ShadowExperiment = Experiment::builder("tee-deadline").build().unwrap();
    let deadline = tee_deadline(&experiment, Duration::from_millis(50));
    let mut tee = ShadowBody::tee(body, 64, deadline, told.sink());
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(frame) = tee.frame().await {
            all.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        all
    });
    sender.send("late".into()).await.unwrap();
    // The reader is waiting for data: the deadline's timer wakes it and the copy ends.
    let started = crate::real_clock::instant();
    while told.seen().is_empty() {
        assert!(
            crate::real_clock::since(started) < Duration::from_secs(5),
            "the timer never fired"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(told.seen(), ["TimedOut"]);
    sender.send("r".into()).await.unwrap();
    drop(sender);
    assert_eq!(reader.await.unwrap(), b"later");
    assert_eq!(told.seen(), ["TimedOut"], "told once");
}

/// A body fed by a channel: frames come when the test sends them; it ends when the sender
/// is dropped.
type ChannelBody = http_body_util::StreamBody<
    futures::stream::BoxStream<'static, Result<http_body::Frame<Bytes>, Infallible>>,
>;

fn tokio_channel_body() -> (tokio::sync::mpsc::Sender<String>, ChannelBody) {
    use futures::StreamExt;
    let (sender, receiver) = tokio::sync::mpsc::channel::<String>(4);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let text = receiver.recv().await?;
        Some((Ok(http_body::Frame::data(Bytes::from(text))), receiver))
    })
    .boxed();
    (sender, http_body_util::StreamBody::new(stream))
}

#[tokio::test]
async fn a_primary_error_is_counted_as_such_and_the_run_skipped_not_shed() {
    let experiment: ShadowExperiment = Experiment::builder("primary-error").build().unwrap();
    let primary = service_fn(|_req: Request<ShadowBody<Full<Bytes>>>| async {
        Err::<Response<Full<Bytes>>, _>("primary down")
    });
    let candidate =
        service_fn(|_req: Request<Full<Bytes>>| async { Ok::<_, Infallible>(text("candidate")) });
    let layer = ShadowLayer::new(experiment.clone(), candidate);
    let service = layer.layer(primary);
    let request = Request::get("/x").body(Full::new(Bytes::new())).unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    assert_eq!(
        error, "primary down",
        "the primary's error reaches the caller"
    );
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(layer.stats().primary_errors, 1);
    assert_eq!(layer.stats().shadowed, 0);
    let stats = experiment.stats();
    assert_eq!((stats.sampled, stats.skipped, stats.shed), (1, 1, 0));
    assert!(stats.reconciles());
}

#[tokio::test]
async fn a_response_body_the_client_drops_early_is_not_compared() {
    let experiment: ShadowExperiment = Experiment::builder("dropped-early").build().unwrap();
    let primary = service_fn(|_req: Request<ShadowBody<Full<Bytes>>>| async {
        Ok::<_, Infallible>(Response::new(chunks(&["part one", "part two"])))
    });
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let candidate = service_fn(move |_req: Request<Full<Bytes>>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(text("candidate")) }
    });
    let layer = ShadowLayer::new(experiment.clone(), candidate);
    let service = layer.layer(primary);
    let request = Request::get("/x").body(Full::new(Bytes::new())).unwrap();
    let mut body = service.oneshot(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"part one");
    drop(body);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(layer.stats().response_unfinished, 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the candidate never started"
    );
    let stats = experiment.stats();
    assert_eq!((stats.skipped, stats.shed), (1, 0));
    assert!(stats.reconciles());
}

#[test]
fn json_equal_ignores_configured_paths_and_compares_the_rest() {
    let response = |body: &'static str| ShadowResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::from_static(body.as_bytes()),
    };
    let options = DiffOptions::new().try_ignore_path("$.body.at").unwrap();
    let a = response(r#"{"n":1,"at":1}"#);
    let b = response(r#"{"at":2, "n":1}"#);
    let c = response(r#"{"n":2,"at":1}"#);
    assert!(ShadowResponse::json_equal(&a, &b, &options));
    assert!(!ShadowResponse::json_equal(&a, &c, &options));
    let mut d = a.clone();
    d.status = StatusCode::NOT_FOUND;
    assert!(!ShadowResponse::json_equal(&a, &d, &options));
    // Not JSON: compared as text.
    assert!(!ShadowResponse::json_equal(
        &response("x"),
        &response("y"),
        &options
    ));
    assert!(is_safe(&Method::HEAD) && !is_safe(&Method::POST));
}

/// A primary (or candidate) answering `body`, keeping the headers of every request it gets.
fn recording<B: Send + 'static>(
    seen: &Arc<std::sync::Mutex<Vec<HeaderMap>>>,
    body: &'static str,
) -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
       + Send
       + Sync
       + 'static {
    let seen = seen.clone();
    service_fn(move |req: Request<B>| {
        seen.lock().unwrap().push(req.headers().clone());
        async move { Ok::<_, Infallible>(text(body)) }
    })
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn a_span_current_at_the_layer_is_the_closer_parent_in_the_same_trace() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceState};

    let recorder = Recorder::new().with_traces();
    let experiment: ShadowExperiment = Experiment::builder("server-span")
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let (primary_seen, candidate_seen) = (Arc::default(), Arc::default());
    let service = ShadowLayer::new(experiment.clone(), recording(&candidate_seen, "b"))
        .layer(recording(&primary_seen, "a"));
    let requested: crate::trace::TraceParent = PARENT.parse().unwrap();
    // The server's own span for the request: a child of the request's, in its trace.
    let server_span = SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(requested.trace_id()),
        SpanId::from_bytes([7; 8]),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let request = Request::get("/x")
        .header("traceparent", PARENT)
        .header("tracestate", "a=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    {
        let _entered = opentelemetry::Context::new()
            .with_remote_span_context(server_span)
            .attach();
        let response = service.oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let closer = "00-4bf92f3577b34da6a3ce929d0e0e4736-0707070707070707-01";
    let parent = *recorder.results()[0].trace().unwrap().parent().unwrap();
    assert_eq!(parent.to_string(), closer);
    let candidate = candidate_seen.lock().unwrap()[0].clone();
    assert_eq!(candidate["traceparent"], closer);
    assert_eq!(
        candidate["tracestate"], "a=1",
        "the same trace: its state goes along"
    );
    assert_eq!(candidate["x-darklaunch-shadow"], "1");
    let primary = primary_seen.lock().unwrap()[0].clone();
    assert_eq!(primary["traceparent"], PARENT);
    assert!(primary.get("x-darklaunch-shadow").is_none());
}

#[tokio::test]
async fn the_primarys_calibration_call_gets_the_request_as_the_client_sent_it() {
    use crate::noise::NoiseCalibration;

    let recorder = Recorder::new().with_traces();
    let experiment: ShadowExperiment = Experiment::builder("calibrated-headers")
        .calibrate_noise(NoiseCalibration::new().percent(100.0))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let (primary_seen, candidate_seen) = (Arc::default(), Arc::default());
    let service = ShadowLayer::new(experiment.clone(), recording(&candidate_seen, "b"))
        .layer(recording(&primary_seen, "a"));
    let request = Request::get("/x")
        .header("traceparent", PARENT)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let primary = primary_seen.lock().unwrap().clone();
    assert_eq!(primary.len(), 2, "the request and the calibration copy");
    for headers in &primary {
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers["traceparent"], PARENT);
    }
    let candidate = candidate_seen.lock().unwrap().clone();
    assert_eq!(candidate.len(), 1);
    assert_eq!(candidate[0]["x-darklaunch-shadow"], "1");
}
