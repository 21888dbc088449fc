//! Mismatch grouping: mismatches with the same diff shape are one group, with a count, when
//! it was first and last seen, and a few samples.
//!
//! Everything a group keeps is capped: shapes (at most [`MAX_SHAPE_ENTRIES`] entries, paths
//! cut by [`fold_indices`]), calibration keys, and samples (see [`sample_of`]).

use std::collections::HashMap;
use std::fmt::Display;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use crate::diff::{Diff, Difference, PathSegment};
use crate::insight::bounded::{json_of, json_of_value};
use crate::insight::report::{MismatchGroup, MismatchSample, ShapeEntry};
use crate::noise::{fold_indices, noise_key, MAX_PATH_KEY, MAX_PATH_TEXT};
use crate::observation::{CandidateResult, ExperimentResult, Outcome};
use crate::text::escape_control;
use crate::text::{capped, capped_display};

/// The most calibration keys kept per shape entry (an entry such as `$.pair[*]` may come from
/// several keys: `$.pair[0]`, `$.pair[1]`).
pub(crate) const MAX_KEYS_PER_ENTRY: usize = 16;

/// The most entries a shape keeps; further differing paths become one `…` entry.
pub(crate) const MAX_SHAPE_ENTRIES: usize = 32;

/// The most differences a sample's diff keeps; further ones are counted in its `omitted`.
pub(crate) const MAX_SAMPLE_DIFFERENCES: usize = 32;

/// The most path segments a sample's difference keeps (the diff descends at most 128 levels).
const MAX_SAMPLE_SEGMENTS: usize = 128;

/// The most context entries a sample keeps; further ones are summed up in one `…` entry.
pub(crate) const MAX_SAMPLE_CONTEXT: usize = 16;

/// The longest context key or value a sample keeps, in bytes.
const MAX_CONTEXT_TEXT: usize = crate::context::MAX_CONTEXT_TEXT;

/// What a sample shows of a value outcome when a differ is configured: the values appear only
/// through the diff, which is redacted and capped.
pub(crate) const VALUE_WITHHELD: &str =
    "a value (not shown: with a diff configured, values appear only through the diff)";

/// The note of a sample whose diff found nothing on the compared paths.
pub(crate) const EMPTY_DIFF_NOTE: &str = "values differ, but no difference was found on the compared paths (a difference on an ignored path, NaN, or one that compare sees and the diff does not); values are not shown";

/// What a sample may show of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Values {
    /// A differ is configured: values only through the diff.
    ThroughDiff,
    /// No differ is configured: whole values (cleaned, capped).
    Whole,
    /// Not known: whole values only where both outcomes are values and no diff came (so no
    /// differ diffed them); a value facing an error or a timeout is withheld.
    Unknown,
}

/// The shape of a mismatch: its differences' (folded path, kind) pairs, without those on noise
/// paths, sorted and deduplicated, each with the calibration key it came from. Without a diff,
/// the two outcome kinds. At most [`MAX_SHAPE_ENTRIES`] entries, plus one `…` entry for the
/// rest.
pub(crate) fn shape_of<T, E>(
    control: &Outcome<T, E>,
    candidate: &CandidateResult<T, E>,
) -> Vec<(ShapeEntry, Option<String>)> {
    let mut shape: Vec<(ShapeEntry, Option<String>)> = Vec::new();
    let mut more = false;
    if let Some(diff) = candidate.diff() {
        let noise = candidate.noise();
        for (index, difference) in diff.differences.iter().enumerate() {
            if noise.get(index).is_some_and(|evidence| evidence.is_noise) {
                continue;
            }
            if shape.len() >= MAX_SHAPE_ENTRIES {
                more = true;
                break;
            }
            let entry = ShapeEntry {
                path: fold_indices(&difference.segments),
                kind: difference.kind.as_str().to_owned(),
            };
            shape.push((entry, Some(noise_key(&difference.segments))));
        }
        if diff.omitted > 0 {
            more = true;
        }
    }
    if more {
        let entry = ShapeEntry {
            path: String::from("…"),
            kind: String::from("more differences than kept"),
        };
        shape.push((entry, None));
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

/// A sample of one mismatch, holding no more than the limits allow:
///
/// - with a diff configured ([`Values::ThroughDiff`], or a diff came with the result), the
///   diff only, capped ([`capped_diff`]); a value outcome is shown as [`VALUE_WITHHELD`], and an
///   empty diff gets the note [`EMPTY_DIFF_NOTE`];
/// - without one, each value as compact JSON written into a text that stops at
///   `max_value_chars` bytes (the value is never serialized further, at any depth);
/// - error and panic messages cut to `max_value_chars` and control characters escaped;
/// - at most [`MAX_SAMPLE_CONTEXT`] context entries, each key and value capped and escaped.
pub(crate) fn sample_of<T: Serialize, E: Display>(
    result: &ExperimentResult<T, E>,
    candidate: &CandidateResult<T, E>,
    now: SystemTime,
    max_value_chars: usize,
    values: Values,
) -> MismatchSample {
    let control = result.control().outcome();
    let actual = candidate.observation().outcome();
    let diff = candidate.diff();
    let whole = diff.is_none()
        && match values {
            Values::ThroughDiff => false,
            Values::Whole => true,
            Values::Unknown => {
                matches!((control, actual), (Outcome::Value(_), Outcome::Value(_)))
            }
        };
    let note = diff.and_then(|diff| {
        if diff.is_empty() {
            Some(String::from(EMPTY_DIFF_NOTE))
        } else if diff.differences.is_empty() {
            Some(format!(
                "{} differences found, none kept (max_differences); values are not shown",
                diff.omitted
            ))
        } else {
            None
        }
    });
    let mut context: Vec<(String, String)> = Vec::new();
    let mut more_context = 0usize;
    for (key, value) in result.context().iter() {
        if context.len() >= MAX_SAMPLE_CONTEXT {
            more_context += 1;
            continue;
        }
        let key = escape_control(&capped(key, MAX_CONTEXT_TEXT)).into_owned();
        let value = escape_control(&capped_display(value, MAX_CONTEXT_TEXT)).into_owned();
        context.push((key, value));
    }
    if more_context > 0 {
        context.push((String::from("…"), format!("{more_context} more entries")));
    }
    MismatchSample {
        seen_at: now,
        context,
        control: render_outcome(control, max_value_chars, whole),
        candidate: render_outcome(actual, max_value_chars, whole),
        diff: diff.map(|diff| capped_diff(diff, max_value_chars)),
        note,
        input: result
            .input()
            .map(|input| crate::insight::bounded::json_of_value(input.value(), max_value_chars).0),
        trace_id: result.trace_id_hex().filter(|id| is_trace_id(id)),
    }
}

/// Whether `id` is a W3C trace id as darklaunch writes it: 32 lowercase hex digits, not all
/// zeros.
pub(crate) fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

/// A copy of `diff` that holds at most [`MAX_SAMPLE_DIFFERENCES`] differences (the rest are
/// counted in `omitted`), each with its path cut to [`MAX_PATH_TEXT`] bytes, at most
/// [`MAX_SAMPLE_SEGMENTS`] segments with keys cut to [`MAX_PATH_KEY`] bytes, and values whose
/// compact JSON is longer than `max_value_chars` bytes replaced by the cut text (a string, as
/// the diff itself cuts values) with `truncated` set.
pub(crate) fn capped_diff(diff: &Diff, max_value_chars: usize) -> Diff {
    let kept = diff.differences.len().min(MAX_SAMPLE_DIFFERENCES);
    let differences = diff.differences[..kept]
        .iter()
        .map(|difference| {
            let (control, control_cut) = capped_value(difference.control.as_ref(), max_value_chars);
            let (candidate, candidate_cut) =
                capped_value(difference.candidate.as_ref(), max_value_chars);
            let path = capped(&difference.path, MAX_PATH_TEXT);
            let path_cut = difference.path_cut || path.len() < difference.path.len();
            Difference {
                path,
                path_cut,
                segments: difference
                    .segments
                    .iter()
                    .take(MAX_SAMPLE_SEGMENTS)
                    .map(|segment| match segment {
                        PathSegment::Key(key) => PathSegment::Key(capped(key, MAX_PATH_KEY)),
                        index => index.clone(),
                    })
                    .collect(),
                kind: difference.kind,
                control,
                candidate,
                truncated: difference.truncated || control_cut || candidate_cut,
            }
        })
        .collect();
    Diff {
        differences,
        omitted: diff.omitted.saturating_add(diff.differences.len() - kept),
        ignored: diff.ignored,
        depth_cut: diff.depth_cut,
    }
}

/// `value` as is when its compact JSON fits in `max` bytes, else that JSON cut, as a string.
fn capped_value(value: Option<&Value>, max: usize) -> (Option<Value>, bool) {
    let Some(value) = value else {
        return (None, false);
    };
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => (Some(value.clone()), false),
        Value::String(text) if text.len() <= max / 2 => (Some(value.clone()), false),
        _ => {
            let (text, cut) = json_of_value(value, max);
            if cut {
                (Some(Value::String(text)), true)
            } else {
                (Some(value.clone()), false)
            }
        }
    }
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
}

impl Groups {
    /// Counts one mismatch in its group; `sample` makes the group's sample when the group
    /// still has room for one.
    pub(crate) fn add<T, E>(
        &mut self,
        result: &ExperimentResult<T, E>,
        candidate: &CandidateResult<T, E>,
        now: SystemTime,
        limits: GroupLimits,
        sample: impl FnOnce() -> MismatchSample,
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
            group.samples.push(sample());
        }
    }

    /// Each group as gathered (not judged again), with the calibration keys of each shape
    /// entry.
    pub(crate) fn export(&self) -> Vec<(MismatchGroup, Vec<Vec<String>>)> {
        self.groups
            .values()
            .map(|state| (state.group.clone(), state.keys.clone()))
            .collect()
    }

    /// Groups as exported (shapes distinct, each with one key list per shape entry; the caller
    /// checks), and the mismatches that found no group.
    pub(crate) fn import(
        groups: impl IntoIterator<Item = (MismatchGroup, Vec<Vec<String>>)>,
        ungrouped: u64,
    ) -> Self {
        Self {
            groups: groups
                .into_iter()
                .map(|(group, keys)| (group.shape.clone(), GroupState { group, keys }))
                .collect(),
            ungrouped,
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

/// An outcome as text: compact JSON for a value when `whole` (else [`VALUE_WITHHELD`]),
/// otherwise what happened with its message, control characters escaped; at most `max_chars`
/// bytes, ending in `…` when cut. A value is serialized into a text that stops at the cap.
pub(crate) fn render_outcome<T: Serialize, E: Display>(
    outcome: &Outcome<T, E>,
    max_chars: usize,
    whole: bool,
) -> String {
    let text = match outcome {
        Outcome::Value(_) if !whole => return String::from(VALUE_WITHHELD),
        Outcome::Value(value) => match json_of(value, max_chars) {
            Ok(json) => json,
            Err(error) => format!("(value not serializable: {error})"),
        },
        Outcome::Error(error) => capped_display(format_args!("error: {error}"), max_chars),
        Outcome::Panicked(message) => {
            capped_display(format_args!("panicked: {message}"), max_chars)
        }
        Outcome::TimedOut => String::from("timed out"),
    };
    match escape_control(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => capped(&escaped, max_chars),
    }
}
