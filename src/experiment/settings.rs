//! What an experiment is configured with: fixed when it is built, shared by its clones, read
//! by every run. The builder fills one [`Settings`] in place and `build` checks it, so a new
//! setting is a field here (with its default in [`Settings::new`]), a builder method, and its
//! use.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
#[cfg(feature = "serde")]
use crate::diff::Diff;
use crate::error::ConfigError;
use crate::guard::Guard;
use crate::hook::{default_hook, ErrorHook};
use crate::observation::{CandidateResult, ExperimentResult, Outcome};
use crate::publish::Publisher;
use crate::random::Draws;
use crate::sample::{salt_seed, Sampler};
use crate::serve::Serving;

/// The default number of sampled runs an experiment carries out at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The default capacity of an experiment's queue of detached results awaiting publication.
pub const DEFAULT_PUBLISH_CAPACITY: usize = 4096;

pub(crate) type Comparator<V> = Box<dyn Fn(&V, &V) -> bool + Send + Sync>;
#[cfg(feature = "serde")]
pub(crate) type Differ<T> = Box<dyn Fn(&T, &T) -> Result<Diff, String> + Send + Sync>;
pub(crate) type Cleaner<T> = Box<dyn Fn(&T) -> T + Send + Sync>;
pub(crate) type OutcomeRule<T, E> =
    Box<dyn Fn(&Outcome<T, E>, &Outcome<T, E>) -> bool + Send + Sync>;
pub(crate) type Raiser = Box<dyn Fn(crate::run::raise::MismatchError) + Send + Sync>;
pub(crate) type MismatchFormatter<T, E> =
    fn(&ExperimentResult<T, E>, &CandidateResult<T, E>, bool) -> String;

/// A rule that turns a mismatch into an ignored run.
pub(crate) enum IgnoreRule<T, E> {
    Values(Comparator<T>),
    Outcomes(OutcomeRule<T, E>),
}

/// An experiment's configuration. Nothing in it changes after `build`.
pub(crate) struct Settings<T, E> {
    pub(crate) name: Arc<str>,
    pub(crate) control_name: Cow<'static, str>,
    pub(crate) candidate_name: Cow<'static, str>,
    pub(crate) sampler: Sampler,
    /// Whether the sampler runs user code (then a panic in it is caught).
    pub(crate) sampler_calls_user_code: bool,
    /// Whether the sampler reads the call's key; if not, a trial's key is not even hashed.
    pub(crate) sampler_uses_key: bool,
    /// The seed of keyed sampling's stable hash (from the salt, by default the name).
    pub(crate) salt_seed: u64,
    /// Set by `build`: `PartialEq`, or the builder's `compare`.
    pub(crate) compare: Comparator<T>,
    /// Set by `build`: the builder's `compare_errors`, or equal `Display` text.
    pub(crate) compare_errors: Comparator<E>,
    pub(crate) ignores: Vec<IgnoreRule<T, E>>,
    pub(crate) clean: Option<Cleaner<T>>,
    #[cfg(feature = "serde")]
    pub(crate) differ: Option<Differ<T>>,
    pub(crate) publishers: Vec<Box<dyn Publisher<T, E>>>,
    /// Whether a publisher wants each sampled run's trace (decided by `build`).
    pub(crate) traces: bool,
    /// Whether a publisher wants each traced run's real start and end (decided by `build`).
    pub(crate) trace_times: bool,
    pub(crate) before_run: Option<Box<dyn Fn() + Send + Sync>>,
    pub(crate) candidate_timeout: Option<Duration>,
    pub(crate) max_in_flight: usize,
    /// The most results the publish queue holds; more are dropped.
    pub(crate) publish_capacity: usize,
    pub(crate) randomize_order: bool,
    /// Which trial inputs are kept, and how (`record_inputs`).
    #[cfg(feature = "serde")]
    pub(crate) record_inputs: Option<crate::input::RecordInputs>,
    /// Where sampling and behaviour order draw from (a thread's generator, or a seeded one).
    pub(crate) draws: Draws,
    pub(crate) raise_on_mismatches: Option<MismatchFormatter<T, E>>,
    /// What raises a mismatch instead of the default panic (`raise_with`).
    pub(crate) raiser: Option<Raiser>,
    /// Compares two panics' messages (`compare_panics`); `None`: equal text.
    pub(crate) compare_panics: Option<Comparator<str>>,
    /// Context every run starts from (`context`); a run's own entries replace these.
    pub(crate) default_context: crate::context::Context,
    /// Durations reported instead of the measured ones, by behaviour name
    /// (`fabricate_duration`).
    pub(crate) fabricated: Vec<(Cow<'static, str>, Duration)>,
    /// Whether each behaviour's thread CPU time is measured (`cpu_time`).
    pub(crate) cpu_time: bool,
    pub(crate) clock: Clock,
    pub(crate) hook: ErrorHook,
    /// Every candidate's guard (made by `build`, which knows the names and the clock).
    pub(crate) guards: Vec<Arc<Guard>>,
    /// The guard of the experiment's default candidate, for the one-candidate run forms.
    pub(crate) default_guard: Option<Arc<Guard>>,
    /// The served candidate, if any.
    pub(crate) serving: Option<Serving>,
}

impl<T, E> Settings<T, E> {
    /// The defaults: every call sampled, keyed sampling salted with the name, behaviours in
    /// random order, no timeout, 1024 runs in flight, no publishers, the default error hook.
    pub(crate) fn new(name: String) -> Self {
        let sampler = Sampler::always();
        Self {
            salt_seed: salt_seed(&name),
            name: name.into(),
            control_name: Cow::Borrowed("control"),
            candidate_name: Cow::Borrowed("candidate"),
            sampler_calls_user_code: sampler.calls_user_code(),
            sampler_uses_key: sampler.uses_key(),
            sampler,
            // Both replaced by `build`, which knows which comparisons apply (and has the bounds
            // the defaults need); never called before.
            compare: Box::new(|_, _| false),
            compare_errors: Box::new(|_, _| false),
            ignores: Vec::new(),
            clean: None,
            #[cfg(feature = "serde")]
            differ: None,
            publishers: Vec::new(),
            traces: false,
            trace_times: false,
            before_run: None,
            candidate_timeout: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            publish_capacity: DEFAULT_PUBLISH_CAPACITY,
            randomize_order: true,
            draws: Draws::Thread,
            #[cfg(feature = "serde")]
            record_inputs: None,
            raise_on_mismatches: None,
            raiser: None,
            compare_panics: None,
            default_context: crate::context::Context::new(),
            fabricated: Vec::new(),
            cpu_time: false,
            clock: Clock::system(),
            hook: default_hook(),
            guards: Vec::new(),
            default_guard: None,
            serving: None,
        }
    }

    /// Sets the sampler and what the runs need to know about it.
    pub(crate) fn set_sampler(&mut self, sampler: Sampler) {
        self.sampler_calls_user_code = sampler.calls_user_code();
        self.sampler_uses_key = sampler.uses_key();
        self.sampler = sampler;
    }

    /// Whether mismatches are diffed: then values leave the process only through the diff,
    /// which applies redaction and caps.
    #[inline]
    pub(crate) fn guard_of(&self, candidate: &str) -> Option<&Arc<Guard>> {
        // The one-candidate run forms name their candidate with the very string the default
        // guard holds: found by address, no comparison of bytes.
        if let Some(guard) = &self.default_guard {
            if std::ptr::eq(guard.candidate(), candidate) {
                return Some(guard);
            }
        }
        self.guards
            .iter()
            .find(|guard| guard.candidate() == candidate)
    }

    /// Whether a key's hash is needed: for keyed sampling, or to serve by key.
    pub(crate) fn needs_key(&self) -> bool {
        self.sampler_uses_key || self.serving.is_some()
    }

    pub(crate) fn has_differ(&self) -> bool {
        #[cfg(feature = "serde")]
        return self.differ.is_some();
        #[cfg(not(feature = "serde"))]
        return false;
    }

    /// Checks every setting; the first one that is wrong says what to fix.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::EmptyName);
        }
        self.sampler.validate()?;
        #[cfg(feature = "serde")]
        if let Some(inputs) = &self.record_inputs {
            inputs.validate()?;
        }
        if self.candidate_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroDuration {
                setting: "candidate_timeout",
            });
        }
        if self.publish_capacity == 0 {
            return Err(ConfigError::ZeroCap {
                setting: "publish_queue_capacity",
            });
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::ZeroCap {
                setting: "max_in_flight",
            });
        }
        for (role, name) in [
            ("control", &self.control_name),
            ("candidate", &self.candidate_name),
        ] {
            if name.trim().is_empty() {
                return Err(ConfigError::EmptyBehaviorName { role });
            }
        }
        if self.control_name == self.candidate_name {
            return Err(ConfigError::DuplicateBehaviorName {
                name: self.control_name.clone().into_owned(),
            });
        }
        Ok(())
    }
}
