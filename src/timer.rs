//! Timers for `candidate_timeout` and flush naps: tokio's where the runtime has them, else a
//! small timer thread of the experiment's own.
//!
//! A tokio runtime built without `enable_time` panics when a timer is made, and a future
//! polled outside tokio (`futures::executor::block_on`) has no timer at all; either way a
//! pending candidate would hold the caller without bound. The first time that happens the
//! experiment says so once through the error hook ([`Operation::Timer`]) and from then on arms
//! its deadlines on the fallback thread, which wakes the waiting task when the deadline passes.
//!
//! [`Operation::Timer`]: crate::Operation::Timer

use std::future::Future;
#[cfg(feature = "tokio")]
use std::panic::catch_unwind;
use std::pin::Pin;
#[cfg(feature = "tokio")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The timer support of one experiment.
#[derive(Default)]
pub(crate) struct Timers {
    /// Set once tokio's timers were found missing; they are not tried again.
    #[cfg(feature = "tokio")]
    tokio_missing: AtomicBool,
    /// Set once the missing timers were reported.
    #[cfg(feature = "tokio")]
    reported: AtomicBool,
    fallback: OnceLock<Option<FallbackTimer>>,
}

/// A sleep on whichever timer was available.
pub(crate) enum TimerSleep {
    #[cfg(feature = "tokio")]
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Fallback(FallbackSleep),
}

impl Future for TimerSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            #[cfg(feature = "tokio")]
            TimerSleep::Tokio(sleep) => sleep.as_mut().poll(cx),
            TimerSleep::Fallback(sleep) => sleep.poll_at(cx),
        }
    }
}

/// A sleep on an experiment's timers ([`Experiment::sleep`](crate::Experiment::sleep)): tokio's where the runtime has
/// them, else the experiment's own timer thread, so that an integration's deadlines hold on a
/// runtime without timers (or outside any runtime) as the experiment's own do.
#[must_use = "a sleep does nothing unless awaited or polled"]
pub struct Sleep(Option<TimerSleep>);

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().0 {
            Some(sleep) => Pin::new(sleep).poll(cx),
            // No timer could be had at all (the timer thread did not start): said through the
            // error hook; never wakes.
            None => Poll::Pending,
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}

impl<T, E> crate::Experiment<T, E> {
    /// A sleep of `after` on the experiment's timers: tokio's inside a runtime with timers,
    /// else a timer thread of the experiment's own (said once through the error hook, as
    /// [`Operation::Timer`](crate::Operation::Timer)). For integrations that need deadlines of
    /// their own, like the shadow layer's body waits.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let experiment: darklaunch::Experiment<u8> =
    ///     darklaunch::Experiment::builder("sleepy").on_error(|_| {}).build().unwrap();
    /// // No runtime at all: the experiment's own timer thread wakes it.
    /// let started = Instant::now();
    /// futures::executor::block_on(experiment.sleep(Duration::from_millis(20)));
    /// assert!(started.elapsed() >= Duration::from_millis(20));
    /// ```
    pub fn sleep(&self, after: Duration) -> Sleep {
        let inner = &self.inner;
        Sleep(inner.state.timers.sleep(after, |message| {
            inner.report(crate::Operation::Timer, None, message)
        }))
    }
}

impl Timers {
    /// A sleep of `after`; `report` is called once per experiment when tokio's timers are
    /// missing. `None` only when no timer at all can be had (the fallback thread could not be
    /// started).
    pub(crate) fn sleep(&self, after: Duration, report: impl FnOnce(String)) -> Option<TimerSleep> {
        #[cfg(feature = "tokio")]
        if !self.tokio_missing.load(Ordering::Relaxed)
            && tokio::runtime::Handle::try_current().is_ok()
        {
            // A runtime built without `enable_time` panics here.
            match catch_unwind(|| Box::pin(tokio::time::sleep(after))) {
                Ok(sleep) => return Some(TimerSleep::Tokio(sleep)),
                Err(_) => {
                    self.tokio_missing.store(true, Ordering::Relaxed);
                    self.report_once(report);
                }
            }
        }
        #[cfg(not(feature = "tokio"))]
        let _ = report;
        let fallback = self.fallback.get_or_init(FallbackTimer::start).as_ref()?;
        Some(TimerSleep::Fallback(fallback.sleep(after)))
    }

    #[cfg(feature = "tokio")]
    fn report_once(&self, report: impl FnOnce(String)) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            report(String::from(
                "the tokio runtime has no timers (build it with `enable_time()` or \
                 `enable_all()`): candidate_timeout and flush waits use darklaunch's own timer \
                 thread instead",
            ));
        }
    }
}

/// A timer thread: deadlines with the wakers to wake when they pass. Stops when dropped.
pub(crate) struct FallbackTimer {
    shared: Arc<TimerShared>,
}

struct TimerShared {
    state: Mutex<TimerState>,
    changed: Condvar,
    next_id: AtomicU64,
}

#[derive(Default)]
struct TimerState {
    /// (deadline, sleep id, waker); few at a time (at most the in-flight cap), so a list.
    pending: Vec<(Instant, u64, Waker)>,
    stop: bool,
}

impl FallbackTimer {
    fn start() -> Option<FallbackTimer> {
        let shared = Arc::new(TimerShared {
            state: Mutex::new(TimerState::default()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(0),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name(String::from("darklaunch-timer"))
            .spawn(move || worker.run())
            .ok()?;
        Some(FallbackTimer { shared })
    }

    fn sleep(&self, after: Duration) -> FallbackSleep {
        let now = crate::real_clock::instant();
        FallbackSleep {
            deadline: now
                .checked_add(after)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            shared: self.shared.clone(),
        }
    }
}

impl Drop for FallbackTimer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
    }
}

impl TimerShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, TimerState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            if state.stop {
                // Wake whatever still waits, so that nothing sleeps forever.
                state
                    .pending
                    .drain(..)
                    .for_each(|(_, _, waker)| waker.wake());
                return;
            }
            let now = crate::real_clock::instant();
            let mut due = Vec::new();
            state.pending.retain(|(deadline, _, waker)| {
                let is_due = *deadline <= now;
                if is_due {
                    due.push(waker.clone());
                }
                !is_due
            });
            let next = state.pending.iter().map(|(deadline, _, _)| *deadline).min();
            if !due.is_empty() {
                drop(state);
                due.into_iter().for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match next {
                Some(next) => {
                    let wait = next.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(state, wait)
                        .map(|(state, _)| state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0)
                }
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
        }
    }
}

/// A sleep on the fallback timer thread.
pub(crate) struct FallbackSleep {
    deadline: Instant,
    id: u64,
    shared: Arc<TimerShared>,
}

impl FallbackSleep {
    fn poll_at(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if crate::real_clock::instant() >= self.deadline {
            return Poll::Ready(());
        }
        let mut state = self.shared.lock();
        if state.stop {
            return Poll::Ready(());
        }
        match state.pending.iter_mut().find(|(_, id, _)| *id == self.id) {
            Some(entry) => entry.2.clone_from(cx.waker()),
            None => {
                state
                    .pending
                    .push((self.deadline, self.id, cx.waker().clone()));
                drop(state);
                self.shared.changed.notify_all();
            }
        }
        Poll::Pending
    }
}

impl Drop for FallbackSleep {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.pending.retain(|(_, id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_wakes_a_sleep_outside_any_runtime() {
        let timers = Timers::default();
        let started = crate::real_clock::instant();
        let sleep = timers
            .sleep(Duration::from_millis(30), |_| panic!("no tokio here"))
            .expect("a fallback timer");
        assert!(matches!(sleep, TimerSleep::Fallback(_)));
        futures_lite_block_on(sleep);
        let took = crate::real_clock::since(started);
        assert!(took >= Duration::from_millis(30), "{took:?}");
    }

    /// A minimal executor: polls, then parks until woken.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        struct Unparker(std::thread::Thread);
        impl std::task::Wake for Unparker {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn a_runtime_without_timers_is_reported_once_and_falls_back() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let timers = Timers::default();
        let reports = std::cell::Cell::new(0);
        runtime.block_on(async {
            for _ in 0..3 {
                let sleep = timers
                    .sleep(Duration::from_millis(5), |_| reports.set(reports.get() + 1))
                    .expect("a fallback timer");
                assert!(matches!(sleep, TimerSleep::Fallback(_)));
                sleep.await;
            }
        });
        assert_eq!(reports.get(), 1);
    }
}
