//! Mismatch grouping: mismatches with the same diff shape are one group, with a count, when
//! it was first and last seen, and a few samples.

use std::collections::HashMap;
use std::fmt::Display;
use std::time::SystemTime;

use serde::Serialize;

use crate::insight::noise::{fold_indices, noise_key};
use crate::insight::report::{MismatchGroup, MismatchSample, ShapeEntry};
use crate::observation::{CandidateResult, ExperimentResult, Outcome};
use crate::text::cut_point;

/// The most calibration keys kept per shape entry (an entry such as `$.pair[*]` may come from
/// several keys: `$.pair[0]`, `$.pair[1]`).
const MAX_KEYS_PER_ENTRY: usize = 16;

/// The shape of a mismatch: its differences' (folded path, kind) pairs, without those on noise
/// paths, sorted and deduplicated, each with the calibration key it came from. Without a diff,
/// the two outcome kinds.
pub(crate) fn shape_of<T, E>(
    control: &Outcome<T, E>,
    candidate: &CandidateResult<T, E>,
) -> Vec<(ShapeEntry, Option<String>)> {
    let mut shape: Vec<(ShapeEntry, Option<String>)> = Vec::new();
    if let Some(diff) = candidate.diff() {
        let noise = candidate.noise();
        for (index, difference) in diff.differences.iter().enumerate() {
            if noise.get(index).is_some_and(|evidence| evidence.is_noise) {
                continue;
            }
            let entry = ShapeEntry {
                path: fold_indices(&difference.segments),
                kind: difference.kind.as_str().to_owned(),
            };
            shape.push((entry, Some(noise_key(&difference.segments))));
        }
        if diff.omitted > 0 {
            let entry = ShapeEntry {
                path: String::from("…"),
                kind: String::from("more differences than max_differences"),
            };
            shape.push((entry, None));
        }
    }
    if shape.is_empty() {
        let kind = match (control, candidate.observation().outcome()) {
            (Outcome::Value(_), Outcome::Value(_)) => String::from("values differ"),
            (Outcome::Error(_), Outcome::Error(_)) => String::from("errors differ"),
            (control, candidate) => format!("{} vs {}", control.kind(), candidate.kind()),
        };
        let entry = ShapeEntry {
            path: String::from("$"),
            kind,
        };
        shape.push((entry, None));
    }
    shape.sort();
    shape.dedup();
    shape
}

/// A group and, per shape entry, the calibration keys its differences had: the report drops an
/// entry once every one of its keys is known to be noise.
#[derive(Debug)]
struct GroupState {
    group: MismatchGroup,
    keys: Vec<Vec<String>>,
}

/// One candidate's groups, at most `max_groups` of them.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: HashMap<Vec<ShapeEntry>, GroupState>,
    /// Mismatches whose shape found no room.
    pub(crate) ungrouped: u64,
}

/// Limits on what groups keep.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupLimits {
    pub(crate) max_groups: usize,
    pub(crate) samples_per_group: usize,
    pub(crate) max_value_chars: usize,
}

impl Groups {
    pub(crate) fn add<T: Serialize, E: Display>(
        &mut self,
        result: &ExperimentResult<T, E>,
        candidate: &CandidateResult<T, E>,
        now: SystemTime,
        limits: GroupLimits,
    ) {
        let keyed = shape_of(result.control().outcome(), candidate);
        let mut shape: Vec<ShapeEntry> = keyed.iter().map(|(entry, _)| entry.clone()).collect();
        shape.dedup();
        if !self.groups.contains_key(&shape) && self.groups.len() >= limits.max_groups {
            self.ungrouped += 1;
            return;
        }
        let state = self
            .groups
            .entry(shape)
            .or_insert_with_key(|shape| GroupState {
                keys: vec![Vec::new(); shape.len()],
                group: MismatchGroup {
                    shape: shape.clone(),
                    count: 0,
                    first_seen: now,
                    last_seen: now,
                    samples: Vec::new(),
                },
            });
        for (entry, key) in keyed {
            let Some(key) = key else { continue };
            if let Ok(index) = state.group.shape.binary_search(&entry) {
                let keys = &mut state.keys[index];
                if keys.len() < MAX_KEYS_PER_ENTRY && !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        let group = &mut state.group;
        group.count += 1;
        group.last_seen = now;
        if group.samples.len() < limits.samples_per_group {
            group.samples.push(MismatchSample {
                seen_at: now,
                context: result
                    .context()
                    .iter()
                    .map(|(key, value)| (key.to_owned(), value.to_string()))
                    .collect(),
                control: render_outcome(result.control().outcome(), limits.max_value_chars),
                candidate: render_outcome(
                    candidate.observation().outcome(),
                    limits.max_value_chars,
                ),
                diff: candidate.diff().cloned(),
            });
        }
    }

    /// The groups, most frequent first (then earliest), judged again with the paths known to
    /// be noise now: those paths leave the shapes, groups whose shapes become equal merge, and
    /// the mismatches of groups left with no path are returned as explained by noise.
    pub(crate) fn snapshot(
        &self,
        noise_paths: &[&str],
        samples_per_group: usize,
    ) -> (Vec<MismatchGroup>, u64) {
        let mut merged: HashMap<Vec<ShapeEntry>, MismatchGroup> = HashMap::new();
        let mut explained = 0;
        for GroupState { group, keys } in self.groups.values() {
            let is_noise = |keys: &Vec<String>| {
                !keys.is_empty() && keys.iter().all(|key| noise_paths.contains(&key.as_str()))
            };
            let shape: Vec<ShapeEntry> = group
                .shape
                .iter()
                .zip(keys)
                .filter(|(_, keys)| !is_noise(keys))
                .map(|(entry, _)| entry.clone())
                .collect();
            if shape.is_empty() {
                explained += group.count;
                continue;
            }
            match merged.get_mut(&shape) {
                None => {
                    let mut group = group.clone();
                    group.shape = shape.clone();
                    merged.insert(shape, group);
                }
                Some(into) => {
                    into.count += group.count;
                    into.first_seen = into.first_seen.min(group.first_seen);
                    into.last_seen = into.last_seen.max(group.last_seen);
                    into.samples.extend(group.samples.iter().cloned());
                    into.samples.sort_by_key(|sample| sample.seen_at);
                    into.samples.truncate(samples_per_group);
                }
            }
        }
        let mut groups: Vec<MismatchGroup> = merged.into_values().collect();
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.first_seen.cmp(&b.first_seen))
                .then(a.shape.cmp(&b.shape))
        });
        (groups, explained)
    }
}

/// An outcome as text: compact JSON for a value, otherwise what happened; cut at `max_chars`
/// bytes (on a character boundary) with `…` appended.
pub(crate) fn render_outcome<T: Serialize, E: Display>(
    outcome: &Outcome<T, E>,
    max_chars: usize,
) -> String {
    let mut text = match outcome {
        Outcome::Value(value) => serde_json::to_string(value)
            .unwrap_or_else(|error| format!("(value not serializable: {error})")),
        Outcome::Error(error) => format!("error: {error}"),
        Outcome::Panicked(message) => format!("panicked: {message}"),
        Outcome::TimedOut => String::from("timed out"),
    };
    if let Some(cut) = cut_point(&text, max_chars) {
        text.truncate(cut);
        text.push(crate::text::CUT_MARKER);
    }
    text
}
