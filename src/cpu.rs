//! Per-behaviour CPU time (Ruby Scientist's `cpu_time`), opt-in with
//! [`cpu_time`](crate::ExperimentBuilder::cpu_time) (feature `cpu-time`): the calling thread's
//! CPU time read before and after each call or poll of a behaviour, summed.

use std::time::Duration;

/// The calling thread's CPU time so far; `None` where the platform cannot tell.
#[cfg(feature = "cpu-time")]
fn thread_cpu() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|time| time.as_duration())
}

#[cfg(not(feature = "cpu-time"))]
fn thread_cpu() -> Option<Duration> {
    None
}

/// The CPU time one behaviour spent in the calls and polls it was [measured](Self::measure)
/// over; inert (no reads) unless the experiment asks for CPU time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuMeter {
    on: bool,
    failed: bool,
    spent: Duration,
}

impl CpuMeter {
    pub(crate) fn new(on: bool) -> Self {
        Self {
            on,
            failed: false,
            spent: Duration::ZERO,
        }
    }

    /// Runs `f`, adding the thread CPU time it took.
    #[inline]
    pub(crate) fn measure<R>(&mut self, f: impl FnOnce() -> R) -> R {
        if !self.on {
            return f();
        }
        let before = thread_cpu();
        let returned = f();
        match (before, thread_cpu()) {
            (Some(before), Some(after)) => self.spent += after.saturating_sub(before),
            _ => self.failed = true,
        }
        returned
    }

    /// The CPU time measured; `None` when off, or when a read failed.
    pub(crate) fn total(&self) -> Option<Duration> {
        (self.on && !self.failed).then_some(self.spent)
    }
}

#[cfg(all(test, feature = "cpu-time"))]
mod tests {
    use super::*;

    #[test]
    fn busy_work_takes_cpu_time_and_sleeping_takes_little() {
        let mut busy = CpuMeter::new(true);
        // Spin until the thread itself has used 20 ms of CPU (not 20 ms of wall time, which
        // a loaded machine may give it only a fraction of).
        busy.measure(|| {
            let start = thread_cpu().expect("thread CPU time");
            let mut x = 0u64;
            while thread_cpu().expect("thread CPU time") - start < Duration::from_millis(20) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        });
        let mut idle = CpuMeter::new(true);
        idle.measure(|| std::thread::sleep(Duration::from_millis(30)));
        let (busy, idle) = (busy.total().unwrap(), idle.total().unwrap());
        assert!(busy >= Duration::from_millis(20), "{busy:?}");
        assert!(idle < Duration::from_millis(10), "{idle:?}");
        assert_eq!(CpuMeter::new(false).measure(|| 5), 5);
        assert_eq!(CpuMeter::new(false).total(), None);
    }
}
