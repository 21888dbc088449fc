//! The experiment: defined once, shared, run many times. Its settings (fixed when it is built)
//! live apart from its runtime state (counters, in-flight runs, the publish queue).

pub(crate) mod builder;
pub(crate) mod flush;
mod one_candidate;
mod settings;
mod state;
pub(crate) mod trial;

pub(crate) use settings::{Comparator, IgnoreRule, Settings};
pub use settings::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_PUBLISH_CAPACITY};
pub(crate) use state::State;

use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::observation::{CandidateResult, Outcome};
use crate::sample::hash_with_seed;
use crate::stats::Stats;
use builder::{DefaultCompare, ExperimentBuilder};
use trial::Trial;

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

/// Everything an experiment is, shared by its clones: what it was built with, and what it
/// keeps while it runs.
pub(crate) struct Inner<T, E> {
    pub(crate) settings: Settings<T, E>,
    pub(crate) state: State<T, E>,
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
        &self.inner.settings.name
    }

    /// A snapshot of the experiment's counters.
    pub fn stats(&self) -> Stats {
        self.inner.state.counters.snapshot()
    }

    /// Noise calibration's window totals and per-path counts, when the experiment calibrates
    /// noise ([`calibrate_noise`](crate::ExperimentBuilder::calibrate_noise)).
    #[cfg(feature = "serde")]
    pub fn noise(&self) -> Option<crate::noise::NoiseSnapshot> {
        self.inner
            .state
            .noise
            .as_ref()
            .map(|model| model.snapshot())
    }

    /// Whether a call with sampling key `key` would run its candidates, asked without running
    /// anything or counting a run. Deterministic for a keyed sampler; a fresh draw for a random
    /// one.
    pub fn samples<K: Hash + ?Sized>(&self, key: &K) -> bool {
        let hash = hash_with_seed(self.inner.settings.salt_seed, key);
        self.inner.decide(Some(hash))
    }

    /// Judges `candidate`'s outcome against `control`'s as a sampled run would, with this
    /// experiment's compare, ignore rules, clean, diff and noise calibration, but outside any
    /// run: nothing is counted, published or held by guard rails, and noise calibration learns
    /// nothing from it. A panicking callback goes to the error hook, as in a run. What
    /// [`replay`](crate::replay) and the property-test helpers judge with.
    ///
    /// ```
    /// use darklaunch::{Experiment, Outcome, Verdict};
    ///
    /// let experiment: Experiment<Vec<u32>> = Experiment::builder("sort")
    ///     .diff(darklaunch::diff::DiffOptions::new())
    ///     .build()
    ///     .unwrap();
    /// let judged = experiment.compare_outcomes(Outcome::Value(vec![1, 2]), Outcome::Value(vec![2, 1]));
    /// assert_eq!(judged.verdict(), Verdict::Mismatch);
    /// assert_eq!(judged.diff().unwrap().differences[0].path, "$");
    /// assert_eq!(experiment.stats().mismatched, 0, "nothing is counted");
    /// ```
    pub fn compare_outcomes(
        &self,
        control: Outcome<T, E>,
        candidate: Outcome<T, E>,
    ) -> CandidateResult<T, E> {
        let name = self.inner.settings.candidate_name.clone();
        crate::run::judge_offline(&self.inner, control, name, candidate)
    }

    /// Starts one call with per-call options: a sampling key, context, several named
    /// candidates. See [`Trial`].
    pub fn trial(&self) -> Trial<'_, T, E> {
        Trial::new(self)
    }
}

impl<T, E> Inner<T, E> {
    pub(crate) fn decide(&self, key: Option<u64>) -> bool {
        if self.settings.sampler_calls_user_code {
            self.guarded(crate::hook::Operation::Sampler, None, || {
                self.settings.sampler.decide(key, &self.settings.draws)
            })
            .unwrap_or(false)
        } else {
            self.settings.sampler.decide(key, &self.settings.draws)
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
            .field("name", &inner.settings.name)
            .field("sampler", &inner.settings.sampler)
            .field("candidate_timeout", &inner.settings.candidate_timeout)
            .field("max_in_flight", &inner.settings.max_in_flight)
            .field("publishers", &inner.settings.publishers.len())
            .field(
                "guards",
                &inner
                    .settings
                    .guards
                    .iter()
                    .map(|guard| (guard.candidate(), guard.status().as_str()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "serving",
                &inner
                    .settings
                    .serving
                    .as_ref()
                    .map(|serving| (&*serving.candidate, serving.share.percent())),
            )
            .field("stats", &inner.state.counters.snapshot())
            .finish()
    }
}
