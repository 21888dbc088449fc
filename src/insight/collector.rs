//! [`Insight`]: a publisher that gathers verdict statistics, latency histograms, mismatch
//! groups and a timeline, and makes reports.

use std::fmt::{self, Display};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::insight::breakdown::Breakdown;
use crate::insight::grouping::{sample_of, GroupLimits, Groups, Values};
use crate::insight::guard_marks::GuardMarks;
use crate::insight::latency::LatencyHistogram;
use crate::insight::paired::PairedRatios;
use crate::insight::proportion::Proportion;
use crate::insight::report::{CandidateReport, Report};
use crate::insight::sequence::ConfidenceSequence;
use crate::insight::timeline::{interval_index, Timeline};
use crate::insight::verdict::{
    latency_status, release_verdict, ReleasePolicy, ReleaseStatus, ReleaseVerdict,
};
use crate::noise::{NoiseModel, NoiseSnapshot};
use crate::observation::{ExperimentResult, Verdict};
use crate::publish::{Attachment, Publisher};
use crate::text::capped;

/// What an [`Insight`] keeps and how it judges.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InsightOptions {
    /// Distinct mismatch shapes kept per candidate (default 100); mismatches of further shapes
    /// are only counted.
    pub max_groups: usize,
    /// Samples kept per group (default 3): the first ones seen.
    pub samples_per_group: usize,
    /// The longest rendered value or message kept in a sample, in bytes (default 2048): each
    /// value is written into a text that stops there (ending in `…`), and each value in a
    /// sample's diff is cut to it too.
    pub max_value_chars: usize,
    /// Candidates tracked (default 16); results of further candidate names are only counted
    /// ([`Report::untracked_candidate_results`]). Each tracked candidate holds a latency
    /// histogram and up to `max_groups` groups.
    pub max_candidates: usize,
    /// Significant digits of the latency histograms, 1 to 5 (default 3: percentiles within
    /// 0.1 %). Each behaviour's histogram takes a fixed ~270 KiB at 3 digits, ~36 KiB at 2.
    pub significant_digits: u8,
    /// The timeline's first interval (default 100 ms); it doubles as needed to keep at most
    /// `max_timeline_points` points.
    pub timeline_interval: Duration,
    /// The most timeline points per candidate (default 120).
    pub max_timeline_points: usize,
    /// When a candidate counts as safe.
    pub policy: ReleasePolicy,
    /// The context key whose values break each candidate's outcomes and latency down
    /// ([`CandidateReport::breakdown`]; default `route`, the shadow layer's; `None`: no
    /// breakdown).
    pub breakdown_key: Option<String>,
    /// The most values of the breakdown key reported per candidate (default 10, the most
    /// frequent of the first 20 distinct values seen, each with a ~36 KiB latency histogram);
    /// the rest are counted under [`OTHER`](super::OTHER).
    pub breakdown_values: usize,
    /// Where the HTML report links a sample's trace id: a URL template with `{trace_id}` where
    /// the id goes (default `None`: ids are shown, not linked). Set it with
    /// [`trace_link`](Self::trace_link); [`Insight::try_with_options`] refuses a template that
    /// is not an `http` or `https` URL with `{trace_id}` in it, and
    /// [`Insight::with_options`] drops one.
    pub trace_link: Option<String>,
}

/// What the trace link template holds in place of the trace id.
pub(crate) const TRACE_ID_PLACEHOLDER: &str = "{trace_id}";

/// The longest trace link template accepted, in bytes.
const MAX_TRACE_LINK: usize = 2048;

/// What is wrong with a trace link template, if anything.
pub(crate) fn trace_link_problem(template: &str) -> Option<&'static str> {
    let lower = template.get(..8).unwrap_or(template).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        Some("use an http:// or https:// URL")
    } else if !template.contains(TRACE_ID_PLACEHOLDER) {
        Some("put {trace_id} where the trace id goes")
    } else if template.len() > MAX_TRACE_LINK {
        Some("use a template of at most 2048 bytes")
    } else if template
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '`'))
    {
        Some("use a URL without spaces, control characters, quotes or angle brackets")
    } else {
        None
    }
}

impl InsightOptions {
    /// Links each sample's trace id in the HTML report through `template`, an `http` or
    /// `https` URL with `{trace_id}` where the id (32 lowercase hex digits) goes, e.g.
    /// `https://tempo.example/trace/{trace_id}`. The template is checked when the insight is
    /// made ([`Insight::try_with_options`]).
    ///
    /// ```
    /// use darklaunch::insight::{Insight, InsightOptions};
    ///
    /// let options = InsightOptions::default().trace_link("https://tempo.example/trace/{trace_id}");
    /// assert!(Insight::<u64>::try_with_options(options).is_ok());
    /// let options = InsightOptions::default().trace_link("javascript:alert(1)//{trace_id}");
    /// assert!(Insight::<u64>::try_with_options(options).is_err());
    /// ```
    pub fn trace_link(mut self, template: impl Into<String>) -> Self {
        self.trace_link = Some(template.into());
        self
    }
}

impl Default for InsightOptions {
    fn default() -> Self {
        Self {
            max_groups: 100,
            samples_per_group: 3,
            max_value_chars: 2048,
            max_candidates: 16,
            significant_digits: 3,
            timeline_interval: Duration::from_millis(100),
            max_timeline_points: 120,
            policy: ReleasePolicy::default(),
            breakdown_key: Some(String::from("route")),
            breakdown_values: 10,
            trace_link: None,
        }
    }
}

/// Gathers what an experiment's results say: per candidate the verdict counts, mismatch,
/// error and timeout rates with 95 % Wilson intervals, control and candidate latency
/// histograms, mismatches grouped by diff shape with samples, and a timeline; then
/// [`report`](Insight::report) answers "is the candidate safe to release, and if not, what
/// exactly is wrong?".
///
/// Register it with [`ExperimentBuilder::insight`](crate::ExperimentBuilder::insight) (which
/// also links the experiment's noise calibration to the report) or as any publisher. Use one
/// insight per experiment: the report is about one experiment (candidates of the same name in
/// two experiments would be counted together). It is cheap to clone; clones share their
/// state. Each publication takes one short lock; memory is bounded by the options, whatever
/// the values' size or depth: a fixed histogram per behaviour, at most `max_candidates`
/// candidates (names cut to 256 bytes) each with at most `max_groups` groups of
/// `samples_per_group` samples and `max_timeline_points` points. Shapes keep at most 32
/// paths of at most 1 KiB ([`MAX_PATH_TEXT`](super::MAX_PATH_TEXT)); a sample keeps at most
/// `max_value_chars` bytes per value (serialized into a text that stops there, never whole)
/// and a capped copy of the diff.
///
/// **What samples show.** When the experiment computes a diff
/// ([`ExperimentBuilder::diff`](crate::ExperimentBuilder::diff)), a sample carries only what
/// the diff carries (redacted and capped), never the whole values; when that diff is empty
/// (the only difference on an ignored path, NaN fields, `max_differences(0)`) the sample says
/// so. Without a diff, values are shown whole (after `clean`, capped). Every text output
/// escapes control characters.
///
/// Options are plain fields:
///
/// ```
/// use darklaunch::insight::{Insight, InsightOptions};
///
/// let mut options = InsightOptions::default();
/// options.samples_per_group = 5;
/// options.policy.mismatch_tolerance = 0.0001; // 0.01 %
/// let insight: Insight<u64> = Insight::with_options(options);
/// ```
///
/// ```
/// use darklaunch::Experiment;
/// use darklaunch::insight::{Insight, ReleaseStatus};
///
/// let insight = Insight::new();
/// let experiment: Experiment<u64> = Experiment::builder("pricing")
///     .publisher(insight.clone())
///     .build()
///     .unwrap();
/// for n in 0..1_000u64 {
///     // The rewrite is off by one for one input in a hundred.
///     experiment.run(|| n * 2, || if n % 100 == 7 { n * 2 + 1 } else { n * 2 });
/// }
/// let report = insight.report();
/// let v2 = &report.candidates[0];
/// assert_eq!(v2.mismatched, 10);
/// assert_eq!(v2.verdict.status, ReleaseStatus::NotSafe);
/// println!("{}", report.to_terminal());
/// ```
pub struct Insight<T, E = std::convert::Infallible> {
    shared: Arc<Shared>,
    _values: PhantomData<fn(&T, &E)>,
}

impl<T, E> Clone for Insight<T, E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _values: PhantomData,
        }
    }
}

impl<T, E> fmt::Debug for Insight<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Insight")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl<T, E> Default for Insight<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

struct Shared {
    options: InsightOptions,
    noise: OnceLock<Arc<NoiseModel>>,
    /// Whether the experiment computes diffs, when the builder said so.
    differ: OnceLock<bool>,
    /// Set once a result came with a diff: from then on values appear only through diffs.
    saw_diff: AtomicBool,
    state: Mutex<State>,
    /// Told of every change of a candidate's reported status.
    on_change: Mutex<Vec<StatusHook>>,
}

type StatusHook = Arc<dyn Fn(&StatusChange) + Send + Sync>;

/// A candidate's reported release status changed ([`Insight::on_status_change`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatusChange {
    /// The experiment's name.
    pub experiment: String,
    /// The candidate's name.
    pub candidate: String,
    /// The status reported before.
    pub from: ReleaseStatus,
    /// The status reported now.
    pub to: ReleaseStatus,
    /// The candidate's runs when it changed.
    pub runs: u64,
}

/// A candidate's reported status, held until a new one lasts.
#[derive(Clone, Copy, Debug)]
struct HeldStatus {
    reported: ReleaseStatus,
    latest: ReleaseStatus,
    /// Consecutive evaluations that gave `latest`.
    streak: u32,
    /// The candidate's runs at its last evaluation.
    runs: u64,
}

/// The longest experiment or candidate name kept, in bytes.
pub(crate) const MAX_NAME: usize = 256;

/// What an insight gathered; also what a [`Snapshot`](super::Snapshot) is turned back into to
/// make its report.
pub(crate) struct State {
    pub(crate) experiment: String,
    pub(crate) started: Option<(Instant, SystemTime)>,
    pub(crate) runs: u64,
    pub(crate) control: LatencyHistogram,
    pub(crate) candidates: Vec<CandidateState>,
    pub(crate) untracked: u64,
    pub(crate) interval: Duration,
    pub(crate) guards: GuardMarks,
    /// Per candidate, in the candidates' order.
    held: Vec<HeldStatus>,
}

impl State {
    /// A state holding what a snapshot carries (no reported status held yet).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        experiment: String,
        started: Option<(Instant, SystemTime)>,
        runs: u64,
        control: LatencyHistogram,
        candidates: Vec<CandidateState>,
        untracked: u64,
        interval: Duration,
        guards: GuardMarks,
    ) -> Self {
        Self {
            experiment,
            started,
            runs,
            control,
            candidates,
            untracked,
            interval,
            guards,
            held: Vec::new(),
        }
    }
}

/// What an insight gathered about one candidate.
pub(crate) struct CandidateState {
    pub(crate) name: String,
    pub(crate) runs: u64,
    /// Per verdict, by [`Verdict::index`].
    pub(crate) counts: [u64; 6],
    pub(crate) latency: LatencyHistogram,
    /// The candidate's duration over the control's, run by run.
    pub(crate) paired: PairedRatios,
    /// By the breakdown key's value, when there is one.
    pub(crate) breakdown: Option<Breakdown>,
    pub(crate) groups: Groups,
    pub(crate) timeline: Timeline,
}

impl<T, E> Insight<T, E> {
    /// An insight with the default options.
    pub fn new() -> Self {
        Self::with_options(InsightOptions::default())
    }

    /// An insight with `options`, checked: a confidence level outside (0, 1) or a tolerance
    /// outside [0, 1] is a [`ConfigError`](crate::ConfigError) that says what to fix.
    pub fn try_with_options(options: InsightOptions) -> Result<Self, crate::ConfigError> {
        let policy = &options.policy;
        if !(policy.confidence > 0.0 && policy.confidence < 1.0) {
            return Err(crate::ConfigError::InvalidThreshold {
                setting: "ReleasePolicy::confidence",
                value: policy.confidence,
            });
        }
        for (setting, value) in [
            (
                "ReleasePolicy::mismatch_tolerance",
                policy.mismatch_tolerance,
            ),
            ("ReleasePolicy::error_tolerance", policy.error_tolerance),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(crate::ConfigError::InvalidThreshold { setting, value });
            }
        }
        if let Some(template) = &options.trace_link {
            if let Some(problem) = trace_link_problem(template) {
                return Err(crate::ConfigError::InvalidTraceLink {
                    template: crate::text::capped(template, 256),
                    problem,
                });
            }
        }
        if policy.consecutive_evaluations == 0 {
            return Err(crate::ConfigError::ZeroCap {
                setting: "ReleasePolicy::consecutive_evaluations",
            });
        }
        for (setting, limit) in [
            (
                "ReleasePolicy::max_median_slowdown",
                policy.max_median_slowdown,
            ),
            ("ReleasePolicy::max_p99_slowdown", policy.max_p99_slowdown),
            ("ReleasePolicy::max_p99_ratio", policy.max_p99_ratio),
        ] {
            if let Some(value) = limit.filter(|limit| !(limit.is_finite() && *limit > 0.0)) {
                return Err(crate::ConfigError::InvalidRatio { setting, value });
            }
        }
        Ok(Self::with_options(options))
    }

    /// An insight with `options`. Zero caps are taken as 1; a confidence level outside (0, 1)
    /// is taken as 0.95, tolerances are clamped to [0, 1] and a bad trace link template is
    /// dropped (use
    /// [`try_with_options`](Self::try_with_options) to have them refused instead).
    pub fn with_options(options: InsightOptions) -> Self {
        let options = normalized(options);
        let state = State {
            experiment: String::new(),
            started: None,
            runs: 0,
            control: LatencyHistogram::new(options.significant_digits),
            candidates: Vec::new(),
            untracked: 0,
            interval: options.timeline_interval,
            guards: GuardMarks::default(),
            held: Vec::new(),
        };
        Self {
            shared: Arc::new(Shared {
                options,
                noise: OnceLock::new(),
                differ: OnceLock::new(),
                saw_diff: AtomicBool::new(false),
                state: Mutex::new(state),
                on_change: Mutex::new(Vec::new()),
            }),
            _values: PhantomData,
        }
    }

    /// Links an experiment's noise model, so that reports show its per-path counts.
    pub(crate) fn link_noise(&self, model: Arc<NoiseModel>) {
        let _ = self.shared.noise.set(model);
    }

    /// Tells the insight whether its experiment computes diffs, so that a sample never shows a
    /// whole value of an experiment that redacts (not even a value facing an error, which has
    /// no diff). Without it, the insight infers what it can from the results.
    pub(crate) fn link_differ(&self, configured: bool) {
        let _ = self.shared.differ.set(configured);
    }

    /// What samples may show of values.
    fn values(&self) -> Values {
        if self.shared.saw_diff.load(Relaxed) {
            return Values::ThroughDiff;
        }
        match self.shared.differ.get() {
            Some(true) => Values::ThroughDiff,
            Some(false) => Values::Whole,
            None => Values::Unknown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing user-supplied runs under the lock except `Serialize`/`Display` of sampled
        // values; if one of those panicked, the counts are still consistent enough to report.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `hook` whenever a candidate's *reported* status changes (once per change, from
    /// the [`report`](Self::report) that made it, after the report is made). A panic in it is
    /// caught. With the `tracing` feature every change is also logged (target `darklaunch`,
    /// message `darklaunch verdict changed`, fields experiment, candidate, from, to, runs), and
    /// with `opentelemetry` it is a span `darklaunch.verdict` on the global tracer provider
    /// with one event `darklaunch.verdict.changed` carrying the same attributes (prefixed
    /// `darklaunch.`).
    pub fn on_status_change(&self, hook: impl Fn(&StatusChange) + Send + Sync + 'static) {
        self.shared
            .on_change
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(hook));
    }

    /// A snapshot of everything gathered so far; also one evaluation of each candidate's
    /// status (see [`ReleasePolicy::consecutive_evaluations`]).
    pub fn report(&self) -> Report {
        let mut changes = Vec::new();
        let report = self.evaluate(&mut changes);
        self.notify(&changes);
        report
    }

    fn notify(&self, changes: &[StatusChange]) {
        if changes.is_empty() {
            return;
        }
        let hooks = self
            .shared
            .on_change
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for change in changes {
            #[cfg(feature = "tracing")]
            tracing::info!(
                target: "darklaunch",
                experiment = change.experiment.as_str(),
                candidate = change.candidate.as_str(),
                from = change.from.as_str(),
                to = change.to.as_str(),
                runs = change.runs,
                "darklaunch verdict changed"
            );
            #[cfg(feature = "opentelemetry")]
            opentelemetry_event(change);
            for hook in &hooks {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(change)));
            }
        }
    }

    fn evaluate(&self, changes: &mut Vec<StatusChange>) -> Report {
        let options = &self.shared.options;
        // Taken before the insight's lock, which publications wait for.
        let noise = self.shared.noise.get().map(|model| model.snapshot());
        let mut state = self.lock();
        let now = crate::real_clock::wall();
        evaluate(&mut state, noise, options, now, changes, true)
    }

    /// Calls `f` with what the insight gathered, its options and its noise model, under the
    /// insight's lock (the noise model's snapshot is taken before it, as for a report).
    pub(crate) fn with_state<R>(
        &self,
        f: impl FnOnce(&State, &InsightOptions, Option<(NoiseSnapshot, &NoiseModel)>) -> R,
    ) -> R {
        let noise = self
            .shared
            .noise
            .get()
            .map(|model| (model.snapshot(), &**model));
        let state = self.lock();
        f(&state, &self.shared.options, noise)
    }
}

/// `options` with zero caps taken as 1, a confidence level outside (0, 1) as 0.95, tolerances
/// clamped to [0, 1] and a bad trace link template dropped.
pub(crate) fn normalized(mut options: InsightOptions) -> InsightOptions {
    let policy = &mut options.policy;
    if !(policy.confidence > 0.0 && policy.confidence < 1.0) {
        policy.confidence = 0.95;
    }
    for tolerance in [&mut policy.mismatch_tolerance, &mut policy.error_tolerance] {
        *tolerance = if tolerance.is_nan() {
            0.0
        } else {
            tolerance.clamp(0.0, 1.0)
        };
    }
    if options
        .trace_link
        .as_deref()
        .is_some_and(|template| trace_link_problem(template).is_some())
    {
        options.trace_link = None;
    }
    options.max_groups = options.max_groups.max(1);
    options.max_candidates = options.max_candidates.max(1);
    options.max_timeline_points = options.max_timeline_points.max(1);
    if options.timeline_interval.is_zero() {
        options.timeline_interval = Duration::from_millis(1);
    }
    options
}

/// The report on `state`: candidates evaluated with `options` and the paths `noise` classifies
/// as noise. With `hold`, a candidate's reported status changes only once a new one has held
/// for the policy's consecutive evaluations (changes are pushed to `changes`); without it, the
/// reported status is this evaluation's.
pub(crate) fn evaluate(
    state: &mut State,
    noise: Option<NoiseSnapshot>,
    options: &InsightOptions,
    now: SystemTime,
    changes: &mut Vec<StatusChange>,
    hold: bool,
) -> Report {
    {
        let control_latency = state.control.summary();
        let (guard_events, guard_events_dropped) = state.guards.snapshot();
        let policy = &options.policy;
        let mismatch_sequence =
            ConfidenceSequence::checked(policy.confidence, policy.mismatch_tolerance);
        let error_sequence = ConfidenceSequence::checked(policy.confidence, policy.error_tolerance);
        let noise_paths = noise
            .as_ref()
            .map(NoiseSnapshot::noise_paths)
            .unwrap_or_default();
        let candidates = state
            .candidates
            .iter()
            .map(|candidate| {
                let [matched, mismatched, ignored, noise, errors, timeouts] = candidate.counts;
                let (groups, explained) = candidate
                    .groups
                    .snapshot(&noise_paths, options.samples_per_group);
                let mismatched = mismatched.saturating_sub(explained);
                let mut report = CandidateReport {
                    name: candidate.name.clone(),
                    runs: candidate.runs,
                    matched,
                    mismatched,
                    noise: noise + explained,
                    reclassified_as_noise: explained,
                    ignored,
                    errors,
                    timeouts,
                    mismatch_rate: Proportion::wilson(mismatched, candidate.runs),
                    error_rate: Proportion::wilson(errors, candidate.runs),
                    timeout_rate: Proportion::wilson(timeouts, candidate.runs),
                    mismatch_bounds: mismatch_sequence.bounds(mismatched, candidate.runs),
                    error_bounds: error_sequence.bounds(errors, candidate.runs),
                    timeout_bounds: error_sequence.bounds(timeouts, candidate.runs),
                    latency: candidate.latency.summary(),
                    paired_latency: candidate.paired.summary(),
                    breakdown: candidate
                        .breakdown
                        .as_ref()
                        .map(|breakdown| breakdown.entries(options.breakdown_values.max(1)))
                        .unwrap_or_default(),
                    latency_status: None,
                    groups,
                    ungrouped_mismatches: candidate.groups.ungrouped,
                    timeline: candidate.timeline.points(state.interval),
                    verdict: ReleaseVerdict {
                        status: ReleaseStatus::Inconclusive,
                        summary: String::new(),
                    },
                    evaluated_status: ReleaseStatus::Inconclusive,
                };
                report.latency_status = latency_status(&report.paired_latency, &options.policy);
                report.verdict = release_verdict(&report, &control_latency, &options.policy);
                report.evaluated_status = report.verdict.status;
                report
            })
            .collect::<Vec<_>>();
        let mut candidates = candidates;
        let required = options.policy.consecutive_evaluations.max(1);
        for (index, report) in candidates.iter_mut().enumerate() {
            if !hold {
                continue;
            }
            if state.held.len() <= index {
                state.held.push(HeldStatus {
                    reported: ReleaseStatus::Inconclusive,
                    latest: ReleaseStatus::Inconclusive,
                    streak: 0,
                    runs: 0,
                });
            }
            let held = &mut state.held[index];
            if report.runs > held.runs {
                held.runs = report.runs;
                if report.evaluated_status == held.latest {
                    held.streak = held.streak.saturating_add(1);
                } else {
                    held.latest = report.evaluated_status;
                    held.streak = 1;
                }
                if held.streak >= required && held.reported != held.latest {
                    changes.push(StatusChange {
                        experiment: state.experiment.clone(),
                        candidate: report.name.clone(),
                        from: held.reported,
                        to: held.latest,
                        runs: report.runs,
                    });
                    held.reported = held.latest;
                }
            }
            if held.reported != report.evaluated_status {
                report.verdict.summary = format!(
                    "{}: reported {} until {} holds for {} consecutive evaluations ({} so far); now: {}",
                    report.name,
                    held.reported.as_str(),
                    report.evaluated_status.as_str(),
                    required,
                    if held.latest == report.evaluated_status { held.streak } else { 0 },
                    report.verdict.summary
                );
                report.verdict.status = held.reported;
            }
        }
        Report {
            experiment: state.experiment.clone(),
            started_at: state.started.map_or(now, |(_, at)| at),
            generated_at: now,
            runs: state.runs,
            control_latency,
            candidates,
            noise,
            untracked_candidate_results: state.untracked,
            guard_events,
            guard_events_dropped,
            breakdown_key: options.breakdown_key.clone(),
            trace_link: options.trace_link.clone(),
        }
    }
}

impl<T, E> Publisher<T, E> for Insight<T, E>
where
    T: Serialize,
    E: Display,
{
    fn attach(&self, experiment: &Attachment<'_>) {
        if let Some(model) = experiment.noise_model() {
            self.link_noise(model.clone());
        }
        // With a differ, values may carry redacted paths: samples show only the diff.
        self.link_differ(experiment.diffs_values());
    }

    /// True: samples carry the trace id of the run ([`MismatchSample::trace_id`](super::MismatchSample::trace_id)).
    fn wants_trace(&self) -> bool {
        true
    }

    fn guard(&self, event: &crate::guard::GuardEvent) {
        self.lock().guards.add(event);
    }

    fn publish(&self, result: &ExperimentResult<T, E>) {
        let options = &self.shared.options;
        let limits = GroupLimits {
            max_groups: options.max_groups,
            samples_per_group: options.samples_per_group,
        };
        let mismatched = result
            .candidates()
            .iter()
            .any(|candidate| candidate.verdict() == Verdict::Mismatch);
        if result.candidates().iter().any(|c| c.diff().is_some()) {
            self.shared.saw_diff.store(true, Relaxed);
        }
        let values = self.values();
        // Wall-clock time only for mismatches, which keep it.
        let wall = mismatched.then(crate::real_clock::wall);
        let now = crate::real_clock::instant();

        let mut state = self.lock();
        let state = &mut *state;
        if state.started.is_none() {
            state.started = Some((now, wall.unwrap_or_else(crate::real_clock::wall)));
            state.experiment = capped(result.name(), MAX_NAME);
        }
        let elapsed = state
            .started
            .map_or(Duration::ZERO, |(at, _)| now.saturating_duration_since(at));
        let candidates = &mut state.candidates;
        let index = interval_index(
            elapsed,
            &mut state.interval,
            options.max_timeline_points,
            || candidates.iter_mut().for_each(|c| c.timeline.halve()),
        );
        state.runs += 1;
        state.control.record(result.control().duration());
        for candidate in result.candidates() {
            let name = candidate.name();
            let name: std::borrow::Cow<'_, str> = if name.len() <= MAX_NAME {
                name.into()
            } else {
                capped(name, MAX_NAME).into()
            };
            let position = match candidates.iter().position(|c| c.name == name) {
                Some(position) => position,
                None if candidates.len() >= options.max_candidates => {
                    state.untracked += 1;
                    continue;
                }
                None => {
                    candidates.push(CandidateState {
                        name: name.into_owned(),
                        runs: 0,
                        counts: [0; 6],
                        latency: LatencyHistogram::new(options.significant_digits),
                        paired: PairedRatios::new(),
                        breakdown: options
                            .breakdown_key
                            .as_ref()
                            .map(|_| Breakdown::new(options.breakdown_values)),
                        groups: Groups::default(),
                        timeline: Timeline::default(),
                    });
                    candidates.len() - 1
                }
            };
            let state = &mut candidates[position];
            let verdict = candidate.verdict();
            state.runs += 1;
            state.counts[verdict.index()] += 1;
            state.latency.record(candidate.observation().duration());
            if let (Some(breakdown), Some(key)) = (&mut state.breakdown, &options.breakdown_key) {
                let value = result
                    .context()
                    .get(key)
                    .map(|value| crate::text::capped_display(value, 1024));
                breakdown.record(value, verdict, candidate.observation().duration());
            }
            state.paired.record(
                candidate.observation().duration().as_nanos(),
                result.control().duration().as_nanos(),
            );
            state.timeline.count(index, verdict == Verdict::Mismatch);
            if verdict == Verdict::Mismatch {
                let seen = wall.unwrap_or_else(crate::real_clock::wall);
                state.groups.add(result, candidate, seen, limits, || {
                    sample_of(result, candidate, seen, options.max_value_chars, values)
                });
            }
        }
    }
}

/// A status change as an OpenTelemetry span with one event, on the global tracer provider.
#[cfg(feature = "opentelemetry")]
fn opentelemetry_event(change: &StatusChange) {
    use opentelemetry::trace::{Span, Tracer};
    use opentelemetry::KeyValue;
    let scope = opentelemetry::InstrumentationScope::builder("darklaunch")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let tracer = opentelemetry::global::tracer_with_scope(scope);
    let mut span = tracer.start("darklaunch.verdict");
    span.add_event(
        "darklaunch.verdict.changed",
        vec![
            KeyValue::new("darklaunch.experiment", change.experiment.clone()),
            KeyValue::new("darklaunch.candidate", change.candidate.clone()),
            KeyValue::new("darklaunch.from", change.from.as_str()),
            KeyValue::new("darklaunch.to", change.to.as_str()),
            KeyValue::new(
                "darklaunch.runs",
                i64::try_from(change.runs).unwrap_or(i64::MAX),
            ),
        ],
    );
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::observation::{CandidateResult, Observation, Outcome};

    fn result(
        control: Outcome<String, String>,
        candidate: Outcome<String, String>,
        name: &str,
    ) -> ExperimentResult<String, String> {
        ExperimentResult::new(
            "exp",
            Context::new(),
            Observation::new("control", Duration::from_micros(1), control),
            vec![CandidateResult::new(
                Observation::new(name.to_owned(), Duration::from_micros(1), candidate),
                Verdict::Mismatch,
            )],
        )
    }

    fn sample(insight: &Insight<String, String>) -> (String, String) {
        let report = insight.report();
        let sample = &report.candidates[0].groups[0].samples[0];
        (sample.control.clone(), sample.candidate.clone())
    }

    #[test]
    fn values_facing_an_error_are_shown_only_without_a_differ() {
        let value = || Outcome::Value(String::from("v"));
        let error = || Outcome::Error(String::from("e"));
        // Not told: a value facing an error is withheld, two values are shown.
        let insight = Insight::new();
        insight.publish(&result(value(), error(), "c"));
        assert_eq!(sample(&insight).0, crate::insight::grouping::VALUE_WITHHELD);
        let insight = Insight::new();
        insight.publish(&result(value(), value(), "c"));
        assert_eq!(
            sample(&insight),
            (String::from("\"v\""), String::from("\"v\""))
        );
        // Told there is no differ: shown.
        let insight = Insight::new();
        insight.link_differ(false);
        insight.publish(&result(value(), error(), "c"));
        assert_eq!(
            sample(&insight),
            (String::from("\"v\""), String::from("error: e"))
        );
        // Told there is one: never shown, even without a diff.
        let insight = Insight::new();
        insight.link_differ(true);
        insight.publish(&result(value(), value(), "c"));
        assert_eq!(sample(&insight).1, crate::insight::grouping::VALUE_WITHHELD);
    }

    #[test]
    fn candidates_and_names_are_capped() {
        let options = InsightOptions {
            max_candidates: 2,
            significant_digits: 1,
            ..InsightOptions::default()
        };
        let insight: Insight<String, String> = Insight::with_options(options);
        let long = "n".repeat(10_000);
        for name in ["a", "b", "c", long.as_str(), "a"] {
            let value = || Outcome::Value(String::from("v"));
            insight.publish(&result(value(), value(), name));
        }
        let report = insight.report();
        assert_eq!(report.candidates.len(), 2);
        assert_eq!(report.candidates[0].runs, 2);
        assert_eq!(report.untracked_candidate_results, 2);
        let insight: Insight<String, String> = Insight::new();
        let value = || Outcome::Value(String::from("v"));
        insight.publish(&result(value(), value(), &long));
        insight.publish(&result(value(), value(), &long));
        let report = insight.report();
        assert_eq!(report.candidates.len(), 1);
        assert!(report.candidates[0].name.len() <= MAX_NAME);
        assert_eq!(report.candidates[0].runs, 2);
    }
}
