//! The body a shadow layer hands on: the original untouched, or the original with a copy of
//! its data taken on the side as it is read (a tee).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

/// The body a [`ShadowLayer`](super::ShadowLayer) hands on — to the primary (the request's)
/// and to the client (the primary's response's): the original body, every frame forwarded
/// unchanged and as soon as it comes.
///
/// For a shadowed request the layer takes a copy of the data on the side while the body is
/// read (up to the layer's limits); nothing is read ahead of the reader. Data, trailers,
/// errors, size hints and end-of-stream are the original's, so the framing of the message
/// (`content-length` or chunked) and `Expect: 100-continue` behave as without the layer.
///
/// ```
/// use bytes::Bytes;
/// use darklaunch::tower::ShadowBody;
/// use http_body::Body;
/// use http_body_util::{BodyExt, Full};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let body = ShadowBody::new(Full::new(Bytes::from_static(b"as it was")));
/// assert_eq!(body.size_hint().exact(), Some(9));
/// assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"as it was");
/// # }
/// ```
pub struct ShadowBody<B> {
    kind: Kind<B>,
}

enum Kind<B> {
    /// The original body, untouched.
    Plain(B),
    /// The original body with a copy taken on the side. The mutex is never locked (the body
    /// is polled through `&mut`); it only makes the body `Sync` when the original is.
    Tee(B, Box<Mutex<Tee>>),
    /// A body of exactly these bytes, with no original behind it (noise calibration's copy of
    /// a request for the primary).
    Replay(Option<Bytes>),
}

impl<B> ShadowBody<B> {
    /// Wraps `body` unchanged.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Plain(body),
        }
    }

    /// A body of exactly `bytes`, with no original behind it (a replayed request).
    pub(super) fn replay(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Replay(Some(bytes).filter(|bytes| !bytes.is_empty())),
        }
    }
}

impl<B: Body<Data = Bytes>> ShadowBody<B> {
    /// Wraps `body`, copying its data up to `limit` bytes as it is read, and tells `sink` how
    /// it ended: complete (with the copy), over the limit (as soon as it is), failed, not
    /// finished by `deadline`, or dropped before its end. A body already at its end, or known
    /// to be over the limit, is told at once and forwarded untouched.
    pub(super) fn tee(body: B, limit: usize, deadline: Option<TeeDeadline>, sink: Sink) -> Self {
        if body.is_end_stream() {
            sink.finish(Ending::Complete(Bytes::new()));
            return Self::new(body);
        }
        let hint = body.size_hint();
        if hint.lower() > limit as u64 {
            sink.finish(Ending::Oversized);
            return Self::new(body);
        }
        let reserve = hint
            .exact()
            .map_or(0, |exact| exact.min(limit as u64) as usize);
        let tee = Tee {
            copy: BytesMut::with_capacity(reserve),
            limit,
            deadline,
            timer: None,
            sink: Some(sink),
        };
        Self {
            kind: Kind::Tee(body, Box::new(Mutex::new(tee))),
        }
    }
}

/// How a teed body ended, as far as its copy is concerned.
#[derive(Debug)]
pub(super) enum Ending {
    /// Read to its end within the limit and the deadline: the copy.
    Complete(Bytes),
    /// More data than the limit.
    Oversized,
    /// The original body returned an error.
    Failed,
    /// Not read to its end by the deadline.
    TimedOut,
    /// Dropped before its end (the reader stopped reading).
    Unfinished,
}

/// Whoever waits for a teed body's copy.
pub(super) enum Sink {
    /// A request's copy, kept until the primary's response has ended.
    Request(Arc<RequestCopy>),
    /// A response's copy: the comparison is launched (or abandoned) when the body ends.
    Response(Box<dyn Launch>),
}

impl Sink {
    fn finish(self, ending: Ending) {
        match self {
            Sink::Request(copy) => copy.set(ending),
            Sink::Response(launch) => launch.finish(ending),
        }
    }
}

/// What happens when the primary's response body has ended, one way or another.
pub(super) trait Launch: Send {
    /// Starts the candidate with the response's copy, or counts why it is not compared.
    fn finish(self: Box<Self>, ending: Ending);
}

/// A request body's copy, shared between its tee and the comparison that needs it. `None`
/// while the body is still being read.
#[derive(Debug, Default)]
pub(super) struct RequestCopy {
    ending: Mutex<Option<Ending>>,
}

impl RequestCopy {
    fn set(&self, ending: Ending) {
        *self.ending.lock().unwrap_or_else(|p| p.into_inner()) = Some(ending);
    }

    /// How the request body ended; `None` if it is still being read (or was never read).
    pub(super) fn take(&self) -> Option<Ending> {
        self.ending.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The copy being taken of a body.
struct Tee {
    copy: BytesMut,
    limit: usize,
    deadline: Option<TeeDeadline>,
    /// Wakes the reader at the deadline while the body is waiting for data.
    timer: Option<crate::Sleep>,
    /// `None` once the copy's fate is told.
    sink: Option<Sink>,
}

impl Tee {
    fn data(&mut self, data: &Bytes) {
        if self.sink.is_none() {
            return;
        }
        if self.copy.len().saturating_add(data.len()) > self.limit {
            self.end(Ending::Oversized);
            return;
        }
        self.copy.extend_from_slice(data);
    }

    fn complete(&mut self) {
        if self.sink.is_none() {
            return;
        }
        let ending = match &self.deadline {
            Some(deadline) if now() > deadline.at => Ending::TimedOut,
            _ => Ending::Complete(std::mem::take(&mut self.copy).freeze()),
        };
        self.end(ending);
    }

    fn end(&mut self, ending: Ending) {
        self.timer = None;
        self.copy = BytesMut::new();
        if let Some(sink) = self.sink.take() {
            sink.finish(ending);
        }
    }

    /// The body is waiting for data: gives up on the copy once the deadline has passed, and
    /// otherwise makes sure the reader is woken then.
    fn poll_deadline(&mut self, cx: &mut TaskContext<'_>) {
        let (Some(deadline), Some(_)) = (&self.deadline, &self.sink) else {
            return;
        };
        let now = now();
        if now >= deadline.at {
            self.end(Ending::TimedOut);
            return;
        }
        if self.timer.is_none() {
            self.timer = Some(deadline.timer(now));
        }
        if let Some(timer) = &mut self.timer {
            if Pin::new(timer).poll(cx).is_ready() {
                self.end(Ending::TimedOut);
            }
        }
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.end(Ending::Unfinished);
    }
}

/// Real time, for the body deadlines, read as a layer outside the crate reads it (the crate's own
/// runs read real time only in `real_clock.rs`). Only shadowed requests get here: a request
/// the experiment samples out never reads a clock.
#[allow(clippy::disallowed_methods)]
pub(super) fn now() -> Instant {
    Instant::now()
}

/// When a body's copy must be complete, and the experiment whose timers wake the reader then
/// (tokio's, or the experiment's own timer thread on a runtime without them).
pub(super) struct TeeDeadline {
    pub(super) at: Instant,
    pub(super) experiment: super::ShadowExperiment,
}

impl TeeDeadline {
    fn timer(&self, now: Instant) -> crate::Sleep {
        self.experiment
            .sleep(self.at.saturating_duration_since(now))
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ShadowBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Plain(body) => Pin::new(body).poll_frame(cx),
            Kind::Tee(body, tee) => {
                let polled = Pin::new(&mut *body).poll_frame(cx);
                let tee = tee.get_mut().unwrap_or_else(|p| p.into_inner());
                match &polled {
                    Poll::Pending => tee.poll_deadline(cx),
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            tee.data(data);
                        }
                        if body.is_end_stream() {
                            tee.complete();
                        }
                    }
                    Poll::Ready(Some(Err(_))) => tee.end(Ending::Failed),
                    Poll::Ready(None) => tee.complete(),
                }
                polled
            }
            Kind::Replay(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Plain(body) | Kind::Tee(body, _) => body.is_end_stream(),
            Kind::Replay(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Plain(body) | Kind::Tee(body, _) => body.size_hint(),
            Kind::Replay(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}

impl<B> fmt::Debug for ShadowBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Plain(_) => "plain",
            Kind::Tee(..) => "tee",
            Kind::Replay(_) => "replay",
        };
        f.debug_struct("ShadowBody").field("kind", &kind).finish()
    }
}
