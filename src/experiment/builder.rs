//! Defining an experiment: the builder fills the experiment's [`Settings`] in place, and
//! `build()` checks them.

#[cfg(feature = "insight")]
use crate::insight::Insight;
#[cfg(feature = "serde")]
use crate::noise::{NoiseCalibration, NoiseModel};
use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use crate::background::Background;
use crate::clock::Clock;
#[cfg(feature = "serde")]
use crate::diff::DiffOptions;
use crate::error::ConfigError;
use crate::experiment::{Comparator, Experiment, IgnoreRule, Inner, Settings, State};
use crate::guard::{Guard, GuardRails};
use crate::hook::{CallbackError, Operation};
use crate::observation::Outcome;
use crate::publish::{Attachment, Publisher};
use crate::run::raise::mismatch_message;
use crate::sample::{salt_seed, Sampler};
use crate::serve::{ServeShare, Serving};

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
    settings: Settings<T, E>,
    /// Replaces the default error comparison at `build` (which has the bound the default
    /// needs).
    compare_errors: Option<Comparator<E>>,
    /// Made into the noise model at `build`, once checked.
    #[cfg(feature = "serde")]
    noise: Option<NoiseCalibration>,
    background: Option<Background>,
    /// Guards by candidate name (`None`: the default candidate), made at `build`.
    guards: Vec<(Option<Cow<'static, str>>, GuardRails)>,
    /// The served candidate (`None`: the default one) and its share, resolved at `build`.
    serve: Option<(Option<Cow<'static, str>>, ServeShare)>,
    propagate_served_errors: bool,
    compare: C,
}

impl<T, E> ExperimentBuilder<T, E, DefaultCompare> {
    pub(crate) fn new(name: String) -> Self {
        Self {
            settings: Settings::new(name),
            compare_errors: None,
            #[cfg(feature = "serde")]
            noise: None,
            background: None,
            guards: Vec::new(),
            serve: None,
            propagate_served_errors: false,
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
        self.settings.set_sampler(sampler);
        self
    }

    /// The salt of keyed sampling (default: the experiment's name). Two experiments with one
    /// salt sample the same keys; keep it when renaming an experiment to keep its cohort.
    pub fn sampling_salt(mut self, salt: impl Into<String>) -> Self {
        self.settings.salt_seed = salt_seed(&salt.into());
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
            settings: self.settings,
            compare_errors: self.compare_errors,
            #[cfg(feature = "serde")]
            noise: self.noise,
            background: self.background,
            guards: self.guards,
            serve: self.serve,
            propagate_served_errors: self.propagate_served_errors,
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
        self.settings
            .ignores
            .push(IgnoreRule::Values(Box::new(rule)));
        self
    }

    /// Ignores a mismatch of any two outcomes (values, errors, panics) when `rule` returns
    /// true, given the control's outcome first.
    pub fn ignore_when(
        mut self,
        rule: impl Fn(&Outcome<T, E>, &Outcome<T, E>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.settings
            .ignores
            .push(IgnoreRule::Outcomes(Box::new(rule)));
        self
    }

    /// Maps every value before it is published (to drop secrets or bulky fields). Comparison
    /// uses the original values; the caller always gets the control's original value. If the
    /// cleaner panics the run is not published (rather than publish uncleaned values).
    pub fn clean(mut self, clean: impl Fn(&T) -> T + Send + Sync + 'static) -> Self {
        self.settings.clean = Some(Box::new(clean));
        self
    }

    /// Adds a publisher (stackable: every publisher receives every sampled run).
    pub fn publisher(mut self, publisher: impl Publisher<T, E> + 'static) -> Self {
        self.settings.publishers.push(Box::new(publisher));
        self
    }

    /// Setup that runs only on sampled calls, before the behaviours (Scientist's
    /// `before_run`). If it panics, the call runs only the control and is not counted as
    /// sampled.
    pub fn before_run(mut self, setup: impl Fn() + Send + Sync + 'static) -> Self {
        self.settings.before_run = Some(Box::new(setup));
        self
    }

    /// The longest a candidate may take (must be positive; default: no limit).
    pub fn candidate_timeout(mut self, timeout: Duration) -> Self {
        self.settings.candidate_timeout = Some(timeout);
        self
    }

    /// The most sampled runs carried out at once; further sampled calls are shed (run only the
    /// control, counted as shed). Must be at least 1; default 1024.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.settings.max_in_flight = max;
        self
    }

    /// Whether sync runs execute the behaviours in random order (default true, as Scientist
    /// does, so that order effects show up as mismatches). With false the control runs first.
    pub fn randomize_order(mut self, randomize: bool) -> Self {
        self.settings.randomize_order = randomize;
        self
    }

    /// Draws the random sampling decisions and the behaviours' order from a generator seeded
    /// with `seed` (`rand`'s small generator) instead of each thread's own: a test that runs
    /// the same calls in the same order sees the same decisions and orders on every run, and
    /// another seed sees others. Keyed decisions depend only on the key either way. Each draw
    /// takes a lock, shared by the experiment's clones: for tests and replays, not hot paths.
    ///
    /// ```
    /// use darklaunch::{Experiment, Sampler};
    ///
    /// let decisions = |seed| {
    ///     let experiment: Experiment<u8> = Experiment::builder("seeded")
    ///         .sampler(Sampler::percent(50.0))
    ///         .seed(seed)
    ///         .build()
    ///         .unwrap();
    ///     (0..64).map(|_| experiment.samples(&())).collect::<Vec<bool>>()
    /// };
    /// assert_eq!(decisions(7), decisions(7));
    /// assert_ne!(decisions(7), decisions(8));
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.draws = crate::random::Draws::seeded(seed);
        self
    }

    /// Keeps the input a trial names with [`Trial::input`](crate::Trial::input) on the runs
    /// that need it (mismatches, candidate errors, timeouts, and a share of matches), cleaned,
    /// redacted and capped as `inputs` says: see [`crate::input`]. Without it, inputs are not
    /// even serialized.
    #[cfg(feature = "serde")]
    pub fn record_inputs(mut self, inputs: crate::input::RecordInputs) -> Self {
        self.settings.record_inputs = Some(inputs);
        self
    }

    /// Adds an entry to the context every run of this experiment starts from (Scientist's
    /// experiment-level `context`): a trial's own entry with the same key replaces it. Like all
    /// context, it goes to traces and logs, never to metric attributes.
    ///
    /// ```
    /// use darklaunch::publish::Recorder;
    /// use darklaunch::Experiment;
    ///
    /// let recorder = Recorder::new();
    /// let experiment: Experiment<u8> = Experiment::builder("defaults")
    ///     .context("service", "checkout")
    ///     .context("route", "unknown")
    ///     .publisher(recorder.clone())
    ///     .build()
    ///     .unwrap();
    /// experiment.trial().context("route", "/pay").control(|| 1).candidate("v2", || 1).run();
    /// let context = recorder.results()[0].context().clone();
    /// assert_eq!(context.get("service").unwrap().to_string(), "checkout");
    /// assert_eq!(context.get("route").unwrap().to_string(), "/pay");
    /// ```
    pub fn context(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<crate::context::ContextValue>,
    ) -> Self {
        self.settings.default_context.insert(key, value);
        self
    }

    /// Compares two panics' messages with `compare` (a control and a candidate that both
    /// panicked match when it returns true) instead of requiring the same text; for messages
    /// that carry an address, a time or an id. A panic in it counts as "not equal" and goes to
    /// the error hook.
    ///
    /// ```
    /// use darklaunch::{Experiment, Verdict};
    /// use darklaunch::publish::Recorder;
    ///
    /// let recorder = Recorder::new();
    /// let experiment: Experiment<u8> = Experiment::builder("panics")
    ///     .compare_panics(|control, candidate| {
    ///         control.split(" at ").next() == candidate.split(" at ").next()
    ///     })
    ///     .publisher(recorder.clone())
    ///     .build()
    ///     .unwrap();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     experiment.run(|| -> u8 { panic!("out of stock at 12:00") }, || -> u8 { panic!("out of stock at 12:01") })
    /// }));
    /// assert_eq!(recorder.results()[0].candidates()[0].verdict(), Verdict::Match);
    /// ```
    pub fn compare_panics(
        mut self,
        compare: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.settings.compare_panics = Some(Box::new(compare));
        self
    }

    /// Reports `duration` as the duration of the behaviour called `name` (the control's or a
    /// candidate's name) instead of the measured one, while the others are measured — Ruby
    /// Scientist's `fabricate_durations_for_testing_purposes`, for testing publishers, latency
    /// reports and guards on slowness. Timeouts are still decided on the measured time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use darklaunch::publish::Recorder;
    /// use darklaunch::Experiment;
    ///
    /// let recorder = Recorder::new();
    /// let experiment: Experiment<u8> = Experiment::builder("fabricated")
    ///     .fabricate_duration("candidate", Duration::from_millis(250))
    ///     .publisher(recorder.clone())
    ///     .build()
    ///     .unwrap();
    /// experiment.run(|| 1, || 1);
    /// let result = &recorder.results()[0];
    /// assert_eq!(result.candidates()[0].observation().duration(), Duration::from_millis(250));
    /// assert!(result.control().duration() < Duration::from_millis(250));
    /// ```
    pub fn fabricate_duration(
        mut self,
        name: impl Into<Cow<'static, str>>,
        duration: Duration,
    ) -> Self {
        let name = name.into();
        self.settings.fabricated.retain(|(known, _)| *known != name);
        self.settings.fabricated.push((name, duration));
        self
    }

    /// Measures each behaviour's thread CPU time (Ruby Scientist's `cpu_time`): read before
    /// and after each call of a closure or poll of a future, summed, and published as
    /// [`Observation::cpu_time`](crate::Observation::cpu_time). Opt-in: two reads of the
    /// thread's CPU clock per call or poll (a system call each; the figure is in
    /// `benches/overhead.rs`). Sampled-out calls read nothing.
    #[cfg(feature = "cpu-time")]
    pub fn cpu_time(mut self, measure: bool) -> Self {
        self.settings.cpu_time = measure;
        self
    }

    /// Names the control in results (default `control`).
    pub fn control_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.settings.control_name = name.into();
        self
    }

    /// Guards the experiment's default candidate (the one the one-candidate run forms run,
    /// `candidate` unless [`candidate_name`](Self::candidate_name) says otherwise) with
    /// `rails`: see [`crate::guard`]. Read and change it through
    /// [`Experiment::guard`](crate::Experiment::guard).
    pub fn guard(mut self, rails: GuardRails) -> Self {
        self.guards.push((None, rails));
        self
    }

    /// Guards the candidate called `name` (in trials) with `rails`; each guarded candidate
    /// has its own window and state.
    pub fn guard_candidate(
        mut self,
        name: impl Into<Cow<'static, str>>,
        rails: GuardRails,
    ) -> Self {
        self.guards.push((Some(name.into()), rails));
        self
    }

    /// Serves the experiment's default candidate to `share` of keys: their calls return the
    /// candidate's outcome, with the control run as the shadow (compared as usual on sampled
    /// calls) and as the fallback. When the served candidate returns an `Err`, panics or times
    /// out, the caller gets the control's outcome instead (counted in
    /// [`Stats::fallbacks`](crate::Stats::fallbacks)), unless
    /// [`propagate_served_errors`](Self::propagate_served_errors). While the candidate's guard
    /// is not armed, every call gets the control's. Change the share at runtime through the
    /// [`ServeShare`] itself.
    ///
    /// ```
    /// use darklaunch::{Experiment, ServeShare};
    ///
    /// let share = ServeShare::new(100.0);
    /// let experiment: Experiment<u32> = Experiment::builder("serve-v2")
    ///     .serve(share.clone())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(experiment.run(|| 1, || 2), 2); // served: the candidate's value
    /// share.set_percent(0.0).unwrap();
    /// assert_eq!(experiment.run(|| 1, || 2), 1); // not served: the control's, as always
    /// assert_eq!(experiment.stats().served, 1);
    /// ```
    pub fn serve(mut self, share: ServeShare) -> Self {
        self.serve = Some((None, share));
        self
    }

    /// Serves the candidate called `name` (in trials) to `share` of keys, as
    /// [`serve`](Self::serve) describes. An experiment serves at most one candidate.
    pub fn serve_candidate(
        mut self,
        name: impl Into<Cow<'static, str>>,
        share: ServeShare,
    ) -> Self {
        self.serve = Some((Some(name.into()), share));
        self
    }

    /// Whether a served candidate's `Err` and panic reach the caller (default: no, the caller
    /// gets the control's outcome). A timed-out candidate always falls back: it has no
    /// outcome to hand over.
    pub fn propagate_served_errors(mut self, propagate: bool) -> Self {
        self.propagate_served_errors = propagate;
        self
    }

    /// Names the candidate of [`Experiment::run`] and [`Experiment::run_async`] (default
    /// `candidate`).
    pub fn candidate_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.settings.candidate_name = name.into();
        self
    }

    /// The clock durations are measured with (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Receives every panic from a user callback (compare, ignore, clean, sampler, before-run,
    /// publisher) with the operation's name, instead of the caller. Default: a `tracing`
    /// warning (with the `tracing` feature) — and every error is counted in the stats either
    /// way. A panic in the hook itself is swallowed.
    pub fn on_error(mut self, hook: impl Fn(&CallbackError) + Send + Sync + 'static) -> Self {
        self.settings.hook = Arc::new(hook);
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
        self.settings.publish_capacity = capacity;
        self
    }

    /// With true, a run in which a candidate mismatched or panicked panics — after it was
    /// published — with a message naming the experiment and the candidate, showing both
    /// outcomes and, with [`diff`](Self::diff), the differing paths; the panic's payload is a
    /// [`MismatchError`](crate::MismatchError) a test can downcast. Meant for tests:
    /// `.raise_on_mismatches(cfg!(test))`. A control panic still wins: it is resumed as is.
    pub fn raise_on_mismatches(mut self, raise: bool) -> Self
    where
        T: Debug,
        E: Debug,
    {
        self.settings.raise_on_mismatches = if raise {
            Some(mismatch_message::<T, E>)
        } else {
            None
        };
        self
    }

    /// Raises mismatches (as [`raise_on_mismatches(true)`](Self::raise_on_mismatches)) through
    /// `raiser` instead of the default panic, as Scientist's `raise_with`: it gets the
    /// [`MismatchError`](crate::MismatchError) and may panic with a payload of its own (say,
    /// the test framework's error type) — that panic reaches the caller, unlike any other
    /// callback's — or record the mismatch and return, and then the run returns the control's
    /// outcome.
    ///
    /// ```
    /// use darklaunch::{Experiment, MismatchError};
    ///
    /// #[derive(Debug)]
    /// struct PricingRegression(String);
    ///
    /// let experiment: Experiment<u32> = Experiment::builder("pricing")
    ///     .raise_with(|error: MismatchError| {
    ///         std::panic::panic_any(PricingRegression(error.experiment().to_owned()))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| experiment.run(|| 1, || 2))).unwrap_err();
    /// assert_eq!(raised.downcast_ref::<PricingRegression>().unwrap().0, "pricing");
    /// ```
    pub fn raise_with(
        mut self,
        raiser: impl Fn(crate::MismatchError) + Send + Sync + 'static,
    ) -> Self
    where
        T: Debug,
        E: Debug,
    {
        self.settings.raise_on_mismatches = Some(mismatch_message::<T, E>);
        self.settings.raiser = Some(Box::new(raiser));
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
        self.settings.differ = Some(Box::new(move |control: &T, candidate: &T| {
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
    #[cfg(feature = "serde")]
    pub fn calibrate_noise(mut self, calibration: NoiseCalibration) -> Self
    where
        T: serde::Serialize,
    {
        if self.settings.differ.is_none() {
            self = self.diff(DiffOptions::new());
        }
        self.noise = Some(calibration);
        self
    }

    /// Publishes to `insight` (a clone of it): the same as
    /// [`publisher(insight.clone())`](Self::publisher), which links the experiment's noise
    /// calibration to its reports just as this does.
    #[cfg(feature = "insight")]
    #[deprecated(
        since = "0.2.0",
        note = "use .publisher(insight.clone()): every publisher is linked to the experiment"
    )]
    pub fn insight(self, insight: &Insight<T, E>) -> Self
    where
        T: serde::Serialize + 'static,
        E: Display + 'static,
    {
        self.publisher(insight.clone())
    }

    /// Checks every guard's rails and names, and makes the guards.
    fn make_guards(&mut self) -> Result<(), ConfigError> {
        let settings = &mut self.settings;
        for (name, rails) in std::mem::take(&mut self.guards) {
            rails.validate()?;
            let default = name.is_none();
            let name = name.unwrap_or_else(|| settings.candidate_name.clone());
            check_candidate_name(settings, "guard_candidate", &name)?;
            if settings.guard_of(&name).is_some() {
                return Err(ConfigError::InvalidCandidateName {
                    setting: "guard_candidate",
                    name: name.into_owned(),
                    problem: "this candidate already has a guard: give each candidate one",
                });
            }
            let guard = Arc::new(Guard::new(
                settings.name.clone(),
                name,
                rails,
                settings.clock.clone(),
            ));
            if default || guard.candidate() == settings.candidate_name {
                settings.default_guard = Some(guard.clone());
            }
            settings.guards.push(guard);
        }
        Ok(())
    }

    /// Checks the served candidate and its share.
    fn make_serving(&mut self) -> Result<(), ConfigError> {
        let settings = &mut self.settings;
        let Some((name, share)) = self.serve.take() else {
            return Ok(());
        };
        share.validate()?;
        let name = name.unwrap_or_else(|| settings.candidate_name.clone());
        check_candidate_name(settings, "serve_candidate", &name)?;
        settings.serving = Some(Serving {
            guard: settings.guard_of(&name).cloned(),
            default_candidate: name == settings.candidate_name,
            candidate: name,
            share,
            propagate: self.propagate_served_errors,
        });
        Ok(())
    }

    fn finish(mut self, compare: Comparator<T>) -> Result<Experiment<T, E>, ConfigError>
    where
        E: Display,
    {
        self.settings.validate()?;
        self.make_guards()?;
        self.make_serving()?;
        self.settings.compare = compare;
        self.settings.compare_errors = self.compare_errors.unwrap_or_else(|| {
            Box::new(|control: &E, candidate: &E| control.to_string() == candidate.to_string())
        });
        #[cfg(feature = "serde")]
        let noise = match self.noise {
            Some(calibration) => {
                calibration.validate()?;
                Some(Arc::new(NoiseModel::new(calibration)))
            }
            None => None,
        };
        let mut inner = Inner {
            settings: self.settings,
            state: State::new(
                self.background,
                #[cfg(feature = "serde")]
                noise,
            ),
        };
        let attachment = Attachment::new(
            &inner.settings.name,
            inner.settings.has_differ(),
            #[cfg(feature = "serde")]
            inner.state.noise.as_ref(),
        );
        for publisher in &inner.settings.publishers {
            inner.guarded(Operation::Publish, None, || publisher.attach(&attachment));
        }
        let asks = |question: fn(&dyn Publisher<T, E>) -> bool| {
            inner.settings.publishers.iter().any(|publisher| {
                inner
                    .guarded(Operation::Publish, None, || {
                        publisher.wants_trace() && question(&**publisher)
                    })
                    .unwrap_or(false)
            })
        };
        let (traces, trace_times) = (asks(|_| true), asks(|p| p.wants_run_times()));
        inner.settings.traces = traces;
        inner.settings.trace_times = trace_times;
        Ok(Experiment {
            inner: Arc::new(inner),
        })
    }
}

/// A guarded or served candidate's name must be one a candidate can have.
fn check_candidate_name<T, E>(
    settings: &Settings<T, E>,
    setting: &'static str,
    name: &str,
) -> Result<(), ConfigError> {
    let problem = if name.trim().is_empty() {
        "a candidate's name must not be blank"
    } else if name == settings.control_name {
        "that is the control's name: name a candidate"
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidCandidateName {
        setting,
        name: name.to_string(),
        problem,
    })
}
