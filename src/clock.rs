//! Where behaviour durations come from: the system's monotonic clock, or a manual clock for
//! deterministic tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The clock an experiment measures behaviour durations with.
///
/// The default is the system's monotonic clock. Tests that assert on durations use
/// [`Clock::manual`] with a [`ManualClock`] their behaviours advance, so that the recorded
/// durations are exact.
///
/// Timeouts of asynchronous candidates are enforced by the async runtime's timer, not by this
/// clock; with a manual clock they are still measured against the manual durations.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    kind: ClockKind,
}

#[derive(Clone, Debug, Default)]
enum ClockKind {
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    /// The system's monotonic clock ([`Instant::now`]).
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that only moves when `clock` is advanced.
    pub fn manual(clock: &ManualClock) -> Self {
        Self {
            kind: ClockKind::Manual(clock.clone()),
        }
    }

    /// Whether this is the system clock.
    pub(crate) fn is_system(&self) -> bool {
        matches!(self.kind, ClockKind::System)
    }

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match &self.kind {
            ClockKind::System => Instant::now(),
            ClockKind::Manual(manual) => manual.now(),
        }
    }
}

/// A clock that stands still until told to move; clones share one time.
///
/// ```
/// use darklaunch::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_millis(3));
/// assert_eq!(clock.now() - start, Duration::from_millis(3));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    origin: Instant,
    elapsed_nanos: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at its origin.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            elapsed_nanos: Arc::new(AtomicU64::new(0)),
            reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward by `by` (saturating after about 584 years).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .elapsed_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(nanos))
            });
    }

    /// The clock's current time.
    pub fn now(&self) -> Instant {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.origin + Duration::from_nanos(self.elapsed_nanos.load(Ordering::SeqCst))
    }
}

impl ManualClock {
    /// How many times the time was read (by [`now`](Self::now) or an experiment using this
    /// clock): lets a test prove that a path reads no clock.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}
