//! Where behaviour durations come from: a fast monotonic clock, or a manual clock for
//! deterministic tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A point in time on an experiment's clock.
pub(crate) type Tick = quanta::Instant;

/// The clock an experiment measures behaviour durations with.
///
/// The default is a monotonic clock read through the CPU's time-stamp counter where it is
/// reliable (the `quanta` crate; about 12 ns a read against 30 ns for `Instant::now` on a
/// virtual machine), falling back to the operating system's monotonic clock. Tests that assert
/// on durations use [`Clock::manual`] with a [`ManualClock`] their behaviours advance, so that
/// the recorded durations are exact.
///
/// Timeouts of asynchronous candidates are enforced by the async runtime's timer on real time,
/// whatever clock measures the durations.
#[derive(Clone, Debug)]
pub struct Clock {
    kind: ClockKind,
}

#[derive(Clone, Debug)]
enum ClockKind {
    System(quanta::Clock),
    Manual(ManualClock),
}

impl Clock {
    /// The system's monotonic clock.
    pub fn system() -> Self {
        Self {
            kind: ClockKind::System(quanta::Clock::new()),
        }
    }

    /// A clock that only moves when `clock` is advanced.
    pub fn manual(clock: &ManualClock) -> Self {
        Self {
            kind: ClockKind::Manual(clock.clone()),
        }
    }

    /// Whether this is the system clock.
    pub(crate) fn is_system(&self) -> bool {
        matches!(self.kind, ClockKind::System(_))
    }

    #[inline]
    pub(crate) fn now(&self) -> Tick {
        match &self.kind {
            ClockKind::System(clock) => crate::real_clock::tick(clock),
            ClockKind::Manual(manual) => manual.tick(),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

/// A clock that stands still until told to move; clones share one time.
///
/// ```
/// use darklaunch::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(3));
/// assert_eq!(clock.elapsed(), Duration::from_millis(3));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    clock: quanta::Clock,
    mock: Arc<quanta::Mock>,
    reads: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at its origin.
    pub fn new() -> Self {
        let (clock, mock) = quanta::Clock::mock();
        Self {
            clock,
            mock,
            reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward by `by` (saturating after about 584 years).
    pub fn advance(&self, by: Duration) {
        self.mock.increment(by);
    }

    /// How far the clock has been advanced since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.mock.value())
    }

    /// How many times an experiment read this clock: lets a test prove that a path reads no
    /// clock.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    fn tick(&self) -> Tick {
        self.reads.fetch_add(1, Ordering::SeqCst);
        // A mock: reading it reads no real clock.
        #[allow(clippy::disallowed_methods)]
        self.clock.now()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}
