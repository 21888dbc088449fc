//! What an experiment keeps while it runs: counters, in-flight runs, the publish queue, the
//! background workers, the timers. Shared by its clones; nothing here is configuration.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};

use crossbeam_queue::SegQueue;

use crate::background::Background;
use crate::run::QueuedRun;
use crate::stats::Counters;
use crate::timer::Timers;

/// An experiment's runtime state.
pub(crate) struct State<T, E> {
    pub(crate) counters: Counters,
    /// Sampled runs holding an in-flight slot (at most `max_in_flight`).
    pub(crate) in_flight: AtomicUsize,
    /// Detached results waiting in the publish queue (or being published).
    pub(crate) queued_results: AtomicUsize,
    /// Detached candidates queued for a background worker that has not started them yet.
    pub(crate) waiting_to_start: Arc<AtomicUsize>,
    /// Timers for deadlines: tokio's, or a fallback thread where the runtime has none.
    pub(crate) timers: Timers,
    /// Finished detached runs waiting for a background worker to publish them.
    pub(crate) publish_queue: SegQueue<QueuedRun<T, E>>,
    /// Whether the publish queue is registered with running background workers.
    pub(crate) draining: OnceLock<bool>,
    /// Set by `shutdown`: no new candidates start.
    pub(crate) closed: AtomicBool,
    /// The workers of detached runs; the default one starts on first use.
    pub(crate) background: OnceLock<Background>,
    /// What noise calibration has learned, when the experiment calibrates.
    #[cfg(feature = "serde")]
    pub(crate) noise: Option<Arc<crate::noise::NoiseModel>>,
}

impl<T, E> State<T, E> {
    /// A fresh state: nothing counted, nothing in flight, nothing queued.
    pub(crate) fn new(
        background: Option<Background>,
        #[cfg(feature = "serde")] noise: Option<Arc<crate::noise::NoiseModel>>,
    ) -> Self {
        Self {
            counters: Counters::default(),
            in_flight: AtomicUsize::new(0),
            queued_results: AtomicUsize::new(0),
            waiting_to_start: Arc::new(AtomicUsize::new(0)),
            timers: Timers::default(),
            publish_queue: SegQueue::new(),
            draining: OnceLock::new(),
            closed: AtomicBool::new(false),
            background: background.map(OnceLock::from).unwrap_or_default(),
            #[cfg(feature = "serde")]
            noise,
        }
    }

    /// The background workers (the default ones are made on first use).
    pub(crate) fn background(&self) -> &Background {
        self.background.get_or_init(Background::new)
    }
}
