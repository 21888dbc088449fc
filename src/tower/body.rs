//! The body a shadow layer hands on: what was buffered, replayed, then the rest streamed.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// A body that replays what was buffered of an original body, then streams the rest of it.
/// For a request or response that was not shadowed it is the original body, untouched.
///
/// Size hints and end-of-stream are kept as the original's, so that the framing of the
/// message (`content-length` or chunked) does not change.
pub struct ShadowBody<B: Body> {
    frames: VecDeque<Frame<Bytes>>,
    buffered: u64,
    error: Option<Box<B::Error>>,
    rest: Option<B>,
    exact: bool,
    ended: bool,
}

impl<B: Body> ShadowBody<B> {
    /// Wraps `body` unchanged.
    pub fn new(body: B) -> Self {
        Self {
            frames: VecDeque::new(),
            buffered: 0,
            error: None,
            rest: Some(body),
            exact: false,
            ended: false,
        }
    }
}

impl<B: Body> ShadowBody<B> {
    /// A body of exactly `bytes`, with no original behind it (a replayed request).
    #[cfg(feature = "insight")]
    pub(super) fn replay(bytes: Bytes) -> Self {
        let buffered = bytes.len() as u64;
        let frames = if bytes.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([Frame::data(bytes)])
        };
        Self {
            frames,
            buffered,
            error: None,
            rest: None,
            exact: true,
            ended: false,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> ShadowBody<B> {
    /// Reads `body` until it ends, fails, or more than `limit` bytes were read.
    pub(super) async fn buffer(mut body: B, limit: usize) -> Self {
        let exact = body.size_hint().exact().is_some();
        let mut frames = VecDeque::new();
        let mut buffered = 0u64;
        let mut error = None;
        let mut rest = None;
        loop {
            if body.is_end_stream() {
                break;
            }
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        buffered += data.len() as u64;
                    }
                    frames.push_back(frame);
                    if buffered > limit as u64 {
                        rest = Some(body);
                        break;
                    }
                }
                Some(Err(failed)) => {
                    error = Some(Box::new(failed));
                    break;
                }
            }
        }
        Self {
            frames,
            buffered,
            error,
            rest,
            exact,
            ended: false,
        }
    }

    /// Whether reading the original body failed.
    pub(super) fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The whole body, if it was read to its end without error.
    pub(super) fn complete_bytes(&self) -> Option<Bytes> {
        if self.rest.is_some() || self.error.is_some() {
            return None;
        }
        let mut data = self.frames.iter().filter_map(Frame::data_ref);
        match (data.next(), data.next()) {
            (None, _) => Some(Bytes::new()),
            (Some(only), None) => Some(only.clone()),
            (Some(first), Some(second)) => {
                let mut all = BytesMut::with_capacity(self.buffered as usize);
                all.extend_from_slice(first);
                all.extend_from_slice(second);
                for more in data {
                    all.extend_from_slice(more);
                }
                Some(all.freeze())
            }
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ShadowBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.frames.pop_front() {
            if let Some(data) = frame.data_ref() {
                this.buffered -= data.len() as u64;
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(*error)));
        }
        match &mut this.rest {
            Some(rest) => {
                let polled = Pin::new(rest).poll_frame(cx);
                if let Poll::Ready(None) = polled {
                    this.ended = true;
                }
                polled
            }
            None => {
                this.ended = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
            && self.error.is_none()
            && match &self.rest {
                Some(rest) => rest.is_end_stream(),
                None => self.exact || self.ended,
            }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.rest {
            Some(rest) => {
                let hint = rest.size_hint();
                let mut sum = SizeHint::new();
                sum.set_lower(hint.lower().saturating_add(self.buffered));
                if let Some(upper) = hint.upper() {
                    sum.set_upper(upper.saturating_add(self.buffered));
                }
                sum
            }
            None if self.exact && self.error.is_none() => SizeHint::with_exact(self.buffered),
            None => {
                let mut hint = SizeHint::new();
                hint.set_lower(self.buffered);
                hint
            }
        }
    }
}

impl<B: Body> fmt::Debug for ShadowBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowBody")
            .field("buffered", &self.buffered)
            .field("streaming", &self.rest.is_some())
            .finish()
    }
}
