//! What a decoded snapshot must satisfy: its caps within the decoding insight's, every
//! collection within its caps, every text within the lengths an insight writes, and counts
//! that add up the way an insight adds them.

use std::collections::HashSet;

use crate::insight::collector::MAX_NAME;
use crate::insight::grouping::{
    is_trace_id, MAX_KEYS_PER_ENTRY, MAX_SAMPLE_CONTEXT, MAX_SAMPLE_DIFFERENCES, MAX_SHAPE_ENTRIES,
};
use crate::insight::report::MismatchSample;
use crate::insight::snapshot::codec::WireCandidate;
use crate::insight::snapshot::{Limits, Snapshot, SnapshotError};
use crate::noise::{MAX_PATH_KEY, MAX_PATH_TEXT};

fn invalid(problem: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid(problem.into())
}

/// The snapshot's caps are at most the decoding insight's.
pub(super) fn limits_within(limits: &Limits, caps: &Limits) -> Result<(), SnapshotError> {
    let pairs = [
        ("max_candidates", limits.max_candidates, caps.max_candidates),
        ("max_groups", limits.max_groups, caps.max_groups),
        (
            "samples_per_group",
            limits.samples_per_group,
            caps.samples_per_group,
        ),
        (
            "max_timeline_points",
            limits.max_timeline_points,
            caps.max_timeline_points,
        ),
        (
            "breakdown values",
            limits.breakdown_tracked,
            caps.breakdown_tracked,
        ),
        (
            "max_value_chars",
            limits.max_value_chars,
            caps.max_value_chars,
        ),
        (
            "significant_digits",
            usize::from(limits.significant_digits),
            usize::from(caps.significant_digits),
        ),
    ];
    for (name, theirs, ours) in pairs {
        if theirs > ours {
            return Err(invalid(format!(
                "{name} of {theirs} exceeds the decoding insight's {ours} (decode with Snapshot::from_json_with and options as large)"
            )));
        }
    }
    if limits.significant_digits == 0 || limits.max_candidates == 0 || limits.max_groups == 0 {
        return Err(invalid("a cap of zero"));
    }
    Ok(())
}

fn text_within(what: &str, text: &str, max: usize) -> Result<(), SnapshotError> {
    if text.len() > max {
        return Err(invalid(format!("{what} longer than an insight writes")));
    }
    Ok(())
}

/// Escaping can write a control character as up to ten characters (`\u{10ffff}`).
const ESCAPED: usize = 10;

/// Sizes checked before any histogram is decoded, so that an oversized snapshot costs no more
/// than reading it.
pub(super) fn wire_sizes(
    experiment: &str,
    candidates: &[WireCandidate],
    limits: &Limits,
) -> Result<(), SnapshotError> {
    text_within("the experiment's name", experiment, MAX_NAME + 8)?;
    if candidates.len() > limits.max_candidates {
        return Err(invalid("more candidates than the insight tracks"));
    }
    for candidate in candidates {
        if candidate.groups.len() > limits.max_groups {
            return Err(invalid("more groups than the insight keeps"));
        }
    }
    Ok(())
}

fn sample_within(sample: &MismatchSample, limits: &Limits) -> Result<(), SnapshotError> {
    // A withheld value's words are written whatever the cap.
    let value_text = limits.max_value_chars.max(256) + 8;
    if sample.context.len() > MAX_SAMPLE_CONTEXT + 1 {
        return Err(invalid("a sample with more context than kept"));
    }
    for (key, value) in &sample.context {
        let max = crate::context::MAX_CONTEXT_TEXT * ESCAPED + 8;
        text_within("a sample's context", key, max)?;
        text_within("a sample's context", value, max)?;
    }
    text_within("a sample's control", &sample.control, value_text)?;
    text_within("a sample's candidate", &sample.candidate, value_text)?;
    if let Some(input) = &sample.input {
        text_within("a sample's input", input, value_text)?;
    }
    if let Some(note) = &sample.note {
        text_within("a sample's note", note, 1024)?;
    }
    if let Some(trace_id) = &sample.trace_id {
        if !is_trace_id(trace_id) {
            return Err(invalid(
                "a sample's trace id is not 32 lowercase hex digits",
            ));
        }
    }
    if let Some(diff) = &sample.diff {
        if diff.differences.len() > MAX_SAMPLE_DIFFERENCES {
            return Err(invalid("a sample with more differences than kept"));
        }
        for difference in &diff.differences {
            text_within("a difference's path", &difference.path, MAX_PATH_TEXT + 8)?;
            if difference.segments.len() > 128 {
                return Err(invalid("a difference's path deeper than kept"));
            }
            for segment in &difference.segments {
                if let crate::diff::PathSegment::Key(key) = segment {
                    text_within("a difference's key", key, MAX_PATH_KEY + 8)?;
                }
            }
            for value in [&difference.control, &difference.candidate]
                .into_iter()
                .flatten()
            {
                let json = serde_json::to_string(value).unwrap_or_default();
                text_within("a difference's value", &json, 2 * value_text + 64)?;
            }
        }
    }
    Ok(())
}

fn sum(values: impl IntoIterator<Item = u64>) -> Result<u64, SnapshotError> {
    values
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or_else(|| invalid("counts overflow"))
}

/// Counts add up as an insight adds them, and every collection is within its caps.
pub(super) fn consistent(snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let limits = &snapshot.limits;
    if snapshot.control.parts().0.len() != snapshot.runs {
        return Err(invalid("the control's latency does not count every run"));
    }
    if snapshot.interval.is_zero() {
        return Err(invalid("a timeline interval of zero"));
    }
    if let Some(key) = &snapshot.breakdown_key {
        text_within("the breakdown key", key, 1024)?;
    }
    let mut names = HashSet::new();
    for candidate in &snapshot.candidates {
        text_within("a candidate's name", &candidate.name, MAX_NAME + 8)?;
        if !names.insert(candidate.name.as_str()) {
            return Err(invalid("a candidate twice"));
        }
        let what = |problem: &str| invalid(format!("candidate {:?}: {problem}", candidate.name));
        if sum(candidate.counts)? != candidate.runs {
            return Err(what("verdict counts do not add up to its runs"));
        }
        if candidate.latency.parts().0.len() != candidate.runs {
            return Err(what("its latency does not count every run"));
        }
        if candidate.paired.histogram().len() > candidate.runs {
            return Err(what("more paired ratios than runs"));
        }
        let mismatches = candidate.counts[crate::Verdict::Mismatch.index()];
        if candidate.groups.len() > limits.max_groups {
            return Err(what("more groups than kept"));
        }
        let grouped = sum(candidate.groups.iter().map(|group| group.count))?;
        if grouped.checked_add(candidate.ungrouped) != Some(mismatches) {
            return Err(what(
                "grouped and ungrouped mismatches do not add up to its mismatches",
            ));
        }
        if candidate.timeline.len() > limits.max_timeline_points {
            return Err(what("more timeline points than kept"));
        }
        if sum(candidate.timeline.iter().map(|point| point.0))? != candidate.runs
            || sum(candidate.timeline.iter().map(|point| point.1))? != mismatches
        {
            return Err(what("the timeline does not add up to its runs"));
        }
        if candidate
            .timeline
            .iter()
            .any(|&(runs, mismatches)| mismatches > runs)
        {
            return Err(what("a timeline point with more mismatches than runs"));
        }
        if let Some(breakdown) = &candidate.breakdown {
            let (values, other, _) = breakdown.parts();
            let mut seen = HashSet::new();
            for value in values.iter().chain(other) {
                text_within("a breakdown value", &value.value, 256 + 8)?;
                if !seen.insert(value.value.as_str()) {
                    return Err(what("a breakdown value twice"));
                }
                if sum(value.counts)? != value.runs || value.latency.parts().0.len() != value.runs {
                    return Err(what("a breakdown value's counts do not add up"));
                }
            }
            if sum(values.iter().chain(other).map(|value| value.runs))? != candidate.runs {
                return Err(what("the breakdown does not add up to its runs"));
            }
        }
        let mut shapes = HashSet::new();
        for group in &candidate.groups {
            if group.shape.is_empty() || group.shape.len() > MAX_SHAPE_ENTRIES + 1 {
                return Err(what("a group shape of no entries or more than kept"));
            }
            if group.shape.windows(2).any(|pair| pair[0] >= pair[1]) {
                return Err(what("a group shape not sorted and distinct"));
            }
            for entry in &group.shape {
                text_within("a shape's path", &entry.path, MAX_PATH_TEXT + 8)?;
                text_within("a shape's kind", &entry.kind, 128)?;
            }
            if !shapes.insert(&group.shape) {
                return Err(what("a group shape twice"));
            }
            if group.keys.len() != group.shape.len() {
                return Err(what("a group's keys do not match its shape"));
            }
            for keys in &group.keys {
                if keys.len() > MAX_KEYS_PER_ENTRY {
                    return Err(what("a shape entry with more keys than kept"));
                }
                for key in keys {
                    text_within("a shape's key", key, MAX_PATH_TEXT + 8)?;
                }
            }
            if group.count == 0 || group.samples.len() as u64 > group.count {
                return Err(what(
                    "a group with no mismatches or more samples than mismatches",
                ));
            }
            if group.samples.len() > limits.samples_per_group {
                return Err(what("a group with more samples than kept"));
            }
            if group.first_seen > group.last_seen {
                return Err(what("a group last seen before it was first seen"));
            }
            for sample in &group.samples {
                sample_within(sample, limits)?;
            }
        }
    }
    if snapshot
        .candidates
        .iter()
        .any(|candidate| candidate.runs > snapshot.runs)
    {
        return Err(invalid("a candidate with more runs than the experiment"));
    }
    if let Some(noise) = &snapshot.noise {
        if noise
            .paths
            .values()
            .any(|&(_, calibrated)| calibrated > noise.calibrations)
        {
            return Err(invalid(
                "a noise path with more differences than calibrated runs",
            ));
        }
    }
    Ok(())
}
