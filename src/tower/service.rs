//! [`ShadowService`]: the primary with a shadowing candidate. A request the experiment samples
//! in has its bodies teed; once both have ended, a [`Comparison`] starts the candidate.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::Service;

use super::body::{self, Ending, Launch, RequestCopy, ShadowBody, Sink};
use super::comparison::Comparison;
use super::future::{ShadowFuture, ShadowOutput};
use super::layer::{ShadowExperiment, Shared};
use super::propagation::request_parent;
use super::response::{ShadowError, ShadowResponse};
use super::stats::{bump, ShadowStats};
use crate::SampledRun;

/// A candidate's error or body error, before it becomes a [`ShadowError`].
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service [`ShadowLayer`](super::ShadowLayer) makes: the primary with a shadowing candidate.
#[derive(Clone)]
pub struct ShadowService<S, C> {
    primary: S,
    candidate: C,
    shared: Arc<Shared>,
}

impl<S, C> ShadowService<S, C> {
    pub(super) fn new(primary: S, candidate: C, shared: Arc<Shared>) -> Self {
        Self {
            primary,
            candidate,
            shared,
        }
    }

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

/// Whether `method` is safe (GET, HEAD, OPTIONS): shadowed by default, and the only ones sent
/// to the primary a second time for noise calibration.
pub(super) fn is_safe(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS
}

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
        // Only runs that capture a trace read the request's trace context.
        let parent = run.trace().and_then(|_| request_parent(request.headers()));
        let run = match parent {
            Some(parent) => run.trace_parent(parent),
            None => run,
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
pub(super) fn tee_deadline(
    experiment: &ShadowExperiment,
    wait: Duration,
) -> Option<body::TeeDeadline> {
    Some(body::TeeDeadline {
        at: body::now().checked_add(wait)?,
        experiment: experiment.clone(),
    })
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
