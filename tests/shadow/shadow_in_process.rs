//! The shadow layer's form of the caller-facing guarantees, driven in process
//! (`tower::ServiceExt::oneshot` on one thread) so that tokio's paused clock and the per-thread
//! clock probe apply: sampled out, the candidate service is never called and no clock is read;
//! a hanging candidate is dropped exactly `candidate_timeout` after it started and holds the
//! client not at all; a panicking callback is counted under its operation and changes nothing
//! for the client. `tests/shadow/shadow_layer.rs` covers the same layer over real HTTP.

#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use darklaunch::publish::Recorder;
use darklaunch::tower::{ShadowBody, ShadowError, ShadowExperiment, ShadowLayer, ShadowResponse};
use darklaunch::{Clock, Experiment, ManualClock, Operation, Sampler, Verdict};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

use crate::common;

const TIMEOUT: Duration = Duration::from_millis(200);
const PRIMARY_BODY: &[u8] = br#"{"price":12}"#;

type Primary = tower::util::BoxCloneService<
    Request<ShadowBody<Full<Bytes>>>,
    Response<Full<Bytes>>,
    Infallible,
>;

fn primary() -> Primary {
    tower::util::BoxCloneService::new(service_fn(
        |_request: Request<ShadowBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(PRIMARY_BODY))))
        },
    ))
}

/// Drops noted on the paused clock.
#[derive(Clone, Default)]
struct Dropped(Arc<Mutex<Vec<Instant>>>);

struct NotesDrop(Dropped);

impl Drop for NotesDrop {
    fn drop(&mut self) {
        (self.0).0.lock().unwrap().push(Instant::now());
    }
}

/// A candidate service that counts its calls and either answers like the primary or hangs
/// (noting when it is dropped).
fn candidate(
    calls: Arc<AtomicUsize>,
    hang: Option<Dropped>,
) -> tower::util::BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible> {
    tower::util::BoxCloneService::new(service_fn(move |_request: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let hang = hang.clone();
        async move {
            if let Some(dropped) = hang {
                let _noted = NotesDrop(dropped);
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(PRIMARY_BODY))))
        }
    }))
}

/// Sends one GET through `layer` around the primary; returns the client's body.
async fn get<C>(layer: &ShadowLayer<C>) -> Bytes
where
    ShadowLayer<C>: Layer<Primary>,
    <ShadowLayer<C> as Layer<Primary>>::Service: tower::Service<
        Request<Full<Bytes>>,
        Response = Response<ShadowBody<Full<Bytes>>>,
        Error = Infallible,
    >,
{
    let service = layer.layer(primary());
    let request = Request::get("/price/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test(flavor = "current_thread")]
async fn a_sampled_out_request_never_reaches_the_candidate_and_reads_no_clock() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-sampled-out")
        .sampler(Sampler::never())
        .clock(Clock::manual(&clock))
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = ShadowLayer::new(experiment.clone(), candidate(calls.clone(), None));
    #[cfg(feature = "test-probes")]
    let real_reads = darklaunch::probe::real_clock_reads();
    for _ in 0..20 {
        assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
    }
    #[cfg(feature = "test-probes")]
    assert_eq!(
        darklaunch::probe::real_clock_reads(),
        real_reads,
        "a sampled-out request read a real clock"
    );
    assert_eq!(clock.reads(), 0, "a sampled-out request read the clock");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the candidate was called");
    let report = experiment.flush(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    assert!(recorder.is_empty());
    let stats = experiment.stats();
    assert_eq!((stats.runs, stats.sampled), (20, 0), "{stats:?}");
    assert_eq!(layer.stats().shadowed, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_hanging_candidate_is_dropped_at_exactly_the_timeout_and_holds_no_client() {
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-hanging")
        .candidate_timeout(TIMEOUT)
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let dropped = Dropped::default();
    let layer = ShadowLayer::new(
        experiment.clone(),
        candidate(calls.clone(), Some(dropped.clone())),
    );
    let started = Instant::now();
    assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
    assert_eq!(started.elapsed(), Duration::ZERO, "the client was held");

    let report = experiment.flush(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let drops = dropped.0.lock().unwrap().clone();
    assert_eq!(drops.len(), 1, "the hanging candidate was dropped once");
    assert_eq!(
        drops[0] - started,
        TIMEOUT,
        "dropped exactly at the timeout"
    );
    let results = recorder.results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].candidates()[0].verdict(), Verdict::TimedOut);
    assert_eq!(experiment.stats().timeouts, 1);
}

/// Builds an experiment whose hook records each callback error's operation.
fn reporting(
    builder: darklaunch::ExperimentBuilder<ShadowResponse, ShadowError>,
) -> (ShadowExperiment, Arc<Mutex<Vec<Operation>>>) {
    let seen: Arc<Mutex<Vec<Operation>>> = Arc::default();
    let told = seen.clone();
    let experiment = builder
        .on_error(move |error| told.lock().unwrap().push(error.operation))
        .build()
        .unwrap();
    (experiment, seen)
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_callback_is_counted_under_its_operation_and_changes_nothing() {
    common::silence_expected_panics(&["compare bug", "clean bug", "before_run bug"]);
    let (experiment, seen) = reporting(
        Experiment::builder("shadow-callbacks")
            .clean(|_: &ShadowResponse| -> ShadowResponse { panic!("clean bug") }),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = ShadowLayer::new(experiment.clone(), candidate(calls.clone(), None));
    assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
    let report = experiment.flush(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // `clean` runs on the control's response and on the candidate's.
    assert_eq!(*seen.lock().unwrap(), [Operation::Clean, Operation::Clean]);
    let stats = experiment.stats();
    assert_eq!(stats.callback_errors_by(Operation::Clean), 2, "{stats:?}");

    let seen: Arc<Mutex<Vec<Operation>>> = Arc::default();
    let told = seen.clone();
    let experiment: ShadowExperiment = Experiment::builder("shadow-compare")
        .compare(|_: &ShadowResponse, _: &ShadowResponse| -> bool { panic!("compare bug") })
        .on_error(move |error| told.lock().unwrap().push(error.operation))
        .build()
        .unwrap();
    let layer = ShadowLayer::new(experiment.clone(), candidate(calls.clone(), None));
    assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(*seen.lock().unwrap(), [Operation::Compare]);
    assert_eq!(experiment.stats().callback_errors_by(Operation::Compare), 1);

    // A panicking `before_run` runs only the primary: the candidate is never called.
    let (experiment, seen) =
        reporting(Experiment::builder("shadow-before-run").before_run(|| panic!("before_run bug")));
    let layer = ShadowLayer::new(experiment.clone(), candidate(calls.clone(), None));
    assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the candidate ran after before_run failed"
    );
    assert_eq!(*seen.lock().unwrap(), [Operation::BeforeRun]);
    let stats = experiment.stats();
    assert_eq!(
        stats.callback_errors_by(Operation::BeforeRun),
        1,
        "{stats:?}"
    );
    assert!(stats.reconciles(), "{stats:?}");
}

/// Guard rails through the shadow layer: the candidate service's error rate jumps from 0 to
/// 30 % at request 1,000, and its guard (window 200, judged every 25 runs, limit 10 %) stops
/// it once more than 20 errors are in the window — after 67 to 75 requests past the jump,
/// plus the few whose comparison had not been judged yet. Clients see the primary throughout.
#[tokio::test(flavor = "current_thread")]
async fn the_shadow_layer_stops_a_candidate_whose_guard_trips() {
    use darklaunch::guard::{GuardRails, GuardReason, GuardStatus};
    const JUMP: usize = 1_000;
    const EVERY: usize = 10;
    let recorder = Recorder::new();
    let experiment: ShadowExperiment = Experiment::builder("shadow-guarded")
        .guard(
            GuardRails::new()
                .max_error_rate(0.1)
                .window(200)
                .min_runs(100)
                .cool_down(Duration::from_secs(3_600)),
        )
        .publisher(recorder.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let candidate =
        tower::util::BoxCloneService::new(service_fn(move |_request: Request<Full<Bytes>>| {
            let call = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if call >= JUMP && (call - JUMP) % 10 < 3 {
                    return Err(std::io::Error::other("candidate down"));
                }
                Ok(Response::new(Full::new(Bytes::from_static(PRIMARY_BODY))))
            }
        }));
    let layer = ShadowLayer::new(experiment.clone(), candidate);
    for request in 0..JUMP + 300 {
        assert_eq!(&get(&layer).await[..], PRIMARY_BODY);
        if request % EVERY == EVERY - 1 {
            assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
        }
    }
    assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    let ran = calls.load(Ordering::SeqCst);
    assert!(
        (JUMP + 67..=JUMP + 75 + EVERY).contains(&ran),
        "the candidate ran {} times past the jump",
        ran - JUMP
    );
    assert_eq!(
        experiment.guard("candidate").unwrap().status(),
        GuardStatus::Tripped {
            reason: GuardReason::ErrorRate
        }
    );
    assert_eq!(recorder.guard_events().len(), 1);
    let stats = experiment.stats();
    assert_eq!(stats.guard_held as usize, JUMP + 300 - ran);
    assert!(stats.reconciles(), "{stats:?}");
}
