//! [`RefuseShadow`]: a guard a downstream service (payments, e-mail, analytics) puts in front
//! of itself to refuse the shadow layer's copies of requests, and [`is_shadow`] to tag them.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

use super::propagation::{default_marker, DEFAULT_SHADOW_MARKER};

/// Whether a request carries the shadow layer's default marker
/// ([`DEFAULT_SHADOW_MARKER`], `x-darklaunch-shadow: 1`): it is a candidate's copy of a
/// request a client sent to the primary, and its effects are not wanted. For a custom marker,
/// see [`RefuseShadow::is_marked`].
///
/// ```
/// use darklaunch::tower::is_shadow;
/// use http::Request;
///
/// let shadow = Request::get("/charge").header("x-darklaunch-shadow", "1").body(()).unwrap();
/// let real = Request::get("/charge").body(()).unwrap();
/// assert!(is_shadow(&shadow));
/// assert!(!is_shadow(&real));
/// ```
pub fn is_shadow<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(DEFAULT_SHADOW_MARKER.0)
        .iter()
        .any(|value| value.as_bytes() == DEFAULT_SHADOW_MARKER.1.as_bytes())
}

/// A tower [`Layer`] for services that must not act on shadow traffic: a request carrying the
/// shadow marker is answered at once with an empty response (default `403 Forbidden`) and
/// never reaches the wrapped service; every other request passes through untouched.
///
/// Put it in front of whatever a candidate calls that has effects: a payment service, a mail
/// sender, an analytics sink. The [`ShadowLayer`](super::ShadowLayer) marks the candidate's
/// copy of each request; a candidate that forwards the marker on its own outgoing calls (as it
/// would forward `traceparent`) makes them refused too. The marker says nothing about who sent
/// it: a client may set it on its own request too (and so only refuse itself), and the
/// primary receives a client's marker as sent.
///
/// The refusal is built with the response body's `Default` (empty for axum's and hyper's
/// bodies and for `Full`).
///
/// ```
/// use bytes::Bytes;
/// use darklaunch::tower::RefuseShadow;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let payments = service_fn(|_req: Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("charged"))))
/// });
/// let guarded = RefuseShadow::new().layer(payments);
///
/// let shadow = Request::post("/charge")
///     .header("x-darklaunch-shadow", "1")
///     .body(Full::new(Bytes::new()))
///     .unwrap();
/// let refused = guarded.clone().oneshot(shadow).await.unwrap();
/// assert_eq!(refused.status(), StatusCode::FORBIDDEN);
///
/// let real = Request::post("/charge").body(Full::new(Bytes::new())).unwrap();
/// assert_eq!(guarded.oneshot(real).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
///
/// With axum: `Router::new().route("/charge", post(charge)).layer(RefuseShadow::new())`.
#[derive(Clone)]
pub struct RefuseShadow {
    name: HeaderName,
    value: HeaderValue,
    status: StatusCode,
}

impl RefuseShadow {
    /// Refuses requests carrying [`DEFAULT_SHADOW_MARKER`] with `403 Forbidden`.
    pub fn new() -> Self {
        let (name, value) = default_marker();
        Self {
            name,
            value,
            status: StatusCode::FORBIDDEN,
        }
    }

    /// Refuses requests carrying this marker instead (a header with exactly this value), as
    /// set by [`ShadowLayer::shadow_marker`](super::ShadowLayer::shadow_marker).
    ///
    /// ```
    /// use darklaunch::tower::RefuseShadow;
    /// use http::header::{HeaderMap, HeaderName, HeaderValue};
    /// use http::StatusCode;
    ///
    /// let guard = RefuseShadow::new()
    ///     .marker(HeaderName::from_static("x-traffic"), HeaderValue::from_static("shadow"))
    ///     .status(StatusCode::SERVICE_UNAVAILABLE);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-traffic", HeaderValue::from_static("shadow"));
    /// assert!(guard.is_marked(&headers));
    /// headers.insert("x-traffic", HeaderValue::from_static("live"));
    /// assert!(!guard.is_marked(&headers));
    /// ```
    pub fn marker(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.name = name;
        self.value = value;
        self
    }

    /// The status of the refusal (default `403 Forbidden`).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Whether `headers` carry this guard's marker (any value under its name equal to its
    /// value).
    pub fn is_marked(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(&self.name)
            .iter()
            .any(|value| *value == self.value)
    }
}

impl Default for RefuseShadow {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RefuseShadow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefuseShadow")
            .field("name", &self.name)
            .field("value", &self.value)
            .field("status", &self.status)
            .finish()
    }
}

impl<S> Layer<S> for RefuseShadow {
    type Service = RefuseShadowService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefuseShadowService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service [`RefuseShadow`] makes: refuses marked requests, passes the rest to `S`.
#[derive(Clone, Debug)]
pub struct RefuseShadowService<S> {
    inner: S,
    guard: RefuseShadow,
}

impl<S> RefuseShadowService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, RB> Service<Request<B>> for RefuseShadowService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = RefuseShadowFuture<S::Future, RB>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.guard.is_marked(request.headers()) {
            return RefuseShadowFuture {
                state: State::Refused {
                    status: self.guard.status,
                    _body: PhantomData,
                },
            };
        }
        RefuseShadowFuture {
            state: State::Inner {
                inner: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RefuseShadowService`]: the refusal, or the wrapped service's future.
    pub struct RefuseShadowFuture<F, RB> {
        #[pin]
        state: State<F, RB>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, RB> {
        Inner { #[pin] inner: F },
        Refused { status: StatusCode, _body: PhantomData<fn() -> RB> },
    }
}

impl<F, RB> fmt::Debug for RefuseShadowFuture<F, RB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefuseShadowFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for RefuseShadowFuture<F, RB>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: Default,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { inner } => inner.poll(cx),
            StateProj::Refused { status, .. } => {
                let mut refusal = Response::new(RB::default());
                *refusal.status_mut() = *status;
                Poll::Ready(Ok(refusal))
            }
        }
    }
}
