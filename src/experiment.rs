//! The experiment: defined once, shared, run many times.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_queue::SegQueue;

use crate::background::Background;
use crate::builder::{DefaultCompare, ExperimentBuilder};
use crate::clock::Clock;
#[cfg(feature = "serde")]
use crate::diff::Diff;
use crate::hook::ErrorHook;
use crate::observation::{CandidateResult, ExperimentResult, Outcome};
use crate::output::BehaviorOutput;
use crate::publish::Publisher;
use crate::run::{self, QueuedRun, SingleCandidate};
use crate::sample::{hash_with_seed, Sampler};
use crate::stats::{Counters, Stats};
use crate::trial::Trial;

/// An experiment: a control (today's code) and candidates (the rewrite), compared on sampled
/// calls, the control's result always returned.
///
/// `T` is the type of the behaviours' values. `E` is the error type for behaviours that return
/// `Result<T, E>`; it defaults to [`Infallible`] for behaviours that return a plain `T`.
///
/// An experiment is `Send + Sync` and cheap to clone (clones share configuration and counters):
/// define it once and use it from every thread and task.
///
/// ```
/// use darklaunch::{Experiment, Sampler};
/// use darklaunch::publish::Recorder;
///
/// fn old_price(cart: &[u64]) -> u64 { cart.iter().sum() }
/// fn new_price(cart: &[u64]) -> u64 { cart.iter().copied().reduce(|a, b| a + b).unwrap_or(0) }
///
/// # fn main() -> Result<(), darklaunch::ConfigError> {
/// let recorder = Recorder::new();
/// let experiment: Experiment<u64> = Experiment::builder("pricing-v2")
///     .sampler(Sampler::percent(100.0))
///     .publisher(recorder.clone())
///     .build()?;
///
/// let cart = vec![3, 4, 5];
/// let price = experiment.run(|| old_price(&cart), || new_price(&cart));
/// assert_eq!(price, 12);
/// assert_eq!(experiment.stats().matched, 1);
/// assert!(recorder.results()[0].matched());
/// # Ok(())
/// # }
/// ```
pub struct Experiment<T, E = Infallible> {
    pub(crate) inner: Arc<Inner<T, E>>,
}

pub(crate) type Comparator<V> = Box<dyn Fn(&V, &V) -> bool + Send + Sync>;
#[cfg(feature = "serde")]
pub(crate) type Differ<T> = Box<dyn Fn(&T, &T) -> Result<Diff, String> + Send + Sync>;
pub(crate) type Cleaner<T> = Box<dyn Fn(&T) -> T + Send + Sync>;
pub(crate) type OutcomeRule<T, E> =
    Box<dyn Fn(&Outcome<T, E>, &Outcome<T, E>) -> bool + Send + Sync>;
pub(crate) type MismatchFormatter<T, E> =
    fn(&ExperimentResult<T, E>, &CandidateResult<T, E>, bool) -> String;

/// A rule that turns a mismatch into an ignored run.
pub(crate) enum IgnoreRule<T, E> {
    Values(Comparator<T>),
    Outcomes(OutcomeRule<T, E>),
}

/// Everything an experiment is: configuration and counters, shared by its clones.
pub(crate) struct Inner<T, E> {
    pub(crate) name: Arc<str>,
    pub(crate) control_name: Cow<'static, str>,
    pub(crate) candidate_name: Cow<'static, str>,
    pub(crate) sampler: Sampler,
    pub(crate) sampler_calls_user_code: bool,
    /// Whether the sampler reads the call's key; if not, a trial's key is not even hashed.
    pub(crate) sampler_uses_key: bool,
    pub(crate) salt_seed: u64,
    pub(crate) compare: Comparator<T>,
    pub(crate) compare_errors: Comparator<E>,
    pub(crate) ignores: Vec<IgnoreRule<T, E>>,
    pub(crate) clean: Option<Cleaner<T>>,
    #[cfg(feature = "serde")]
    pub(crate) differ: Option<Differ<T>>,
    /// Noise calibration, when configured.
    #[cfg(feature = "insight")]
    pub(crate) noise: Option<Arc<crate::insight::NoiseModel>>,
    pub(crate) publishers: Vec<Box<dyn Publisher<T, E>>>,
    pub(crate) before_run: Option<Box<dyn Fn() + Send + Sync>>,
    pub(crate) candidate_timeout: Option<Duration>,
    pub(crate) max_in_flight: usize,
    pub(crate) in_flight: AtomicUsize,
    /// Detached results waiting in the publish queue (or being published).
    pub(crate) queued_results: AtomicUsize,
    /// Detached candidates queued for a background worker that has not started them yet.
    pub(crate) waiting_to_start: Arc<AtomicUsize>,
    /// Timers for deadlines: tokio's, or a fallback thread where the runtime has none.
    pub(crate) timers: crate::timer::Timers,
    /// Finished detached runs waiting for a background worker to publish them.
    pub(crate) publish_queue: SegQueue<QueuedRun<T, E>>,
    /// The most results the publish queue holds; more are dropped.
    pub(crate) publish_capacity: usize,
    /// Whether the publish queue is registered with running background workers.
    pub(crate) draining: OnceLock<bool>,
    /// Set by `shutdown`: no new candidates start.
    pub(crate) closed: AtomicBool,
    /// The workers of detached runs; the default one starts on first use.
    pub(crate) background: OnceLock<Background>,
    pub(crate) randomize_order: bool,
    pub(crate) raise_on_mismatches: Option<MismatchFormatter<T, E>>,
    pub(crate) clock: Clock,
    pub(crate) hook: ErrorHook,
    pub(crate) counters: Counters,
}

impl<T, E> Experiment<T, E> {
    /// Starts defining an experiment called `name` (used in telemetry; keep it stable).
    ///
    /// The defaults: every call sampled, `PartialEq` comparison, errors equal when their
    /// `Display` text is, behaviours run in random order, no timeout, at most 1024 runs in
    /// flight, no publishers.
    pub fn builder(name: impl Into<String>) -> ExperimentBuilder<T, E, DefaultCompare> {
        ExperimentBuilder::new(name.into())
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A snapshot of the experiment's counters.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Noise calibration's window totals and per-path counts, when the experiment calibrates
    /// noise ([`calibrate_noise`](crate::ExperimentBuilder::calibrate_noise)).
    #[cfg(feature = "insight")]
    pub fn noise(&self) -> Option<crate::insight::NoiseSnapshot> {
        self.inner.noise.as_ref().map(|model| model.snapshot())
    }

    /// Whether a call with sampling key `key` would run its candidates, asked without running
    /// anything or counting a run. Deterministic for a keyed sampler; a fresh draw for a random
    /// one.
    pub fn samples<K: Hash + ?Sized>(&self, key: &K) -> bool {
        let hash = hash_with_seed(self.inner.salt_seed, key);
        self.inner.decide(Some(hash))
    }

    /// Starts one call with per-call options: a sampling key, context, several named
    /// candidates. See [`Trial`].
    pub fn trial(&self) -> Trial<'_, T, E> {
        Trial::new(self)
    }

    /// Runs `control` and, when sampled, `candidate` (in random order unless configured
    /// otherwise); returns exactly what `control` returned, or resumes its panic.
    ///
    /// The candidate's panic, error or slowness never reaches the caller; a sync candidate
    /// cannot be interrupted, so one that runs longer than `candidate_timeout` is recorded as
    /// timed out when it returns.
    pub fn run<O>(&self, control: impl FnOnce() -> O, candidate: impl FnOnce() -> O) -> O
    where
        O: BehaviorOutput<T, E>,
    {
        let Some(run) = self.inner.admit(None) else {
            return control();
        };
        let mut candidate = Some(candidate);
        let mut slots = [run::SyncCandidate {
            name: self.inner.candidate_name.clone(),
            behavior: &mut candidate,
        }];
        run::run_sync(&self.inner, run, Default::default(), control, &mut slots)
    }

    /// Runs both futures concurrently in the caller's task and returns exactly what `control`
    /// returned (or resumes its panic). Borrowed data is fine.
    ///
    /// With a `candidate_timeout` (and a tokio runtime with timers), the caller never waits for
    /// the candidate longer than that after the call began; a candidate still running then is
    /// dropped and recorded as timed out.
    pub async fn run_async<O, C, K>(&self, control: C, candidate: K) -> O
    where
        O: BehaviorOutput<T, E>,
        C: Future<Output = O>,
        K: Future<Output = O>,
    {
        let Some(run) = self.inner.admit(None) else {
            return control.await;
        };
        let candidate = pin!(candidate);
        let mut pending = SingleCandidate::new(self.inner.candidate_name.clone(), candidate);
        run::run_concurrent(&self.inner, run, Default::default(), control, &mut pending).await
    }
}

impl<T, E> Inner<T, E> {
    /// The background workers (the default ones are made on first use).
    pub(crate) fn background(&self) -> &Background {
        self.background.get_or_init(Background::new)
    }

    pub(crate) fn decide(&self, key: Option<u64>) -> bool {
        if self.sampler_calls_user_code {
            self.guarded(crate::hook::Operation::Sampler, None, || {
                self.sampler.decide(key)
            })
            .unwrap_or(false)
        } else {
            self.sampler.decide(key)
        }
    }
}

impl<T, E> Clone for Experiment<T, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Experiment<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Experiment")
            .field("name", &inner.name)
            .field("sampler", &inner.sampler)
            .field("candidate_timeout", &inner.candidate_timeout)
            .field("max_in_flight", &inner.max_in_flight)
            .field("publishers", &inner.publishers.len())
            .field("stats", &inner.counters.snapshot())
            .finish()
    }
}
