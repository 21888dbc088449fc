//! Where detached work runs off the callers' path: a few worker threads that publish results,
//! run the candidates of `run_detached_blocking`, and hand async candidates from threads that
//! are not runtime workers over to tokio.
//!
//! Producers never wake a worker per call: they push onto a bounded lock-free queue, and idle
//! workers poll it with a short, growing nap. Only when a queue is filling up (an eighth of its
//! capacity) does a producer unpark a worker, so a burst is drained at once.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::error::ConfigError;

/// A unit of background work.
pub(crate) trait Job: Send {
    /// Does the work (on a worker thread).
    fn run(self: Box<Self>);
    /// The queue was full: account for the work that will not be done.
    fn reject(self: Box<Self>);
}

/// Background workers for detached runs; cheap to clone, shareable between experiments.
///
/// Every experiment gets its own by default, started on its first detached run. Share one
/// between many experiments with [`ExperimentBuilder::background`](crate::ExperimentBuilder::background)
/// to bound the threads a process spends on dark launches. The threads stop once the last
/// clone is dropped; work still queued then is counted as dropped.
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

    /// The capacity of each queue, results awaiting publication and detached candidates
    /// (default 4096). A full publish queue drops the result (counted as `publish_dropped`); a
    /// full candidate queue sheds the run.
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
    /// Settings, starting from the defaults (1 thread, queues of 4096).
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
            publishes: ArrayQueue::new(queue_capacity),
            candidates: ArrayQueue::new(queue_capacity),
            wake_at: (queue_capacity / 8).max(1),
            threads,
            workers: OnceLock::new(),
            stop: AtomicBool::new(false),
            handed_over: AtomicUsize::new(0),
        });
        Background {
            _owner: Arc::new(Owner {
                shared: shared.clone(),
            }),
            shared,
        }
    }

    /// Queues a result for publication; a full queue rejects the job.
    pub(crate) fn submit_publish(&self, job: Box<dyn Job>) {
        self.submit(&self.shared.publishes, job);
    }

    /// Queues a detached candidate (or a hand-over to tokio); a full queue rejects the job.
    pub(crate) fn submit_candidate(&self, job: Box<dyn Job>) {
        self.submit(&self.shared.candidates, job);
    }

    fn submit(&self, queue: &ArrayQueue<Box<dyn Job>>, job: Box<dyn Job>) {
        let workers = self.shared.workers();
        if workers.threads.is_empty() {
            // No worker thread could be started: nothing would ever run the job.
            return job.reject();
        }
        match queue.push(job) {
            Ok(()) => {
                if queue.len() >= self.shared.wake_at {
                    workers.wake_one();
                }
            }
            Err(job) => job.reject(),
        }
    }

    /// Counts a detached task handed over to tokio by a worker.
    pub(crate) fn count_hand_over(&self) {
        self.shared.handed_over.fetch_add(1, Ordering::Relaxed);
    }

    /// How many detached tasks workers have handed over to tokio.
    #[cfg(test)]
    pub(crate) fn handed_over(&self) -> usize {
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
            .field("queued_publishes", &self.shared.publishes.len())
            .field("queued_candidates", &self.shared.candidates.len())
            .finish()
    }
}

struct Shared {
    publishes: ArrayQueue<Box<dyn Job>>,
    candidates: ArrayQueue<Box<dyn Job>>,
    wake_at: usize,
    threads: usize,
    workers: OnceLock<Workers>,
    stop: AtomicBool,
    /// Detached tasks handed to tokio by a worker (callers that were not runtime workers).
    handed_over: AtomicUsize,
}

impl Shared {
    /// The worker threads, started on first use.
    fn workers(self: &Arc<Self>) -> &Workers {
        self.workers.get_or_init(|| {
            let threads = (0..self.threads)
                .filter_map(|index| {
                    let shared = self.clone();
                    std::thread::Builder::new()
                        .name(format!("darklaunch-{index}"))
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
        // Naps grow from 50 µs to about 6 ms while there is nothing to do.
        let mut idle: u32 = 0;
        loop {
            match self.publishes.pop().or_else(|| self.candidates.pop()) {
                Some(job) => {
                    let _ = catch_unwind(AssertUnwindSafe(|| job.run()));
                    idle = 0;
                }
                None => {
                    if self.stop.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::park_timeout(Duration::from_micros(50 << idle.min(7)));
                    idle = idle.saturating_add(1);
                }
            }
        }
        // Stopped: what is still queued will not be done, and its runs count as dropped.
        while let Some(job) = self.publishes.pop().or_else(|| self.candidates.pop()) {
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
