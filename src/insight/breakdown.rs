//! One candidate's outcomes and latency broken down by the value of one context key (the
//! shadow layer's `route` by default), with bounded cardinality.

use std::time::Duration;

use serde::Serialize;

use crate::insight::latency::{LatencyHistogram, LatencySummary};
use crate::insight::proportion::Proportion;
use crate::observation::Verdict;
use crate::text::{capped, escape_control};

/// The value under which runs without the key are counted.
pub const ABSENT: &str = "(absent)";
/// The value under which values beyond the cap are counted.
pub const OTHER: &str = "(other)";
/// The longest value kept, in bytes.
const MAX_VALUE: usize = 256;
/// Significant digits of a value's latency histogram (percentiles within 1 %, ~36 KiB each).
pub(crate) const DIGITS: u8 = 2;

/// Outcomes and latency of one candidate for one value of the breakdown key.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct BreakdownEntry {
    /// The key's value (control characters escaped, at most 256 bytes), [`ABSENT`] or
    /// [`OTHER`].
    pub value: String,
    /// Runs with this value.
    pub runs: u64,
    /// Matches.
    pub matched: u64,
    /// Mismatches.
    pub mismatched: u64,
    /// Candidate errors (panics).
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Mismatches over runs, with a 95 % Wilson interval (descriptive).
    pub mismatch_rate: Proportion,
    /// The candidate's latency for this value (percentiles within 1 %).
    pub latency: LatencySummary,
}

/// One value's runs, counts by verdict and latency.
#[derive(Clone, Debug)]
pub(crate) struct ValueState {
    pub(crate) value: String,
    pub(crate) runs: u64,
    pub(crate) counts: [u64; 6],
    pub(crate) latency: LatencyHistogram,
}

impl ValueState {
    pub(crate) fn new(value: String) -> Self {
        Self {
            value,
            runs: 0,
            counts: [0; 6],
            latency: LatencyHistogram::new(DIGITS),
        }
    }

    fn entry(&self) -> BreakdownEntry {
        let [matched, mismatched, _ignored, _noise, errors, timeouts] = self.counts;
        BreakdownEntry {
            value: self.value.clone(),
            runs: self.runs,
            matched,
            mismatched,
            errors,
            timeouts,
            mismatch_rate: Proportion::wilson(mismatched, self.runs),
            latency: self.latency.summary(),
        }
    }

    pub(crate) fn merge(&mut self, other: &ValueState) {
        self.runs = self.runs.saturating_add(other.runs);
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
        self.latency.merge(&other.latency);
    }
}

/// One candidate's breakdown: at most twice the reported values are tracked (so that the top
/// ones can be told), the rest counted under [`OTHER`].
#[derive(Clone, Debug)]
pub(crate) struct Breakdown {
    values: Vec<ValueState>,
    other: Option<ValueState>,
    tracked: usize,
}

impl Breakdown {
    /// A breakdown that reports the `top` most frequent values.
    pub(crate) fn new(top: usize) -> Self {
        Self {
            values: Vec::new(),
            other: None,
            tracked: top.max(1).saturating_mul(2),
        }
    }

    /// The tracked values, the [`OTHER`] counts and how many values are tracked.
    pub(crate) fn parts(&self) -> (&[ValueState], Option<&ValueState>, usize) {
        (&self.values, self.other.as_ref(), self.tracked)
    }

    /// A breakdown of these values (at most `tracked` of them; the caller checks).
    pub(crate) fn from_parts(
        values: Vec<ValueState>,
        other: Option<ValueState>,
        tracked: usize,
    ) -> Self {
        Self {
            values,
            other,
            tracked: tracked.max(1),
        }
    }

    /// Adds `other`'s counts, value by value: values new to this breakdown are tracked while
    /// there is room, the rest counted under [`OTHER`].
    pub(crate) fn merge(&mut self, other: &Breakdown) {
        for theirs in &other.values {
            let position = self
                .values
                .iter()
                .position(|mine| mine.value == theirs.value);
            match position {
                Some(position) => self.values[position].merge(theirs),
                None if self.values.len() < self.tracked => {
                    let mut fresh = ValueState::new(theirs.value.clone());
                    fresh.merge(theirs);
                    self.values.push(fresh);
                }
                None => self
                    .other
                    .get_or_insert_with(|| ValueState::new(OTHER.to_string()))
                    .merge(theirs),
            }
        }
        if let Some(theirs) = &other.other {
            self.other
                .get_or_insert_with(|| ValueState::new(OTHER.to_string()))
                .merge(theirs);
        }
    }

    pub(crate) fn record(&mut self, value: Option<String>, verdict: Verdict, took: Duration) {
        let value = match value {
            None => ABSENT.to_string(),
            Some(value) => capped(&escape_control(&value), MAX_VALUE),
        };
        let position = self.values.iter().position(|state| state.value == value);
        let state = match position {
            Some(position) => &mut self.values[position],
            None if self.values.len() < self.tracked => {
                self.values.push(ValueState::new(value));
                self.values.last_mut().expect("just pushed")
            }
            None => self
                .other
                .get_or_insert_with(|| ValueState::new(OTHER.to_string())),
        };
        state.runs += 1;
        state.counts[verdict.index()] += 1;
        state.latency.record(took);
    }

    /// The `top` values by runs, most first, then everything else as [`OTHER`].
    pub(crate) fn entries(&self, top: usize) -> Vec<BreakdownEntry> {
        let mut order: Vec<&ValueState> = self.values.iter().collect();
        order.sort_by(|a, b| b.runs.cmp(&a.runs).then_with(|| a.value.cmp(&b.value)));
        let mut entries: Vec<BreakdownEntry> =
            order.iter().take(top).map(|state| state.entry()).collect();
        let mut other: Option<ValueState> = None;
        for state in order.iter().skip(top).copied().chain(self.other.as_ref()) {
            other
                .get_or_insert_with(|| ValueState::new(OTHER.to_string()))
                .merge(state);
        }
        entries.extend(other.map(|state| state.entry()));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_values_are_reported_and_the_rest_folded_into_other() {
        let mut breakdown = Breakdown::new(2);
        let ms = Duration::from_millis(1);
        for (route, runs) in [("/a", 5), ("/b", 3), ("/c", 7), ("/d", 1), ("/e", 2)] {
            for _ in 0..runs {
                breakdown.record(Some(route.into()), Verdict::Match, ms);
            }
        }
        breakdown.record(None, Verdict::Mismatch, ms);
        let entries = breakdown.entries(2);
        let shown: Vec<_> = entries.iter().map(|e| (e.value.as_str(), e.runs)).collect();
        // "/d", "/e" and the absent run went beyond the 4 tracked values or the top 2.
        assert_eq!(shown, [("/c", 7), ("/a", 5), (OTHER, 7)]);
        assert_eq!(
            entries.iter().map(|e| e.runs).sum::<u64>(),
            19,
            "nothing lost"
        );
        assert_eq!(entries[2].mismatched, 1);
    }

    #[test]
    fn each_value_has_its_own_latency() {
        let mut breakdown = Breakdown::new(5);
        for _ in 0..10 {
            breakdown.record(
                Some("/fast".into()),
                Verdict::Match,
                Duration::from_micros(10),
            );
            breakdown.record(
                Some("/slow".into()),
                Verdict::Match,
                Duration::from_millis(10),
            );
        }
        let entries = breakdown.entries(5);
        let p50 = |value: &str| {
            entries
                .iter()
                .find(|e| e.value == value)
                .unwrap()
                .latency
                .p50
        };
        assert!(
            p50("/fast") < Duration::from_micros(11),
            "{:?}",
            p50("/fast")
        );
        assert!(
            p50("/slow") > Duration::from_micros(9_900),
            "{:?}",
            p50("/slow")
        );
    }

    #[test]
    fn values_are_escaped_and_capped() {
        let mut breakdown = Breakdown::new(5);
        breakdown.record(
            Some(format!("/x\u{1b}{}", "y".repeat(1_000))),
            Verdict::Match,
            Duration::ZERO,
        );
        let entry = &breakdown.entries(5)[0];
        assert!(!entry.value.contains('\u{1b}'));
        assert!(entry.value.len() <= MAX_VALUE + 3);
    }
}
