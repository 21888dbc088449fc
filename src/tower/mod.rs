//! A tower middleware that dark-launches whole HTTP endpoints (feature `tower`).
//!
//! [`ShadowLayer`] wraps a **primary** service (today's endpoint) and takes a **candidate**
//! service (the rewrite, a new backend). The layer is invisible (guarantee 12): the primary
//! sees each request exactly as without the layer, and the client gets the primary's
//! response exactly as without it — headers at once, body bytes as they come, streams
//! included. For a request the experiment samples in:
//!
//! * **The request body is teed, not buffered.** The primary gets the original body; a copy
//!   of its data is taken on the side *as the primary reads it*, up to
//!   [`max_request_body`](ShadowLayer::max_request_body). Nothing is read ahead of the
//!   primary, so a primary that answers without reading the body answers at once, and
//!   `Expect: 100-continue` behaves as without the layer (hyper sends `100 Continue` only when
//!   the primary polls the body).
//! * **The response body is teed, not buffered.** The client gets the primary's response the
//!   moment the primary returns it, its body forwarded frame by frame (data, trailers, size
//!   hint and end of stream unchanged) while a copy is taken on the side, up to
//!   [`max_response_body`](ShadowLayer::max_response_body). The client never waits for the
//!   copy, the comparison or the candidate.
//! * **The candidate starts when both bodies have ended.** When the primary's response body
//!   has ended (and, for a request with a body, the primary has read that body to its end),
//!   a copy of the request goes to the candidate in the background (as
//!   [`Experiment::run_detached`] does), and the two responses are compared as
//!   [`ShadowResponse`]s — status, a configurable set of headers (default `content-type`) and
//!   the body — with the experiment's comparator, ignore rules, diff options and publishers.
//!   Only then does the run take one of the experiment's `max_in_flight` slots, so requests
//!   whose bodies are still open hold none, and a flush never waits for them. A HEAD
//!   response, whose client gets no body, is compared on status and headers, at once.
//! * **What cannot be compared is counted, never delayed.** The run then ends as
//!   [`skipped`](crate::Stats::skipped) in the experiment's stats (never as `shed`, which
//!   means over `max_in_flight`), and [`ShadowStats`] counts why: a request body over the
//!   limit (`request_oversized`; when its length is known up front the request is not even
//!   offered to the sampler), not read to its end by the time the response has ended
//!   (`request_unread`) or not within [`max_request_wait`](ShadowLayer::max_request_wait)
//!   (`request_timeouts`); a response body over the limit (`response_oversized`), dropped by
//!   the client before its end (`response_unfinished`) or not ended within
//!   [`max_response_wait`](ShadowLayer::max_response_wait) (`response_timeouts`, say a long
//!   event stream; its copy is freed at the deadline); a primary error (`primary_errors`) or
//!   a body error (`body_errors`). A request cancelled before the primary answered ends its
//!   run as `dropped`.
//! * The primary's response, its errors and its panics reach the client unchanged; the
//!   candidate adds no latency beyond a spawn. The candidate's errors, panics and timeouts
//!   (`candidate_timeout`) are recorded and never reach the client.
//! * Only safe methods (GET, HEAD, OPTIONS) are shadowed by default. A shadowed POST runs the
//!   write twice — it can charge a card twice, send two emails, insert two rows — so
//!   [`ShadowLayer::shadow_unsafe_methods`] is an explicit opt-in, meant for candidates that
//!   write nowhere (a dry-run mode, a separate database).
//! * Requests the experiment samples out are streamed to the primary untouched: nothing is
//!   copied or timed.
//! * [`ShadowLayer::key_header`] makes a header (a user id) the sampling key, so that a keyed
//!   sampler gives one user the same decision on every request and every instance; every
//!   sampler of the experiment applies.
//! * The run's context has `method` and `route` (the request's path). The control's duration
//!   runs from the call of the primary to the end of its response body.
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
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

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

use body::{Ending, Launch, RequestCopy, Sink};

use crate::experiment::Experiment;
use crate::observation::Outcome;
use crate::{Candidates, SampledRun};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The experiment a [`ShadowLayer`] runs: responses compared as [`ShadowResponse`]s, the
/// candidate's failures recorded as [`ShadowError`]s.
pub type ShadowExperiment = Experiment<ShadowResponse, ShadowError>;

/// The default limit on the copy of a request body: 64 KiB.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 64 * 1024;
/// The default limit on the copy of a response body: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 1024 * 1024;
/// The default time a shadowed request's body may take to be read to its end: 5 s.
pub const DEFAULT_MAX_REQUEST_WAIT: Duration = Duration::from_secs(5);
/// The default time the primary's response body may take to end, from its headers: 5 s.
pub const DEFAULT_MAX_RESPONSE_WAIT: Duration = Duration::from_secs(5);

/// What a [`ShadowLayer`] did with requests, besides what the experiment's own
/// [`Stats`](crate::Stats) count.
///
/// Each sampled request that is not shadowed for one of the reasons below also ends its
/// experiment run as [`skipped`](crate::Stats::skipped) (never as `shed`, which only means
/// over `max_in_flight`), so `experiment.stats().reconciles()` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShadowStats {
    /// Requests whose copy was sent to the candidate.
    pub shadowed: u64,
    /// Requests not shadowed because their method is not safe (and unsafe methods are off).
    pub unsafe_method_skipped: u64,
    /// Requests not shadowed because their body was over the request limit.
    pub request_oversized: u64,
    /// Requests not shadowed because the primary did not read their body to its end by the
    /// time its response had ended (it answered without the body, or stopped part way).
    pub request_unread: u64,
    /// Requests not shadowed because their body was not read to its end within
    /// [`max_request_wait`](ShadowLayer::max_request_wait).
    pub request_timeouts: u64,
    /// Requests not shadowed because the primary's response body was over the response limit.
    pub response_oversized: u64,
    /// Requests not shadowed because the primary's response body was dropped before its end
    /// (the client went away or stopped reading).
    pub response_unfinished: u64,
    /// Requests not shadowed because the primary's response body did not end within
    /// [`max_response_wait`](ShadowLayer::max_response_wait) (a long stream).
    pub response_timeouts: u64,
    /// Requests not shadowed because the primary returned an error (passed through as is).
    pub primary_errors: u64,
    /// Requests not shadowed because the request or the primary's response body failed (the
    /// error reaches the primary or the client as it would have).
    pub body_errors: u64,
}

#[derive(Default, Debug)]
struct Counters {
    shadowed: AtomicU64,
    unsafe_method_skipped: AtomicU64,
    request_oversized: AtomicU64,
    request_unread: AtomicU64,
    request_timeouts: AtomicU64,
    response_oversized: AtomicU64,
    response_unfinished: AtomicU64,
    response_timeouts: AtomicU64,
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
            request_unread: get(&self.request_unread),
            request_timeouts: get(&self.request_timeouts),
            response_oversized: get(&self.response_oversized),
            response_unfinished: get(&self.response_unfinished),
            response_timeouts: get(&self.response_timeouts),
            primary_errors: get(&self.primary_errors),
            body_errors: get(&self.body_errors),
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    max_request_body: usize,
    max_response_body: usize,
    max_request_wait: Duration,
    max_response_wait: Duration,
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
/// The wrapped primary receives `Request<ShadowBody<B>>` and the client receives
/// `Response<ShadowBody<_>>`: the original bodies, every frame forwarded as it comes (a copy
/// taken on the side when the request is shadowed). The candidate receives a copy, `Request<Full<Bytes>>` (method, URI, version and headers; not
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
                max_request_wait: DEFAULT_MAX_REQUEST_WAIT,
                max_response_wait: DEFAULT_MAX_RESPONSE_WAIT,
                headers: vec![CONTENT_TYPE],
                key_header: None,
                unsafe_methods: false,
            },
            counters: Arc::default(),
        }
    }

    /// The largest request body copied for the candidate (default 64 KiB). Larger requests
    /// are not shadowed ([`ShadowStats::request_oversized`]): one whose length is known up
    /// front is not even offered to the sampler; the primary gets every byte either way.
    pub fn max_request_body(mut self, bytes: usize) -> Self {
        self.config.max_request_body = bytes;
        self
    }

    /// The largest response body copied for comparison (default 1 MiB), for the primary and
    /// the candidate alike. A larger primary response streams to the client as always and is
    /// not compared ([`ShadowStats::response_oversized`]); a larger candidate response is
    /// recorded as a [`ShadowError`] of kind `body`.
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.config.max_response_body = bytes;
        self
    }

    /// How long, from its arrival, a shadowed request's body may take to be read to its end by
    /// the primary (default [`DEFAULT_MAX_REQUEST_WAIT`]); a slower one is still read by the
    /// primary as always, but not shadowed ([`ShadowStats::request_timeouts`]), and its copy
    /// is freed at the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use darklaunch::tower::{ShadowExperiment, ShadowLayer};
    /// use darklaunch::Experiment;
    /// use http::{Request, Response};
    /// use http_body_util::Full;
    /// use tower::service_fn;
    ///
    /// let experiment: ShadowExperiment = Experiment::builder("uploads-v2").build().unwrap();
    /// let candidate = service_fn(|_req: Request<Full<Bytes>>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    /// });
    /// let layer = ShadowLayer::new(experiment, candidate)
    ///     .max_request_wait(Duration::from_secs(2))
    ///     .max_response_wait(Duration::from_secs(10));
    /// # let _ = layer;
    /// ```
    pub fn max_request_wait(mut self, wait: Duration) -> Self {
        self.config.max_request_wait = wait;
        self
    }

    /// How long, from its headers, the primary's response body may take to end (default
    /// [`DEFAULT_MAX_RESPONSE_WAIT`]). The client gets the body as it comes regardless; a body
    /// that takes longer (a long stream) is not compared ([`ShadowStats::response_timeouts`]),
    /// and its copy is freed at the deadline. See
    /// [`max_request_wait`](Self::max_request_wait) for an example.
    pub fn max_response_wait(mut self, wait: Duration) -> Self {
        self.config.max_response_wait = wait;
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
        let experiment = &shared.experiment;
        let key = config
            .key_header
            .as_ref()
            .and_then(|name| request.headers().get(name));
        let sampled = match key {
            None => experiment.begin(),
            Some(value) => match value.to_str() {
                Ok(text) => experiment.begin_keyed(text),
                Err(_) => experiment.begin_keyed(value.as_bytes()),
            },
        };
        let Some(run) = sampled else {
            return direct(&mut self.primary, request);
        };
        // The primary that was driven to readiness handles this request.
        let fresh = self.primary.clone();
        let primary = std::mem::replace(&mut self.primary, fresh);
        let candidate = self.candidate.clone();
        let shared = self.shared.clone();
        ShadowFuture::shadowed(Box::pin(shadow(shared, primary, candidate, run, request)))
    }
}

/// The sampled path: forward the request with its body teed, return the primary's response
/// with its body teed; the candidate starts once both bodies have ended (see [`Comparison`]).
async fn shadow<S, C, B, R, CR>(
    shared: Arc<Shared>,
    mut primary: S,
    candidate: C,
    mut run: SampledRun<ShadowResponse, ShadowError>,
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
    let (parts, body) = request.into_parts();
    // Nothing is read ahead of the primary: the copy is taken as the primary reads the body.
    let (body, input) = if body.is_end_stream() {
        (ShadowBody::new(body), None)
    } else {
        let copy = Arc::new(RequestCopy::default());
        let deadline = tee_deadline(&shared.experiment, config.max_request_wait);
        let sink = Sink::Request(copy.clone());
        let body = ShadowBody::tee(body, config.max_request_body, deadline, sink);
        (body, Some(copy))
    };
    let head = head_of(&parts);
    let head_only = parts.method == Method::HEAD;
    #[cfg(feature = "insight")]
    let calibration = (is_safe(&parts.method) && run.calibrates())
        .then(|| (primary.clone(), parts.extensions.clone()));
    let context = run.context_mut();
    context.insert("method", parts.method.as_str().to_owned());
    context.insert("route", parts.uri.path().to_owned());

    run.start_clock();
    let response = match primary.call(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(error) => {
            bump(&shared.counters.primary_errors);
            run.skip();
            return Err(error);
        }
    };
    let (parts, body) = response.into_parts();
    let compared = ShadowResponse::capture(parts.status, &parts.headers, &config.headers, {
        Bytes::new()
    });
    let limit = config.max_response_body;
    let deadline = tee_deadline(&shared.experiment, config.max_response_wait);
    let comparison = Comparison::<S, C, B> {
        shared: shared.clone(),
        run,
        input,
        head,
        candidate,
        #[cfg(feature = "insight")]
        calibration,
        compared,
        _types: PhantomData,
    };
    if head_only {
        // The client of a HEAD request never gets a body (hyper drops it unread), so the
        // comparison is on the status and headers, and starts at once.
        Box::new(comparison).finish(Ending::Complete(Bytes::new()));
        return Ok(Response::from_parts(parts, ShadowBody::new(body)));
    }
    let body = ShadowBody::tee(body, limit, deadline, Sink::Response(Box::new(comparison)));
    Ok(Response::from_parts(parts, body))
}

/// The deadline `wait` from now for a body's copy; `None` if it is too far to represent.
fn tee_deadline(experiment: &ShadowExperiment, wait: Duration) -> Option<body::TeeDeadline> {
    Some(body::TeeDeadline {
        at: crate::real_clock::instant().checked_add(wait)?,
        experiment: experiment.clone(),
    })
}

/// A shadowed request waiting for the primary's response body to end. Then, if the request's
/// body was read to its end too, the candidate starts (taking an in-flight slot only now);
/// otherwise the run ends as skipped, counted under its reason.
struct Comparison<S, C, B> {
    shared: Arc<Shared>,
    run: SampledRun<ShadowResponse, ShadowError>,
    /// The request body's copy; `None` when the request had no body.
    input: Option<Arc<RequestCopy>>,
    /// The request's method, URI, version and headers, for the candidate's copy.
    head: Request<()>,
    candidate: C,
    /// The primary (and the request's extensions) for noise calibration's second call.
    #[cfg(feature = "insight")]
    calibration: Option<(S, http::Extensions)>,
    /// The primary's status and compared headers; the body comes when it has ended.
    compared: ShadowResponse,
    _types: PhantomData<fn() -> (S, B)>,
}

impl<S, C, B> Comparison<S, C, B> {
    fn skip(self, counter: fn(&Counters) -> &AtomicU64) {
        bump(counter(&self.shared.counters));
        self.run.skip();
    }
}

impl<S, C, B, R, CR> Launch for Comparison<S, C, B>
where
    S: Service<Request<ShadowBody<B>>, Response = Response<R>> + Send + 'static,
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
    fn finish(self: Box<Self>, ending: Ending) {
        // A request that could not be copied is the first reason not to compare.
        let request = self.input.as_ref().map(|copy| copy.take());
        match request {
            Some(Some(Ending::Oversized)) => return self.skip(|c| &c.request_oversized),
            Some(Some(Ending::Failed)) => return self.skip(|c| &c.body_errors),
            Some(Some(Ending::TimedOut)) => return self.skip(|c| &c.request_timeouts),
            _ => {}
        }
        let body = match ending {
            Ending::Complete(body) => body,
            Ending::Oversized => return self.skip(|c| &c.response_oversized),
            Ending::Failed => return self.skip(|c| &c.body_errors),
            Ending::TimedOut => return self.skip(|c| &c.response_timeouts),
            Ending::Unfinished => return self.skip(|c| &c.response_unfinished),
        };
        let request_body = match request {
            None => Bytes::new(),
            Some(Some(Ending::Complete(bytes))) => bytes,
            // Still unread when the response has ended: the primary answered without it.
            Some(_) => return self.skip(|c| &c.request_unread),
        };
        let took = self.run.elapsed();
        let Comparison {
            shared,
            run,
            head,
            candidate,
            #[cfg(feature = "insight")]
            calibration,
            mut compared,
            ..
        } = *self;
        let config = &shared.config;
        compared.body = body;
        let copy = replayed(&head, Full::new(request_body.clone()));
        let names = config.headers.clone();
        let limit = config.max_response_body;
        let head_only = copy.method() == Method::HEAD;
        let candidate_future = async move {
            let response = candidate.oneshot(copy).await.map_err(|error| ShadowError {
                kind: "service",
                message: error.into().to_string(),
            })?;
            let (parts, body) = response.into_parts();
            if head_only {
                let (status, headers) = (parts.status, &parts.headers);
                return Ok(ShadowResponse::capture(
                    status,
                    headers,
                    &names,
                    Bytes::new(),
                ));
            }
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
        let mut candidates = Candidates::new().candidate(candidate_future);
        #[cfg(feature = "insight")]
        if let Some((primary, extensions)) = calibration {
            // The same service again: its routing and state live in the extensions too.
            let mut again = replayed(&head, ShadowBody::<B>::replay(request_body));
            *again.extensions_mut() = extensions;
            candidates = candidates.calibration(primary_again(
                primary,
                again,
                config.max_response_body,
                config.headers.clone(),
            ));
        }
        // Only now does the run take an in-flight slot (or is shed over `max_in_flight`).
        if run.detach(Outcome::Value(compared), took, candidates) {
            bump(&shared.counters.shadowed);
        }
    }
}

/// A request's method, URI, version and headers, without its body and extensions.
fn head_of(parts: &http::request::Parts) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = parts.method.clone();
    *head.uri_mut() = parts.uri.clone();
    *head.version_mut() = parts.version;
    *head.headers_mut() = parts.headers.clone();
    head
}

/// A copy of a request head's method, URI, version and headers with `body`.
fn replayed<T>(head: &Request<()>, body: T) -> Request<T> {
    let mut copy = Request::new(body);
    *copy.method_mut() = head.method().clone();
    *copy.uri_mut() = head.uri().clone();
    *copy.version_mut() = head.version();
    *copy.headers_mut() = head.headers().clone();
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
    let head_only = request.method() == Method::HEAD;
    Box::pin(async move {
        // The primary's error type need not be displayable: calibration only needs values.
        let response = primary.oneshot(request).await.map_err(|_| ShadowError {
            kind: "service",
            message: String::from("the primary failed on the calibration copy"),
        })?;
        let (parts, body) = response.into_parts();
        if head_only {
            let (status, headers) = (parts.status, &parts.headers);
            return Ok(ShadowResponse::capture(
                status,
                headers,
                &names,
                Bytes::new(),
            ));
        }
        // The primary's body error need not be displayable either.
        let failed = |_| ShadowError {
            kind: "body",
            message: String::from("the primary's calibration response failed"),
        };
        let bytes = Limited::new(body.map_err(failed), limit)
            .collect()
            .await
            .map_err(|_| ShadowError {
                kind: "body",
                message: String::from(
                    "the primary's calibration response failed or was over the limit",
                ),
            })?
            .to_bytes();
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
        let candidate = service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(text("candidate"))
        });
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
}
