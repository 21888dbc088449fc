//! Helpers shared by the diff's unit tests.

use serde_json::{json, Value};

use super::{diff_values, Diff, DiffKind, DiffOptions, PathPattern};

pub(super) fn d(control: Value, candidate: Value) -> Diff {
    diff_values(&control, &candidate, &DiffOptions::new())
}

pub(super) fn kinds(diff: &Diff) -> Vec<(&str, DiffKind)> {
    diff.differences
        .iter()
        .map(|x| (x.path.as_str(), x.kind))
        .collect()
}

pub(super) fn pat(s: &str) -> PathPattern {
    PathPattern::parse(s).unwrap()
}

pub(super) fn nested(depth: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = json!({ "n": [v] });
    }
    v
}
