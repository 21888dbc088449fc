//! The comparison of a shadowed request: once the primary's response body (and the request's)
//! has ended, the candidate gets its copy of the request, in the background.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderName;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower::{Service, ServiceExt};

use super::body::{Ending, Launch, RequestCopy, ShadowBody};
use super::layer::Shared;
use super::propagation::shadow_headers;
use super::response::{ShadowError, ShadowResponse};
use super::service::BoxError;
use super::stats::{bump, Counters};
use crate::Outcome;
use crate::{Candidates, SampledRun};

/// A shadowed request waiting for the primary's response body to end. Then, if the request's
/// body was read to its end too, the candidate starts (taking an in-flight slot only now);
/// otherwise the run ends as skipped, counted under its reason.
pub(super) struct Comparison<S, C, B> {
    pub(super) shared: Arc<Shared>,
    pub(super) run: SampledRun<ShadowResponse, ShadowError>,
    /// The request body's copy; `None` when the request had no body.
    pub(super) input: Option<Arc<RequestCopy>>,
    /// The request's method, URI, version and headers, for the candidate's copy.
    pub(super) head: Request<()>,
    pub(super) candidate: C,
    /// The primary (and the request's extensions) for noise calibration's second call.
    pub(super) calibration: Option<(S, http::Extensions)>,
    /// The primary's status and compared headers; the body comes when it has ended.
    pub(super) compared: ShadowResponse,
    pub(super) _types: PhantomData<fn() -> (S, B)>,
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
            calibration,
            mut compared,
            ..
        } = *self;
        let config = &shared.config;
        compared.body = body;
        // The candidate's copy says what it is; the calibration copy below, the primary's,
        // is the request as the primary saw it.
        let mut copy = replayed(&head, Full::new(request_body.clone()));
        let parent = run.trace().and_then(|trace| trace.parent());
        shadow_headers(copy.headers_mut(), parent, config.shadow_marker.as_ref());
        let names = config.headers.clone();
        let limit = config.max_response_body;
        let head_only = copy.method() == Method::HEAD;
        let candidate_future = async move {
            let response = candidate.oneshot(copy).await.map_err(|error| ShadowError {
                kind: "service",
                message: error.into().to_string(),
            })?;
            captured(response, &names, limit, head_only, |error| ShadowError {
                kind: "body",
                message: error.to_string(),
            })
            .await
        };
        let mut candidates = Candidates::new().candidate(candidate_future);
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
        // The primary's body error need not be displayable either.
        let response = response.map(|body| {
            body.map_err(|_| ShadowError {
                kind: "body",
                message: String::from("the primary's calibration response failed"),
            })
        });
        captured(response, &names, limit, head_only, |_| ShadowError {
            kind: "body",
            message: String::from(
                "the primary's calibration response failed or was over the limit",
            ),
        })
        .await
    })
}

/// What is compared of a response: its status, the compared headers and, unless it answers a
/// HEAD request, its body read up to `limit`; `failed` says what a body error or an oversized
/// body becomes.
async fn captured<RB>(
    response: Response<RB>,
    names: &[HeaderName],
    limit: usize,
    head_only: bool,
    failed: impl FnOnce(BoxError) -> ShadowError,
) -> Result<ShadowResponse, ShadowError>
where
    RB: Body,
    RB::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    let bytes = if head_only {
        Bytes::new()
    } else {
        Limited::new(body, limit)
            .collect()
            .await
            .map_err(failed)?
            .to_bytes()
    };
    Ok(ShadowResponse::capture(
        parts.status,
        &parts.headers,
        names,
        bytes,
    ))
}
