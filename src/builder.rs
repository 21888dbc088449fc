//! Defining an experiment: the builder and the validation done by `build()`.

#[cfg(feature = "insight")]
use crate::insight::{Insight, NoiseCalibration, NoiseModel};
use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::background::Background;
use crate::clock::Clock;
#[cfg(feature = "serde")]
use crate::diff::DiffOptions;
use crate::error::ConfigError;
use crate::experiment::{Cleaner, Comparator, Experiment, IgnoreRule, Inner, MismatchFormatter};
use crate::hook::{default_hook, CallbackError, ErrorHook};
use crate::observation::Outcome;
use crate::publish::Publisher;
use crate::run::raise::mismatch_message;
use crate::sample::{salt_seed, Sampler};
use crate::stats::Counters;
use crossbeam_queue::SegQueue;

/// The default number of sampled runs an experiment carries out at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The default capacity of an experiment's queue of detached results awaiting publication.
pub const DEFAULT_PUBLISH_CAPACITY: usize = 4096;

/// Builder state: values are compared with `PartialEq` (the default).
#[derive(Debug)]
pub struct DefaultCompare;
/// Builder state: values are compared with the closure given to
/// [`compare`](ExperimentBuilder::compare).
pub struct CustomCompare<T>(Comparator<T>);

/// Defines an [`Experiment`]; made by [`Experiment::builder`].
///
/// Every setting is checked by [`build`](Self::build), which returns a [`ConfigError`] that
/// says what to fix; nothing is checked later, and nothing panics.
///
/// The third type parameter records whether a custom comparator was given: without one,
/// `build` needs `T: PartialEq`.
#[must_use = "an experiment does nothing until it is built"]
pub struct ExperimentBuilder<T, E, C = DefaultCompare> {
    name: String,
    control_name: Cow<'static, str>,
    candidate_name: Cow<'static, str>,
    sampler: Sampler,
    salt: Option<String>,
    compare_errors: Option<Comparator<E>>,
    ignores: Vec<IgnoreRule<T, E>>,
    clean: Option<Cleaner<T>>,
    #[cfg(feature = "serde")]
    differ: Option<crate::experiment::Differ<T>>,
    #[cfg(feature = "insight")]
    noise: Option<NoiseCalibration>,
    #[cfg(feature = "insight")]
    insights: Vec<Insight<T, E>>,
    publishers: Vec<Box<dyn Publisher<T, E>>>,
    before_run: Option<Box<dyn Fn() + Send + Sync>>,
    candidate_timeout: Option<Duration>,
    max_in_flight: usize,
    randomize_order: bool,
    raise_on_mismatches: Option<MismatchFormatter<T, E>>,
    clock: Clock,
    hook: Option<ErrorHook>,
    background: Option<Background>,
    publish_capacity: usize,
    compare: C,
}

impl<T, E> ExperimentBuilder<T, E, DefaultCompare> {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            control_name: Cow::Borrowed("control"),
            candidate_name: Cow::Borrowed("candidate"),
            sampler: Sampler::always(),
            salt: None,
            compare_errors: None,
            ignores: Vec::new(),
            clean: None,
            #[cfg(feature = "serde")]
            differ: None,
            #[cfg(feature = "insight")]
            noise: None,
            #[cfg(feature = "insight")]
            insights: Vec::new(),
            publishers: Vec::new(),
            before_run: None,
            candidate_timeout: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            randomize_order: true,
            raise_on_mismatches: None,
            clock: Clock::system(),
            hook: None,
            background: None,
            publish_capacity: DEFAULT_PUBLISH_CAPACITY,
            compare: DefaultCompare,
        }
    }

    /// Checks the configuration and builds the experiment; values are compared with
    /// `PartialEq`.
    pub fn build(self) -> Result<Experiment<T, E>, ConfigError>
    where
        T: PartialEq,
        E: Display,
    {
        self.finish(Box::new(|control: &T, candidate: &T| control == candidate))
    }
}

impl<T, E> ExperimentBuilder<T, E, CustomCompare<T>> {
    /// Checks the configuration and builds the experiment.
    pub fn build(self) -> Result<Experiment<T, E>, ConfigError>
    where
        E: Display,
    {
        let (builder, CustomCompare(compare)) = self.with_compare(DefaultCompare);
        builder.finish(compare)
    }
}

impl<T, E, C> ExperimentBuilder<T, E, C> {
    /// Which calls run candidates (default: [`Sampler::always`]).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// The salt of keyed sampling (default: the experiment's name). Two experiments with one
    /// salt sample the same keys; keep it when renaming an experiment to keep its cohort.
    pub fn sampling_salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = Some(salt.into());
        self
    }

    /// How values are compared (default: `PartialEq`).
    pub fn compare(
        self,
        compare: impl Fn(&T, &T) -> bool + Send + Sync + 'static,
    ) -> ExperimentBuilder<T, E, CustomCompare<T>> {
        self.with_compare(CustomCompare(Box::new(compare))).0
    }

    /// Swaps the comparator state, returning the builder with `compare` and the old state.
    fn with_compare<C2>(self, compare: C2) -> (ExperimentBuilder<T, E, C2>, C) {
        let builder = ExperimentBuilder {
            name: self.name,
            control_name: self.control_name,
            candidate_name: self.candidate_name,
            sampler: self.sampler,
            salt: self.salt,
            compare_errors: self.compare_errors,
            ignores: self.ignores,
            clean: self.clean,
            #[cfg(feature = "serde")]
            differ: self.differ,
            #[cfg(feature = "insight")]
            noise: self.noise,
            #[cfg(feature = "insight")]
            insights: self.insights,
            publishers: self.publishers,
            before_run: self.before_run,
            candidate_timeout: self.candidate_timeout,
            max_in_flight: self.max_in_flight,
            randomize_order: self.randomize_order,
            raise_on_mismatches: self.raise_on_mismatches,
            clock: self.clock,
            hook: self.hook,
            background: self.background,
            publish_capacity: self.publish_capacity,
            compare,
        };
        (builder, self.compare)
    }

    /// How errors are compared when both behaviours return `Err` (default: equal `Display`
    /// text).
    pub fn compare_errors(
        mut self,
        compare: impl Fn(&E, &E) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.compare_errors = Some(Box::new(compare));
        self
    }

    /// Ignores a mismatch of two values when `rule` returns true (stackable; any rule
    /// suffices). Ignored runs are counted as ignored, not as matches.
    pub fn ignore(mut self, rule: impl Fn(&T, &T) -> bool + Send + Sync + 'static) -> Self {
        self.ignores.push(IgnoreRule::Values(Box::new(rule)));
        self
    }

    /// Ignores a mismatch of any two outcomes (values, errors, panics) when `rule` returns
    /// true, given the control's outcome first.
    pub fn ignore_when(
        mut self,
        rule: impl Fn(&Outcome<T, E>, &Outcome<T, E>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.ignores.push(IgnoreRule::Outcomes(Box::new(rule)));
        self
    }

    /// Maps every value before it is published (to drop secrets or bulky fields). Comparison
    /// uses the original values; the caller always gets the control's original value. If the
    /// cleaner panics the run is not published (rather than publish uncleaned values).
    pub fn clean(mut self, clean: impl Fn(&T) -> T + Send + Sync + 'static) -> Self {
        self.clean = Some(Box::new(clean));
        self
    }

    /// Adds a publisher (stackable: every publisher receives every sampled run).
    pub fn publisher(mut self, publisher: impl Publisher<T, E> + 'static) -> Self {
        self.publishers.push(Box::new(publisher));
        self
    }

    /// Setup that runs only on sampled calls, before the behaviours (Scientist's
    /// `before_run`). If it panics, the call runs only the control and is not counted as
    /// sampled.
    pub fn before_run(mut self, setup: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_run = Some(Box::new(setup));
        self
    }

    /// The longest a candidate may take (must be positive; default: no limit).
    pub fn candidate_timeout(mut self, timeout: Duration) -> Self {
        self.candidate_timeout = Some(timeout);
        self
    }

    /// The most sampled runs carried out at once; further sampled calls are shed (run only the
    /// control, counted as shed). Must be at least 1; default 1024.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// Whether sync runs execute the behaviours in random order (default true, as Scientist
    /// does, so that order effects show up as mismatches). With false the control runs first.
    pub fn randomize_order(mut self, randomize: bool) -> Self {
        self.randomize_order = randomize;
        self
    }

    /// Names the control in results (default `control`).
    pub fn control_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.control_name = name.into();
        self
    }

    /// Names the candidate of [`Experiment::run`] and [`Experiment::run_async`] (default
    /// `candidate`).
    pub fn candidate_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.candidate_name = name.into();
        self
    }

    /// The clock durations are measured with (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Receives every panic from a user callback (compare, ignore, clean, sampler, before-run,
    /// publisher) with the operation's name, instead of the caller. Default: a `tracing`
    /// warning (with the `tracing` feature) — and every error is counted in the stats either
    /// way. A panic in the hook itself is swallowed.
    pub fn on_error(mut self, hook: impl Fn(&CallbackError) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The background workers detached runs use (default: the experiment's own, one thread,
    /// started on the first detached run). Share one between experiments to bound threads.
    pub fn background(mut self, background: Background) -> Self {
        self.background = Some(background);
        self
    }

    /// The most detached results waiting to be published (default 4096); when the background
    /// falls behind, further results are dropped and counted as `publish_dropped`. Must be at
    /// least 1.
    pub fn publish_queue_capacity(mut self, capacity: usize) -> Self {
        self.publish_capacity = capacity;
        self
    }

    /// With true, a run in which a candidate mismatched or panicked panics — after it was
    /// published — with a message naming the experiment and the candidate, showing both
    /// outcomes and, with [`diff`](Self::diff), the differing paths. Meant for tests:
    /// `.raise_on_mismatches(cfg!(test))`. A control panic still wins: it is resumed as is.
    pub fn raise_on_mismatches(mut self, raise: bool) -> Self
    where
        T: Debug,
        E: Debug,
    {
        self.raise_on_mismatches = if raise {
            Some(mismatch_message::<T, E>)
        } else {
            None
        };
        self
    }

    /// Computes a structural diff (paths, kinds, both values) of every mismatch of two values,
    /// after `clean`. A mismatch whose differences all lie on the options' ignore paths is not
    /// a mismatch: its verdict is [`Ignored`](crate::Verdict::Ignored) (counted in
    /// `Stats::ignored`, never raised), and its diff is empty with
    /// [`Diff::ignored`](crate::Diff::ignored) counting what was ignored. To let the diff
    /// decide matches as well, compare with [`diff::comparator`](crate::diff::comparator).
    /// The diff reaches publishers through
    /// [`CandidateResult::diff`](crate::CandidateResult::diff) and the message of
    /// `raise_on_mismatches`. Nothing is serialized for runs that match.
    #[cfg(feature = "serde")]
    pub fn diff(mut self, options: DiffOptions) -> Self
    where
        T: serde::Serialize,
    {
        self.differ = Some(Box::new(move |control: &T, candidate: &T| {
            crate::diff::diff(control, candidate, &options).map_err(|e| e.to_string())
        }));
        self
    }

    /// Calibrates noise: on the given fraction of sampled runs, a trial's
    /// [`calibration`](crate::Trial::calibration) behaviour (the control run a second time)
    /// is diffed against the control, and mismatches whose differing paths are all explained
    /// by that noise get the verdict [`Noise`](crate::Verdict::Noise) instead of `Mismatch`.
    /// See [`NoiseCalibration`] for the rule. Computes diffs with the default
    /// [`DiffOptions`] unless [`diff`](Self::diff) sets others.
    ///
    /// Runs without a calibration behaviour (`run`, `run_async`, `run_detached`, trials
    /// without one) are still classified with what the calibrated runs taught.
    #[cfg(feature = "insight")]
    pub fn calibrate_noise(mut self, calibration: NoiseCalibration) -> Self
    where
        T: serde::Serialize,
    {
        if self.differ.is_none() {
            self = self.diff(DiffOptions::new());
        }
        self.noise = Some(calibration);
        self
    }

    /// Publishes to `insight` (a clone of it) and links the experiment's noise calibration to
    /// its reports. See [`Insight`].
    #[cfg(feature = "insight")]
    pub fn insight(mut self, insight: &Insight<T, E>) -> Self
    where
        T: serde::Serialize + 'static,
        E: Display + 'static,
    {
        self.publishers.push(Box::new(insight.clone()));
        self.insights.push(insight.clone());
        self
    }

    fn finish(self, compare: Comparator<T>) -> Result<Experiment<T, E>, ConfigError>
    where
        E: Display,
    {
        if self.name.trim().is_empty() {
            return Err(ConfigError::EmptyName);
        }
        self.sampler.validate()?;
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
                name: self.control_name.into_owned(),
            });
        }
        let salt_seed = salt_seed(self.salt.as_deref().unwrap_or(&self.name));
        let compare_errors = self.compare_errors.unwrap_or_else(|| {
            Box::new(|control: &E, candidate: &E| control.to_string() == candidate.to_string())
        });
        #[cfg(feature = "insight")]
        let noise = match self.noise {
            Some(calibration) => {
                calibration.validate()?;
                let model = Arc::new(NoiseModel::new(calibration));
                for insight in &self.insights {
                    insight.link_noise(model.clone());
                }
                Some(model)
            }
            None => None,
        };
        #[cfg(feature = "insight")]
        for insight in &self.insights {
            // With a differ, values may carry redacted paths: samples show only the diff.
            insight.link_differ(self.differ.is_some());
        }
        let sampler_calls_user_code = self.sampler.calls_user_code();
        let sampler_uses_key = self.sampler.uses_key();
        Ok(Experiment {
            inner: Arc::new(Inner {
                name: self.name.into(),
                control_name: self.control_name,
                candidate_name: self.candidate_name,
                sampler: self.sampler,
                sampler_calls_user_code,
                sampler_uses_key,
                salt_seed,
                compare,
                compare_errors,
                ignores: self.ignores,
                clean: self.clean,
                #[cfg(feature = "serde")]
                differ: self.differ,
                #[cfg(feature = "insight")]
                noise,
                publishers: self.publishers,
                before_run: self.before_run,
                candidate_timeout: self.candidate_timeout,
                max_in_flight: self.max_in_flight,
                in_flight: AtomicUsize::new(0),
                queued_results: AtomicUsize::new(0),
                waiting_to_start: Arc::new(AtomicUsize::new(0)),
                timers: crate::timer::Timers::default(),
                publish_queue: SegQueue::new(),
                publish_capacity: self.publish_capacity,
                draining: OnceLock::new(),
                closed: AtomicBool::new(false),
                background: self.background.map(OnceLock::from).unwrap_or_default(),
                randomize_order: self.randomize_order,
                raise_on_mismatches: self.raise_on_mismatches,
                clock: self.clock,
                hook: self.hook.unwrap_or_else(default_hook),
                counters: Counters::default(),
            }),
        })
    }
}
