//! The public seam for one sampled run, for integrations the run forms do not fit (a gRPC
//! interceptor, a message consumer, another web framework): the shadow layer is built on it.

use std::borrow::Cow;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::time::Duration;

use crate::clock::Tick;
use crate::context::{Context, ContextValue};
use crate::experiment::Experiment;
use crate::observation::{CandidateResult, Observation, Outcome, Verdict};
use crate::output::BehaviorOutput;
use crate::run::{self, OwnedRun, PendingRun, SyncCandidate};
use crate::sample::hash_with_seed;

/// One call the experiment sampled in: it has passed sampling and `before_run`, and is counted
/// as sampled. Made by [`Experiment::begin`] or [`Experiment::begin_keyed`], which give `None`
/// when the call is sampled out (then nothing is allocated and no clock is read: just run the
/// control).
///
/// Hand it the control and the candidates in one of four ways, each of which ends the run:
///
/// * [`run`](Self::run): closures, one after another on the caller's thread;
/// * [`run_async`](Self::run_async): futures, concurrently in the caller's task, the wait for
///   candidates bounded by `candidate_timeout`;
/// * [`detach`](Self::detach): the control's outcome the caller already has, and candidate
///   futures that run in the background, judged and published off the caller's path;
/// * [`finish`](Self::finish): outcomes computed elsewhere, with their durations, judged and
///   published at once.
///
/// The run takes one of the experiment's `max_in_flight` slots only when its candidates start
/// (over the cap it is shed, and the control alone is run), so a run waiting for its inputs
/// (a request body still arriving) holds none. [`skip`](Self::skip) ends it as skipped when
/// there turns out to be nothing to compare; dropped without having ended, it counts as
/// dropped. Every outcome, timeout, panic and callback error is handled exactly as in the run
/// forms, which share its runners. A candidate its [guard](crate::guard) holds back is taken
/// out when the candidates are given (a run left with none is skipped); the seam never serves a
/// candidate: what the caller gets is the integration's to decide.
///
/// A message consumer that runs the rewrite in the background beside every sampled message:
///
/// ```
/// use darklaunch::{Candidates, Experiment, Outcome};
/// use std::time::Duration;
///
/// fn price(order: u64) -> u64 { order * 3 }
/// async fn price_v2(order: u64) -> u64 { order * 3 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let experiment: Experiment<u64> = Experiment::builder("pricing-consumer").build().unwrap();
/// for (user, order) in [("ada", 7), ("bob", 9)] {
///     let Some(mut run) = experiment.begin_keyed(user) else {
///         price(order); // sampled out: the control alone
///         continue;
///     };
///     run = run.context("user", user);
///     run.start_clock();
///     let charged = price(order);
///     let took = run.elapsed();
///     run.detach(
///         Outcome::Value(charged),
///         took,
///         Candidates::new().candidate(price_v2(order)),
///     );
/// }
/// assert!(experiment.flush(Duration::from_secs(5)).await.is_complete());
/// assert_eq!(experiment.stats().matched, 2);
/// # }
/// ```
#[must_use = "a sampled run counts as dropped unless it is run, detached, finished or skipped"]
pub struct SampledRun<T, E = std::convert::Infallible> {
    run: PendingRun<T, E>,
    context: Context,
    started: Option<Tick>,
    /// Whether this run was drawn for noise calibration.
    #[cfg(feature = "serde")]
    calibrates: bool,
}

impl<T, E> Experiment<T, E> {
    /// Asks for one sampled run without a sampling key: `None` when the call is sampled out
    /// (or `before_run` panicked, or the experiment was shut down), so that only the control
    /// runs. See [`SampledRun`].
    #[inline]
    pub fn begin(&self) -> Option<SampledRun<T, E>> {
        self.begin_hashed(None)
    }

    /// Like [`begin`](Self::begin), with a sampling key (a user id, a tenant): a keyed sampler
    /// gives the same key the same decision on every call, instance and restart, exactly as
    /// [`Trial::key`](crate::Trial::key) does. The key is hashed only when the sampler reads it.
    #[inline]
    pub fn begin_keyed<K: Hash + ?Sized>(&self, key: &K) -> Option<SampledRun<T, E>> {
        let inner = &self.inner;
        let hash = inner
            .settings
            .sampler_uses_key
            .then(|| hash_with_seed(inner.settings.salt_seed, key));
        self.begin_hashed(hash)
    }

    #[inline]
    fn begin_hashed(&self, key: Option<u64>) -> Option<SampledRun<T, E>> {
        let run = self.inner.admit_pending(key)?;
        Some(SampledRun {
            #[cfg(feature = "serde")]
            calibrates: run::calibration::wanted(&self.inner),
            run,
            context: Context::new(),
            started: None,
        })
    }
}

impl<T, E> SampledRun<T, E> {
    /// Adds a context entry (replacing one with the same key), published with the result to
    /// traces and logs, never as a metric attribute.
    pub fn context(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<ContextValue>,
    ) -> Self {
        self.context.insert(key, value);
        self
    }

    /// The run's context, to add entries as they become known.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// Makes `parent` the parent of the run's span, unless the run was begun inside a span of
    /// the calling thread (that span, a child of the same request, is the closer parent). For
    /// integrations that receive their caller's trace context with the work, such as the shadow
    /// layer reading a request's W3C `traceparent` header. Does nothing when no publisher of the
    /// experiment [wants traces](crate::Publisher::wants_trace).
    ///
    /// ```
    /// use darklaunch::publish::Recorder;
    /// use darklaunch::trace::TraceParent;
    /// use darklaunch::{Experiment, SyncCandidates};
    ///
    /// let recorder = Recorder::new().with_traces();
    /// let experiment: Experiment<u32> = Experiment::builder("traced")
    ///     .publisher(recorder.clone())
    ///     .build()
    ///     .unwrap();
    /// let parent: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ///     .parse()
    ///     .unwrap();
    /// let run = experiment.begin().unwrap().trace_parent(parent);
    /// run.run(|| 1, SyncCandidates::new().add("v2", || 1));
    /// let result = &recorder.results()[0];
    /// assert_eq!(result.trace().unwrap().parent(), Some(&parent));
    /// ```
    pub fn trace_parent(mut self, parent: crate::trace::TraceParent) -> Self {
        if let Some(trace) = self.run.trace_mut() {
            trace.adopt(parent);
        }
        self
    }

    /// The run's place in the caller's trace so far, when the experiment captures traces: an
    /// integration forwarding the work elsewhere propagates [`parent`](crate::trace::RunTrace::parent).
    pub fn trace(&self) -> Option<&crate::trace::RunTrace> {
        self.run.trace()
    }

    /// Whether this run was drawn for noise calibration
    /// ([`calibrate_noise`](crate::ExperimentBuilder::calibrate_noise)): then a second,
    /// independent run of the control, given through [`Candidates::calibration`], teaches the
    /// experiment which paths are nondeterministic. Decided once, when the run began.
    #[cfg(feature = "serde")]
    pub fn calibrates(&self) -> bool {
        self.calibrates
    }

    /// Whether the calibration behaviour should run (never without the `insight` feature).
    fn drawn_for_calibration(&self) -> bool {
        #[cfg(feature = "serde")]
        return self.calibrates;
        #[cfg(not(feature = "serde"))]
        return false;
    }

    /// Starts timing the control on the experiment's clock (for [`detach`](Self::detach) and
    /// [`finish`](Self::finish), whose control the caller runs).
    pub fn start_clock(&mut self) {
        self.started = Some(self.run.inner().settings.clock.now());
    }

    /// The time since [`start_clock`](Self::start_clock) on the experiment's clock; zero if it
    /// was never started.
    pub fn elapsed(&self) -> Duration {
        self.started.map_or(Duration::ZERO, |start| {
            self.run
                .inner()
                .settings
                .clock
                .now()
                .saturating_duration_since(start)
        })
    }

    /// Ends the run as skipped (counted in [`Stats::skipped`](crate::Stats::skipped)): there is
    /// nothing to compare its candidates on.
    pub fn skip(self) {
        self.run.skip();
    }

    /// Judges outcomes computed elsewhere (with their durations) against the control's and
    /// publishes the result at once, on the caller's thread. `raise_on_mismatches` does not
    /// apply: nothing is returned to raise in.
    ///
    /// ```
    /// use darklaunch::{Experiment, Observation, Outcome};
    /// use std::time::Duration;
    ///
    /// let experiment: Experiment<u64> = Experiment::builder("recorded").build().unwrap();
    /// let run = experiment.begin().expect("every call is sampled by default");
    /// run.finish(
    ///     Outcome::Value(4),
    ///     Duration::from_micros(30),
    ///     vec![Observation::new("v2", Duration::from_micros(20), Outcome::Value(5))],
    /// );
    /// assert_eq!(experiment.stats().mismatched, 1);
    /// ```
    pub fn finish(
        self,
        control: Outcome<T, E>,
        control_took: Duration,
        candidates: Vec<Observation<T, E>>,
    ) {
        let SampledRun { run, context, .. } = self;
        let inner = run.inner().clone();
        let Some(run) = run.start() else {
            return;
        };
        let control = Observation::new(inner.settings.control_name.clone(), control_took, control);
        let candidates = candidates
            .into_iter()
            .map(|observation| CandidateResult::new(observation, Verdict::Match))
            .collect();
        let _ = run::finish(&inner, run, context, control, candidates, None);
    }

    /// Runs `control` and the candidates one after another on the caller's thread (in random
    /// order unless configured otherwise), as [`Trial::run`](crate::Trial::run) does; returns
    /// exactly what `control` returned, or resumes its panic.
    ///
    /// ```
    /// use darklaunch::{Experiment, SyncCandidates};
    ///
    /// let experiment: Experiment<u64> = Experiment::builder("sync-seam").build().unwrap();
    /// let value = match experiment.begin() {
    ///     None => 42,
    ///     Some(run) => run.run(|| 42, SyncCandidates::new().add("v2", || 41)),
    /// };
    /// assert_eq!(value, 42);
    /// assert_eq!(experiment.stats().mismatched, 1);
    /// ```
    pub fn run<'a, O>(self, control: impl FnOnce() -> O, candidates: SyncCandidates<'a, O>) -> O
    where
        O: BehaviorOutput<T, E>,
    {
        let calibrates = self.drawn_for_calibration();
        let SampledRun { run, context, .. } = self;
        let inner = run.inner().clone();
        let Some((run, mut behaviors)) = candidates.list.resolve(&inner, run, calibrates) else {
            return control();
        };
        let mut slots: smallvec::SmallVec<[SyncCandidate<'_, O>; 4]> = behaviors
            .iter_mut()
            .map(|(name, behavior)| SyncCandidate {
                name: std::mem::take(name),
                behavior,
            })
            .collect();
        run::run_sync(&inner, run, context, control, &mut slots, None)
    }

    /// Runs `control` and the candidates concurrently in the caller's task, as
    /// [`Trial::run_async`](crate::Trial::run_async) does: the wait for candidates is bounded
    /// by `candidate_timeout`; returns exactly what `control` returned, or resumes its panic.
    pub async fn run_async<'a, O, C>(self, control: C, candidates: Candidates<'a, O>) -> O
    where
        O: BehaviorOutput<T, E>,
        C: Future<Output = O>,
    {
        let calibrates = self.drawn_for_calibration();
        let SampledRun { run, context, .. } = self;
        let inner = run.inner().clone();
        let Some((run, mut boxed)) = candidates.list.resolve(&inner, run, calibrates) else {
            return control.await;
        };
        run::run_concurrent(&inner, run, context, control, &mut boxed, None).await
    }
}

impl<T, E> SampledRun<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Runs the candidates in the background and compares them with the control's outcome,
    /// which the caller already has (with its duration, for example from
    /// [`start_clock`](Self::start_clock) and [`elapsed`](Self::elapsed)), as
    /// [`Experiment::run_detached`] does: on a runtime worker they are spawned at once, from
    /// any other thread handed to a background worker; the candidates are bounded by
    /// `candidate_timeout`; judging and publishing happen off the caller's path. Over
    /// `max_in_flight` the run is shed: then `false`, and the candidates are dropped unpolled.
    pub fn detach<O>(
        self,
        control: Outcome<T, E>,
        control_took: Duration,
        candidates: Candidates<'static, O>,
    ) -> bool
    where
        O: BehaviorOutput<T, E> + Send + 'static,
    {
        let calibrates = self.drawn_for_calibration();
        let SampledRun { run, context, .. } = self;
        let inner = run.inner().clone();
        let Some((run, boxed)) = candidates.list.resolve(&inner, run, calibrates) else {
            return false;
        };
        let control = Observation::new(inner.settings.control_name.clone(), control_took, control);
        let context = (!context.is_empty()).then(|| Box::new(context));
        run::detach_boxed(&inner, run, context, control, boxed);
        true
    }
}

impl<T, E> std::fmt::Debug for SampledRun<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampledRun")
            .field("experiment", &&*self.run.inner().settings.name)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// A started run with its candidates, in the order they are run.
type Resolved<T, E, B> = (OwnedRun<T, E>, Vec<(Cow<'static, str>, B)>);

/// A named candidate list: `None` names the experiment's default candidate name.
struct CandidateList<B> {
    named: Vec<(Option<Cow<'static, str>>, B)>,
    calibration: Option<B>,
}

impl<B> CandidateList<B> {
    fn new() -> Self {
        Self {
            named: Vec::new(),
            calibration: None,
        }
    }

    /// The candidates under their names (taken names dropped and reported, as in a trial;
    /// those their guard holds back taken out), with the calibration last when this run
    /// calibrates (then the run is marked so). A run whose every candidate is held back is
    /// skipped.
    fn resolve<T, E>(
        self,
        inner: &crate::experiment::Inner<T, E>,
        run: PendingRun<T, E>,
        calibrates: bool,
    ) -> Option<Resolved<T, E, B>> {
        let mut list: Vec<(Cow<'static, str>, B)> = self
            .named
            .into_iter()
            .map(|(name, behavior)| {
                (
                    name.unwrap_or_else(|| inner.settings.candidate_name.clone()),
                    behavior,
                )
            })
            .collect();
        crate::experiment::trial::drop_taken_names(inner, &mut list, |(name, _)| name);
        if !inner.settings.guards.is_empty() && !list.is_empty() {
            list.retain(|(name, _)| inner.guard_allows(name));
            if list.is_empty() {
                run.skip();
                return None;
            }
        }
        #[cfg_attr(not(feature = "serde"), allow(unused_mut))]
        let mut run = run.start()?;
        #[cfg(feature = "serde")]
        if let (true, Some(calibration)) = (calibrates, self.calibration) {
            list.push((Cow::Borrowed(run::calibration::CALIBRATION), calibration));
            run = run.calibrating();
        }
        #[cfg(not(feature = "serde"))]
        let _ = (calibrates, self.calibration);
        Some((run, list))
    }
}

/// The candidate futures of a [`SampledRun`] (for [`run_async`](SampledRun::run_async) and
/// [`detach`](SampledRun::detach)), each under a name that must differ from the control's and
/// from the others' (a taken name is reported to the error hook and not run).
#[must_use]
pub struct Candidates<'a, O> {
    list: CandidateList<Pin<Box<dyn Future<Output = O> + Send + 'a>>>,
}

impl<'a, O> Candidates<'a, O> {
    /// No candidates yet.
    pub fn new() -> Self {
        Self {
            list: CandidateList::new(),
        }
    }

    /// Adds a candidate under the experiment's candidate name (`candidate` unless the builder
    /// set another), as the one-candidate run forms do.
    pub fn candidate(mut self, candidate: impl Future<Output = O> + Send + 'a) -> Self {
        self.list.named.push((None, Box::pin(candidate)));
        self
    }

    /// Adds a named candidate.
    pub fn add(
        mut self,
        name: impl Into<Cow<'static, str>>,
        candidate: impl Future<Output = O> + Send + 'a,
    ) -> Self {
        self.list
            .named
            .push((Some(name.into()), Box::pin(candidate)));
        self
    }

    /// The control a second time, for noise calibration: run (isolated, like a candidate) only
    /// when the run [calibrates](SampledRun::calibrates), otherwise dropped unpolled.
    #[cfg(feature = "serde")]
    pub fn calibration(mut self, control_again: impl Future<Output = O> + Send + 'a) -> Self {
        self.list.calibration = Some(Box::pin(control_again));
        self
    }
}

impl<O> Default for Candidates<'_, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> std::fmt::Debug for Candidates<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidates")
            .field("count", &self.list.named.len())
            .field("calibration", &self.list.calibration.is_some())
            .finish()
    }
}

/// The candidate closures of a [`SampledRun`] (for [`run`](SampledRun::run)), named as in
/// [`Candidates`].
#[must_use]
pub struct SyncCandidates<'a, O> {
    list: CandidateList<BoxedClosure<'a, O>>,
}

/// A candidate closure, boxed, taken when it runs.
type BoxedClosure<'a, O> = Option<Box<dyn FnOnce() -> O + 'a>>;

impl<'a, O> SyncCandidates<'a, O> {
    /// No candidates yet.
    pub fn new() -> Self {
        Self {
            list: CandidateList::new(),
        }
    }

    /// Adds a candidate under the experiment's candidate name.
    pub fn candidate(mut self, candidate: impl FnOnce() -> O + 'a) -> Self {
        self.list.named.push((None, Some(Box::new(candidate))));
        self
    }

    /// Adds a named candidate.
    pub fn add(
        mut self,
        name: impl Into<Cow<'static, str>>,
        candidate: impl FnOnce() -> O + 'a,
    ) -> Self {
        self.list
            .named
            .push((Some(name.into()), Some(Box::new(candidate))));
        self
    }

    /// The control a second time, for noise calibration (see [`Candidates::calibration`]).
    #[cfg(feature = "serde")]
    pub fn calibration(mut self, control_again: impl FnOnce() -> O + 'a) -> Self {
        self.list.calibration = Some(Some(Box::new(control_again)));
        self
    }
}

impl<O> Default for SyncCandidates<'_, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> std::fmt::Debug for SyncCandidates<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncCandidates")
            .field("count", &self.list.named.len())
            .field("calibration", &self.list.calibration.is_some())
            .finish()
    }
}
