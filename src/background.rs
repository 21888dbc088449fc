//! Where detached work runs off the callers' path: a few worker threads that publish detached
//! results, run the candidates of `run_detached_blocking`, and hand async candidates from
//! threads that are not runtime workers over to tokio.
//!
//! Producers never wake a worker per call: they push onto a queue, and idle workers poll with a
//! short, growing nap. Only when a queue is filling up (an eighth of its capacity) does a
//! producer unpark a worker, so that a burst is drained at once.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::error::ConfigError;

/// A unit of background work queued on its own (a blocking candidate, a hand-over to tokio).
pub(crate) trait Job: Send {
    /// Does the work (on a worker thread).
    fn run(self: Box<Self>);
    /// The queue was full: account for the work that will not be done.
    fn reject(self: Box<Self>);
}

/// A queue of results that an experiment keeps itself (typed, so that queued results need no
/// allocation of their own), drained by the background workers.
pub(crate) trait Drain: Send + Sync {
    /// Publishes up to `budget` queued results; how many it published.
    fn drain(&self, budget: usize) -> usize;
}

/// Background workers for detached runs; cheap to clone, shareable between experiments.
///
/// Every experiment gets its own by default, started on its first detached run. Share one
/// between many experiments with
/// [`ExperimentBuilder::background`](crate::ExperimentBuilder::background) to bound the
/// threads a process spends on dark launches. The threads stop once the last clone is dropped
/// and no experiment has results left to publish.
///
/// A worker does one thing at a time: a publisher that blocks (a synchronous network call, a
/// full channel it waits on) or a slow `run_detached_blocking` candidate holds it, and work
/// queued behind it waits. A flush then reports those candidates as
/// [`candidates_waiting`](crate::FlushReport::candidates_waiting) — queued, never started —
/// rather than running. The remedies: publishers that hand results off without waiting (a
/// bounded channel with `try_send`, as the built-in publishers do), more
/// [`threads`](BackgroundBuilder::threads), or a `Background` of its own for experiments
/// with slow blocking candidates.
///
/// ```
/// use darklaunch::{Background, Experiment};
///
/// let background = Background::builder().threads(1).queue_capacity(1_024).build().unwrap();
/// let a: Experiment<u8> = Experiment::builder("a").background(background.clone()).build().unwrap();
/// let b: Experiment<u8> = Experiment::builder("b").background(background).build().unwrap();
/// # let _ = (a, b);
/// ```
#[derive(Clone)]
pub struct Background {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

/// Settings of a [`Background`]; made by [`Background::builder`].
#[derive(Clone, Debug)]
pub struct BackgroundBuilder {
    threads: usize,
    queue_capacity: usize,
}

impl BackgroundBuilder {
    /// How many worker threads (default 1). Publishing is light; more threads help when
    /// `run_detached_blocking` candidates are slow.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The capacity of the queue of detached candidates waiting for a worker
    /// (`run_detached_blocking`, and hand-overs from threads that are not runtime workers);
    /// default 4096. When it is full the run is shed.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Checks the settings. Threads start on first use.
    pub fn build(self) -> Result<Background, ConfigError> {
        if self.threads == 0 {
            return Err(ConfigError::ZeroCap {
                setting: "Background::threads",
            });
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::ZeroCap {
                setting: "Background::queue_capacity",
            });
        }
        Ok(Background::with(self.threads, self.queue_capacity))
    }
}

impl Background {
    /// Settings, starting from the defaults (1 thread, a queue of 4096).
    pub fn builder() -> BackgroundBuilder {
        BackgroundBuilder {
            threads: 1,
            queue_capacity: 4096,
        }
    }

    /// A background with the default settings.
    pub fn new() -> Self {
        Self::with(1, 4096)
    }

    /// `threads` and `queue_capacity` are at least 1 (checked by the builder).
    fn with(threads: usize, queue_capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            candidates: ArrayQueue::new(queue_capacity),
            wake_at: (queue_capacity / 8).max(1),
            drains: Mutex::new(Vec::new()),
            drains_version: AtomicU64::new(0),
            threads,
            workers: OnceLock::new(),
            stop: AtomicBool::new(false),
            #[cfg(feature = "tokio")]
            handed_over: AtomicUsize::new(0),
        });
        Background {
            _owner: Arc::new(Owner {
                shared: shared.clone(),
            }),
            shared,
        }
    }

    /// Adds an experiment's result queue to the ones the workers drain.
    pub(crate) fn register(&self, drain: Weak<dyn Drain>) {
        let mut drains = self.shared.drains.lock().unwrap_or_else(|p| p.into_inner());
        drains.retain(|d| d.strong_count() > 0);
        drains.push(drain);
        self.shared.drains_version.fetch_add(1, Ordering::Release);
    }

    /// Queues a detached candidate (or a hand-over to tokio); a full queue rejects the job.
    pub(crate) fn submit_candidate(&self, job: Box<dyn Job>) {
        let workers = self.shared.workers();
        if workers.threads.is_empty() {
            // No worker thread could be started: nothing would ever run the job.
            return job.reject();
        }
        match self.shared.candidates.push(job) {
            Ok(()) => {
                if self.shared.candidates.len() >= self.shared.wake_at {
                    workers.wake_one();
                }
            }
            Err(job) => job.reject(),
        }
    }

    /// Starts the workers if they are not running yet; false if none could be started.
    pub(crate) fn start(&self) -> bool {
        !self.shared.workers().threads.is_empty()
    }

    /// Wakes one worker because a result queue is filling up.
    pub(crate) fn wake_one(&self) {
        if let Some(workers) = self.shared.workers.get() {
            workers.wake_one();
        }
    }

    /// Counts a detached task handed over to tokio by a worker.
    #[cfg(feature = "tokio")]
    pub(crate) fn count_hand_over(&self) {
        self.shared.handed_over.fetch_add(1, Ordering::Relaxed);
    }

    /// How many detached candidates the workers have spawned on tokio for callers that were
    /// not runtime workers (a plain thread, `Handle::block_on`): such a caller only queues
    /// the run, so that it never wakes a runtime thread itself.
    #[cfg(feature = "tokio")]
    pub fn handed_over(&self) -> usize {
        self.shared.handed_over.load(Ordering::Relaxed)
    }

    /// Wakes every worker so queued work is done now (used by flush).
    pub(crate) fn wake_all(&self) {
        if let Some(workers) = self.shared.workers.get() {
            workers.wake_all();
        }
    }
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("threads", &self.shared.threads)
            .field("queued_candidates", &self.shared.candidates.len())
            .finish()
    }
}

struct Shared {
    candidates: ArrayQueue<Box<dyn Job>>,
    wake_at: usize,
    drains: Mutex<Vec<Weak<dyn Drain>>>,
    drains_version: AtomicU64,
    threads: usize,
    workers: OnceLock<Workers>,
    stop: AtomicBool,
    /// Detached tasks handed to tokio by a worker (callers that were not runtime workers).
    #[cfg(feature = "tokio")]
    handed_over: AtomicUsize,
}

/// The stack of a background worker thread: 8 MiB, as a main thread has on Linux.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Results a worker publishes from one queue before it looks at the others.
const DRAIN_BUDGET: usize = 64;

impl Shared {
    /// The worker threads, started on first use.
    fn workers(self: &Arc<Self>) -> &Workers {
        self.workers.get_or_init(|| {
            let threads = (0..self.threads)
                .filter_map(|index| {
                    let shared = self.clone();
                    std::thread::Builder::new()
                        .name(format!("darklaunch-{index}"))
                        // Judging runs users' compare, clean and Serialize code, which may
                        // recurse as deep as their values; give it the main thread's room.
                        .stack_size(WORKER_STACK_BYTES)
                        .spawn(move || shared.work())
                        .ok()
                        .map(|handle| handle.thread().clone())
                })
                .collect();
            Workers {
                threads,
                next: AtomicUsize::new(0),
            }
        })
    }

    fn work(&self) {
        let mut drains: Vec<Weak<dyn Drain>> = Vec::new();
        let mut seen_version = u64::MAX;
        // Naps grow from 50 µs to about 6 ms while there is nothing to do.
        let mut idle: u32 = 0;
        loop {
            let version = self.drains_version.load(Ordering::Acquire);
            if version != seen_version {
                drains = self
                    .drains
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                seen_version = version;
            }
            let mut done = 0;
            for drain in drains.iter().filter_map(Weak::upgrade) {
                done += catch_unwind(AssertUnwindSafe(|| drain.drain(DRAIN_BUDGET))).unwrap_or(1);
            }
            if let Some(job) = self.candidates.pop() {
                let _ = catch_unwind(AssertUnwindSafe(|| job.run()));
                done += 1;
            }
            if done > 0 {
                idle = 0;
                continue;
            }
            if self.stop.load(Ordering::Acquire) && drains.iter().all(|d| d.strong_count() == 0) {
                break;
            }
            std::thread::park_timeout(Duration::from_micros(50 << idle.min(7)));
            idle = idle.saturating_add(1);
        }
        // Stopped: queued candidates will not run, and their runs count as dropped.
        while let Some(job) = self.candidates.pop() {
            drop(job);
        }
    }
}

struct Workers {
    threads: Vec<Thread>,
    next: AtomicUsize,
}

impl Workers {
    fn wake_one(&self) {
        if self.threads.is_empty() {
            return;
        }
        let next = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        self.threads[next].unpark();
    }

    fn wake_all(&self) {
        self.threads.iter().for_each(Thread::unpark);
    }
}

/// Stops the workers when the last `Background` clone goes away.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(workers) = self.shared.workers.get() {
            workers.wake_all();
        }
    }
}
