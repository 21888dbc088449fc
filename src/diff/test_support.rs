//! Helpers shared by the diff's unit tests.

use serde_json::{json, Value};

use super::{diff_values, Diff, DiffKind, DiffOptions, PathPattern, PathSegment};

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

pub(super) fn path(segments: &[&dyn ToSeg]) -> Vec<PathSegment> {
    segments.iter().map(|s| s.to_seg()).collect()
}

pub(super) trait ToSeg {
    fn to_seg(&self) -> PathSegment;
}
impl ToSeg for &str {
    fn to_seg(&self) -> PathSegment {
        PathSegment::from(*self)
    }
}
impl ToSeg for usize {
    fn to_seg(&self) -> PathSegment {
        PathSegment::Index(*self)
    }
}
