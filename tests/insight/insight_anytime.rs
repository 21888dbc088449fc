//! The anytime-valid verdict, simulated: streams whose true mismatch rate is at (and 1.1×)
//! the tolerance, the verdict read after every run. With the confidence sequence, the share of
//! streams ever declared *safe* stays at most 5 % (its level); with today's rule (the 95 %
//! Wilson upper bound within tolerance, at least 100 runs) it does not. Also the price: runs
//! needed to reach *safe* and *not safe*, both rules.
//!
//! Exact and fast: between two mismatches the count is fixed and, for a rate below the
//! tolerance, both rules' upper bounds only fall, so a stream is ever declared safe exactly
//! when it is safe just before some mismatch (or at the horizon).

use darklaunch::insight::{ConfidenceSequence, Proportion};

const STREAMS: usize = 2_000;
const LEVEL: f64 = 0.95;
const MIN_RUNS: u64 = 100;

/// A rule that declares a rate safe (below the tolerance) from `count` of `total`.
trait Rule {
    fn safe(&self, count: u64, total: u64) -> bool;
    fn not_safe(&self, count: u64, total: u64) -> bool;
}

struct Anytime(ConfidenceSequence, f64);

impl Rule for Anytime {
    fn safe(&self, count: u64, total: u64) -> bool {
        total >= MIN_RUNS
            && (count as f64) < self.1 * total as f64
            && self.0.excludes(count, total, self.1)
    }
    fn not_safe(&self, count: u64, total: u64) -> bool {
        total >= MIN_RUNS
            && (count as f64) > self.1 * total as f64
            && self.0.excludes(count, total, self.1)
    }
}

struct Wilson(f64);

impl Rule for Wilson {
    fn safe(&self, count: u64, total: u64) -> bool {
        total >= MIN_RUNS && Proportion::wilson(count, total).high <= self.0
    }
    fn not_safe(&self, count: u64, total: u64) -> bool {
        total >= MIN_RUNS && Proportion::wilson(count, total).low > self.0
    }
}

/// Runs until the next mismatch (at least 1), for a true rate `p`.
fn gap(rng: &mut fastrand::Rng, p: f64) -> u64 {
    if p <= 0.0 {
        return u64::MAX;
    }
    let u = 1.0 - rng.f64(); // in (0, 1]
    (u.ln() / (-p).ln_1p()).floor() as u64 + 1
}

/// Whether a stream of true rate `p` is ever declared safe within `horizon` runs.
fn ever_safe(rule: &dyn Rule, rng: &mut fastrand::Rng, p: f64, horizon: u64) -> bool {
    let (mut count, mut at) = (0u64, 0u64);
    loop {
        let next = at.saturating_add(gap(rng, p));
        // Just before the next mismatch: the most runs with this count.
        let last = next.saturating_sub(1).min(horizon);
        if rule.safe(count, last) {
            return true;
        }
        if next > horizon {
            return false;
        }
        count += 1;
        at = next;
    }
}

/// The first run count at which a stream is declared safe (`None` within `horizon`).
fn runs_to_safe(rule: &dyn Rule, rng: &mut fastrand::Rng, p: f64, horizon: u64) -> Option<u64> {
    let (mut count, mut at) = (0u64, 0u64);
    loop {
        let next = at.saturating_add(gap(rng, p));
        let last = next.saturating_sub(1).min(horizon);
        if rule.safe(count, last) {
            // Safe from some run in (at, last] on: find the first by bisection.
            let (mut low, mut high) = (at.max(MIN_RUNS - 1), last);
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                if rule.safe(count, middle) {
                    high = middle;
                } else {
                    low = middle;
                }
            }
            return Some(high);
        }
        if next > horizon {
            return None;
        }
        count += 1;
        at = next;
    }
}

/// The first run count at which a stream is declared not safe: only ever at a mismatch.
fn runs_to_not_safe(rule: &dyn Rule, rng: &mut fastrand::Rng, p: f64, horizon: u64) -> Option<u64> {
    let (mut count, mut at) = (0u64, 0u64);
    loop {
        at = at.saturating_add(gap(rng, p));
        if at > horizon {
            return None;
        }
        count += 1;
        if rule.not_safe(count, at) {
            return Some(at);
        }
    }
}

fn median(mut values: Vec<Option<u64>>) -> String {
    values.sort_by_key(|v| v.unwrap_or(u64::MAX));
    match values[values.len() / 2] {
        Some(runs) => runs.to_string(),
        None => String::from("never"),
    }
}

/// One standard error of a share of `STREAMS` at `share`: the simulation's own error.
fn standard_error(share: f64) -> f64 {
    (share * (1.0 - share) / STREAMS as f64).sqrt()
}

#[test]
fn the_anytime_verdict_is_valid_however_often_it_is_read_and_the_wilson_rule_is_not() {
    let mut rows = Vec::new();
    for (tolerance, horizon) in [(0.01, 200_000), (0.001, 2_000_000)] {
        let anytime = Anytime(
            ConfidenceSequence::new(LEVEL, tolerance).unwrap(),
            tolerance,
        );
        let wilson = Wilson(tolerance);
        for factor in [1.0, 1.1] {
            let p = tolerance * factor;
            let share = |rule: &dyn Rule, seed: u64| {
                let mut rng = fastrand::Rng::with_seed(seed);
                let safe = (0..STREAMS)
                    .filter(|_| ever_safe(rule, &mut rng, p, horizon))
                    .count();
                safe as f64 / STREAMS as f64
            };
            let (a, w) = (share(&anytime, 7), share(&wilson, 7));
            rows.push(format!(
                "tolerance {tolerance}, true rate {factor}× it, {horizon} runs: ever safe \
                 {:.2} % anytime, {:.2} % Wilson per read",
                a * 100.0,
                w * 100.0
            ));
            // At most the level's 5 %, give or take three standard errors of the simulation.
            let bound = (1.0 - LEVEL) + 3.0 * standard_error(1.0 - LEVEL);
            assert!(
                a <= bound,
                "anytime: {a} of streams ever safe (bound {bound})"
            );
            if factor == 1.0 {
                assert!(
                    w > 0.15,
                    "the Wilson rule read per run should fail its 5 %: {w}"
                );
            }
        }
    }
    eprintln!("{}", rows.join("\n"));
}

#[test]
fn the_price_of_reading_at_any_time() {
    let tolerance = 0.01;
    let horizon = 1_000_000;
    let anytime = Anytime(
        ConfidenceSequence::new(LEVEL, tolerance).unwrap(),
        tolerance,
    );
    let wilson = Wilson(tolerance);
    let streams = 400;
    let mut table = Vec::new();
    for (what, factor, safe) in [
        ("safe", 0.0, true),
        ("safe", 0.1, true),
        ("safe", 0.5, true),
        ("not safe", 2.0, false),
        ("not safe", 5.0, false),
    ] {
        let p = tolerance * factor;
        let runs = |rule: &dyn Rule| {
            let mut rng = fastrand::Rng::with_seed(11);
            let runs: Vec<Option<u64>> = (0..streams)
                .map(|_| {
                    if safe {
                        runs_to_safe(rule, &mut rng, p, horizon)
                    } else {
                        runs_to_not_safe(rule, &mut rng, p, horizon)
                    }
                })
                .collect();
            median(runs)
        };
        let (a, w) = (runs(&anytime), runs(&wilson));
        table.push(format!(
            "{what} at {factor}× the tolerance: median runs {a} anytime, {w} Wilson"
        ));
        // The anytime rule decides every case here within the horizon, later than Wilson.
        let (a, w): (u64, u64) = (a.parse().unwrap(), w.parse().unwrap());
        assert!(a >= w, "{what} {factor}: anytime {a} before Wilson {w}?");
        assert!(a < horizon);
    }
    eprintln!(
        "tolerance 1 %, {streams} streams each:\n{}",
        table.join("\n")
    );
}

#[test]
fn bad_confidence_levels_and_tolerances_are_config_errors() {
    use darklaunch::insight::{Insight, InsightOptions, ReleasePolicy};
    for (confidence, tolerance) in [
        (0.0, 0.01),
        (1.0, 0.01),
        (f64::NAN, 0.01),
        (0.95, 1.5),
        (0.95, -0.1),
    ] {
        let mut policy = ReleasePolicy::default();
        policy.confidence = confidence;
        policy.mismatch_tolerance = tolerance;
        let mut options = InsightOptions::default();
        options.policy = policy;
        let error = Insight::<u64>::try_with_options(options).unwrap_err();
        assert!(error.to_string().contains("ReleasePolicy::"), "{error}");
    }
    assert!(ConfidenceSequence::new(1.0, 0.01).is_err());
    assert!(ConfidenceSequence::new(0.95, 0.0).is_err());
}
