//! [`ShadowLayer`]: the settings of the shadow layer, and the [`Layer`] that wraps a primary
//! service with them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use tower::Layer;

use super::response::{ShadowError, ShadowResponse};
use super::service::ShadowService;
use super::stats::{Counters, ShadowStats};
use crate::Experiment;

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

/// The layer's settings, as its builder methods set them.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) max_request_body: usize,
    pub(super) max_response_body: usize,
    pub(super) max_request_wait: Duration,
    pub(super) max_response_wait: Duration,
    pub(super) headers: Vec<HeaderName>,
    pub(super) key_header: Option<HeaderName>,
    pub(super) unsafe_methods: bool,
    /// The header the candidate's copy carries; `None` for none.
    pub(super) shadow_marker: Option<(HeaderName, HeaderValue)>,
}

/// What a layer and every service it makes share: the experiment, the settings and the
/// counters. A layer's builder methods change its own copy (cloned only if a service or a
/// clone of the layer already holds it); the counters stay shared.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) experiment: ShadowExperiment,
    pub(super) config: Config,
    pub(super) counters: Arc<Counters>,
}

/// A tower [`Layer`] that dark-launches a candidate service beside the wrapped (primary)
/// service; see the [module docs](super).
///
/// The wrapped primary receives `Request<ShadowBody<B>>` and the client receives
/// `Response<ShadowBody<_>>`: the original bodies, every frame forwarded as it comes (a copy
/// taken on the side when the request is shadowed). The candidate receives a copy,
/// `Request<Full<Bytes>>` (method, URI, version and headers; not extensions), which says what
/// it is: it carries the [shadow marker](Self::shadow_marker) and the request's trace context
/// (see [`traceparent` below](#trace-context)). Bodies must be `Unpin` with `Bytes` data
/// (hyper's and axum's are).
///
/// # Trace context
///
/// When the experiment captures traces (one of its publishers
/// [wants them](crate::Publisher::wants_trace)), a request's W3C `traceparent` header becomes
/// the parent of the run's span ([`SampledRun::trace_parent`](crate::SampledRun::trace_parent);
/// a span current when the request reaches the layer, such as the server's own, comes first).
/// A missing, repeated, malformed or overlong header is ignored: the run is shadowed as
/// without it, with no parent. The candidate's copy then carries a `traceparent` naming the
/// run's parent, so **the candidate service's own spans become children of the request's span,
/// in the same trace** as the primary's: one trace shows both answers. The request's
/// `tracestate` goes with it (dropped only when the run's parent is in another trace). When
/// the experiment captures no traces, the copy carries the request's `traceparent` and
/// `tracestate` unchanged. The primary always receives the request's own headers (guarantee
/// 12), and so does the primary's second call for noise calibration: it must answer the same
/// request.
#[derive(Clone)]
pub struct ShadowLayer<C> {
    candidate: C,
    shared: Arc<Shared>,
}

impl<C> ShadowLayer<C> {
    /// Shadows requests to `candidate`, sampled, compared and published by `experiment`.
    pub fn new(experiment: ShadowExperiment, candidate: C) -> Self {
        Self {
            candidate,
            shared: Arc::new(Shared {
                experiment,
                config: Config {
                    max_request_body: DEFAULT_MAX_REQUEST_BODY,
                    max_response_body: DEFAULT_MAX_RESPONSE_BODY,
                    max_request_wait: DEFAULT_MAX_REQUEST_WAIT,
                    max_response_wait: DEFAULT_MAX_RESPONSE_WAIT,
                    headers: vec![CONTENT_TYPE],
                    key_header: None,
                    unsafe_methods: false,
                    shadow_marker: Some(super::propagation::default_marker()),
                },
                counters: Arc::default(),
            }),
        }
    }

    /// This layer's settings, to change (copied first if a service already holds them).
    fn config(&mut self) -> &mut Config {
        &mut Arc::make_mut(&mut self.shared).config
    }

    /// The largest request body copied for the candidate (default 64 KiB). Larger requests
    /// are not shadowed ([`ShadowStats::request_oversized`]): one whose length is known up
    /// front is not even offered to the sampler; the primary gets every byte either way.
    pub fn max_request_body(mut self, bytes: usize) -> Self {
        self.config().max_request_body = bytes;
        self
    }

    /// The largest response body copied for comparison (default 1 MiB), for the primary and
    /// the candidate alike. A larger primary response streams to the client as always and is
    /// not compared ([`ShadowStats::response_oversized`]); a larger candidate response is
    /// recorded as a [`ShadowError`] of kind `body`.
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.config().max_response_body = bytes;
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
        self.config().max_request_wait = wait;
        self
    }

    /// How long, from its headers, the primary's response body may take to end (default
    /// [`DEFAULT_MAX_RESPONSE_WAIT`]). The client gets the body as it comes regardless; a body
    /// that takes longer (a long stream) is not compared ([`ShadowStats::response_timeouts`]),
    /// and its copy is freed at the deadline. See
    /// [`max_request_wait`](Self::max_request_wait) for an example.
    pub fn max_response_wait(mut self, wait: Duration) -> Self {
        self.config().max_response_wait = wait;
        self
    }

    /// The response headers compared (default: `content-type` only).
    pub fn compare_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config().headers = names.into_iter().collect();
        self
    }

    /// Uses this request header's value as the sampling key (see
    /// [`Trial::key`](crate::Trial::key)): with a keyed sampler, the same value gets the same
    /// decision every time — [`Experiment::samples`] with the value as `&str` tells which.
    /// Requests without the header are sampled as calls without a key.
    pub fn key_header(mut self, name: HeaderName) -> Self {
        self.config().key_header = Some(name);
        self
    }

    /// Whether requests with methods other than GET, HEAD and OPTIONS are shadowed (default
    /// false). **A shadowed POST, PUT, PATCH or DELETE runs twice**: unless the candidate
    /// writes nowhere real, that can charge a card twice or create duplicate records.
    pub fn shadow_unsafe_methods(mut self, shadow: bool) -> Self {
        self.config().unsafe_methods = shadow;
        self
    }

    /// The header the candidate's copy of each request carries, so that services behind the
    /// candidate (payments, analytics, e-mail) can refuse shadow calls
    /// ([`RefuseShadow`](super::RefuseShadow)) or tag them; default
    /// [`DEFAULT_SHADOW_MARKER`](super::DEFAULT_SHADOW_MARKER), `x-darklaunch-shadow: 1`. The
    /// marker replaces any value the request had under that name; the primary never receives
    /// it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use darklaunch::tower::{ShadowBody, ShadowExperiment, ShadowLayer};
    /// use darklaunch::Experiment;
    /// use http::header::{HeaderMap, HeaderName, HeaderValue};
    /// use http::{Request, Response};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let experiment: ShadowExperiment = Experiment::builder("search-v2").build()?;
    /// let seen: Arc<Mutex<Option<HeaderMap>>> = Arc::default();
    /// let candidate = service_fn({
    ///     let seen = seen.clone();
    ///     move |req: Request<Full<Bytes>>| {
    ///         *seen.lock().unwrap() = Some(req.headers().clone());
    ///         async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
    ///     }
    /// });
    /// let primary = service_fn(|req: Request<ShadowBody<Full<Bytes>>>| async move {
    ///     assert!(req.headers().get("x-traffic").is_none(), "never on the primary");
    ///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    /// });
    /// let layer = ShadowLayer::new(experiment.clone(), candidate).shadow_marker(
    ///     HeaderName::from_static("x-traffic"),
    ///     HeaderValue::from_static("shadow"),
    /// );
    /// let request = Request::get("/search?q=tea").body(Full::new(Bytes::new()))?;
    /// let response = layer.layer(primary).oneshot(request).await?;
    /// response.into_body().collect().await?;
    /// experiment.flush(Duration::from_secs(5)).await;
    /// let headers = seen.lock().unwrap().take().expect("the candidate was called");
    /// assert_eq!(headers["x-traffic"], "shadow");
    /// assert!(headers.get("x-darklaunch-shadow").is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn shadow_marker(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.config().shadow_marker = Some((name, value));
        self
    }

    /// The candidate's copy carries no marker: the request's headers as they came (and the
    /// trace context, see [above](#trace-context)). For candidates whose downstream calls
    /// need no telling apart.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use darklaunch::tower::{ShadowExperiment, ShadowLayer};
    /// use darklaunch::Experiment;
    /// use http::{Request, Response};
    /// use http_body_util::Full;
    /// use tower::service_fn;
    ///
    /// let experiment: ShadowExperiment = Experiment::builder("render-v2").build().unwrap();
    /// let candidate = service_fn(|req: Request<Full<Bytes>>| async move {
    ///     assert!(!darklaunch::tower::is_shadow(&req));
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    /// });
    /// let layer = ShadowLayer::new(experiment, candidate).without_shadow_marker();
    /// # let _ = layer;
    /// ```
    pub fn without_shadow_marker(mut self) -> Self {
        self.config().shadow_marker = None;
        self
    }

    /// A snapshot of what the layer (and every service it made) did.
    pub fn stats(&self) -> ShadowStats {
        self.shared.counters.snapshot()
    }

    /// The experiment the layer runs.
    pub fn experiment(&self) -> &ShadowExperiment {
        &self.shared.experiment
    }
}

impl<C> fmt::Debug for ShadowLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowLayer")
            .field("experiment", &self.shared.experiment.name())
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for ShadowLayer<C> {
    type Service = ShadowService<S, C>;

    fn layer(&self, primary: S) -> Self::Service {
        ShadowService::new(primary, self.candidate.clone(), self.shared.clone())
    }
}
