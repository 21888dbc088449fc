//! One call with per-call options: a sampling key, context, several named candidates.

use std::borrow::Cow;
use std::future::Future;
use std::hash::Hash;

use smallvec::SmallVec;

use crate::context::{Context, ContextValue};
use crate::experiment::{Experiment, Inner};
use crate::hook::Operation;
use crate::output::BehaviorOutput;
use crate::run::{self, serve, BoxedCandidates, SyncCandidate};
use crate::sample::hash_with_seed;

/// One call of an experiment, with per-call options; made by [`Experiment::trial`].
///
/// Set a sampling key, context, the control and any number of named candidates, then call
/// [`run`](Trial::run) (closures) or [`run_async`](Trial::run_async) (futures). Nothing is
/// allocated until the call is sampled in (up to four context entries are stored inline).
///
/// ```
/// use darklaunch::Experiment;
/// use darklaunch::publish::Recorder;
///
/// let recorder = Recorder::new();
/// let experiment: Experiment<u64> = Experiment::builder("pricing")
///     .publisher(recorder.clone())
///     .build()
///     .unwrap();
/// let price = experiment
///     .trial()
///     .key("user-42")
///     .context("route", "/checkout")
///     .control(|| 100)
///     .candidate("v2", || 100)
///     .candidate("v3", || 99)
///     .run();
/// assert_eq!(price, 100);
/// let result = &recorder.results()[0];
/// assert!(result.candidate("v2").unwrap().verdict().as_str() == "match");
/// assert!(result.candidate("v3").unwrap().verdict().as_str() == "mismatch");
/// assert_eq!(result.context().get("route").unwrap().to_string(), "/checkout");
/// ```
#[must_use = "a trial does nothing until it is run"]
pub struct Trial<'e, T, E, C = NoControl, K = (), N = NoCalibration> {
    experiment: &'e Experiment<T, E>,
    key: Option<u64>,
    context: Context,
    input: InputRef<'e>,
    control: C,
    candidates: K,
    calibration: N,
}

/// Trial state: no control given yet.
#[derive(Debug)]
pub struct NoControl;

/// Trial state: the control behaviour.
#[derive(Debug)]
pub struct Control<F>(F);

/// A named candidate in a trial's list.
#[derive(Debug)]
pub struct Named<F> {
    name: Cow<'static, str>,
    behavior: Option<F>,
}

/// Trial state: no calibration behaviour.
#[derive(Debug)]
pub struct NoCalibration;

/// Trial state: the control's second run, for noise calibration
/// ([`Trial::calibration`](crate::Trial::calibration)).
#[derive(Debug)]
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
pub struct Calibration<F>(Option<F>);

impl<'e, T, E> Trial<'e, T, E> {
    pub(crate) fn new(experiment: &'e Experiment<T, E>) -> Self {
        Self {
            experiment,
            key: None,
            context: Context::new(),
            input: Default::default(),
            control: NoControl,
            candidates: (),
            calibration: NoCalibration,
        }
    }
}

impl<'e, T, E, C, K, N> Trial<'e, T, E, C, K, N> {
    /// The sampling key (a user id, a tenant): with a keyed sampler, the same key gets the same
    /// decision on every call, instance and restart. Hashed at once with a stable hash; nothing
    /// is kept.
    pub fn key<Q: Hash>(mut self, key: Q) -> Self {
        let inner = &self.experiment.inner;
        if inner.settings.needs_key() {
            self.key = Some(hash_with_seed(inner.settings.salt_seed, &key));
        }
        self
    }

    /// Adds a context entry (replacing an earlier one with the same key). Context is published
    /// with the result, to traces and logs only, never as a metric attribute.
    pub fn context(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<ContextValue>,
    ) -> Self {
        self.context.insert(key, value);
        self
    }

    /// The call's input, recorded with the runs that need it when the experiment is built with
    /// [`record_inputs`](crate::ExperimentBuilder::record_inputs) (see [`crate::input`]), so
    /// that a mismatch can be replayed against a fixed candidate ([`crate::replay`]). It is
    /// serialized only on a sampled-in call of such an experiment; otherwise it is not touched.
    #[cfg(feature = "serde")]
    pub fn input<I: serde::Serialize + Sync>(mut self, input: &'e I) -> Self {
        if self.experiment.inner.settings.record_inputs.is_some() {
            self.input = Some(input);
        }
        self
    }

    /// Adds a named candidate. Names must differ from each other and from the control's; a
    /// candidate whose name is taken is not run and is reported to the error hook
    /// ([`Operation::Trial`]).
    pub fn candidate<F>(
        self,
        name: impl Into<Cow<'static, str>>,
        candidate: F,
    ) -> Trial<'e, T, E, C, (K, Named<F>), N> {
        Trial {
            experiment: self.experiment,
            key: self.key,
            context: self.context,
            input: self.input,
            control: self.control,
            candidates: (
                self.candidates,
                Named {
                    name: name.into(),
                    behavior: Some(candidate),
                },
            ),
            calibration: self.calibration,
        }
    }
}

impl<'e, T, E, K, N> Trial<'e, T, E, NoControl, K, N> {
    /// The control: a closure for [`run`](Trial::run), a future for
    /// [`run_async`](Trial::run_async). A trial has one control; a second `.control(..)` does
    /// not compile:
    ///
    /// ```compile_fail
    /// let experiment: darklaunch::Experiment<u8> =
    ///     darklaunch::Experiment::builder("once").build().unwrap();
    /// let value = experiment.trial().control(|| 1).control(|| 2).candidate("v2", || 1).run();
    /// ```
    pub fn control<F>(self, control: F) -> Trial<'e, T, E, Control<F>, K, N> {
        Trial {
            experiment: self.experiment,
            key: self.key,
            context: self.context,
            input: self.input,
            control: Control(control),
            candidates: self.candidates,
            calibration: self.calibration,
        }
    }
}

impl<'e, T, E, F, K> Trial<'e, T, E, Control<F>, K, NoCalibration> {
    /// The control a second time, for noise calibration: same shape as the control (a closure
    /// for `run`, a future for `run_async` and `run_detached`). On the fraction of sampled runs
    /// that [`calibrate_noise`](crate::ExperimentBuilder::calibrate_noise) sets, it runs like
    /// a candidate (isolated: its panic, error or timeout never reaches the caller) and its
    /// differences from the control teach the experiment which paths are nondeterministic.
    /// Otherwise, or without `calibrate_noise`, it is dropped without being run (or polled).
    ///
    /// It must be an independent second execution of the control's code, with the same
    /// input: nondeterminism (timestamps, random ids, unordered sets) shows up as its
    /// differences. It is not a candidate: it has no name, is never published as one, and a
    /// trial has at most one; a second `.calibration(..)` does not compile:
    ///
    /// ```compile_fail
    /// let experiment: darklaunch::Experiment<u8> =
    ///     darklaunch::Experiment::builder("once").build().unwrap();
    /// let value = experiment.trial().control(|| 1).calibration(|| 1).calibration(|| 1).run();
    /// ```
    ///
    /// ```
    /// use darklaunch::noise::NoiseCalibration;
    /// use darklaunch::{Experiment, Verdict};
    /// use darklaunch::publish::Recorder;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// static CLOCK: AtomicU64 = AtomicU64::new(0);
    /// fn now() -> u64 { CLOCK.fetch_add(1, Ordering::Relaxed) }
    ///
    /// let recorder = Recorder::new();
    /// let experiment: Experiment<(u64, u64)> = Experiment::builder("stamped")
    ///     .calibrate_noise(NoiseCalibration::new().percent(100.0))
    ///     .publisher(recorder.clone())
    ///     .build()
    ///     .unwrap();
    /// // (value, timestamp): the timestamp differs on every call, the value never.
    /// let value = experiment
    ///     .trial()
    ///     .control(|| (42, now()))
    ///     .calibration(|| (42, now()))
    ///     .candidate("v2", || (42, now()))
    ///     .run();
    /// assert_eq!(value.0, 42);
    /// let result = &recorder.results()[0];
    /// assert_eq!(result.candidates().len(), 1); // the calibration is not a candidate
    /// assert_eq!(result.candidates()[0].verdict(), Verdict::Noise);
    /// assert_eq!(experiment.stats().noise, 1);
    /// ```
    #[cfg(feature = "serde")]
    pub fn calibration<B>(self, behavior: B) -> Trial<'e, T, E, Control<F>, K, Calibration<B>> {
        Trial {
            experiment: self.experiment,
            key: self.key,
            context: self.context,
            input: self.input,
            control: self.control,
            candidates: self.candidates,
            calibration: Calibration(Some(behavior)),
        }
    }
}

impl<'e, T, E, F, K, N> Trial<'e, T, E, Control<F>, K, N> {
    /// Runs the control and, when sampled, the candidates (in random order unless configured
    /// otherwise); returns exactly what the control returned, or resumes its panic.
    pub fn run<O>(self) -> O
    where
        F: FnOnce() -> O,
        O: BehaviorOutput<T, E>,
        K: list::SyncList<O>,
        N: list::SyncList<O> + list::CalibrationSlot,
    {
        let inner = &*self.experiment.inner;
        if !has_runnable_candidate(inner, &self.candidates) {
            report_taken_names(inner, &self.candidates);
            return (self.control.0)();
        }
        let serves = serves(inner, self.key, &self.candidates);
        let mut allowed = SmallVec::new();
        let admitted = inner.admit(self.key, || all_held(inner, &self.candidates, &mut allowed));
        if admitted.is_none() && !serves {
            return (self.control.0)();
        }
        let (mut candidates, mut calibration) = (self.candidates, self.calibration);
        let mut slots = SmallVec::<[SyncCandidate<'_, O>; 4]>::new();
        candidates.collect(&mut slots);
        remove_held(&mut slots, &allowed);
        drop_taken_names(inner, &mut slots, |slot| &slot.name);
        let served = serves
            .then(|| served_position(inner, &slots, |slot| &slot.name))
            .flatten();
        let Some(mut active) = admitted else {
            let Some(slot) = served.and_then(|index| slots.get_mut(index)) else {
                return (self.control.0)();
            };
            return serve::serve_alone(inner, self.control.0, || {
                slot.behavior
                    .run_once()
                    .unwrap_or_else(|| panic!("darklaunch: the served candidate was already run"))
            });
        };
        if calibrates(inner, &calibration) {
            calibration.collect(&mut slots);
            active = active.calibrating();
        }
        run::run_sync(
            inner,
            active,
            with_input(inner, self.context, self.input),
            self.control.0,
            &mut slots,
            served,
        )
    }

    /// Runs the control and, when sampled, the candidates concurrently in the caller's task;
    /// returns exactly what the control returned, or resumes its panic. Candidate futures must
    /// be `Send` (they are boxed); the wait for them is bounded by `candidate_timeout`.
    pub async fn run_async<'a, O>(self) -> O
    where
        F: Future<Output = O>,
        O: BehaviorOutput<T, E>,
        K: list::AsyncList<'a, O>,
        N: list::AsyncList<'a, O> + list::CalibrationSlot,
    {
        let inner = &*self.experiment.inner;
        if !has_runnable_candidate(inner, &self.candidates) {
            report_taken_names(inner, &self.candidates);
            return self.control.0.await;
        }
        let serves = serves(inner, self.key, &self.candidates);
        let mut allowed = SmallVec::new();
        let admitted = inner.admit(self.key, || all_held(inner, &self.candidates, &mut allowed));
        if admitted.is_none() && !serves {
            return self.control.0.await;
        }
        let mut boxed: BoxedCandidates<'a, O> = Vec::new();
        self.candidates.boxed(&mut boxed);
        remove_held(&mut boxed, &allowed);
        drop_taken_names(inner, &mut boxed, |(name, _)| name);
        let served = serves
            .then(|| served_position(inner, &boxed, |(name, _)| name))
            .flatten();
        let Some(mut active) = admitted else {
            return match served {
                Some(index) => {
                    let (_, candidate) = boxed.swap_remove(index);
                    serve::serve_alone_async(inner, self.control.0, candidate).await
                }
                None => self.control.0.await,
            };
        };
        if calibrates(inner, &self.calibration) {
            self.calibration.boxed(&mut boxed);
            active = active.calibrating();
        }
        run::run_concurrent(
            inner,
            active,
            with_input(inner, self.context, self.input),
            self.control.0,
            &mut boxed,
            served,
        )
        .await
    }
}

impl<'e, T, E, F, K, N> Trial<'e, T, E, Control<F>, K, N> {
    /// Runs only the behaviour called `name` (the control, by the experiment's control name,
    /// or one of the trial's candidates) and returns exactly what it returns, panics
    /// included, as Scientist's `run(name)`: nothing else runs, nothing is compared, counted
    /// or published. An unknown name runs the control and is reported to the error hook
    /// ([`Operation::Trial`]).
    ///
    /// ```
    /// use darklaunch::Experiment;
    ///
    /// let experiment: Experiment<u32> = Experiment::builder("run-only").build().unwrap();
    /// let trial = || experiment.trial().control(|| 1).candidate("v2", || 2).candidate("v3", || 3);
    /// assert_eq!(trial().run_only("v3"), 3);
    /// assert_eq!(trial().run_only("control"), 1);
    /// assert_eq!(experiment.stats().runs, 0);
    /// ```
    pub fn run_only<O>(self, name: &str) -> O
    where
        F: FnOnce() -> O,
        K: list::SyncList<O>,
    {
        let inner = &*self.experiment.inner;
        if name != inner.settings.control_name {
            let mut candidates = self.candidates;
            let mut slots = SmallVec::<[SyncCandidate<'_, O>; 4]>::new();
            candidates.collect(&mut slots);
            if let Some(slot) = slots.iter_mut().find(|slot| slot.name == name) {
                if let Some(output) = slot.behavior.run_once() {
                    return output;
                }
            }
            report_unknown(inner, name);
        }
        (self.control.0)()
    }

    /// The async form of [`run_only`](Self::run_only): awaits only the behaviour called
    /// `name` (the control or a candidate future); nothing else is polled.
    pub async fn run_only_async<'a, O>(self, name: &str) -> O
    where
        F: Future<Output = O>,
        K: list::AsyncList<'a, O>,
    {
        let inner = &*self.experiment.inner;
        if name != inner.settings.control_name {
            let mut boxed: BoxedCandidates<'a, O> = Vec::new();
            self.candidates.boxed(&mut boxed);
            if let Some(index) = boxed.iter().position(|(candidate, _)| candidate == name) {
                let (_, future) = boxed.swap_remove(index);
                drop(boxed);
                return future.await;
            }
            report_unknown(inner, name);
        }
        self.control.0.await
    }
}

fn report_unknown<T, E>(inner: &Inner<T, E>, name: &str) {
    inner.report(
        Operation::Trial,
        Some(name),
        format!(
            "run_only(\"{}\"): no behaviour of this trial has that name; the control was run",
            crate::text::escape_control(name)
        ),
    );
}

impl<T, E, F, K, N> Trial<'_, T, E, Control<F>, K, N>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// Awaits the control and returns its result at once; when sampled, the candidates run in
    /// the background, as [`Experiment::run_detached`] describes. Candidate futures must be
    /// `Send + 'static`.
    ///
    /// ```
    /// use darklaunch::{Experiment, Sampler};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let experiment: Experiment<String> = Experiment::builder("search-v3")
    ///     .sampler(Sampler::keyed(100.0))
    ///     .build()
    ///     .unwrap();
    /// let answer = experiment
    ///     .trial()
    ///     .key("user-7")
    ///     .context("route", "/search")
    ///     .control(async { "old".to_string() })
    ///     .candidate("v3", async { "new".to_string() })
    ///     .run_detached()
    ///     .await;
    /// assert_eq!(answer, "old");
    /// assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
    /// assert_eq!(experiment.stats().mismatched, 1);
    /// # }
    /// ```
    pub async fn run_detached<O>(self) -> O
    where
        F: Future<Output = O>,
        O: BehaviorOutput<T, E> + Send + 'static,
        K: list::AsyncList<'static, O>,
        N: list::AsyncList<'static, O> + list::CalibrationSlot,
    {
        let experiment = self.experiment;
        let inner = &*experiment.inner;
        if !has_runnable_candidate(inner, &self.candidates) {
            report_taken_names(inner, &self.candidates);
            return self.control.0.await;
        }
        let serves = serves(inner, self.key, &self.candidates);
        let mut allowed = SmallVec::new();
        let admitted = inner.admit(self.key, || all_held(inner, &self.candidates, &mut allowed));
        if admitted.is_none() && !serves {
            return self.control.0.await;
        }
        let mut boxed: BoxedCandidates<'static, O> = Vec::new();
        self.candidates.boxed(&mut boxed);
        remove_held(&mut boxed, &allowed);
        drop_taken_names(inner, &mut boxed, |(name, _)| name);
        let served = serves
            .then(|| served_position(inner, &boxed, |(name, _)| name))
            .flatten();
        let Some(mut active) = admitted else {
            return match served {
                Some(index) => {
                    let (_, candidate) = boxed.swap_remove(index);
                    serve::serve_alone_async(inner, self.control.0, candidate).await
                }
                None => self.control.0.await,
            };
        };
        if calibrates(inner, &self.calibration) {
            self.calibration.boxed(&mut boxed);
            active = active.calibrating();
        }
        if served.is_some() {
            // The caller waits for the candidate it is served, and the control is its
            // fallback: both run in the caller's task.
            let control = self.control.0;
            return run::run_concurrent(
                inner,
                active,
                with_input(inner, self.context, self.input),
                control,
                &mut boxed,
                served,
            )
            .await;
        }
        let (control, returned) = experiment.observe_control(self.control.0).await;
        let context = with_input(inner, self.context, self.input);
        let context = (!context.is_blank()).then(|| Box::new(context));
        let run = active.detach(&experiment.inner);
        run::detach_boxed(&experiment.inner, run, context, control, boxed);
        returned.into_output()
    }
}

impl<T, E, F, K, N> Trial<'_, T, E, Control<F>, K, N>
where
    T: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// The blocking form of [`run_detached`](Self::run_detached), for sync services: runs the
    /// control and returns its result at once; when sampled, the candidates (closures) run one
    /// after another on a background worker thread, as
    /// [`Experiment::run_detached_blocking`] describes. Candidates must be `Send + 'static`.
    ///
    /// ```
    /// use darklaunch::Experiment;
    /// use std::time::Duration;
    ///
    /// let experiment: Experiment<u32> = Experiment::builder("stock-v2").build().unwrap();
    /// let stock = experiment
    ///     .trial()
    ///     .context("sku", 7u32)
    ///     .control(|| 12)
    ///     .candidate("v2", || 12)
    ///     .candidate("v3", || 13)
    ///     .run_detached_blocking();
    /// assert_eq!(stock, 12);
    /// assert!(experiment.flush_blocking(Duration::from_secs(5)).is_complete());
    /// let stats = experiment.stats();
    /// assert_eq!((stats.matched, stats.mismatched), (1, 1));
    /// ```
    pub fn run_detached_blocking<O>(self) -> O
    where
        F: FnOnce() -> O,
        O: BehaviorOutput<T, E> + 'static,
        K: list::BlockingList<O>,
        N: list::BlockingList<O> + list::CalibrationSlot,
    {
        let experiment = self.experiment;
        let inner = &*experiment.inner;
        if !has_runnable_candidate(inner, &self.candidates) {
            report_taken_names(inner, &self.candidates);
            return (self.control.0)();
        }
        let serves = serves(inner, self.key, &self.candidates);
        let mut allowed = SmallVec::new();
        let admitted = inner.admit(self.key, || all_held(inner, &self.candidates, &mut allowed));
        if admitted.is_none() && !serves {
            return (self.control.0)();
        }
        let mut boxed = Vec::new();
        self.candidates.boxed_blocking(&mut boxed);
        remove_held(&mut boxed, &allowed);
        drop_taken_names(inner, &mut boxed, |(name, _)| name);
        let served = serves
            .then(|| served_position(inner, &boxed, |(name, _)| name))
            .flatten();
        let Some(mut active) = admitted else {
            return match served {
                Some(index) => {
                    let (_, candidate) = boxed.swap_remove(index);
                    serve::serve_alone(inner, self.control.0, candidate)
                }
                None => (self.control.0)(),
            };
        };
        if calibrates(inner, &self.calibration) {
            self.calibration.boxed_blocking(&mut boxed);
            active = active.calibrating();
        }
        if served.is_some() {
            // Served: the caller waits for the candidate, as in `run`.
            let mut behaviors: SmallVec<[_; 4]> = boxed
                .into_iter()
                .map(|(name, behavior)| (name, Some(behavior)))
                .collect();
            let mut slots: SmallVec<[SyncCandidate<'_, O>; 4]> = behaviors
                .iter_mut()
                .map(|(name, behavior)| SyncCandidate {
                    name: std::mem::take(name),
                    behavior,
                })
                .collect();
            return run::run_sync(
                inner,
                active,
                with_input(inner, self.context, self.input),
                self.control.0,
                &mut slots,
                served,
            );
        }
        let run = active.detach(&experiment.inner);
        run::run_detached_blocking(
            &experiment.inner,
            run,
            with_input(inner, self.context, self.input),
            self.control.0,
            boxed.into_iter().collect(),
        )
    }
}

/// A trial's input until the run is sampled in.
#[cfg(feature = "serde")]
type InputRef<'e> = Option<&'e (dyn crate::input::InputSource + Sync)>;
#[cfg(not(feature = "serde"))]
type InputRef<'e> = std::marker::PhantomData<&'e ()>;

/// The run's context, carrying the trial's input captured now (a detached run outlives the
/// borrow) when the experiment records inputs. A failed capture goes to the error hook and
/// the run goes on without it.
#[cfg(feature = "serde")]
fn with_input<T, E>(inner: &Inner<T, E>, mut context: Context, input: InputRef<'_>) -> Context {
    let Some(input) = input else {
        return context;
    };
    match inner.guarded(Operation::Input, None, || input.capture()) {
        Some(Ok(captured)) => context.input = Some(Box::new(captured)),
        Some(Err(error)) => inner.report(
            Operation::Input,
            None,
            format!("the input could not be serialized: {}", error.message()),
        ),
        None => {}
    }
    context
}

#[cfg(not(feature = "serde"))]
fn with_input<T, E>(_: &Inner<T, E>, context: Context, _: InputRef<'_>) -> Context {
    context
}

/// Whether this call is served: the experiment serves a candidate this trial has, and the
/// call's key (or a draw) is in the share.
fn serves<T, E>(
    inner: &Inner<T, E>,
    key: Option<u64>,
    candidates: &impl list::CandidateList,
) -> bool {
    let Some(serving) = &inner.settings.serving else {
        return false;
    };
    let mut names = SmallVec::<[&str; 4]>::new();
    candidates.names(&mut names);
    names.contains(&&*serving.candidate) && serving.serves(key)
}

/// Where the served candidate is in a run's list of candidates.
fn served_position<T, E, S>(
    inner: &Inner<T, E>,
    slots: &[S],
    name_of: impl Fn(&S) -> &Cow<'static, str>,
) -> Option<usize> {
    let serving = inner.settings.serving.as_ref()?;
    slots
        .iter()
        .position(|slot| *name_of(slot) == serving.candidate)
}

/// Asks each candidate's guard whether it runs on this sampled call, in the list's order (a
/// held one is counted); true when none does.
fn all_held<T, E>(
    inner: &Inner<T, E>,
    candidates: &impl list::CandidateList,
    allowed: &mut SmallVec<[bool; 4]>,
) -> bool {
    if inner.settings.guards.is_empty() {
        return false;
    }
    let mut names = SmallVec::<[&str; 4]>::new();
    candidates.names(&mut names);
    allowed.extend(names.iter().map(|name| inner.guard_allows(name)));
    !allowed.iter().any(|allowed| *allowed)
}

/// Takes the candidates their guard holds back out of a run's list (`allowed` is empty when
/// the experiment has no guards).
fn remove_held<S>(slots: &mut impl SlotList<S>, allowed: &[bool]) {
    for index in (0..allowed.len().min(slots.items().len())).rev() {
        if !allowed[index] {
            slots.remove_at(index);
        }
    }
}

/// Whether a trial has a candidate that would run: one whose name is neither the control's
/// nor an earlier candidate's. A trial without one just runs the control, as in Scientist: no
/// sampler, no `before_run`, nothing counted or published.
fn has_runnable_candidate<T, E>(
    inner: &Inner<T, E>,
    candidates: &impl list::CandidateList,
) -> bool {
    let mut names = SmallVec::<[&str; 4]>::new();
    candidates.names(&mut names);
    names
        .iter()
        .enumerate()
        .any(|(index, name)| *name != inner.settings.control_name && !names[..index].contains(name))
}

/// Reports every candidate of a trial whose name is taken (a trial that will not be sampled
/// because none of its candidates can run still says why).
fn report_taken_names<T, E>(inner: &Inner<T, E>, candidates: &impl list::CandidateList) {
    let mut names = SmallVec::<[&str; 4]>::new();
    candidates.names(&mut names);
    for (index, name) in names.iter().enumerate() {
        if *name == inner.settings.control_name || names[..index].contains(name) {
            report_taken(inner, name);
        }
    }
}

fn report_taken<T, E>(inner: &Inner<T, E>, name: &str) {
    inner.report(
        Operation::Trial,
        Some(name),
        format!(
            "candidate name \"{}\" is already taken in this trial; the candidate was not run",
            crate::text::escape_control(name)
        ),
    );
}

/// Removes (and reports) candidates whose name is the control's or an earlier candidate's.
pub(crate) fn drop_taken_names<T, E, S>(
    inner: &Inner<T, E>,
    slots: &mut impl SlotList<S>,
    name_of: impl Fn(&S) -> &Cow<'static, str>,
) {
    let mut index = 0;
    while index < slots.items().len() {
        let name = name_of(&slots.items()[index]);
        let taken = *name == inner.settings.control_name
            || slots.items()[..index]
                .iter()
                .any(|earlier| name_of(earlier) == name);
        if taken {
            let name = name.clone();
            slots.remove_at(index);
            report_taken(inner, &name);
        } else {
            index += 1;
        }
    }
}

/// Whether this run carries the trial's calibration behaviour: the trial has one, the
/// experiment calibrates noise, and this run was drawn (drawn only when there is one to run).
#[cfg_attr(not(feature = "serde"), allow(unused_variables))]
fn calibrates<T, E>(inner: &Inner<T, E>, calibration: &impl list::CalibrationSlot) -> bool {
    #[cfg(feature = "serde")]
    return calibration.is_given() && run::calibration::wanted(inner);
    #[cfg(not(feature = "serde"))]
    return false;
}

/// A list of slots that can be inspected and shortened (a `Vec` or a `SmallVec`).
pub(crate) trait SlotList<S> {
    fn items(&self) -> &[S];
    fn remove_at(&mut self, index: usize);
}

impl<S> SlotList<S> for Vec<S> {
    fn items(&self) -> &[S] {
        self
    }
    fn remove_at(&mut self, index: usize) {
        self.remove(index);
    }
}

impl<S, const N: usize> SlotList<S> for SmallVec<[S; N]> {
    fn items(&self) -> &[S] {
        self
    }
    fn remove_at(&mut self, index: usize) {
        self.remove(index);
    }
}

pub mod list {
    //! The type-level list of a trial's candidates: `()`, then `((), Named<A>)`,
    //! `(((), Named<A>), Named<B>)` … so that no candidate is boxed until the call is sampled.
    //! The calibration slot ([`NoCalibration`] or [`Calibration`]) implements the same traits
    //! and is appended last, only to a run drawn for calibration.

    use super::{Calibration, Named, NoCalibration};
    use crate::run::{BoxedCandidates, SyncCandidate};
    use smallvec::SmallVec;
    use std::borrow::Cow;
    use std::future::Future;

    mod sealed {
        /// Only darklaunch's own lists implement the list traits.
        pub trait Sealed {}
    }
    use sealed::Sealed;

    impl Sealed for () {}
    impl<K, F> Sealed for (K, Named<F>) {}
    impl Sealed for NoCalibration {}
    impl<F> Sealed for Calibration<F> {}

    /// The names of a trial's candidates, read before the call is sampled.
    pub trait CandidateList: Sealed {
        /// Appends every candidate's name, in order.
        #[doc(hidden)]
        fn names<'s>(&'s self, out: &mut SmallVec<[&'s str; 4]>);
    }

    /// Whether a trial was given a calibration behaviour.
    pub trait CalibrationSlot: Sealed {
        /// True for [`Calibration`].
        #[doc(hidden)]
        fn is_given(&self) -> bool;
    }

    impl CalibrationSlot for NoCalibration {
        fn is_given(&self) -> bool {
            false
        }
    }

    impl<F> CalibrationSlot for Calibration<F> {
        fn is_given(&self) -> bool {
            self.0.is_some()
        }
    }

    impl CandidateList for () {
        fn names<'s>(&'s self, _out: &mut SmallVec<[&'s str; 4]>) {}
    }

    impl<K: CandidateList, F> CandidateList for (K, Named<F>) {
        fn names<'s>(&'s self, out: &mut SmallVec<[&'s str; 4]>) {
            self.0.names(out);
            out.push(&self.1.name);
        }
    }

    // The calibration is not a candidate: it has no name to check.
    impl CandidateList for NoCalibration {
        fn names<'s>(&'s self, _out: &mut SmallVec<[&'s str; 4]>) {}
    }

    impl<F> CandidateList for Calibration<F> {
        fn names<'s>(&'s self, _out: &mut SmallVec<[&'s str; 4]>) {}
    }

    /// The label of the calibration's observation in error reports.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    fn calibration_label() -> Cow<'static, str> {
        #[cfg(feature = "serde")]
        return Cow::Borrowed(crate::run::calibration::CALIBRATION);
        #[cfg(not(feature = "serde"))]
        return Cow::Borrowed("calibration");
    }

    /// Candidates that are closures returning `O`.
    pub trait SyncList<O>: CandidateList {
        /// Lends every candidate, in order, as a runnable slot.
        #[doc(hidden)]
        fn collect<'s>(&'s mut self, slots: &mut SmallVec<[SyncCandidate<'s, O>; 4]>);
    }

    impl<O> SyncList<O> for () {
        fn collect<'s>(&'s mut self, _slots: &mut SmallVec<[SyncCandidate<'s, O>; 4]>) {}
    }

    impl<O> SyncList<O> for NoCalibration {
        fn collect<'s>(&'s mut self, _slots: &mut SmallVec<[SyncCandidate<'s, O>; 4]>) {}
    }

    impl<O, F: FnOnce() -> O> SyncList<O> for Calibration<F> {
        fn collect<'s>(&'s mut self, slots: &mut SmallVec<[SyncCandidate<'s, O>; 4]>) {
            slots.push(SyncCandidate {
                name: calibration_label(),
                behavior: &mut self.0,
            });
        }
    }

    impl<O, K: SyncList<O>, F: FnOnce() -> O> SyncList<O> for (K, Named<F>) {
        fn collect<'s>(&'s mut self, slots: &mut SmallVec<[SyncCandidate<'s, O>; 4]>) {
            self.0.collect(slots);
            let named = &mut self.1;
            slots.push(SyncCandidate {
                name: std::mem::take(&mut named.name),
                behavior: &mut named.behavior,
            });
        }
    }

    /// A boxed candidate closure for a background worker thread.
    pub type BoxedBlocking<O> = Box<dyn FnOnce() -> O + Send + 'static>;

    /// Candidates that are `Send + 'static` closures returning `O`, for a background thread.
    pub trait BlockingList<O>: CandidateList {
        /// Boxes every candidate, in order.
        #[doc(hidden)]
        fn boxed_blocking(self, out: &mut Vec<(Cow<'static, str>, BoxedBlocking<O>)>);
    }

    impl<O> BlockingList<O> for () {
        fn boxed_blocking(self, _out: &mut Vec<(Cow<'static, str>, BoxedBlocking<O>)>) {}
    }

    impl<O> BlockingList<O> for NoCalibration {
        fn boxed_blocking(self, _out: &mut Vec<(Cow<'static, str>, BoxedBlocking<O>)>) {}
    }

    impl<O, F: FnOnce() -> O + Send + 'static> BlockingList<O> for Calibration<F> {
        fn boxed_blocking(self, out: &mut Vec<(Cow<'static, str>, BoxedBlocking<O>)>) {
            if let Some(behavior) = self.0 {
                out.push((calibration_label(), Box::new(behavior)));
            }
        }
    }

    impl<O, K, F> BlockingList<O> for (K, Named<F>)
    where
        K: BlockingList<O>,
        F: FnOnce() -> O + Send + 'static,
    {
        fn boxed_blocking(self, out: &mut Vec<(Cow<'static, str>, BoxedBlocking<O>)>) {
            self.0.boxed_blocking(out);
            let Named { name, behavior } = self.1;
            if let Some(behavior) = behavior {
                out.push((name, Box::new(behavior)));
            }
        }
    }

    /// Candidates that are `Send` futures resolving to `O`.
    pub trait AsyncList<'a, O>: CandidateList {
        /// Boxes every candidate, in order.
        #[doc(hidden)]
        fn boxed(self, out: &mut BoxedCandidates<'a, O>);
    }

    impl<O> AsyncList<'_, O> for () {
        fn boxed(self, _out: &mut BoxedCandidates<'_, O>) {}
    }

    impl<O> AsyncList<'_, O> for NoCalibration {
        fn boxed(self, _out: &mut BoxedCandidates<'_, O>) {}
    }

    impl<'a, O, F> AsyncList<'a, O> for Calibration<F>
    where
        F: Future<Output = O> + Send + 'a,
    {
        fn boxed(self, out: &mut BoxedCandidates<'a, O>) {
            if let Some(future) = self.0 {
                out.push((calibration_label(), Box::pin(future)));
            }
        }
    }

    impl<'a, O, K, F> AsyncList<'a, O> for (K, Named<F>)
    where
        K: AsyncList<'a, O>,
        F: Future<Output = O> + Send + 'a,
    {
        fn boxed(self, out: &mut BoxedCandidates<'a, O>) {
            self.0.boxed(out);
            let Named { name, behavior } = self.1;
            if let Some(future) = behavior {
                out.push((name, Box::pin(future)));
            }
        }
    }
}
