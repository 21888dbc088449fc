//! What the shadow layer did with requests: [`ShadowStats`] and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`ShadowLayer`](super::ShadowLayer) did with requests, besides what the
/// experiment's own [`Stats`](crate::Stats) count.
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
    /// [`max_request_wait`](super::ShadowLayer::max_request_wait).
    pub request_timeouts: u64,
    /// Requests not shadowed because the primary's response body was over the response limit.
    pub response_oversized: u64,
    /// Requests not shadowed because the primary's response body was dropped before its end
    /// (the client went away or stopped reading).
    pub response_unfinished: u64,
    /// Requests not shadowed because the primary's response body did not end within
    /// [`max_response_wait`](super::ShadowLayer::max_response_wait) (a long stream).
    pub response_timeouts: u64,
    /// Requests not shadowed because the primary returned an error (passed through as is).
    pub primary_errors: u64,
    /// Requests not shadowed because the request or the primary's response body failed (the
    /// error reaches the primary or the client as it would have).
    pub body_errors: u64,
}

/// The live counts every service of one layer adds to.
#[derive(Default, Debug)]
pub(super) struct Counters {
    pub(super) shadowed: AtomicU64,
    pub(super) unsafe_method_skipped: AtomicU64,
    pub(super) request_oversized: AtomicU64,
    pub(super) request_unread: AtomicU64,
    pub(super) request_timeouts: AtomicU64,
    pub(super) response_oversized: AtomicU64,
    pub(super) response_unfinished: AtomicU64,
    pub(super) response_timeouts: AtomicU64,
    pub(super) primary_errors: AtomicU64,
    pub(super) body_errors: AtomicU64,
}

/// Adds one to `counter`.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self) -> ShadowStats {
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
