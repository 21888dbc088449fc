//! Noise calibration, Diffy's idea done in process: on a fraction of sampled runs the control
//! runs a second time and is diffed against itself. Per-path counts of candidate differences
//! (raw) and of control-vs-control differences (noise) over a sliding window tell a path whose
//! differences nondeterminism explains (a timestamp, a request id) from a real defect.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use serde::Serialize;

use crate::diff::{push_segment, Diff, Difference, PathSegment, SegRef};
use crate::error::ConfigError;
use crate::sample::Sampler;
use crate::text::{capped, Bounded};

/// How noise is calibrated; given to
/// [`ExperimentBuilder::calibrate_noise`](crate::ExperimentBuilder::calibrate_noise).
///
/// A path is **reported** (its differences are real) when, over the window, the candidate's
/// difference rate there exceeds the control's own (noise) rate and both the relative
/// difference `|R − N| / (R + N)` and the absolute difference `|R − N| / comparisons` exceed
/// their thresholds (Diffy's rule; `N` is the noise count scaled from the calibrated runs to
/// all comparisons). A path that is not reported **and** where calibration has seen noise is
/// classified **noise**. A path where the control never differed from itself is never noise,
/// however rare its differences: a rare defect must not hide behind the thresholds.
///
/// ```
/// use darklaunch::noise::NoiseCalibration;
///
/// let calibration = NoiseCalibration::new()
///     .warmup(20)                 // calibrate the first 20 runs that can be calibrated
///     .percent(10.0)              // then re-run the control on 10 % of sampled runs
///     .window(10_000)             // counts cover about the last 10,000 comparisons
///     .relative_threshold(0.2)    // |R − N| / (R + N) must exceed 20 %
///     .absolute_threshold(0.01);  // |R − N| / comparisons must exceed 1 %
/// assert!(calibration.validate().is_ok());
/// assert!(NoiseCalibration::new().percent(120.0).validate().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct NoiseCalibration {
    warmup: u64,
    max_paths: usize,
    percent: f64,
    window: u64,
    relative_threshold: f64,
    absolute_threshold: f64,
}

impl Default for NoiseCalibration {
    fn default() -> Self {
        Self::new()
    }
}

impl NoiseCalibration {
    /// The defaults: calibrate the first 20 runs, then 10 % of sampled runs, a window of
    /// 10,000 comparisons, relative threshold 0.2, absolute threshold 0.01.
    pub fn new() -> Self {
        Self {
            warmup: 20,
            max_paths: 1024,
            percent: 10.0,
            window: 10_000,
            relative_threshold: 0.2,
            absolute_threshold: 0.01,
        }
    }

    /// How many sampled runs calibrate unconditionally before [`percent`](Self::percent)
    /// applies (counting only runs that bring a calibration behaviour), so that the usual
    /// noise is known before the first mismatches are judged.
    pub fn warmup(mut self, runs: u64) -> Self {
        self.warmup = runs;
        self
    }

    /// The most distinct paths counted per half window, for raw and for noise counts each
    /// (default 1024), so that values keyed by ids (`$.sessions.<id>`) cannot grow the counts
    /// without bound. A path beyond the cap is not counted, so it is never noise.
    pub fn max_paths(mut self, paths: usize) -> Self {
        self.max_paths = paths;
        self
    }

    /// The percentage (0–100) of sampled runs on which the control runs a second time.
    pub fn percent(mut self, percent: f64) -> Self {
        self.percent = percent;
        self
    }

    /// How many comparisons the counts cover (at least 2). The window slides in two halves:
    /// counts older than one to two windows are forgotten.
    pub fn window(mut self, comparisons: u64) -> Self {
        self.window = comparisons;
        self
    }

    /// The least relative difference `|R − N| / (R + N)`, from 0 to 1, for a path to be
    /// reported.
    pub fn relative_threshold(mut self, threshold: f64) -> Self {
        self.relative_threshold = threshold;
        self
    }

    /// The least absolute difference `|R − N| / comparisons`, from 0 to 1, for a path to be
    /// reported.
    pub fn absolute_threshold(mut self, threshold: f64) -> Self {
        self.absolute_threshold = threshold;
        self
    }

    /// The first mistake in these settings, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Sampler::percent(self.percent).validate()?;
        if self.max_paths == 0 {
            return Err(ConfigError::ZeroCap {
                setting: "max_paths",
            });
        }
        if self.window < 2 {
            return Err(ConfigError::InvalidWindow { value: self.window });
        }
        for (setting, value) in [
            ("relative_threshold", self.relative_threshold),
            ("absolute_threshold", self.absolute_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::InvalidThreshold { setting, value });
            }
        }
        Ok(())
    }

    /// The relative and absolute thresholds, for insight snapshots that classify merged counts.
    #[cfg(feature = "insight")]
    pub(crate) fn thresholds(&self) -> (f64, f64) {
        (self.relative_threshold, self.absolute_threshold)
    }

    /// Whether a path with these window counts is reported (true) or explained by noise.
    pub(crate) fn reported(&self, raw: u64, noise: f64, comparisons: u64) -> bool {
        let raw = raw as f64;
        let gap = (raw - noise).abs();
        raw > noise
            && gap / (raw + noise) > self.relative_threshold
            && gap / comparisons.max(1) as f64 > self.absolute_threshold
    }
}

/// What calibration knows about one folded path, as published with a result's differences
/// ([`CandidateResult::noise`](crate::CandidateResult::noise)) and in a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PathNoise {
    /// The path as calibration counts it ([`noise_key`]): inner array indices folded
    /// (`$.items[*].id`), a final index kept (`$.pair[1]`).
    pub path: String,
    /// Comparisons in the window where the candidate differed from the control at this path.
    pub raw: u64,
    /// Calibrated runs in the window where the control differed from itself at this path.
    pub noise: u64,
    /// Comparisons in the window.
    pub comparisons: u64,
    /// Calibrated runs in the window.
    pub calibrations: u64,
    /// Whether the path is classified as noise.
    pub is_noise: bool,
}

impl PathNoise {
    /// `raw / comparisons`: how often the candidate differs here.
    pub fn raw_rate(&self) -> f64 {
        ratio(self.raw, self.comparisons)
    }

    /// `noise / calibrations`: how often the control differs from itself here.
    pub fn noise_rate(&self) -> f64 {
        ratio(self.noise, self.calibrations)
    }
}

fn ratio(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Calibration's state, for a report: the window's totals and every path seen.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct NoiseSnapshot {
    /// Comparisons in the window.
    pub comparisons: u64,
    /// Calibrated runs in the window.
    pub calibrations: u64,
    /// Every path with raw or noise differences in the window, noise first, then by raw count.
    pub paths: Vec<PathNoise>,
}

impl NoiseSnapshot {
    /// The paths classified as noise.
    pub fn noise_paths(&self) -> Vec<&str> {
        self.paths
            .iter()
            .filter(|path| path.is_noise)
            .map(|path| path.path.as_str())
            .collect()
    }
}

/// The longest object key kept in a rendered path, in bytes (longer keys end in `…`): ids
/// used as map keys can be arbitrarily long.
pub const MAX_PATH_KEY: usize = 128;

/// The longest rendered path kept, in bytes (longer paths end in `…`).
pub const MAX_PATH_TEXT: usize = 1024;

/// Renders `path`, each array index through `index` (`None` for `[*]`), each key cut to
/// [`MAX_PATH_KEY`] bytes, the whole cut to [`MAX_PATH_TEXT`] bytes; nothing longer is ever
/// built.
fn capped_path<'p>(path: impl IntoIterator<Item = (&'p PathSegment, bool)>) -> String {
    let mut out = Bounded::new(MAX_PATH_TEXT);
    out.put("$");
    let mut segment = String::new();
    for (part, fold) in path {
        segment.clear();
        match part {
            PathSegment::Index(_) if fold => segment.push_str("[*]"),
            PathSegment::Index(index) => push_segment(&mut segment, SegRef::Index(*index)),
            PathSegment::Key(key) => {
                let key = capped(key, MAX_PATH_KEY);
                push_segment(&mut segment, SegRef::Key(&key));
            }
        }
        if !out.put(&segment) {
            break;
        }
    }
    out.finish()
}

/// `path` with every array index replaced by `[*]`, so that `$.items[3].id` and
/// `$.items[7].id` are one path. Keys longer than [`MAX_PATH_KEY`] bytes and paths longer
/// than [`MAX_PATH_TEXT`] bytes are cut, ending in `…`.
///
/// ```
/// use darklaunch::diff::PathSegment;
/// use darklaunch::noise::fold_indices;
///
/// let path = [PathSegment::from("items"), PathSegment::Index(3), PathSegment::from("id")];
/// assert_eq!(fold_indices(&path), "$.items[*].id");
/// // A 100 kB key (an id used as a map key) is cut to 128 bytes, `…` included.
/// let long = [PathSegment::Key("k".repeat(100_000))];
/// let folded = fold_indices(&long);
/// assert!(folded.len() <= darklaunch::noise::MAX_PATH_KEY + 5);
/// assert!(folded.starts_with("$[\"kkk") && folded.ends_with("k…\"]"));
/// ```
pub fn fold_indices(path: &[PathSegment]) -> String {
    capped_path(path.iter().map(|segment| (segment, true)))
}

/// The path under which calibration counts a difference: array indices folded to `[*]`
/// *inside* the path (`$.items[3].id` → `$.items[*].id`, so that every item's id is one
/// path), but a final index kept (`$.pair[1]` stays), because the elements of a tuple or a
/// fixed-position array are different fields: a defect in one must not pass for noise in
/// another. Cut like [`fold_indices`].
///
/// ```
/// use darklaunch::diff::PathSegment;
/// use darklaunch::noise::noise_key;
///
/// let inner = [PathSegment::from("items"), PathSegment::Index(3), PathSegment::from("id")];
/// assert_eq!(noise_key(&inner), "$.items[*].id");
/// let leaf = [PathSegment::from("pair"), PathSegment::Index(1)];
/// assert_eq!(noise_key(&leaf), "$.pair[1]");
/// ```
pub fn noise_key(path: &[PathSegment]) -> String {
    let last = path.len().saturating_sub(1);
    capped_path(
        path.iter()
            .enumerate()
            .map(|(at, segment)| (segment, at != last)),
    )
}

/// The noise key of each of a diff's differences, in order.
fn keys_of(differences: &[Difference]) -> Vec<String> {
    differences
        .iter()
        .map(|difference| noise_key(&difference.segments))
        .collect()
}

/// Adds one to the count of each distinct key (a run counts once per path however many of its
/// differences fold onto it), leaving out new keys once the map holds `max_paths`.
fn count_once(counts: &mut HashMap<String, u64>, keys: &[String], max_paths: usize) {
    for (index, key) in keys.iter().enumerate() {
        if keys[..index].contains(key) {
            continue;
        }
        let len = counts.len();
        match counts.get_mut(key) {
            Some(n) => *n += 1,
            None if len < max_paths => {
                counts.insert(key.clone(), 1);
            }
            None => {}
        }
    }
}

/// One experiment's calibration: the decision to calibrate and the windowed counts.
pub(crate) struct NoiseModel {
    settings: NoiseCalibration,
    sampler: Sampler,
    /// Calibrations decided so far, for the warm-up.
    decided: AtomicU64,
    /// Comparisons ever made; the window is measured on this count. An atomic, so that the
    /// match path never takes the lock.
    comparisons: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    current: Bucket,
    previous: Option<Bucket>,
}

#[derive(Default)]
struct Bucket {
    /// The comparison count when this bucket began.
    start: u64,
    calibrations: u64,
    raw: HashMap<String, u64>,
    noise: HashMap<String, u64>,
}

/// Window totals and the per-path counts of both buckets.
struct Totals<'w> {
    comparisons: u64,
    calibrations: u64,
    window: &'w Window,
}

impl Totals<'_> {
    fn raw(&self, path: &str) -> u64 {
        self.window.sum(path, |bucket| &bucket.raw)
    }

    fn noise(&self, path: &str) -> u64 {
        self.window.sum(path, |bucket| &bucket.noise)
    }
}

impl Window {
    fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    fn sum(&self, path: &str, counts: impl Fn(&Bucket) -> &HashMap<String, u64>) -> u64 {
        self.buckets()
            .map(|bucket| counts(bucket).get(path).copied().unwrap_or(0))
            .sum()
    }

    /// Starts a new half when the current one has covered half a window; forgets everything
    /// when a whole window passed without an event.
    fn slide(&mut self, now: u64, window: u64) {
        let half = (window / 2).max(1);
        let age = now.saturating_sub(self.current.start);
        if age < half {
            return;
        }
        let fresh = Bucket {
            start: now,
            ..Bucket::default()
        };
        let previous = std::mem::replace(&mut self.current, fresh);
        self.previous = (age < window).then_some(previous);
    }

    fn totals(&self, now: u64) -> Totals<'_> {
        let oldest = self.previous.as_ref().unwrap_or(&self.current).start;
        Totals {
            comparisons: now.saturating_sub(oldest),
            calibrations: self.buckets().map(|bucket| bucket.calibrations).sum(),
            window: self,
        }
    }
}

impl NoiseModel {
    pub(crate) fn new(settings: NoiseCalibration) -> Self {
        Self {
            sampler: Sampler::percent(settings.percent),
            decided: AtomicU64::new(0),
            settings,
            comparisons: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
        }
    }

    /// The settings, for insight snapshots.
    #[cfg(feature = "insight")]
    pub(crate) fn settings(&self) -> &NoiseCalibration {
        &self.settings
    }

    /// Whether this sampled run should run the control a second time.
    pub(crate) fn should_calibrate(&self, draws: &crate::random::Draws) -> bool {
        let warming_up = self.decided.load(Relaxed) < self.settings.warmup;
        let calibrate = warming_up || self.sampler.decide(None, draws);
        if calibrate && warming_up {
            self.decided.fetch_add(1, Relaxed);
        }
        calibrate
    }

    /// Counts one comparison of a candidate's value with the control's.
    pub(crate) fn count_comparison(&self) {
        self.comparisons.fetch_add(1, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding the lock can only come from an allocation failure; the
        // counts stay usable.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one calibrated run: the diff of the control against itself.
    pub(crate) fn record_calibration(&self, diff: &Diff) {
        let keys = keys_of(&diff.differences);
        let now = self.comparisons.load(Relaxed);
        let mut window = self.lock();
        window.slide(now, self.settings.window);
        window.current.calibrations += 1;
        count_once(&mut window.current.noise, &keys, self.settings.max_paths);
    }

    /// Records a candidate's differences and classifies each one; the evidence is index-aligned
    /// with `diff.differences`.
    pub(crate) fn classify(&self, diff: &Diff) -> Vec<PathNoise> {
        self.classify_counting(diff, true)
    }

    /// Classifies a diff judged outside a run (a replay, a property test) by what the window
    /// knows, without counting it in.
    pub(crate) fn classify_uncounted(&self, diff: &Diff) -> Vec<PathNoise> {
        self.classify_counting(diff, false)
    }

    fn classify_counting(&self, diff: &Diff, count: bool) -> Vec<PathNoise> {
        let paths = keys_of(&diff.differences);
        let now = self.comparisons.load(Relaxed);
        let mut window = self.lock();
        window.slide(now, self.settings.window);
        if count {
            count_once(&mut window.current.raw, &paths, self.settings.max_paths);
        }
        let totals = window.totals(now);
        paths
            .into_iter()
            .map(|path| self.evidence(&totals, path))
            .collect()
    }

    fn evidence(&self, totals: &Totals<'_>, path: String) -> PathNoise {
        let raw = totals.raw(&path);
        let noise = totals.noise(&path);
        // Noise scaled from the calibrated runs to all comparisons.
        let expected_noise = ratio(noise, totals.calibrations) * totals.comparisons as f64;
        let is_noise = noise > 0
            && !self
                .settings
                .reported(raw, expected_noise, totals.comparisons);
        PathNoise {
            path,
            raw,
            noise,
            comparisons: totals.comparisons,
            calibrations: totals.calibrations,
            is_noise,
        }
    }

    /// The window's totals and every path seen in it.
    pub(crate) fn snapshot(&self) -> NoiseSnapshot {
        let now = self.comparisons.load(Relaxed);
        let mut window = self.lock();
        window.slide(now, self.settings.window);
        let totals = window.totals(now);
        // Up to four maps of `max_paths` keys each: a set, not a list search.
        let paths: HashSet<&String> = window
            .buckets()
            .flat_map(|bucket| bucket.raw.keys().chain(bucket.noise.keys()))
            .collect();
        let mut paths: Vec<PathNoise> = paths
            .into_iter()
            .map(|path| self.evidence(&totals, path.clone()))
            .collect();
        paths.sort_by(|a, b| {
            b.is_noise
                .cmp(&a.is_noise)
                .then(b.raw.cmp(&a.raw))
                .then(a.path.cmp(&b.path))
        });
        NoiseSnapshot {
            comparisons: totals.comparisons,
            calibrations: totals.calibrations,
            paths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{diff_values, DiffOptions};
    use serde_json::json;

    fn diff(a: serde_json::Value, b: serde_json::Value) -> Diff {
        diff_values(&a, &b, &DiffOptions::new())
    }

    #[test]
    fn diffy_rule() {
        let settings = NoiseCalibration::new();
        // Same rate as noise: not reported.
        assert!(!settings.reported(100, 100.0, 1000));
        // Far above noise on both measures: reported.
        assert!(settings.reported(300, 100.0, 1000));
        // Relative gap below 20 %: not reported.
        assert!(!settings.reported(110, 100.0, 1000));
        // Absolute gap below 1 % of comparisons: not reported.
        assert!(!settings.reported(9, 1.0, 1000));
    }

    #[test]
    fn a_path_the_control_never_varies_on_is_never_noise() {
        let model = NoiseModel::new(NoiseCalibration::new());
        for _ in 0..1000 {
            model.count_comparison();
        }
        let evidence = model.classify(&diff(json!({"total": 1}), json!({"total": 2})));
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].raw, 1);
        assert!(!evidence[0].is_noise);
    }

    #[test]
    fn a_path_that_always_differs_in_calibration_is_noise() {
        let model = NoiseModel::new(NoiseCalibration::new());
        let noisy = diff(
            json!({"at": 1, "items": [{"id": 1}]}),
            json!({"at": 2, "items": [{"id": 9}]}),
        );
        for _ in 0..100 {
            model.count_comparison();
        }
        for _ in 0..10 {
            model.record_calibration(&noisy);
        }
        let evidence = model.classify(&noisy);
        assert_eq!(evidence[0].path, "$.at");
        assert_eq!(evidence[1].path, "$.items[*].id");
        // Tuple fields stay apart: noise in one does not excuse the other.
        let pair = diff(json!([1, 2]), json!([1, 3]));
        model.record_calibration(&pair);
        let defect = model.classify(&diff(json!([1, 2]), json!([9, 2])));
        assert_eq!(defect[0].path, "$[0]");
        assert!(!defect[0].is_noise);
        assert!(evidence
            .iter()
            .all(|e| e.is_noise && e.noise == 10 && e.calibrations == 10));
    }

    #[test]
    fn distinct_paths_are_capped_and_uncounted_paths_are_never_noise() {
        let model = NoiseModel::new(NoiseCalibration::new().max_paths(2));
        for key in ["a", "b", "c"] {
            model.count_comparison();
            model.record_calibration(&diff(json!({key: 1}), json!({key: 2})));
        }
        let evidence = model.classify(&diff(json!({"a": 1, "c": 1}), json!({"a": 2, "c": 2})));
        assert!(evidence[0].is_noise, "{evidence:?}");
        assert_eq!((evidence[1].noise, evidence[1].is_noise), (0, false));
        // At most two per map: raw has $.a and $.c, noise $.a and $.b.
        assert_eq!(model.snapshot().paths.len(), 3);
    }

    #[test]
    fn the_window_forgets() {
        let model = NoiseModel::new(NoiseCalibration::new().window(100));
        let noisy = diff(json!({"at": 1}), json!({"at": 2}));
        model.record_calibration(&noisy);
        for _ in 0..60 {
            model.count_comparison();
        }
        model.record_calibration(&diff(json!(1), json!(1)));
        // One slide: the first calibration is in the previous half, still counted.
        assert_eq!(model.snapshot().calibrations, 2);
        for _ in 0..200 {
            model.count_comparison();
        }
        let snapshot = model.snapshot();
        assert_eq!(snapshot.calibrations, 0);
        assert!(snapshot.paths.is_empty());
    }
}
