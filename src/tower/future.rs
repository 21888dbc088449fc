//! The response future of [`ShadowService`](super::ShadowService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::Response;
use http_body::Body;

use super::body::ShadowBody;

/// What a [`ShadowFuture`] resolves to: the primary's response with its body wrapped, or the
/// primary's error.
pub(super) type ShadowOutput<R, E> = Result<Response<ShadowBody<R>>, E>;

pin_project_lite::pin_project! {
    /// The future of [`ShadowService`](super::ShadowService): the primary's own future for
    /// requests that are not shadowed, a boxed one for those that are.
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
    pub(super) fn direct(inner: F) -> Self {
        Self {
            state: State::Direct { inner },
        }
    }

    pub(super) fn shadowed(
        inner: Pin<Box<dyn Future<Output = ShadowOutput<R, E>> + Send>>,
    ) -> Self {
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
