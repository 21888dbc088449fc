//! Every read of a real clock in the library happens here.
//!
//! `clippy.toml` forbids `Instant::now`, `Instant::elapsed`, `SystemTime::now` and `quanta`'s
//! `now` everywhere else, so this file is the whole list of places that can read time. With the `test-probes`
//! feature each read is counted on the reading thread, which lets darklaunch's own tests prove
//! that a sampled-out run reads no clock of any kind, not only the injected one.

#![allow(clippy::disallowed_methods)]

use std::time::{Instant, SystemTime};

/// The operating system's monotonic clock.
#[inline]
pub(crate) fn instant() -> Instant {
    count();
    Instant::now()
}

/// Real time passed since `start` (zero if `start` is in the future).
#[inline]
pub(crate) fn since(start: Instant) -> std::time::Duration {
    instant().saturating_duration_since(start)
}

/// The wall clock.
#[cfg_attr(
    not(any(feature = "serde", feature = "opentelemetry")),
    allow(dead_code)
)]
#[inline]
pub(crate) fn wall() -> SystemTime {
    count();
    SystemTime::now()
}

/// The time-stamp-counter clock an experiment measures durations with by default.
#[inline]
pub(crate) fn tick(clock: &quanta::Clock) -> quanta::Instant {
    count();
    clock.now()
}

#[cfg(feature = "test-probes")]
thread_local! {
    static READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline(always)]
fn count() {
    #[cfg(feature = "test-probes")]
    READS.with(|reads| reads.set(reads.get() + 1));
}

/// How many times darklaunch has read a real clock (monotonic, wall or time-stamp counter) on
/// the calling thread. Only for darklaunch's own tests (feature `test-probes`): it proves that a
/// path reads no clock at all.
///
/// ```
/// let before = darklaunch::probe::real_clock_reads();
/// let experiment: darklaunch::Experiment<u32> = darklaunch::Experiment::builder("probe")
///     .sampler(darklaunch::Sampler::never())
///     .build()
///     .unwrap();
/// assert_eq!(experiment.run(|| 1, || 2), 1);
/// assert_eq!(darklaunch::probe::real_clock_reads(), before);
/// ```
#[cfg(feature = "test-probes")]
pub fn real_clock_reads() -> u64 {
    READS.with(std::cell::Cell::get)
}
