//! The `verdict` command's work: read the fleet's counts and latency buckets from Prometheus
//! and judge each candidate with darklaunch's own statistics
//! ([`darklaunch::insight::verdict_from_counts`]).

use std::collections::BTreeMap;
use std::time::Duration;

use darklaunch::insight::{
    verdict_from_counts, CountsVerdict, LatencySummary, OutcomeCounts, ReleasePolicy, ReleaseStatus,
};
use serde::Serialize;

use crate::error::FleetError;
use crate::exit::Exit;
use crate::histogram::{self, Bucket};
use crate::prometheus::{PrometheusApi, Sample};
use crate::promql::Selection;

/// The quantiles reported per behaviour.
pub const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

/// The fleet's verdict on an experiment: every candidate judged on the sum of all instances'
/// counts.
#[derive(Clone, Debug, Serialize)]
pub struct FleetVerdict {
    /// The experiment.
    pub experiment: String,
    /// The candidate asked for, if one was.
    pub candidate: Option<String>,
    /// The Prometheus server read.
    pub prometheus: String,
    /// The window counted (`increase` over it), or `None`: the counters as they stand.
    pub window: Option<String>,
    /// The worst candidate's status: not safe if any is, else undecided if any is, else safe.
    pub status: ReleaseStatus,
    /// The exit code that status gives.
    pub exit_code: u8,
    /// The policy judged against.
    pub policy: PolicySummary,
    /// Each candidate with runs, by name.
    pub candidates: Vec<CandidateVerdict>,
    /// Runs shed over the in-flight cap (they ran no candidate; not judged).
    pub shed: u64,
    /// Counts under outcomes this version does not know (not judged).
    pub other_outcomes: BTreeMap<String, u64>,
    /// Latency per behaviour (`control` and each candidate), from the duration buckets.
    pub latency: Vec<BehaviorLatency>,
    /// What the reader should know: Prometheus's warnings, series skipped, latency missing.
    pub warnings: Vec<String>,
}

/// The policy's settings, as judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicySummary {
    /// Runs needed before a verdict.
    pub min_runs: u64,
    /// The highest acceptable mismatch rate.
    pub max_mismatch_rate: f64,
    /// The highest acceptable candidate error or timeout rate.
    pub max_error_rate: f64,
    /// The highest acceptable candidate ÷ control p99 ratio, if any.
    pub max_p99_ratio: Option<f64>,
    /// The confidence level of the bounds.
    pub confidence: f64,
}

impl PolicySummary {
    fn of(policy: &ReleasePolicy) -> Self {
        Self {
            min_runs: policy.min_runs,
            max_mismatch_rate: policy.mismatch_tolerance,
            max_error_rate: policy.error_tolerance,
            max_p99_ratio: policy.max_p99_ratio,
            confidence: policy.confidence,
        }
    }
}

/// One candidate's verdict and latency beside the control's.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateVerdict {
    /// Counts, rates, bounds and verdict, exactly as darklaunch's insight computes them.
    #[serde(flatten)]
    pub judged: CountsVerdict,
    /// p50, p90 and p99 of the candidate and the control, and their ratios.
    pub latency: Vec<QuantileComparison>,
}

/// One quantile of a candidate beside the control's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantileComparison {
    /// `p50`, `p90` or `p99`.
    pub quantile: &'static str,
    /// The candidate's, in seconds.
    pub candidate_seconds: Option<f64>,
    /// The control's, in seconds.
    pub control_seconds: Option<f64>,
    /// Candidate ÷ control.
    pub ratio: Option<f64>,
}

/// One behaviour's latency quantiles, computed from its buckets as `histogram_quantile` does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BehaviorLatency {
    /// `control` or the candidate's name.
    pub behavior: String,
    /// Observations (the `+Inf` bucket, rounded).
    pub count: u64,
    /// The quantiles in seconds (`None` where `histogram_quantile` gives NaN).
    pub p50_seconds: Option<f64>,
    /// 90th percentile.
    pub p90_seconds: Option<f64>,
    /// 99th percentile.
    pub p99_seconds: Option<f64>,
}

impl BehaviorLatency {
    /// The quantile named `name` (`p50`, `p90`, `p99`).
    pub fn at(&self, name: &str) -> Option<f64> {
        match name {
            "p50" => self.p50_seconds,
            "p90" => self.p90_seconds,
            "p99" => self.p99_seconds,
            _ => None,
        }
    }

    /// As the insight's latency summary (count and quantiles only), when every quantile is
    /// a duration.
    fn summary(&self) -> Option<LatencySummary> {
        let at = |q: Option<f64>| q.and_then(|s| Duration::try_from_secs_f64(s).ok());
        let mut summary = LatencySummary::default();
        summary.count = self.count;
        summary.p50 = at(self.p50_seconds)?;
        summary.p90 = at(self.p90_seconds)?;
        summary.p99 = at(self.p99_seconds)?;
        Some(summary)
    }
}

/// A Prometheus sample value as a count: finite, not negative, rounded (`increase` estimates
/// are fractional).
pub fn count_of(value: f64) -> Result<u64, String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a count"));
    }
    if value < -0.5 {
        return Err(format!("{value} is a negative count"));
    }
    // 2^63: far beyond any real count, and exactly representable.
    if value >= 9_223_372_036_854_775_808.0 {
        return Err(format!("{value} is too large a count"));
    }
    Ok(value.max(0.0).round() as u64)
}

/// Adds `count` under `outcome` to `counts`; false for an outcome it does not know.
fn add_outcome(counts: &mut OutcomeCounts, outcome: &str, count: u64) -> bool {
    let slot = match outcome {
        "match" => &mut counts.matched,
        "mismatch" => &mut counts.mismatched,
        "ignored" => &mut counts.ignored,
        "noise" => &mut counts.noise,
        "candidate_error" => &mut counts.errors,
        "timeout" => &mut counts.timeouts,
        _ => return false,
    };
    *slot = slot.saturating_add(count);
    true
}

/// Runs by candidate, shed runs and unknown outcomes, from the runs query's samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Per candidate.
    pub candidates: BTreeMap<String, OutcomeCounts>,
    /// `outcome="shed"`.
    pub shed: u64,
    /// Other outcomes.
    pub other: BTreeMap<String, u64>,
    /// Series skipped, in words.
    pub skipped: Vec<String>,
}

/// Sorts the runs query's samples into a [`Tally`]; a value that is not a count is an error.
pub fn tally(samples: &[Sample]) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for sample in samples {
        let (candidate, outcome) = (sample.label("candidate"), sample.label("outcome"));
        let count = count_of(sample.value)
            .map_err(|why| format!("candidate {candidate:?}, outcome {outcome:?}: {why}"))?;
        if outcome == "shed" {
            tally.shed = tally.shed.saturating_add(count);
        } else if candidate.is_empty() {
            tally.skipped.push(format!(
                "{count} runs with outcome {outcome:?} and no candidate label were not judged"
            ));
        } else {
            let counts = tally.candidates.entry(candidate.to_owned()).or_default();
            if !add_outcome(counts, outcome, count) {
                let other = tally.other.entry(outcome.to_owned()).or_default();
                *other = other.saturating_add(count);
            }
        }
    }
    Ok(tally)
}

/// Buckets by behaviour from the buckets query's samples, and the series skipped.
pub fn buckets_by_behavior(samples: &[Sample]) -> (BTreeMap<String, Vec<Bucket>>, usize) {
    let mut out: BTreeMap<String, Vec<Bucket>> = BTreeMap::new();
    let mut skipped = 0;
    for sample in samples {
        match histogram::parse_le(sample.label("le")) {
            Some(upper_bound) if !sample.label("behavior").is_empty() => out
                .entry(sample.label("behavior").to_owned())
                .or_default()
                .push(Bucket {
                    upper_bound,
                    count: sample.value,
                }),
            _ => skipped += 1,
        }
    }
    (out, skipped)
}

/// One behaviour's quantiles from its buckets.
pub fn behavior_latency(behavior: &str, buckets: &[Bucket]) -> BehaviorLatency {
    let q = |q: f64| histogram::quantile(q, buckets).filter(|v| v.is_finite());
    BehaviorLatency {
        behavior: behavior.to_owned(),
        count: histogram::observations(buckets)
            .and_then(|n| count_of(n).ok())
            .unwrap_or(0),
        p50_seconds: q(0.5),
        p90_seconds: q(0.9),
        p99_seconds: q(0.99),
    }
}

/// The candidate's quantiles beside the control's.
fn compare(
    candidate: Option<&BehaviorLatency>,
    control: Option<&BehaviorLatency>,
) -> Vec<QuantileComparison> {
    QUANTILES
        .iter()
        .map(|&(name, _)| {
            let candidate_seconds = candidate.and_then(|l| l.at(name));
            let control_seconds = control.and_then(|l| l.at(name));
            let ratio = match (candidate_seconds, control_seconds) {
                (Some(c), Some(k)) if k > 0.0 => Some(c / k).filter(|r| r.is_finite()),
                _ => None,
            };
            QuantileComparison {
                quantile: name,
                candidate_seconds,
                control_seconds,
                ratio,
            }
        })
        .collect()
}

/// The worst of the statuses: not safe over undecided over safe; `None` for none.
pub fn worst(statuses: impl IntoIterator<Item = ReleaseStatus>) -> Option<ReleaseStatus> {
    statuses.into_iter().max_by_key(|status| match status {
        ReleaseStatus::Safe => 0,
        ReleaseStatus::Inconclusive => 1,
        ReleaseStatus::NotSafe => 2,
    })
}

/// What was looked for, in words, for a "no data" message.
fn looked_for(selection: &Selection) -> String {
    let mut what = format!("experiment {:?}", selection.experiment);
    if let Some(candidate) = &selection.candidate {
        what.push_str(&format!(", candidate {candidate:?}"));
    }
    match &selection.window {
        Some(window) => what.push_str(&format!(", in the last {}", window.as_str())),
        None => what.push_str(" (counters as they stand)"),
    }
    what
}

/// Reads the fleet's runs and latency from `api` and judges every candidate (or the one
/// `selection` names) against `policy`.
pub fn fleet_verdict(
    api: &dyn PrometheusApi,
    selection: &Selection,
    policy: &ReleasePolicy,
) -> Result<FleetVerdict, FleetError> {
    let mut warnings = Vec::new();
    let runs_query = selection.runs_query();
    let (samples, prometheus_warnings) = api.query(&runs_query)?;
    warnings.extend(
        prometheus_warnings
            .into_iter()
            .map(|w| format!("Prometheus: {w}")),
    );
    if samples.is_empty() {
        return Err(if api.has_metric(&selection.runs_metric)? {
            FleetError::NoData {
                what: format!(
                    "{} has no series of {}",
                    looked_for(selection),
                    selection.runs_metric
                ),
            }
        } else {
            FleetError::NoSuchMetric {
                metric: selection.runs_metric.clone(),
                url: api.url().to_owned(),
            }
        });
    }
    let mut tally = tally(&samples).map_err(|detail| FleetError::Prometheus {
        request: format!("query {runs_query}"),
        detail,
    })?;
    warnings.append(&mut tally.skipped);
    for (outcome, count) in &tally.other {
        warnings.push(format!(
            "{count} runs with outcome {outcome:?}, unknown to this version, were not judged"
        ));
    }
    let (idle, active): (Vec<_>, Vec<_>) = tally
        .candidates
        .into_iter()
        .partition(|(_, counts)| counts.runs() == 0);
    for (name, _) in &idle {
        warnings.push(format!("candidate {name:?} has no runs here: not judged"));
    }
    if active.is_empty() {
        return Err(FleetError::NoData {
            what: format!("{} has no candidate runs", looked_for(selection)),
        });
    }

    // Latency: every behaviour's buckets (the control's too).
    let buckets_query = selection.buckets_query();
    let (bucket_samples, prometheus_warnings) = api.query(&buckets_query)?;
    warnings.extend(
        prometheus_warnings
            .into_iter()
            .map(|w| format!("Prometheus: {w}")),
    );
    let (by_behavior, skipped) = buckets_by_behavior(&bucket_samples);
    if skipped > 0 {
        warnings.push(format!(
            "{skipped} bucket series without a behaviour or a valid le label were skipped"
        ));
    }
    let bucket_metric = selection.bucket_metric();
    if by_behavior.is_empty() {
        let exists = api.has_metric(&bucket_metric)?;
        if policy.max_p99_ratio.is_some() {
            // The policy judges latency: without buckets it cannot be judged.
            return Err(if exists {
                FleetError::NoData {
                    what: format!(
                        "{} has no series of {bucket_metric}, which --max-p99-ratio needs",
                        looked_for(selection)
                    ),
                }
            } else {
                FleetError::NoSuchMetric {
                    metric: bucket_metric,
                    url: api.url().to_owned(),
                }
            });
        }
        warnings.push(if exists {
            format!("no latency: {bucket_metric} has no series for this experiment")
        } else {
            format!("no latency: Prometheus has no metric {bucket_metric}")
        });
    }
    let latency: Vec<BehaviorLatency> = by_behavior
        .iter()
        .filter(|(behavior, _)| match &selection.candidate {
            Some(candidate) => *behavior == "control" || *behavior == candidate,
            None => true,
        })
        .map(|(behavior, buckets)| behavior_latency(behavior, buckets))
        .collect();
    let find = |name: &str| latency.iter().find(|l| l.behavior == name);
    let control = find("control");

    let candidates: Vec<CandidateVerdict> = active
        .iter()
        .map(|(name, counts)| {
            let own = find(name);
            let summaries = own
                .and_then(BehaviorLatency::summary)
                .zip(control.and_then(BehaviorLatency::summary));
            let judged = verdict_from_counts(
                name,
                counts,
                summaries
                    .as_ref()
                    .map(|(candidate, control)| (candidate, control)),
                policy,
            );
            CandidateVerdict {
                judged,
                latency: compare(own, control),
            }
        })
        .collect();
    if policy.max_p99_ratio.is_some() {
        for candidate in &candidates {
            if candidate
                .latency
                .iter()
                .any(|q| q.quantile == "p99" && q.ratio.is_none())
            {
                warnings.push(format!(
                    "candidate {:?}: no p99 ratio to the control, so --max-p99-ratio could not judge it",
                    candidate.judged.name
                ));
            }
        }
    }
    let status = worst(candidates.iter().map(|c| c.judged.verdict.status))
        .unwrap_or(ReleaseStatus::Inconclusive);
    Ok(FleetVerdict {
        experiment: selection.experiment.clone(),
        candidate: selection.candidate.clone(),
        prometheus: api.url().to_owned(),
        window: selection.window.as_ref().map(|w| w.as_str().to_owned()),
        status,
        exit_code: Exit::of_status(status).code(),
        policy: PolicySummary::of(policy),
        candidates,
        shed: tally.shed,
        other_outcomes: tally.other,
        latency,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{Window, DURATION_METRIC, RUNS_METRIC};
    use std::cell::RefCell;

    /// A Prometheus that answers from a table.
    struct Fake {
        answers: BTreeMap<String, Result<Vec<Sample>, FleetError>>,
        metrics: Vec<&'static str>,
        asked: RefCell<Vec<String>>,
    }

    impl PrometheusApi for Fake {
        fn url(&self) -> &str {
            "http://fake:9090"
        }
        fn query(&self, promql: &str) -> Result<(Vec<Sample>, Vec<String>), FleetError> {
            self.asked.borrow_mut().push(promql.to_owned());
            match self.answers.get(promql) {
                Some(answer) => answer.clone().map(|s| (s, vec![])),
                None => Ok((vec![], vec![])),
            }
        }
        fn has_metric(&self, metric: &str) -> Result<bool, FleetError> {
            Ok(self.metrics.contains(&metric))
        }
    }

    fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }

    fn selection(candidate: Option<&str>) -> Selection {
        Selection {
            experiment: "checkout".into(),
            candidate: candidate.map(Into::into),
            window: None,
            runs_metric: RUNS_METRIC.into(),
            duration_metric: DURATION_METRIC.into(),
        }
    }

    fn runs(candidate: &str, outcome: &str, value: f64) -> Sample {
        sample(&[("candidate", candidate), ("outcome", outcome)], value)
    }

    fn bucket(behavior: &str, le: &str, value: f64) -> Sample {
        sample(&[("behavior", behavior), ("le", le)], value)
    }

    fn fake(runs: Vec<Sample>, buckets: Vec<Sample>) -> Fake {
        let s = selection(None);
        Fake {
            answers: [(s.runs_query(), Ok(runs)), (s.buckets_query(), Ok(buckets))]
                .into_iter()
                .collect(),
            metrics: vec![RUNS_METRIC, "darklaunch_duration_seconds_bucket"],
            asked: RefCell::new(vec![]),
        }
    }

    #[test]
    fn counts_are_judged_per_candidate_and_the_worst_decides() {
        let api = fake(
            vec![
                runs("v2", "match", 9_000.0),
                runs("v2", "mismatch", 200.0),
                runs("v3", "match", 50_000.0),
                runs("v3", "ignored", 12.0),
                runs("", "shed", 7.0),
                runs("v3", "brand_new", 3.0),
                runs("v4", "match", 0.0),
            ],
            vec![
                bucket("control", "0.1", 90.0),
                bucket("control", "0.2", 100.0),
                bucket("control", "+Inf", 100.0),
                bucket("v2", "0.1", 50.0),
                bucket("v2", "0.2", 100.0),
                bucket("v2", "+Inf", 100.0),
            ],
        );
        let policy = ReleasePolicy::default();
        let verdict = fleet_verdict(&api, &selection(None), &policy).unwrap();
        assert_eq!(verdict.status, ReleaseStatus::NotSafe);
        assert_eq!(verdict.exit_code, 1);
        assert_eq!(verdict.shed, 7);
        assert_eq!(verdict.other_outcomes.get("brand_new"), Some(&3));
        let names: Vec<&str> = verdict
            .candidates
            .iter()
            .map(|c| c.judged.name.as_str())
            .collect();
        assert_eq!(names, ["v2", "v3"]);
        let v2 = &verdict.candidates[0].judged;
        assert_eq!((v2.runs, v2.counts.mismatched), (9_200, 200));
        assert_eq!(v2.verdict.status, ReleaseStatus::NotSafe);
        let v3 = &verdict.candidates[1].judged;
        assert_eq!((v3.runs, v3.counts.ignored), (50_012, 12));
        assert_eq!(v3.verdict.status, ReleaseStatus::Safe);
        // The same as the library computes from the same counts.
        let expected = verdict_from_counts("v3", &v3.counts, None, &policy);
        assert_eq!(v3.mismatch_bounds, expected.mismatch_bounds);
        assert!(verdict.warnings.iter().any(|w| w.contains("brand_new")));
        assert!(verdict
            .warnings
            .iter()
            .any(|w| w.contains("\"v4\" has no runs")));
        // Latency: control p50 = 0.1 * 50/90, v2 p50 = 0.1; p99: control 0.19, v2 0.198.
        let v2_latency = &verdict.candidates[0].latency;
        let p50 = &v2_latency[0];
        assert!((p50.control_seconds.unwrap() - 0.1 * 50.0 / 90.0).abs() < 1e-12);
        assert_eq!(p50.candidate_seconds, Some(0.1));
        let p99 = &v2_latency[2];
        assert!((p99.ratio.unwrap() - 0.198 / 0.19).abs() < 1e-9, "{p99:?}");
        assert!(verdict.candidates[1]
            .latency
            .iter()
            .all(|q| q.ratio.is_none()));
    }

    #[test]
    fn a_p99_limit_is_judged_on_the_bucket_quantiles() {
        let api = fake(
            vec![runs("v2", "match", 100_000.0)],
            vec![
                bucket("control", "0.1", 100.0),
                bucket("control", "+Inf", 100.0),
                bucket("v2", "0.1", 10.0),
                bucket("v2", "1", 100.0),
                bucket("v2", "+Inf", 100.0),
            ],
        );
        let mut policy = ReleasePolicy::default();
        assert_eq!(
            fleet_verdict(&api, &selection(None), &policy)
                .unwrap()
                .status,
            ReleaseStatus::Safe
        );
        policy.max_p99_ratio = Some(2.0);
        let verdict = fleet_verdict(&api, &selection(None), &policy).unwrap();
        assert_eq!(verdict.status, ReleaseStatus::NotSafe);
        assert!(
            verdict.candidates[0].judged.verdict.summary.contains("p99"),
            "{:?}",
            verdict.candidates[0].judged.verdict
        );
    }

    #[test]
    fn no_series_is_no_data_or_no_such_metric() {
        let mut api = fake(vec![], vec![]);
        let error = fleet_verdict(&api, &selection(None), &ReleasePolicy::default()).unwrap_err();
        assert_eq!(error.exit(), Exit::NoData);
        api.metrics.clear();
        let error = fleet_verdict(&api, &selection(None), &ReleasePolicy::default()).unwrap_err();
        assert_eq!(error.exit(), Exit::NoSuchMetric);
        assert!(error.to_string().contains(RUNS_METRIC), "{error}");
        // Only shed runs, or only empty counts: still no data, never safe.
        let api = fake(
            vec![runs("", "shed", 4.0), runs("v2", "match", 0.0)],
            vec![],
        );
        let error = fleet_verdict(&api, &selection(None), &ReleasePolicy::default()).unwrap_err();
        assert_eq!(error.exit(), Exit::NoData);
    }

    #[test]
    fn latency_is_optional_unless_the_policy_judges_it() {
        let mut api = fake(vec![runs("v2", "match", 100_000.0)], vec![]);
        let mut policy = ReleasePolicy::default();
        let verdict = fleet_verdict(&api, &selection(None), &policy).unwrap();
        assert_eq!(verdict.status, ReleaseStatus::Safe);
        assert!(verdict.warnings.iter().any(|w| w.contains("no latency")));
        policy.max_p99_ratio = Some(1.5);
        let error = fleet_verdict(&api, &selection(None), &policy).unwrap_err();
        assert_eq!(error.exit(), Exit::NoData);
        api.metrics.retain(|m| *m == RUNS_METRIC);
        let error = fleet_verdict(&api, &selection(None), &policy).unwrap_err();
        assert_eq!(error.exit(), Exit::NoSuchMetric);
        assert!(error
            .to_string()
            .contains("darklaunch_duration_seconds_bucket"));
    }

    #[test]
    fn odd_values_are_prometheus_errors_and_errors_pass_through() {
        for value in [f64::NAN, f64::INFINITY, -3.0, 1e300] {
            let api = fake(vec![runs("v2", "match", value)], vec![]);
            let error =
                fleet_verdict(&api, &selection(None), &ReleasePolicy::default()).unwrap_err();
            assert_eq!(error.exit(), Exit::PrometheusError, "{value}: {error}");
        }
        // NaN buckets only lose the quantile.
        let api = fake(
            vec![runs("v2", "match", 10.0)],
            vec![
                bucket("v2", "0.1", f64::NAN),
                bucket("v2", "+Inf", 1.0),
                bucket("v2", "bogus", 1.0),
            ],
        );
        let verdict = fleet_verdict(&api, &selection(None), &ReleasePolicy::default()).unwrap();
        assert_eq!(verdict.latency[0].p50_seconds, None);
        assert!(verdict
            .warnings
            .iter()
            .any(|w| w.contains("1 bucket series")));
        let mut api = fake(vec![], vec![]);
        let s = selection(None);
        api.answers.insert(
            s.runs_query(),
            Err(FleetError::Unreachable {
                url: "u".into(),
                detail: "refused".into(),
            }),
        );
        assert_eq!(
            fleet_verdict(&api, &s, &ReleasePolicy::default())
                .unwrap_err()
                .exit(),
            Exit::Unreachable
        );
    }

    #[test]
    fn a_candidate_and_a_window_shape_the_queries() {
        let mut s = selection(Some("v2"));
        s.window = Some(Window::parse("1h").unwrap());
        let api = Fake {
            answers: [
                (
                    s.runs_query(),
                    Ok(vec![runs("v2", "match", 99.6), runs("v2", "mismatch", 0.4)]),
                ),
                (
                    s.buckets_query(),
                    Ok(vec![
                        bucket("v9", "+Inf", 3.0),
                        bucket("v9", "1", 3.0),
                        bucket("control", "1", 2.0),
                        bucket("control", "+Inf", 2.0),
                    ]),
                ),
            ]
            .into_iter()
            .collect(),
            metrics: vec![],
            asked: RefCell::new(vec![]),
        };
        let verdict = fleet_verdict(&api, &s, &ReleasePolicy::default()).unwrap();
        assert_eq!(
            api.asked.borrow().as_slice(),
            [s.runs_query(), s.buckets_query()]
        );
        // increase() estimates are rounded.
        assert_eq!(verdict.candidates[0].judged.counts.matched, 100);
        assert_eq!(verdict.candidates[0].judged.counts.mismatched, 0);
        assert_eq!(verdict.window.as_deref(), Some("1h"));
        // Only the control's and the candidate's latency.
        let behaviors: Vec<&str> = verdict
            .latency
            .iter()
            .map(|l| l.behavior.as_str())
            .collect();
        assert_eq!(behaviors, ["control"]);
        assert_eq!(verdict.status, ReleaseStatus::Inconclusive);
    }

    #[test]
    fn counts_round_and_refuse_what_is_not_a_count() {
        assert_eq!(count_of(0.0), Ok(0));
        assert_eq!(count_of(-0.2), Ok(0));
        assert_eq!(count_of(41.5), Ok(42));
        assert_eq!(count_of(1e15), Ok(1_000_000_000_000_000));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e19] {
            assert!(count_of(bad).is_err(), "{bad}");
        }
        assert_eq!(worst([]), None);
        assert_eq!(
            worst([
                ReleaseStatus::Safe,
                ReleaseStatus::Inconclusive,
                ReleaseStatus::Safe
            ]),
            Some(ReleaseStatus::Inconclusive)
        );
        assert_eq!(
            worst([ReleaseStatus::NotSafe, ReleaseStatus::Inconclusive]),
            Some(ReleaseStatus::NotSafe)
        );
    }
}
