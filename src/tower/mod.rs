//! A tower middleware that dark-launches whole HTTP endpoints (feature `tower`).
//!
//! [`ShadowLayer`] wraps a **primary** service (today's endpoint) and takes a **candidate**
//! service (the rewrite, a new backend). For a request that the experiment samples in, it
//! buffers the request body (up to a limit), forwards the original request to the primary,
//! buffers the primary's response body (up to a limit) and hands the client a response rebuilt
//! from exactly the same parts and bytes. A copy of the request then goes to the candidate in
//! the background (as [`Experiment::run_detached`] does), and the two responses are compared as
//! [`ShadowResponse`]s — status, a configurable set of headers (default `content-type`) and the
//! body — with the experiment's comparator, ignore rules, diff options and publishers.
//!
//! * The primary's response, its errors and its panics reach the client unchanged; the
//!   candidate adds no latency beyond a spawn. The candidate's errors, panics and timeouts
//!   (`candidate_timeout`) are recorded and never reach the client.
//! * Only safe methods (GET, HEAD, OPTIONS) are shadowed by default. A shadowed POST runs the
//!   write twice — it can charge a card twice, send two emails, insert two rows — so
//!   [`ShadowLayer::shadow_unsafe_methods`] is an explicit opt-in, meant for candidates that
//!   write nowhere (a dry-run mode, a separate database).
//! * Requests the experiment samples out are streamed to the primary untouched: nothing is
//!   buffered, copied or timed.
//! * [`ShadowLayer::key_header`] makes a header (a user id) the sampling key, so that a keyed
//!   sampler gives one user the same decision on every request and every instance; every
//!   sampler of the experiment applies.
//! * A request body over the limit is not shadowed and is counted in
//!   [`ShadowStats::request_oversized`]: when its length is known up front the request is not
//!   even offered to the sampler; a body found over the limit while it is buffered ends its
//!   sampled run as shed. A primary response over the limit is passed through and not
//!   compared ([`ShadowStats::response_oversized`]; the run ends as shed), as is a primary
//!   error ([`ShadowStats::primary_errors`]).
//! * The run's context has `method` and `route` (the request's path).
//! * Noise calibration (feature `insight`): when the experiment
//!   [calibrates noise](crate::ExperimentBuilder::calibrate_noise), the calibrated share of
//!   shadowed GET, HEAD and OPTIONS requests is also sent a second time to the **primary**
//!   (a clone of it, in the background, after the client has its response), and the primary's
//!   two answers teach the experiment which response fields are nondeterministic — Diffy's
//!   primary/secondary pair, in process. Other methods are never sent to the primary twice.
//!
//! Compare bodies byte for byte (the default `PartialEq`) or as JSON with
//! [`ShadowResponse::json_compare`], whose ignore paths address the serialized response:
//! `$.status`, `$.headers.content-type`, `$.body.…`.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use darklaunch::diff::DiffOptions;
//! use darklaunch::publish::Recorder;
//! use darklaunch::tower::{ShadowBody, ShadowLayer, ShadowResponse};
//! use darklaunch::Experiment;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = DiffOptions::new().try_ignore_path("$.body.generated_at")?;
//! let recorder = Recorder::new();
//! let experiment = Experiment::builder("price-endpoint-v2")
//!     .compare(ShadowResponse::json_compare(options.clone()))
//!     .diff(options)
//!     .candidate_timeout(Duration::from_millis(200))
//!     .publisher(recorder.clone())
//!     .build()?;
//!
//! let primary = service_fn(|_req: Request<ShadowBody<Full<Bytes>>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
//!         r#"{"price":12,"generated_at":1}"#,
//!     ))))
//! });
//! let candidate = service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
//!         r#"{"price":13,"generated_at":2}"#,
//!     ))))
//! });
//! let layer = ShadowLayer::new(experiment.clone(), candidate);
//! let service = layer.layer(primary);
//!
//! let request = Request::get("/price/7").body(Full::new(Bytes::new()))?;
//! let response = service.oneshot(request).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(&body[..], br#"{"price":12,"generated_at":1}"#); // always the primary's
//!
//! experiment.flush(Duration::from_secs(5)).await;
//! let result = &recorder.results()[0];
//! let diff = result.candidates()[0].diff().unwrap();
//! assert_eq!(diff.paths().collect::<Vec<_>>(), ["$.body.price"]);
//! assert_eq!(result.context().get("route").unwrap().to_string(), "/price/7");
//! assert_eq!(layer.stats().shadowed, 1);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower::{Layer, Service, ServiceExt};

mod body;
mod response;

pub use body::ShadowBody;
pub use response::{ShadowError, ShadowResponse};

use crate::context::Context;
use crate::experiment::Experiment;
use crate::observation::{Observation, Outcome};
use crate::run::BoxedCandidates;
use crate::sample::hash_with_seed;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The experiment a [`ShadowLayer`] runs: responses compared as [`ShadowResponse`]s, the
/// candidate's failures recorded as [`ShadowError`]s.
pub type ShadowExperiment = Experiment<ShadowResponse, ShadowError>;

/// The default limit on a buffered request body: 64 KiB.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 64 * 1024;
/// The default limit on a buffered response body: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// What a [`ShadowLayer`] did with requests, besides what the experiment's own
/// [`Stats`](crate::Stats) count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Requests whose copy was sent to the candidate.
    pub shadowed: u64,
    /// Requests not shadowed because their method is not safe (and unsafe methods are off).
    pub unsafe_method_skipped: u64,
    /// Requests not shadowed because their body was over the request limit.
    pub request_oversized: u64,
    /// Requests not shadowed because the primary's response body was over the response limit.
    pub response_oversized: u64,
    /// Requests not shadowed because the primary returned an error (passed through as is).
    pub primary_errors: u64,
    /// Requests not shadowed because reading the request or the primary's response body
    /// failed (the error reaches the primary or the client as it would have).
    pub body_errors: u64,
}

#[derive(Default, Debug)]
struct Counters {
    shadowed: AtomicU64,
    unsafe_method_skipped: AtomicU64,
    request_oversized: AtomicU64,
    response_oversized: AtomicU64,
    primary_errors: AtomicU64,
    body_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> ShadowStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ShadowStats {
            shadowed: get(&self.shadowed),
            unsafe_method_skipped: get(&self.unsafe_method_skipped),
            request_oversized: get(&self.request_oversized),
            response_oversized: get(&self.response_oversized),
            primary_errors: get(&self.primary_errors),
            body_errors: get(&self.body_errors),
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    max_request_body: usize,
    max_response_body: usize,
    headers: Vec<HeaderName>,
    key_header: Option<HeaderName>,
    unsafe_methods: bool,
}

struct Shared {
    experiment: ShadowExperiment,
    config: Config,
    counters: Arc<Counters>,
}

/// A tower [`Layer`] that dark-launches a candidate service beside the wrapped (primary)
/// service; see the [module docs](self).
///
/// The wrapped primary receives `Request<ShadowBody<B>>` (the same bytes, streamed untouched
/// when the request is not shadowed) and the client receives `Response<ShadowBody<_>>`. The
/// candidate receives a copy, `Request<Full<Bytes>>` (method, URI, version and headers; not
/// extensions). Bodies must be `Unpin` with `Bytes` data (hyper's and axum's are).
#[derive(Clone)]
pub struct ShadowLayer<C> {
    candidate: C,
    experiment: ShadowExperiment,
    config: Config,
    counters: Arc<Counters>,
}

impl<C> ShadowLayer<C> {
    /// Shadows requests to `candidate`, sampled, compared and published by `experiment`.
    pub fn new(experiment: ShadowExperiment, candidate: C) -> Self {
        Self {
            candidate,
            experiment,
            config: Config {
                max_request_body: DEFAULT_MAX_REQUEST_BODY,
                max_response_body: DEFAULT_MAX_RESPONSE_BODY,
                headers: vec![CONTENT_TYPE],
                key_header: None,
                unsafe_methods: false,
            },
            counters: Arc::default(),
        }
    }

    /// The largest request body buffered for a copy (default 64 KiB); larger requests are not
    /// shadowed.
    pub fn max_request_body(mut self, bytes: usize) -> Self {
        self.config.max_request_body = bytes;
        self
    }

    /// The largest response body buffered for comparison (default 1 MiB), for the primary and
    /// the candidate alike. A larger primary response is passed through and not compared; a
    /// larger candidate response is recorded as a [`ShadowError`] of kind `body`.
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.config.max_response_body = bytes;
        self
    }

    /// The response headers compared (default: `content-type` only).
    pub fn compare_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config.headers = names.into_iter().collect();
        self
    }

    /// Uses this request header's value as the sampling key (see
    /// [`Trial::key`](crate::Trial::key)): with a keyed sampler, the same value gets the same
    /// decision every time — [`Experiment::samples`] with the value as `&str` tells which.
    /// Requests without the header are sampled as calls without a key.
    pub fn key_header(mut self, name: HeaderName) -> Self {
        self.config.key_header = Some(name);
        self
    }

    /// Whether requests with methods other than GET, HEAD and OPTIONS are shadowed (default
    /// false). **A shadowed POST, PUT, PATCH or DELETE runs twice**: unless the candidate
    /// writes nowhere real, that can charge a card twice or create duplicate records.
    pub fn shadow_unsafe_methods(mut self, shadow: bool) -> Self {
        self.config.unsafe_methods = shadow;
        self
    }

    /// A snapshot of what the layer (and every service it made) did.
    pub fn stats(&self) -> ShadowStats {
        self.counters.snapshot()
    }

    /// The experiment the layer runs.
    pub fn experiment(&self) -> &ShadowExperiment {
        &self.experiment
    }
}

impl<C> fmt::Debug for ShadowLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowLayer")
            .field("experiment", &self.experiment.name())
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for ShadowLayer<C> {
    type Service = ShadowService<S, C>;

    fn layer(&self, primary: S) -> Self::Service {
        ShadowService {
            primary,
            candidate: self.candidate.clone(),
            shared: Arc::new(Shared {
                experiment: self.experiment.clone(),
                config: self.config.clone(),
                counters: self.counters.clone(),
            }),
        }
    }
}

/// The service [`ShadowLayer`] makes: the primary with a shadowing candidate.
#[derive(Clone)]
pub struct ShadowService<S, C> {
    primary: S,
    candidate: C,
    shared: Arc<Shared>,
}

impl<S, C> ShadowService<S, C> {
    /// A snapshot of what the layer (and every service it made) did.
    pub fn stats(&self) -> ShadowStats {
        self.shared.counters.snapshot()
    }
}

impl<S, C> fmt::Debug for ShadowService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowService")
            .field("experiment", &self.shared.experiment.name())
            .field("stats", &self.stats())
            .finish()
    }
}

fn is_safe(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS
}

type ShadowOutput<R, E> = Result<Response<ShadowBody<R>>, E>;

impl<S, C, B, R, CR> Service<Request<B>> for ShadowService<S, C>
where
    S: Service<Request<ShadowBody<B>>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Send,
    R: Body<Data = Bytes> + Unpin + Send + 'static,
    R::Error: Send,
    C: Service<Request<Full<Bytes>>, Response = Response<CR>> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    CR: Body + Send + 'static,
    CR::Data: Send,
    CR::Error: Into<BoxError>,
{
    type Response = Response<ShadowBody<R>>;
    type Error = S::Error;
    type Future = ShadowFuture<S::Future, R, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.primary.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let config = &shared.config;
        let direct = |primary: &mut S, request: Request<B>| {
            ShadowFuture::direct(primary.call(request.map(ShadowBody::new)))
        };
        if !config.unsafe_methods && !is_safe(request.method()) {
            bump(&shared.counters.unsafe_method_skipped);
            return direct(&mut self.primary, request);
        }
        if request.body().size_hint().lower() > config.max_request_body as u64 {
            bump(&shared.counters.request_oversized);
            return direct(&mut self.primary, request);
        }
        let inner = &shared.experiment.inner;
        let key = config
            .key_header
            .as_ref()
            .filter(|_| inner.sampler_uses_key)
            .and_then(|name| request.headers().get(name))
            .map(|value| match value.to_str() {
                Ok(text) => hash_with_seed(inner.salt_seed, text),
                Err(_) => hash_with_seed(inner.salt_seed, value.as_bytes()),
            });
        let Some(active) = inner.admit(key) else {
            return direct(&mut self.primary, request);
        };
        let run = active.detach(inner);
        // The primary that was driven to readiness handles this request.
        let fresh = self.primary.clone();
        let primary = std::mem::replace(&mut self.primary, fresh);
        let candidate = self.candidate.clone();
        let shared = self.shared.clone();
        ShadowFuture::shadowed(Box::pin(shadow(shared, primary, candidate, run, request)))
    }
}

/// The sampled path: buffer, forward, buffer, compare in the background.
async fn shadow<S, C, B, R, CR>(
    shared: Arc<Shared>,
    mut primary: S,
    candidate: C,
    run: crate::run::OwnedRun<ShadowResponse, ShadowError>,
    request: Request<B>,
) -> ShadowOutput<R, S::Error>
where
    S: Service<Request<ShadowBody<B>>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Send,
    R: Body<Data = Bytes> + Unpin + Send + 'static,
    R::Error: Send,
    C: Service<Request<Full<Bytes>>, Response = Response<CR>> + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    CR: Body + Send + 'static,
    CR::Data: Send,
    CR::Error: Into<BoxError>,
{
    let config = &shared.config;
    let counters = &shared.counters;
    let inner = &shared.experiment.inner;
    let (parts, body) = request.into_parts();
    let body = ShadowBody::buffer(body, config.max_request_body).await;
    let Some(bytes) = body.complete_bytes() else {
        bump(if body.failed() {
            &counters.body_errors
        } else {
            &counters.request_oversized
        });
        inner.shed(run);
        let response = primary.call(Request::from_parts(parts, body)).await?;
        return Ok(response.map(ShadowBody::new));
    };
    #[cfg(feature = "insight")]
    let calibration =
        (is_safe(&parts.method) && crate::run::calibration::wanted(inner)).then(|| {
            // The same service again: its routing and state live in the extensions too.
            let mut again = replayed(&parts, ShadowBody::<B>::replay(bytes.clone()));
            *again.extensions_mut() = parts.extensions.clone();
            primary_again(
                primary.clone(),
                again,
                config.max_response_body,
                config.headers.clone(),
            )
        });
    let copy = replayed(&parts, Full::new(bytes));
    let mut context = Context::new();
    context.insert("method", parts.method.as_str().to_owned());
    context.insert("route", parts.uri.path().to_owned());

    let start = inner.clock.now();
    let response = match primary.call(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(error) => {
            bump(&counters.primary_errors);
            inner.shed(run);
            return Err(error);
        }
    };
    let (parts, body) = response.into_parts();
    let body = ShadowBody::buffer(body, config.max_response_body).await;
    let took = inner.clock.now().saturating_duration_since(start);
    let Some(bytes) = body.complete_bytes() else {
        bump(if body.failed() {
            &counters.body_errors
        } else {
            &counters.response_oversized
        });
        inner.shed(run);
        return Ok(Response::from_parts(parts, body));
    };
    let observed = ShadowResponse::capture(parts.status, &parts.headers, &config.headers, bytes);
    let control = Observation::new(inner.control_name.clone(), took, Outcome::Value(observed));

    let names = config.headers.clone();
    let limit = config.max_response_body;
    let candidate_future = async move {
        let response = candidate.oneshot(copy).await.map_err(|error| ShadowError {
            kind: "service",
            message: error.into().to_string(),
        })?;
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|error| ShadowError {
                kind: "body",
                message: error.to_string(),
            })?
            .to_bytes();
        Ok(ShadowResponse::capture(
            parts.status,
            &parts.headers,
            &names,
            bytes,
        ))
    };
    #[cfg_attr(not(feature = "insight"), allow(unused_mut))]
    let mut candidates: BoxedCandidates<'static, Result<ShadowResponse, ShadowError>> =
        vec![(inner.candidate_name.clone(), Box::pin(candidate_future))];
    #[cfg(feature = "insight")]
    if let Some(again) = calibration {
        candidates.push((crate::run::calibration::CALIBRATION.into(), again));
    }
    crate::run::detach_boxed(inner, run, Some(Box::new(context)), control, candidates);
    bump(&counters.shadowed);
    Ok(Response::from_parts(parts, body))
}

/// A copy of a request's method, URI, version and headers with `body`.
fn replayed<T>(parts: &http::request::Parts, body: T) -> Request<T> {
    let mut copy = Request::new(body);
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    copy
}

/// The primary answering the same request again, for noise calibration.
#[cfg(feature = "insight")]
fn primary_again<S, B, R>(
    primary: S,
    request: Request<ShadowBody<B>>,
    limit: usize,
    names: Vec<HeaderName>,
) -> Pin<Box<dyn Future<Output = Result<ShadowResponse, ShadowError>> + Send>>
where
    S: Service<Request<ShadowBody<B>>, Response = Response<R>> + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Send,
    R: Body<Data = Bytes> + Unpin + Send + 'static,
    R::Error: Send,
{
    Box::pin(async move {
        // The primary's error type need not be displayable: calibration only needs values.
        let response = primary.oneshot(request).await.map_err(|_| ShadowError {
            kind: "service",
            message: String::from("the primary failed on the calibration copy"),
        })?;
        let (parts, body) = response.into_parts();
        let body = ShadowBody::buffer(body, limit).await;
        let bytes = body.complete_bytes().ok_or_else(|| ShadowError {
            kind: "body",
            message: String::from(
                "the primary's calibration response failed or was over the limit",
            ),
        })?;
        Ok(ShadowResponse::capture(
            parts.status,
            &parts.headers,
            &names,
            bytes,
        ))
    })
}

pin_project_lite::pin_project! {
    /// The future of [`ShadowService`]: the primary's own future for requests that are not
    /// shadowed, a boxed one for those that are.
    pub struct ShadowFuture<F, R: Body, E> {
        #[pin]
        state: State<F, R, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, R: Body, E> {
        Direct { #[pin] inner: F },
        Shadowed { inner: Pin<Box<dyn Future<Output = ShadowOutput<R, E>> + Send>> },
    }
}

impl<F, R: Body, E> ShadowFuture<F, R, E> {
    fn direct(inner: F) -> Self {
        Self {
            state: State::Direct { inner },
        }
    }

    fn shadowed(inner: Pin<Box<dyn Future<Output = ShadowOutput<R, E>> + Send>>) -> Self {
        Self {
            state: State::Shadowed { inner },
        }
    }
}

impl<F, R: Body, E> fmt::Debug for ShadowFuture<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> Future for ShadowFuture<F, R, E>
where
    F: Future<Output = Result<Response<R>, E>>,
    R: Body,
{
    type Output = ShadowOutput<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Direct { inner } => inner
                .poll(cx)
                .map(|result| result.map(|response| response.map(ShadowBody::new))),
            StateProj::Shadowed { inner } => inner.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::DiffOptions;
    use crate::publish::Recorder;
    use crate::Verdict;
    use http::header::HeaderMap;
    use http::StatusCode;
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::service_fn;

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

    #[tokio::test]
    async fn buffering_replays_every_frame_and_keeps_the_size_hint() {
        let body = Full::new(Bytes::from_static(b"0123456789"));
        let buffered = ShadowBody::buffer(body, 4).await;
        assert_eq!(buffered.complete_bytes(), None, "over the limit");
        assert_eq!(buffered.size_hint().exact(), Some(10));
        let replayed = buffered.collect().await.unwrap().to_bytes();
        assert_eq!(&replayed[..], b"0123456789");

        let body = Full::new(Bytes::from_static(b"0123456789"));
        let buffered = ShadowBody::buffer(body, 64).await;
        assert_eq!(buffered.complete_bytes().unwrap(), &b"0123456789"[..]);
        assert!(!buffered.is_end_stream());
        let replayed = buffered.collect().await.unwrap().to_bytes();
        assert_eq!(&replayed[..], b"0123456789");

        let empty = ShadowBody::buffer(Full::new(Bytes::new()), 64).await;
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
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
}
