//! The diff's report: [`Diff`], each [`Difference`] and its [`DiffKind`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::PathSegment;

/// The kind of a [`Difference`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same JSON type, different value.
    Changed,
    /// Present only in the candidate.
    Added,
    /// Present only in the control.
    Removed,
    /// Different JSON types (e.g. number vs string, null vs anything).
    TypeChanged,
    /// An array with the same elements in a different order.
    Reordered,
}

impl DiffKind {
    /// `"changed"`, `"added"`, `"removed"`, `"type_changed"` or `"reordered"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Changed => "changed",
            DiffKind::Added => "added",
            DiffKind::Removed => "removed",
            DiffKind::TypeChanged => "type_changed",
            DiffKind::Reordered => "reordered",
        }
    }
}

impl fmt::Display for DiffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between control and candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// Rendered JSON path, e.g. `$.items[3].price`; at most
    /// [`MAX_PATH_BYTES`](super::MAX_PATH_BYTES) bytes, with keys cut to
    /// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES) bytes (see [`path_cut`](Self::path_cut)).
    /// Equals `render_path(&segments)` unless trailing segments were dropped, when it is that
    /// text followed by `…`.
    pub path: String,
    /// The same path as segments, with the same caps.
    pub segments: Vec<PathSegment>,
    /// What kind of difference this is.
    pub kind: DiffKind,
    /// The control's value at `path`; `None` for [`DiffKind::Added`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_value"
    )]
    pub control: Option<Value>,
    /// The candidate's value at `path`; `None` for [`DiffKind::Removed`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_value"
    )]
    pub candidate: Option<Value>,
    /// True if `control` or `candidate` was shortened because of
    /// [`DiffOptions::max_value_bytes`](super::DiffOptions::max_value_bytes).
    pub truncated: bool,
    /// True if `path` and `segments` were shortened: a key longer than
    /// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES) was cut (it ends in `…`), or the rendered path
    /// would have been longer than [`MAX_PATH_BYTES`](super::MAX_PATH_BYTES) and its trailing
    /// segments were dropped (`path` ends in `…`, `segments` holds the segments kept). A cut
    /// path no longer names exactly one place: two differences under distinct
    /// long keys sharing their first [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES) bytes stay two
    /// differences, but their paths may read the same. Serialized only when
    /// true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub path_cut: bool,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// Deserializes a present field as `Some`, even when it is JSON `null`.
fn present_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl fmt::Display for Difference {
    /// One line: `$.a: changed 10 → 12`, `$.b: added true`,
    /// `$.c: removed "x"`, `$.d: reordered`; values as compact JSON, with
    /// ` (truncated)` appended if a value was truncated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)?;
        match (self.kind, &self.control, &self.candidate) {
            (DiffKind::Reordered, _, _) => {}
            (_, Some(c), Some(d)) => write!(f, " {c} → {d}")?,
            (_, Some(c), None) => write!(f, " {c}")?,
            (_, None, Some(d)) => write!(f, " {d}")?,
            (_, None, None) => {}
        }
        if self.truncated {
            f.write_str(" (truncated)")?;
        }
        Ok(())
    }
}

/// The result of comparing a control value with a candidate value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The differences kept, at most
    /// [`DiffOptions::max_differences`](super::DiffOptions::max_differences).
    pub differences: Vec<Difference>,
    /// How many further differences were found but not kept.
    pub omitted: usize,
    /// How many ignored places differed (see
    /// [`DiffOptions::ignore_path`](super::DiffOptions::ignore_path)):
    /// each place skipped because its path is ignored, where control and
    /// candidate differ or only one has a value, counts once. Not part of
    /// [`len`](Self::len) or [`is_empty`](Self::is_empty): an empty diff with
    /// `ignored > 0` means the values differ only in ignored subtrees.
    /// Serialized only when non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored: usize,
    /// True if some value was nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH) levels and the
    /// subtrees below that depth were not compared (see the
    /// [module docs](crate::diff#depth-limit)): differences inside them cannot be
    /// seen, and an empty diff does not prove the values equal there.
    /// `Display` then ends with a line saying so. Serialized only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub depth_cut: bool,
}

/// The line a depth-cut [`Diff`]'s `Display` ends with.
pub(super) const DEPTH_CUT_NOTE: &str = "(values nested deeper than 128 levels were not compared)";

impl Diff {
    /// True if no differences were found (none kept and none omitted).
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty() && self.omitted == 0
    }

    /// Total number of differences found: kept plus omitted.
    pub fn len(&self) -> usize {
        self.differences.len().saturating_add(self.omitted)
    }

    /// The rendered paths of the kept differences.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.differences.iter().map(|d| d.path.as_str())
    }
}

impl fmt::Display for Diff {
    /// One line per kept difference (see [`Difference`]'s `Display`), then
    /// `… and N more differences` if some were omitted, then, if
    /// [`depth_cut`](Diff::depth_cut), the line
    /// `(values nested deeper than 128 levels were not compared)`. Lines are
    /// separated by `\n` with no trailing newline; an empty diff displays as
    /// `no differences` (followed by the depth line if it applies).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_differences(f)?;
        if self.depth_cut {
            write!(f, "\n{DEPTH_CUT_NOTE}")?;
        }
        Ok(())
    }
}

impl Diff {
    fn fmt_differences(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no differences");
        }
        let mut first = true;
        for difference in &self.differences {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{difference}")?;
        }
        if self.omitted > 0 {
            if !first {
                f.write_str("\n")?;
            }
            let noun = if self.omitted == 1 {
                "difference"
            } else {
                "differences"
            };
            write!(f, "… and {} more {noun}", self.omitted)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::d;
    use super::super::{diff_values, DiffOptions};
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_and_display() {
        let a = json!({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1});
        let b = json!({"a": 2, "b": 2, "c": 2, "d": 2, "e": 2, "f": 2, "g": 2});
        let diff = diff_values(&a, &b, &DiffOptions::new().max_differences(2));
        assert_eq!(diff.differences.len(), 2);
        assert_eq!(diff.omitted, 5);
        assert_eq!(diff.len(), 7);
        assert!(!diff.is_empty());
        assert_eq!(
            diff.to_string(),
            "$.a: changed 1 → 2\n$.b: changed 1 → 2\n… and 5 more differences"
        );
        let none_kept = diff_values(&json!(1), &json!(2), &DiffOptions::new().max_differences(0));
        assert!(!none_kept.is_empty());
        assert_eq!(none_kept.len(), 1);
        assert_eq!(none_kept.to_string(), "… and 1 more difference");
    }

    #[test]
    fn kind_strings_and_serde() {
        let all = [
            (DiffKind::Changed, "changed"),
            (DiffKind::Added, "added"),
            (DiffKind::Removed, "removed"),
            (DiffKind::TypeChanged, "type_changed"),
            (DiffKind::Reordered, "reordered"),
        ];
        for (kind, s) in all {
            assert_eq!(kind.as_str(), s);
            assert_eq!(kind.to_string(), s);
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(s));
        }
        let diff = d(json!({"a": null, "b": [1]}), json!({"b": [1, null]}));
        let text = serde_json::to_string(&diff).unwrap();
        let back: Diff = serde_json::from_str(&text).unwrap();
        assert_eq!(back, diff);
        assert_eq!(back.differences[0].control, Some(Value::Null));
        assert_eq!(back.differences[1].candidate, Some(Value::Null));
    }
}
