//! Structural diff of serde values.
//!
//! [`diff`] serializes two values into [`serde_json::Value`]s (without
//! unbounded recursion, see below) and compares them with [`diff_values`],
//! which walks both trees and reports each [`Difference`] with its JSON path
//! (see [`crate::path`]). [`same`] answers only "would the diff be empty?",
//! stopping at the first difference. [`DiffOptions`] bounds the size of the
//! report, ignores subtrees, redacts subtrees, sets a numeric tolerance and
//! selects arrays to compare as multisets.
//!
//! Rules:
//! - Object members are compared by key, in sorted key order. A key only in
//!   the control is [`DiffKind::Removed`]; only in the candidate,
//!   [`DiffKind::Added`].
//! - Arrays are ordered by default. Arrays of equal length holding the same
//!   elements in a different order give a single [`DiffKind::Reordered`] at
//!   the array's path; otherwise elements are compared index by index and
//!   extra indices are Added or Removed. Arrays selected with
//!   [`DiffOptions::unordered_arrays`] are compared as multisets: unmatched
//!   control elements are Removed (at their control index) and unmatched
//!   candidate elements are Added (at their candidate index).
//! - Values of different JSON types (null, boolean, number, string, array,
//!   object) are [`DiffKind::TypeChanged`]; same type, different value is
//!   [`DiffKind::Changed`]. Two integers compare exactly; if either number
//!   is a float both are compared as `f64` (so `1` equals `1.0`).
//! - Ignored subtrees ([`DiffOptions::ignore_path`]) are skipped; how many
//!   of them differed is counted in [`Diff::ignored`], and they are removed
//!   from every value a difference reports (see [`DiffOptions::ignore_path`]).
//! - Redacted subtrees ([`DiffOptions::redact`]) are compared like any
//!   other, but their contents never appear in the report: a reported value
//!   at or below a redacted path is replaced by [`REDACTED`], and so is every
//!   redacted subtree nested inside a reported value. Values are stripped of
//!   ignored subtrees first, redacted second and truncated
//!   ([`DiffOptions::max_value_chars`]) last.
//!
//! # Non-finite floats
//!
//! JSON has no NaN or infinities (`serde_json` would turn them into `null`,
//! so that `inf` and `-inf` compare equal). [`diff`] and [`same`] capture
//! `f32`/`f64` NaN, +∞ and −∞ as the strings [`NAN`] (`"NaN"`),
//! [`INFINITY`] (`"Infinity"`) and [`NEG_INFINITY`] (`"-Infinity"`), and the
//! walk treats those three strings as numbers when it decides between
//! Changed and TypeChanged: `+∞` vs `−∞` or NaN vs `1.0` is
//! [`DiffKind::Changed`], NaN vs `"text"` is [`DiffKind::TypeChanged`].
//! They are equal only to themselves (so NaN equals NaN structurally, and
//! never equals a finite number), and
//! [`float_tolerance`](DiffOptions::float_tolerance) never applies to them.
//! A string field that happens to hold one of these three texts is, for the
//! same reason, compared as a number for the kind of its difference only.
//!
//! # Depth limit
//!
//! Nothing nested deeper than [`MAX_DEPTH`] (128) levels is compared. [`diff`]
//! stops serializing there (the subtree becomes the string [`DEPTH_CUT`], and
//! a value's own `Serialize` is never called below it, so a linked list
//! 100,000 levels deep costs no more stack than one 128 levels deep);
//! [`diff_values`] treats an array or object at depth 128 the same way, as if
//! it were the string [`DEPTH_CUT`]. Differences inside the cut subtrees
//! cannot be seen: two values that differ only below the limit give an
//! empty diff. Whenever a cut happened, [`Diff::depth_cut`] is set and the
//! diff's `Display` ends with a line saying so. No part of the diff — the
//! walk, redaction, truncation, hashing, `Display`, serializing or dropping a
//! [`Diff`] — recurses deeper than that limit, so a diff never overflows a
//! thread's stack of 2 MiB.
//!
//! # Size caps
//!
//! Every part of a [`Diff`] is bounded: at most
//! [`max_differences`](DiffOptions::max_differences) differences, each value
//! at most [`max_value_chars`](DiffOptions::max_value_chars) characters of
//! JSON, each path key at most [`MAX_KEY_BYTES`] bytes and each rendered path
//! at most [`MAX_PATH_BYTES`] bytes ([`Difference::path_cut`]), and a
//! serialization error at most [`MAX_ERROR_TEXT`] bytes. What is cut ends in
//! `…` and is flagged.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use crate::capture::{is_non_finite_text, CaptureError};
pub use crate::capture::{DEPTH_CUT, INFINITY, MAX_ERROR_TEXT, NAN, NEG_INFINITY};
use crate::path::{capped_path, SegRef};
pub use crate::path::{
    render_path, PathPattern, PathPatternError, PathSegment, MAX_KEY_BYTES, MAX_PATH_BYTES,
};

/// How many levels of arrays and objects a diff compares: an array or object
/// at this depth (a path of 128 segments) is not looked into, and neither is
/// anything below it (see the [module docs](self#depth-limit)).
pub const MAX_DEPTH: usize = crate::capture::MAX_CAPTURE_DEPTH;
/// How deep element hashing (for multiset matching) looks.
const HASH_DEPTH: usize = 32;

/// The text that replaces redacted values in a [`Diff`] (see
/// [`DiffOptions::redact`]).
pub const REDACTED: &str = "[redacted]";

/// The text that replaces an ignored array element inside a reported value
/// (see [`DiffOptions::ignore_path`]); ignored object members are dropped.
pub const IGNORED: &str = "[ignored]";

/// Options for [`diff`] and [`diff_values`], built in builder style.
///
/// `DiffOptions::default()` equals [`DiffOptions::new()`].
///
/// ```
/// use darklaunch::diff::DiffOptions;
///
/// let options = DiffOptions::new()
///     .max_differences(10)
///     .float_tolerance(1e-9)
///     .try_ignore_path("$..updated_at")?
///     .try_redact("$..password")?
///     .try_unordered_arrays("$.tags")?;
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DiffOptions {
    max_differences: usize,
    max_value_chars: usize,
    ignored: Vec<PathPattern>,
    redacted: Vec<PathPattern>,
    unordered: Vec<PathPattern>,
    float_tolerance: Option<f64>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DiffOptions {
    /// Default options: at most 32 differences kept, values longer than 256
    /// characters of compact JSON truncated, nothing ignored or redacted,
    /// exact number comparison, all arrays ordered.
    pub fn new() -> Self {
        DiffOptions {
            max_differences: 32,
            max_value_chars: 256,
            ignored: Vec::new(),
            redacted: Vec::new(),
            unordered: Vec::new(),
            float_tolerance: None,
        }
    }

    /// Keeps at most `n` differences; any further ones are only counted in
    /// [`Diff::omitted`]. Differences are kept in walk order (sorted keys,
    /// ascending indices).
    pub fn max_differences(mut self, n: usize) -> Self {
        self.max_differences = n;
        self
    }

    /// Truncates reported values: a control or candidate value whose compact
    /// JSON text is longer than `n` characters (Unicode scalar values) is
    /// replaced by a [`Value::String`] holding the first `n` characters of
    /// that text followed by `…`, and [`Difference::truncated`] is set.
    /// `usize::MAX` disables truncation.
    pub fn max_value_chars(mut self, n: usize) -> Self {
        self.max_value_chars = n;
        self
    }

    /// Skips every path matched by `pattern`, including whole subtrees below
    /// a matched path (see [`PathPattern::matches_prefix_of`]). May be given
    /// several times.
    ///
    /// - Nothing at or below an ignored path is reported, and a difference
    ///   is only reported when the values differ outside ignored subtrees
    ///   (array elements are matched with ignored fields left out, so an
    ///   array whose elements differ only in ignored fields is neither
    ///   Changed nor Reordered).
    /// - Each ignored place where control and candidate differ (or only one
    ///   of them has a value) is counted once in [`Diff::ignored`], however
    ///   much differs below it. An empty diff with `ignored > 0` means the
    ///   values differ only in ignored subtrees.
    /// - A value a difference reports (an Added or Removed object, a
    ///   TypeChanged array, a Reordered array) has every ignored subtree
    ///   inside it removed: an ignored object member is dropped, and an
    ///   ignored array element is replaced by the string [`IGNORED`], so
    ///   that the other elements keep their indices. Ignored subtrees inside
    ///   reported values are not counted in [`Diff::ignored`].
    ///
    /// ```
    /// use darklaunch::diff::{diff_values, DiffOptions, IGNORED};
    /// use serde_json::json;
    ///
    /// let options = DiffOptions::new().try_ignore_path("$..at")?;
    /// let control = json!({"at": 1, "items": [{"id": 1, "at": 1}]});
    /// let candidate = json!({"at": 2, "items": [{"id": 1, "at": 2}, {"id": 2, "at": 2}]});
    /// let d = diff_values(&control, &candidate, &options);
    /// assert_eq!(d.to_string(), r#"$.items[1]: added {"id":2}"#);
    /// assert_eq!(d.ignored, 2); // $.at and $.items[0].at
    ///
    /// let d = diff_values(&json!({"at": 1}), &json!({"at": 2}), &options);
    /// assert!(d.is_empty() && d.ignored == 1);
    ///
    /// let options = DiffOptions::new().try_ignore_path("$.list[0]")?;
    /// let d = diff_values(&json!(null), &json!({"list": ["secret", "kept"]}), &options);
    /// assert_eq!(d.differences[0].candidate, Some(json!({"list": [IGNORED, "kept"]})));
    /// # Ok::<(), darklaunch::diff::PathPatternError>(())
    /// ```
    pub fn ignore_path(mut self, pattern: PathPattern) -> Self {
        self.ignored.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`ignore_path`](Self::ignore_path).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_ignore_path(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.ignore_path(PathPattern::parse(pattern)?))
    }

    /// Keeps the values of every path matched by `pattern`, and of whole
    /// subtrees below a matched path, out of the report. May be given
    /// several times.
    ///
    /// Redacted subtrees are still compared: a difference at or below a
    /// redacted path is reported with its path and kind, but its control and
    /// candidate values (where present) are replaced by
    /// `Value::String(`[`REDACTED`]`)`. A difference reported above a
    /// redacted path — a [`DiffKind::Reordered`] array, a
    /// [`DiffKind::TypeChanged`] object, an Added or Removed object — carries
    /// its values with every redacted subtree inside them replaced by
    /// [`REDACTED`]. Redaction happens before truncation
    /// ([`max_value_chars`](Self::max_value_chars)), so a truncated value
    /// never holds a prefix of redacted text.
    ///
    /// Paths themselves are kept: a difference below a redacted path still
    /// names the keys leading to it. To hide a map whose keys are sensitive,
    /// redact (or [ignore](Self::ignore_path)) the map and make sure its
    /// entries cannot differ, or drop them with the experiment's `clean`.
    ///
    /// In an experiment, redaction complements
    /// [`ExperimentBuilder::clean`](crate::ExperimentBuilder::clean):
    /// `clean` runs first (the diff is computed on cleaned values), then
    /// redaction, then truncation.
    ///
    /// ```
    /// use darklaunch::diff::{diff_values, DiffKind, DiffOptions, REDACTED};
    /// use serde_json::json;
    ///
    /// let options = DiffOptions::new().try_redact("$..password")?;
    /// let control = json!({"user": {"name": "ann", "password": "hunter2"}});
    /// let candidate = json!({"user": {"name": "bob", "password": "swordfish"}});
    /// let d = diff_values(&control, &candidate, &options);
    /// assert_eq!(
    ///     d.to_string(),
    ///     "$.user.name: changed \"ann\" → \"bob\"\n\
    ///      $.user.password: changed \"[redacted]\" → \"[redacted]\""
    /// );
    ///
    /// // Inside a value reported at a parent path, too.
    /// let d = diff_values(&json!({"user": null}), &candidate, &options);
    /// assert_eq!(d.differences[0].path, "$.user");
    /// assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);
    /// assert_eq!(
    ///     d.differences[0].candidate,
    ///     Some(json!({"name": "bob", "password": REDACTED}))
    /// );
    /// # Ok::<(), darklaunch::diff::PathPatternError>(())
    /// ```
    pub fn redact(mut self, pattern: PathPattern) -> Self {
        self.redacted.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`redact`](Self::redact).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_redact(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.redact(PathPattern::parse(pattern)?))
    }

    /// Treats two numbers as equal when `|a - b| <= abs`.
    ///
    /// The tolerance is meant to be finite and non-negative, and is not
    /// validated: a NaN, negative or zero tolerance means exact comparison,
    /// and an infinite tolerance makes all numbers equal.
    pub fn float_tolerance(mut self, abs: f64) -> Self {
        self.float_tolerance = Some(abs);
        self
    }

    /// Compares arrays at paths matched (exactly) by `pattern` as multisets,
    /// ignoring element order. May be given several times.
    pub fn unordered_arrays(mut self, pattern: PathPattern) -> Self {
        self.unordered.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`unordered_arrays`](Self::unordered_arrays).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_unordered_arrays(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.unordered_arrays(PathPattern::parse(pattern)?))
    }

    /// The tolerance in effect, if any.
    fn tolerance(&self) -> Option<f64> {
        self.float_tolerance.filter(|t| *t > 0.0)
    }
}

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
    /// [`MAX_PATH_BYTES`] bytes, with keys cut to [`MAX_KEY_BYTES`] bytes (see
    /// [`path_cut`](Self::path_cut)). Equals `render_path(&segments)` unless
    /// trailing segments were dropped, when it is that text followed by `…`.
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
    /// [`DiffOptions::max_value_chars`].
    pub truncated: bool,
    /// True if `path` and `segments` were shortened: a key longer than
    /// [`MAX_KEY_BYTES`] was cut (it ends in `…`), or the rendered path would
    /// have been longer than [`MAX_PATH_BYTES`] and its trailing segments were
    /// dropped (`path` ends in `…`, `segments` holds the segments kept). A cut
    /// path no longer names exactly one place: two differences under distinct
    /// long keys sharing their first [`MAX_KEY_BYTES`] bytes stay two
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
    /// The differences kept, at most [`DiffOptions::max_differences`].
    pub differences: Vec<Difference>,
    /// How many further differences were found but not kept.
    pub omitted: usize,
    /// How many ignored places differed (see [`DiffOptions::ignore_path`]):
    /// each place skipped because its path is ignored, where control and
    /// candidate differ or only one has a value, counts once. Not part of
    /// [`len`](Self::len) or [`is_empty`](Self::is_empty): an empty diff with
    /// `ignored > 0` means the values differ only in ignored subtrees.
    /// Serialized only when non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored: usize,
    /// True if some value was nested deeper than [`MAX_DEPTH`] levels and the
    /// subtrees below that depth were not compared (see the
    /// [module docs](self#depth-limit)): differences inside them cannot be
    /// seen, and an empty diff does not prove the values equal there.
    /// `Display` then ends with a line saying so. Serialized only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub depth_cut: bool,
}

/// The line a depth-cut [`Diff`]'s `Display` ends with.
const DEPTH_CUT_NOTE: &str = "(values nested deeper than 128 levels were not compared)";

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

/// Serializes both values into [`serde_json::Value`]s and compares them with
/// [`diff_values`].
///
/// Serializing stops [`MAX_DEPTH`] levels deep (see the
/// [module docs](self#depth-limit)), and NaN and infinities keep their
/// identity (see [non-finite floats](self#non-finite-floats)).
///
/// # Errors
///
/// Returns the error if either value cannot be represented as a
/// [`serde_json::Value`]: its `Serialize` implementation fails, or a map key
/// is not a string, number, boolean or unit variant. The error's message is
/// cut to at most [`MAX_ERROR_TEXT`] bytes, since it can quote the value.
///
/// ```
/// use darklaunch::diff::{diff, DiffKind, DiffOptions};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Order {
///     id: u32,
///     total: f64,
///     tags: Vec<&'static str>,
/// }
///
/// let control = Order { id: 7, total: 10.0, tags: vec!["new", "gift"] };
/// let candidate = Order { id: 7, total: 12.5, tags: vec!["gift", "new"] };
///
/// let d = diff(&control, &candidate, &DiffOptions::new())?;
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.differences[0].kind, DiffKind::Reordered);
/// assert_eq!(d.to_string(), "$.tags: reordered\n$.total: changed 10.0 → 12.5");
///
/// // Equal values give an empty diff.
/// assert!(diff(&control, &control, &DiffOptions::new())?.is_empty());
///
/// // Options can ignore subtrees or compare arrays as multisets.
/// let options = DiffOptions::new()
///     .try_ignore_path("$.total")?
///     .try_unordered_arrays("$.tags")?;
/// let d = diff(&control, &candidate, &options)?;
/// assert!(d.is_empty());
/// assert_eq!(d.ignored, 1); // $.total differed, but is ignored
///
/// // Infinities keep their sign.
/// let d = diff(&f64::INFINITY, &f64::NEG_INFINITY, &DiffOptions::new())?;
/// assert_eq!(d.to_string(), r#"$: changed "Infinity" → "-Infinity""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff<T: Serialize + ?Sized>(
    control: &T,
    candidate: &T,
    options: &DiffOptions,
) -> Result<Diff, serde_json::Error> {
    let control = crate::capture::capture(control).map_err(json_error)?;
    let candidate = crate::capture::capture(candidate).map_err(json_error)?;
    let mut out = diff_values(&control.value, &candidate.value, options);
    out.depth_cut |= control.depth_cut || candidate.depth_cut;
    Ok(out)
}

/// The capture's (already capped) error as a `serde_json::Error` with the same message.
fn json_error(error: CaptureError) -> serde_json::Error {
    <serde_json::Error as serde::ser::Error>::custom(error.message())
}

/// True if and only if [`diff`] of the two values under `options` would be
/// empty: no difference kept or omitted (ignored differences and a
/// [depth cut](Diff::depth_cut) do not count, as in [`Diff::is_empty`]).
///
/// Cheaper than `diff(..).is_empty()`: the walk stops at the first
/// difference and records nothing (no paths, no values). A value that
/// cannot be serialized gives `false`. Meant as a comparator for an
/// experiment that should judge values by the same rules its diffs report.
///
/// ```
/// use darklaunch::diff::{same, DiffOptions};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Quote {
///     price: f64,
///     quoted_at: u64,
/// }
///
/// let control = Quote { price: 10.0, quoted_at: 1_700_000_000 };
/// let candidate = Quote { price: 10.000_000_1, quoted_at: 1_700_000_042 };
/// assert!(!same(&control, &candidate, &DiffOptions::new()));
///
/// let options = DiffOptions::new()
///     .float_tolerance(1e-6)
///     .try_ignore_path("$.quoted_at")?;
/// assert!(same(&control, &candidate, &options));
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
pub fn same<T: Serialize + ?Sized>(control: &T, candidate: &T, options: &DiffOptions) -> bool {
    let Ok(control) = crate::capture::capture(control) else {
        return false;
    };
    let Ok(candidate) = crate::capture::capture(candidate) else {
        return false;
    };
    same_values(&control.value, &candidate.value, options)
}

/// A comparator for [`ExperimentBuilder::compare`](crate::ExperimentBuilder::compare) that
/// judges two values equal when their structural diff under `options` is empty — so ignore
/// paths, float tolerance and unordered arrays decide matches, as
/// `tower::ShadowResponse::json_compare` does for HTTP responses. Pair it with
/// [`ExperimentBuilder::diff`](crate::ExperimentBuilder::diff) under the same options to see
/// what differed in the mismatches.
///
/// ```
/// use darklaunch::diff::{comparator, DiffOptions};
/// use darklaunch::Experiment;
///
/// #[derive(Clone, PartialEq, serde::Serialize)]
/// struct Quote { total: u64, generated_at: u64 }
///
/// let options = DiffOptions::new().try_ignore_path("$.generated_at")?;
/// let experiment: Experiment<Quote> = Experiment::builder("quote-v2")
///     .compare(comparator(options.clone()))
///     .diff(options)
///     .build()?;
/// experiment.run(|| Quote { total: 5, generated_at: 1 }, || Quote { total: 5, generated_at: 2 });
/// assert_eq!(experiment.stats().matched, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn comparator<T: Serialize + ?Sized>(
    options: DiffOptions,
) -> impl Fn(&T, &T) -> bool + Send + Sync + 'static {
    move |control: &T, candidate: &T| same(control, candidate, &options)
}

/// [`same`] for values already in JSON: true if and only if
/// [`diff_values`] would return an empty diff. Allocates nothing unless it
/// has to match the elements of arrays compared as multisets.
///
/// ```
/// use darklaunch::diff::{same_values, DiffOptions};
/// use serde_json::json;
///
/// let options = DiffOptions::new().try_ignore_path("$..id")?;
/// assert!(same_values(&json!({"id": 1, "n": 2}), &json!({"id": 7, "n": 2}), &options));
/// assert!(!same_values(&json!({"n": 2}), &json!({"n": 3}), &options));
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
pub fn same_values(control: &Value, candidate: &Value, options: &DiffOptions) -> bool {
    Walker::new(options).compare(control, candidate, Mode::Check)
}

/// Compares two JSON values structurally (see the [module docs](self) for
/// the rules). Never panics, never recurses deeper than [`MAX_DEPTH`] levels
/// whatever the depth of the values, and allocates nothing when the values
/// are equal with their arrays in the same order and no ignored subtree
/// differs.
///
/// ```
/// use darklaunch::diff::{diff_values, DiffKind, DiffOptions};
/// use serde_json::json;
///
/// let control = json!({"user": {"email": "a@b.c"}, "items": [{"price": 10}]});
/// let candidate = json!({"user": {}, "items": [{"price": 12}]});
/// let d = diff_values(&control, &candidate, &DiffOptions::new());
/// assert_eq!(d.paths().collect::<Vec<_>>(), ["$.items[0].price", "$.user.email"]);
/// assert_eq!(d.differences[1].kind, DiffKind::Removed);
/// assert_eq!(
///     d.to_string(),
///     "$.items[0].price: changed 10 → 12\n$.user.email: removed \"a@b.c\""
/// );
/// ```
pub fn diff_values(control: &Value, candidate: &Value, options: &DiffOptions) -> Diff {
    let mut walker = Walker::new(options);
    walker.compare(control, candidate, Mode::Record);
    walker.out
}

/// Whether the walk records differences or only checks for equality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Record every difference and keep going.
    Record,
    /// Stop at the first difference; record nothing.
    Check,
}

/// The current path, without heap allocation. Holds at most `MAX_DEPTH`
/// segments; the walk never descends further.
struct PathStack<'a> {
    segments: [SegRef<'a>; MAX_DEPTH],
    len: usize,
}

impl<'a> PathStack<'a> {
    fn as_slice(&self) -> &[SegRef<'a>] {
        self.segments.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, segment: SegRef<'a>) -> bool {
        match self.segments.get_mut(self.len) {
            Some(slot) => {
                *slot = segment;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
}

struct Walker<'a, 'o> {
    options: &'o DiffOptions,
    tolerance: Option<f64>,
    path: PathStack<'a>,
    out: Diff,
}

impl<'a, 'o> Walker<'a, 'o> {
    fn new(options: &'o DiffOptions) -> Self {
        Walker {
            options,
            tolerance: options.tolerance(),
            path: PathStack {
                segments: [SegRef::Index(0); MAX_DEPTH],
                len: 0,
            },
            out: Diff::default(),
        }
    }

    /// Compares `a` and `b` at the current path. Returns true if no
    /// difference was found. In `Check` mode returns at the first difference.
    fn compare(&mut self, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
        if self.is_ignored() {
            if mode == Mode::Record && !raw_equal(a, b, self.tolerance, self.path.len) {
                self.count_ignored();
            }
            return true;
        }
        if self.path.len >= MAX_DEPTH && (is_container(a) || is_container(b)) {
            return self.compare_cut(a, b, mode);
        }
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) if x == y => true,
            (Value::Number(x), Value::Number(y)) if numbers_equal(x, y, self.tolerance) => true,
            (Value::String(x), Value::String(y)) if x == y => true,
            (Value::Array(x), Value::Array(y)) => self.compare_arrays(a, b, x, y, mode),
            (Value::Object(x), Value::Object(y)) => self.compare_objects(x, y, mode),
            _ if class(a, false) == class(b, false) => {
                self.report(DiffKind::Changed, Some(a), Some(b), mode)
            }
            _ => self.report(DiffKind::TypeChanged, Some(a), Some(b), mode),
        }
    }

    /// Compares at the depth limit, where an array or object is not looked
    /// into and stands for the string [`DEPTH_CUT`], as in a capture.
    fn compare_cut(&mut self, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
        // Set in either mode: the subtree is left uncompared whatever the walk decides.
        self.out.depth_cut = true;
        let text = cut_text(a);
        if text.is_some() && text == cut_text(b) {
            return true;
        }
        let kind = if class(a, true) == class(b, true) {
            DiffKind::Changed
        } else {
            DiffKind::TypeChanged
        };
        self.report(kind, Some(a), Some(b), mode)
    }

    fn count_ignored(&mut self) {
        self.out.ignored = self.out.ignored.saturating_add(1);
    }

    /// Compares `a` and `b` at the current path extended by `segment`.
    fn child(&mut self, segment: SegRef<'a>, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
        if !self.path.push(segment) {
            // Unreachable: containers at the depth limit are not descended into.
            return true;
        }
        let equal = self.compare(a, b, mode);
        self.path.pop();
        equal
    }

    /// Reports an Added or Removed value at the current path extended by
    /// `segment`, unless that path is ignored (then counts it, in `Record`
    /// mode).
    fn child_one_sided(
        &mut self,
        segment: SegRef<'a>,
        kind: DiffKind,
        control: Option<&'a Value>,
        candidate: Option<&'a Value>,
        mode: Mode,
    ) -> bool {
        if !self.path.push(segment) {
            // Unreachable, as in `child`.
            return true;
        }
        let equal = if self.is_ignored() {
            if mode == Mode::Record {
                self.count_ignored();
            }
            true
        } else {
            self.report(kind, control, candidate, mode)
        };
        self.path.pop();
        equal
    }

    fn compare_objects(
        &mut self,
        x: &'a Map<String, Value>,
        y: &'a Map<String, Value>,
        mode: Mode,
    ) -> bool {
        if mode == Mode::Check && self.options.ignored.is_empty() && x.len() != y.len() {
            return false;
        }
        // serde_json's default map is a BTreeMap, which iterates in key
        // order; with `preserve_order` it does not, so sort if needed.
        if x.keys().is_sorted() && y.keys().is_sorted() {
            self.compare_members(x.iter(), y.iter(), mode)
        } else {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_unstable_by(|p, q| p.0.cmp(q.0));
            ys.sort_unstable_by(|p, q| p.0.cmp(q.0));
            self.compare_members(xs.into_iter(), ys.into_iter(), mode)
        }
    }

    /// Merge-joins two key-sorted member sequences.
    fn compare_members<I, J>(&mut self, mut xs: I, mut ys: J, mode: Mode) -> bool
    where
        I: Iterator<Item = (&'a String, &'a Value)>,
        J: Iterator<Item = (&'a String, &'a Value)>,
    {
        let mut equal = true;
        let (mut x, mut y) = (xs.next(), ys.next());
        loop {
            let member_equal = match (x, y) {
                (None, None) => break,
                (Some((key, value)), None) => {
                    x = xs.next();
                    self.removed_key(key, value, mode)
                }
                (None, Some((key, value))) => {
                    y = ys.next();
                    self.added_key(key, value, mode)
                }
                (Some((kx, vx)), Some((ky, vy))) => match kx.cmp(ky) {
                    std::cmp::Ordering::Less => {
                        x = xs.next();
                        self.removed_key(kx, vx, mode)
                    }
                    std::cmp::Ordering::Greater => {
                        y = ys.next();
                        self.added_key(ky, vy, mode)
                    }
                    std::cmp::Ordering::Equal => {
                        x = xs.next();
                        y = ys.next();
                        self.child(SegRef::Key(kx), vx, vy, mode)
                    }
                },
            };
            if !member_equal {
                equal = false;
                if mode == Mode::Check {
                    return false;
                }
            }
        }
        equal
    }

    fn removed_key(&mut self, key: &'a str, value: &'a Value, mode: Mode) -> bool {
        self.child_one_sided(SegRef::Key(key), DiffKind::Removed, Some(value), None, mode)
    }

    fn added_key(&mut self, key: &'a str, value: &'a Value, mode: Mode) -> bool {
        self.child_one_sided(SegRef::Key(key), DiffKind::Added, None, Some(value), mode)
    }

    fn compare_arrays(
        &mut self,
        a: &'a Value,
        b: &'a Value,
        x: &'a [Value],
        y: &'a [Value],
        mode: Mode,
    ) -> bool {
        // Skip the longest prefix of positionally equal elements; both
        // ordered and unordered comparison agree on it.
        let common = x.len().min(y.len());
        let mut first = common;
        for (i, (p, q)) in x.iter().zip(y).enumerate() {
            if !self.child(SegRef::Index(i), p, q, Mode::Check) {
                first = i;
                break;
            }
        }
        if first == common && x.len() == y.len() {
            self.count_ignored_in_prefix(x, y, first, mode);
            return true;
        }
        // From here on, the pair at `first` (if both arrays reach it) is known
        // to differ; no pair is compared twice in `Check` mode, so that nested
        // arrays cost no more than the pairs of nodes they hold (comparing a
        // pair again at every level would take time exponential in depth).
        let (x_rest, y_rest) = (x.get(first..).unwrap_or(&[]), y.get(first..).unwrap_or(&[]));
        if self.is_unordered() {
            self.count_ignored_in_prefix(x, y, first, mode);
            return self.compare_unordered(x_rest, y_rest, first, mode);
        }
        if mode == Mode::Check && first < common {
            // An element differs positionally.
            return false;
        }
        if x.len() == y.len() {
            if self.is_permutation(x_rest, y_rest, first) {
                return self.report(DiffKind::Reordered, Some(a), Some(b), mode);
            }
            self.count_ignored_in_prefix(x, y, first, mode);
            for (i, (p, q)) in x_rest.iter().zip(y_rest).enumerate() {
                self.child(SegRef::Index(first + i), p, q, Mode::Record);
            }
            return false;
        }
        self.count_ignored_in_prefix(x, y, first, mode);
        let mut equal = true;
        for (i, (p, q)) in x_rest.iter().zip(y_rest).enumerate() {
            equal &= self.child(SegRef::Index(first + i), p, q, mode);
            if !equal && mode == Mode::Check {
                return false;
            }
        }
        for (i, p) in x.iter().enumerate().skip(common) {
            equal &= self.child_one_sided(SegRef::Index(i), DiffKind::Removed, Some(p), None, mode);
            if !equal && mode == Mode::Check {
                return false;
            }
        }
        for (i, q) in y.iter().enumerate().skip(common) {
            equal &= self.child_one_sided(SegRef::Index(i), DiffKind::Added, None, Some(q), mode);
            if !equal && mode == Mode::Check {
                return false;
            }
        }
        equal
    }

    /// In `Record` mode with ignored paths, walks the first `n` element
    /// pairs again (they were found equal in `Check` mode, which counts
    /// nothing) so that their ignored differences are counted. Records no
    /// difference, since the pairs are equal.
    fn count_ignored_in_prefix(&mut self, x: &'a [Value], y: &'a [Value], n: usize, mode: Mode) {
        if mode != Mode::Record || self.options.ignored.is_empty() {
            return;
        }
        for (i, (p, q)) in x.iter().zip(y).take(n).enumerate() {
            self.child(SegRef::Index(i), p, q, Mode::Record);
        }
    }

    /// Multiset comparison of `xs` and `ys`, which start at index `base` of
    /// their arrays.
    fn compare_unordered(
        &mut self,
        xs: &'a [Value],
        ys: &'a [Value],
        base: usize,
        mode: Mode,
    ) -> bool {
        let early_exit = mode == Mode::Check && self.options.ignored.is_empty();
        if early_exit && xs.len() != ys.len() {
            return false;
        }
        let Some((partners, matched_y)) = self.match_elements(xs, ys, base, early_exit) else {
            return false;
        };
        if mode == Mode::Record && !self.options.ignored.is_empty() {
            // Matched pairs are equal; walk them again to count ignored differences.
            for (k, partner) in partners.iter().enumerate() {
                if let (Some(p), Some(q)) = (xs.get(k), partner.and_then(|j| ys.get(j))) {
                    self.child(SegRef::Index(base + k), p, q, Mode::Record);
                }
            }
        }
        let mut equal = true;
        for ((k, p), partner) in xs.iter().enumerate().zip(&partners) {
            if partner.is_none() {
                let seg = SegRef::Index(base + k);
                equal &= self.child_one_sided(seg, DiffKind::Removed, Some(p), None, mode);
                if !equal && mode == Mode::Check {
                    return false;
                }
            }
        }
        for ((k, q), matched) in ys.iter().enumerate().zip(&matched_y) {
            if !matched {
                let seg = SegRef::Index(base + k);
                equal &= self.child_one_sided(seg, DiffKind::Added, None, Some(q), mode);
                if !equal && mode == Mode::Check {
                    return false;
                }
            }
        }
        equal
    }

    /// True if the equal-length `xs` and `ys` hold the same elements.
    fn is_permutation(&mut self, xs: &'a [Value], ys: &'a [Value], base: usize) -> bool {
        xs.len() == ys.len() && self.match_elements(xs, ys, base, true).is_some()
    }

    /// Greedily pairs equal elements of `xs` and `ys` (positionally equal
    /// pairs first, then by hash bucket or linear search). Returns the
    /// partner of each element of `xs` and which elements of `ys` were
    /// matched, or `None` if `early_exit` and some element of `xs` found no
    /// partner. Element equality is checked at the control element's path
    /// (`base + k`). The caller knows `xs[0]` and `ys[0]` differ, so that
    /// pair is not compared, and no pair is compared twice.
    fn match_elements(
        &mut self,
        xs: &'a [Value],
        ys: &'a [Value],
        base: usize,
        early_exit: bool,
    ) -> Option<(Vec<Option<usize>>, Vec<bool>)> {
        let mut partners: Vec<Option<usize>> = vec![None; xs.len()];
        let mut matched_y = vec![false; ys.len()];
        for (k, (p, q)) in xs.iter().zip(ys).enumerate().skip(1) {
            if self.child(SegRef::Index(base + k), p, q, Mode::Check) {
                partners[k] = Some(k);
                matched_y[k] = true;
            }
        }
        // Hashing is consistent with equality only without tolerance and
        // without ignored paths. Elements sit one level below the array.
        let levels_to_cut = MAX_DEPTH.saturating_sub(self.path.len + 1);
        let mut buckets: Option<HashMap<u64, Vec<usize>>> =
            (self.tolerance.is_none() && self.options.ignored.is_empty()).then(|| {
                let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
                for (j, q) in ys.iter().enumerate() {
                    if !matched_y[j] {
                        buckets
                            .entry(hash_value(q, levels_to_cut))
                            .or_default()
                            .push(j);
                    }
                }
                buckets
            });
        for (k, p) in xs.iter().enumerate() {
            if partners[k].is_some() {
                continue;
            }
            let seg = SegRef::Index(base + k);
            // The positional pair (k, k) is known to differ: skip it.
            let partner = match buckets.as_mut() {
                Some(buckets) => {
                    buckets
                        .get_mut(&hash_value(p, levels_to_cut))
                        .and_then(|candidates| {
                            let pos = candidates.iter().position(|&j| {
                                j != k
                                    && ys
                                        .get(j)
                                        .is_some_and(|q| self.child(seg, p, q, Mode::Check))
                            })?;
                            Some(candidates.remove(pos))
                        })
                }
                None => (0..ys.len()).find(|&j| {
                    j != k
                        && !matched_y[j]
                        && ys
                            .get(j)
                            .is_some_and(|q| self.child(seg, p, q, Mode::Check))
                }),
            };
            match partner {
                Some(j) => {
                    partners[k] = Some(j);
                    matched_y[j] = true;
                }
                None if early_exit => return None,
                None => {}
            }
        }
        Some((partners, matched_y))
    }

    fn is_ignored(&self) -> bool {
        let path = self.path.as_slice();
        self.options
            .ignored
            .iter()
            .any(|p| p.matches_segments(path, false))
    }

    /// True if the current path is at or below a redacted path.
    fn is_redacted(&self) -> bool {
        let path = self.path.as_slice();
        self.options
            .redacted
            .iter()
            .any(|p| p.matches_segments(path, true))
    }

    fn is_unordered(&self) -> bool {
        let path = self.path.as_slice();
        self.options
            .unordered
            .iter()
            .any(|p| p.matches_segments(path, false))
    }

    /// Records a difference at the current path (in `Record` mode) and
    /// returns false.
    fn report(
        &mut self,
        kind: DiffKind,
        control: Option<&Value>,
        candidate: Option<&Value>,
        mode: Mode,
    ) -> bool {
        if mode == Mode::Check {
            return false;
        }
        if self.out.differences.len() >= self.options.max_differences {
            self.out.omitted = self.out.omitted.saturating_add(1);
            return false;
        }
        let at = self.path.as_slice();
        let path = capped_path(at);
        let options = self.options;
        let limit = options.max_value_chars;
        let redact_here = self.is_redacted();
        let (mut truncated, mut depth_cut) = (false, false);
        let mut publishable = |value: &Value| {
            let value = if redact_here {
                Cow::Owned(Value::String(REDACTED.to_owned()))
            } else {
                scrub(value, at, options, &mut depth_cut)
            };
            limit_value(value, limit, &mut truncated)
        };
        let control = control.map(&mut publishable);
        let candidate = candidate.map(&mut publishable);
        self.out.depth_cut |= depth_cut;
        self.out.differences.push(Difference {
            path: path.rendered,
            segments: path.segments,
            kind,
            control,
            candidate,
            truncated,
            path_cut: path.cut,
        });
        false
    }
}

fn is_container(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

/// The JSON type of `value` for telling Changed from TypeChanged: the
/// strings of non-finite floats count as numbers, and with `cut` (at the
/// depth limit) arrays and objects count as strings, standing for
/// [`DEPTH_CUT`].
fn class(value: &Value, cut: bool) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(s) if is_non_finite_text(s) => 2,
        Value::String(_) => 3,
        Value::Array(_) | Value::Object(_) if cut => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// What `value` reads as at the depth limit, if it is a string there.
fn cut_text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Array(_) | Value::Object(_) => Some(DEPTH_CUT),
        _ => None,
    }
}

/// Integers compare exactly; if either is a float, both compare as `f64`.
fn numbers_equal(x: &Number, y: &Number, tolerance: Option<f64>) -> bool {
    if !x.is_f64() && !y.is_f64() {
        if let (Some(p), Some(q)) = (integer(x), integer(y)) {
            return p == q || tolerance.is_some_and(|t| (p - q).unsigned_abs() as f64 <= t);
        }
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(p), Some(q)) => p == q || tolerance.is_some_and(|t| (p - q).abs() <= t),
        _ => x == y,
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Iterative equality of two values found at path length `depth`, with no
/// ignored paths and arrays in order (tolerance applied, and arrays or
/// objects at the depth limit standing for [`DEPTH_CUT`], as in the walk).
/// Used to tell whether an ignored subtree differs.
fn raw_equal(a: &Value, b: &Value, tolerance: Option<f64>, depth: usize) -> bool {
    let mut pending = Vec::new();
    let (mut a, mut b, mut depth) = (a, b, depth);
    loop {
        let equal = if depth >= MAX_DEPTH && (is_container(a) || is_container(b)) {
            let text = cut_text(a);
            text.is_some() && text == cut_text(b)
        } else {
            match (a, b) {
                (Value::Null, Value::Null) => true,
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Number(x), Value::Number(y)) => numbers_equal(x, y, tolerance),
                (Value::String(x), Value::String(y)) => x == y,
                (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                    pending.extend(x.iter().zip(y).map(|(p, q)| (p, q, depth + 1)));
                    true
                }
                (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                    for (key, p) in x {
                        match y.get(key) {
                            Some(q) => pending.push((p, q, depth + 1)),
                            None => return false,
                        }
                    }
                    true
                }
                _ => false,
            }
        };
        if !equal {
            return false;
        }
        match pending.pop() {
            Some((p, q, d)) => (a, b, depth) = (p, q, d),
            None => return true,
        }
    }
}

/// A hash consistent with exact element equality, including multiset
/// comparison of nested arrays (array and object contents are combined
/// order-independently) and the depth limit (an array or object
/// `levels_to_cut` levels down hashes as the string [`DEPTH_CUT`]). Only
/// looks `HASH_DEPTH` levels deep.
fn hash_value(value: &Value, levels_to_cut: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
    feed_hash(value, &mut hasher, HASH_DEPTH, levels_to_cut);
    hasher.finish()
}

fn feed_hash(value: &Value, hasher: &mut DefaultHasher, depth: usize, levels_to_cut: usize) {
    match value {
        Value::Array(_) | Value::Object(_) if levels_to_cut == 0 => {
            hasher.write_u8(3);
            DEPTH_CUT.hash(hasher);
        }
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            b.hash(hasher);
        }
        Value::Number(n) => {
            hasher.write_u8(2);
            // Equal numbers have equal f64 values; fold -0.0 into 0.0.
            let f = n.as_f64().unwrap_or(0.0);
            hasher.write_u64(if f == 0.0 { 0 } else { f.to_bits() });
        }
        Value::String(s) => {
            // Non-finite floats are strings here, equal only to themselves.
            hasher.write_u8(3);
            s.as_str().hash(hasher);
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            if let Some(depth) = depth.checked_sub(1) {
                let mut sum = 0u64;
                for item in items {
                    let mut sub = DefaultHasher::new();
                    feed_hash(item, &mut sub, depth, levels_to_cut - 1);
                    sum = sum.wrapping_add(sub.finish());
                }
                hasher.write_u64(sum);
            }
        }
        Value::Object(members) => {
            hasher.write_u8(5);
            hasher.write_usize(members.len());
            if let Some(depth) = depth.checked_sub(1) {
                let mut sum = 0u64;
                for (key, item) in members {
                    let mut sub = DefaultHasher::new();
                    key.hash(&mut sub);
                    feed_hash(item, &mut sub, depth, levels_to_cut - 1);
                    sum = sum.wrapping_add(sub.finish());
                }
                hasher.write_u64(sum);
            }
        }
    }
}

/// What happens to a node of a reported value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scrub {
    /// Kept (a container is looked into).
    Keep,
    /// An ignored subtree: dropped from an object, [`IGNORED`] in an array.
    Drop,
    /// A redacted subtree: replaced by [`REDACTED`].
    Redact,
    /// An array or object at the depth limit: replaced by [`DEPTH_CUT`].
    Cut,
}

/// What becomes of `node`, found at `path` (`nested`: below the reported value's own path,
/// which the walk has checked already).
fn scrub_action(path: &[SegRef<'_>], node: &Value, options: &DiffOptions, nested: bool) -> Scrub {
    if nested {
        if options
            .ignored
            .iter()
            .any(|p| p.matches_segments(path, false))
        {
            return Scrub::Drop;
        }
        if options
            .redacted
            .iter()
            .any(|p| p.matches_segments(path, false))
        {
            return Scrub::Redact;
        }
    }
    if is_container(node) && path.len() >= MAX_DEPTH {
        return Scrub::Cut;
    }
    Scrub::Keep
}

/// `value` (reported at path `at`, which is neither ignored nor redacted)
/// as it may be published: ignored subtrees inside it removed, redacted
/// subtrees replaced by [`REDACTED`], and arrays and objects at the depth
/// limit replaced by [`DEPTH_CUT`] (setting `depth_cut`). Borrowed when
/// nothing changes. Iterative, and never looks deeper than [`MAX_DEPTH`]
/// levels, so neither this nor serializing, printing or dropping the result
/// can overflow the stack.
fn scrub<'v>(
    value: &'v Value,
    at: &[SegRef<'v>],
    options: &DiffOptions,
    depth_cut: &mut bool,
) -> Cow<'v, Value> {
    if needs_scrub(value, at, options) {
        Cow::Owned(build_scrubbed(value, at, options, depth_cut))
    } else {
        Cow::Borrowed(value)
    }
}

/// True if some node of `value` is not [`Scrub::Keep`].
fn needs_scrub(value: &Value, at: &[SegRef<'_>], options: &DiffOptions) -> bool {
    if scrub_action(at, value, options, false) != Scrub::Keep {
        return true;
    }
    let mut path: Vec<SegRef<'_>> = at.to_vec();
    // (the length of the parent's path, the segment, the node)
    let mut stack: Vec<(usize, SegRef<'_>, &Value)> = Vec::new();
    push_children(value, path.len(), &mut stack);
    while let Some((parent_len, segment, node)) = stack.pop() {
        path.truncate(parent_len);
        path.push(segment);
        if scrub_action(&path, node, options, true) != Scrub::Keep {
            return true;
        }
        push_children(node, path.len(), &mut stack);
    }
    false
}

fn push_children<'v>(
    value: &'v Value,
    len: usize,
    stack: &mut Vec<(usize, SegRef<'v>, &'v Value)>,
) {
    match value {
        Value::Array(items) => stack.extend(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (len, SegRef::Index(i), item)),
        ),
        Value::Object(members) => stack.extend(
            members
                .iter()
                .map(|(key, item)| (len, SegRef::Key(key.as_str()), item)),
        ),
        _ => {}
    }
}

/// An array or object of a reported value being rebuilt by [`build_scrubbed`].
struct Frame<'v> {
    /// Where the container sits in its parent (`None` for the root).
    segment: Option<SegRef<'v>>,
    children: Children<'v>,
    out: Value,
}

enum Children<'v> {
    Items(std::iter::Enumerate<std::slice::Iter<'v, Value>>),
    Members(serde_json::map::Iter<'v>),
}

impl<'v> Frame<'v> {
    /// A frame for `value` if it is an array or object.
    fn open(value: &'v Value, segment: Option<SegRef<'v>>) -> Option<Self> {
        let (children, out) = match value {
            Value::Array(items) => (
                Children::Items(items.iter().enumerate()),
                Value::Array(Vec::with_capacity(items.len())),
            ),
            Value::Object(members) => {
                (Children::Members(members.iter()), Value::Object(Map::new()))
            }
            _ => return None,
        };
        Some(Frame {
            segment,
            children,
            out,
        })
    }

    fn next_child(&mut self) -> Option<(SegRef<'v>, &'v Value)> {
        match &mut self.children {
            Children::Items(items) => items.next().map(|(i, item)| (SegRef::Index(i), item)),
            Children::Members(members) => members
                .next()
                .map(|(key, item)| (SegRef::Key(key.as_str()), item)),
        }
    }

    fn put(&mut self, segment: SegRef<'_>, value: Value) {
        match (&mut self.out, segment) {
            (Value::Array(items), _) => items.push(value),
            (Value::Object(members), SegRef::Key(key)) => {
                members.insert(key.to_owned(), value);
            }
            _ => {}
        }
    }
}

/// Rebuilds `value` as [`scrub`] describes, without recursion.
fn build_scrubbed<'v>(
    value: &'v Value,
    at: &[SegRef<'v>],
    options: &DiffOptions,
    depth_cut: &mut bool,
) -> Value {
    if scrub_action(at, value, options, false) == Scrub::Cut {
        *depth_cut = true;
        return Value::String(DEPTH_CUT.to_owned());
    }
    let Some(root) = Frame::open(value, None) else {
        return value.clone();
    };
    let mut path: Vec<SegRef<'v>> = at.to_vec();
    let mut stack = vec![root];
    loop {
        let Some(frame) = stack.last_mut() else {
            return Value::Null; // Unreachable: the root frame returns below.
        };
        let Some((segment, node)) = frame.next_child() else {
            let Some(done) = stack.pop() else {
                return Value::Null;
            };
            match (stack.last_mut(), done.segment) {
                (Some(parent), Some(segment)) => {
                    path.pop();
                    parent.put(segment, done.out);
                    continue;
                }
                _ => return done.out,
            }
        };
        path.push(segment);
        let placed = match scrub_action(&path, node, options, true) {
            Scrub::Drop => matches!(segment, SegRef::Index(_)).then(|| IGNORED.to_owned().into()),
            Scrub::Redact => Some(Value::String(REDACTED.to_owned())),
            Scrub::Cut => {
                *depth_cut = true;
                Some(Value::String(DEPTH_CUT.to_owned()))
            }
            Scrub::Keep => match Frame::open(node, Some(segment)) {
                Some(child) => {
                    // The path keeps the child's segment until the child is done.
                    stack.push(child);
                    continue;
                }
                None => Some(node.clone()),
            },
        };
        path.pop();
        if let (Some(value), Some(frame)) = (placed, stack.last_mut()) {
            frame.put(segment, value);
        }
    }
}

/// Takes `value`, or replaces it with a truncated rendering if its compact
/// JSON exceeds `limit` characters.
fn limit_value(value: Cow<'_, Value>, limit: usize, truncated: &mut bool) -> Value {
    if limit == usize::MAX {
        return value.into_owned();
    }
    let mut writer = LimitedWriter {
        buf: Vec::new(),
        chars: 0,
        limit,
        exceeded: false,
    };
    // The only possible error is the writer refusing more output.
    let _ = serde_json::to_writer(&mut writer, value.as_ref());
    if !writer.exceeded {
        return value.into_owned();
    }
    *truncated = true;
    let mut text = String::from_utf8_lossy(&writer.buf).into_owned();
    text.push('…');
    Value::String(text)
}

/// Collects at most `limit` characters of UTF-8 output, then fails.
struct LimitedWriter {
    buf: Vec<u8>,
    chars: usize,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for (i, &byte) in bytes.iter().enumerate() {
            // Count characters by their first byte (not 0b10xx_xxxx).
            if byte & 0xC0 != 0x80 {
                if self.chars >= self.limit {
                    self.exceeded = true;
                    self.buf.extend_from_slice(bytes.get(..i).unwrap_or(&[]));
                    return Err(io::Error::other("value exceeds max_value_chars"));
                }
                self.chars += 1;
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(control: Value, candidate: Value) -> Diff {
        diff_values(&control, &candidate, &DiffOptions::new())
    }

    fn kinds(diff: &Diff) -> Vec<(&str, DiffKind)> {
        diff.differences
            .iter()
            .map(|x| (x.path.as_str(), x.kind))
            .collect()
    }

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    #[test]
    fn equal_values_are_empty() {
        for v in [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({}),
            json!({"a": [1, 2.5, {"b": "ü"}], "c": null}),
        ] {
            let diff = d(v.clone(), v);
            assert!(diff.is_empty());
            assert_eq!(diff.len(), 0);
            assert_eq!(diff.to_string(), "no differences");
        }
    }

    #[test]
    fn objects_changed_added_removed() {
        let diff = d(
            json!({"items": [{"price": 10}], "user": {"email": "a@b.c", "id": 1}}),
            json!({"items": [{"price": 12}], "user": {"id": 1, "name": "x"}}),
        );
        assert_eq!(
            kinds(&diff),
            [
                ("$.items[0].price", DiffKind::Changed),
                ("$.user.email", DiffKind::Removed),
                ("$.user.name", DiffKind::Added),
            ]
        );
        let removed = &diff.differences[1];
        assert_eq!(removed.control, Some(json!("a@b.c")));
        assert_eq!(removed.candidate, None);
        assert_eq!(
            removed.segments,
            [PathSegment::from("user"), PathSegment::from("email")]
        );
        let added = &diff.differences[2];
        assert_eq!(added.control, None);
        assert_eq!(added.candidate, Some(json!("x")));
        assert_eq!(
            diff.to_string(),
            "$.items[0].price: changed 10 → 12\n\
             $.user.email: removed \"a@b.c\"\n\
             $.user.name: added \"x\""
        );
        assert_eq!(
            diff.paths().collect::<Vec<_>>(),
            ["$.items[0].price", "$.user.email", "$.user.name"]
        );
    }

    #[test]
    fn weird_keys_are_bracketed() {
        let diff = d(json!({"a b": 1}), json!({"a b": 2}));
        assert_eq!(diff.differences[0].path, r#"$["a b"]"#);
    }

    #[test]
    fn type_changes() {
        for (a, b) in [
            (json!(1), json!("1")),
            (json!(null), json!(0)),
            (json!(false), json!(null)),
            (json!({}), json!([])),
            (json!([1]), json!("[1]")),
        ] {
            let diff = d(a.clone(), b.clone());
            assert_eq!(kinds(&diff), [("$", DiffKind::TypeChanged)], "{a} vs {b}");
            assert_eq!(diff.differences[0].control, Some(a));
            assert_eq!(diff.differences[0].candidate, Some(b));
        }
        assert_eq!(
            kinds(&d(json!(true), json!(false))),
            [("$", DiffKind::Changed)]
        );
    }

    #[test]
    fn numbers() {
        assert!(d(json!(1), json!(1.0)).is_empty());
        assert!(d(json!(-0.0), json!(0)).is_empty());
        assert!(!d(json!(1), json!(2)).is_empty());
        assert!(!d(json!(u64::MAX), json!(u64::MAX - 1)).is_empty());
        assert!(!d(json!(i64::MIN), json!(i64::MIN + 1)).is_empty());
        assert!(!d(json!(0.1), json!(0.2)).is_empty());

        let tol = DiffOptions::new().float_tolerance(0.01);
        assert!(diff_values(&json!(1.0), &json!(1.005), &tol).is_empty());
        assert!(diff_values(&json!(1), &json!(1.005), &tol).is_empty());
        assert!(!diff_values(&json!(1.0), &json!(1.02), &tol).is_empty());
        let int_tol = DiffOptions::new().float_tolerance(1.0);
        assert!(diff_values(&json!(5), &json!(6), &int_tol).is_empty());
        assert!(!diff_values(&json!(5), &json!(7), &int_tol).is_empty());
        assert!(diff_values(
            &json!(u64::MAX),
            &json!(i64::MIN),
            &DiffOptions::new().float_tolerance(f64::INFINITY)
        )
        .is_empty());
        for bad in [f64::NAN, -1.0, 0.0] {
            let exact = DiffOptions::new().float_tolerance(bad);
            assert!(!diff_values(&json!(1.0), &json!(1.0000001), &exact).is_empty());
            assert!(diff_values(&json!(1.5), &json!(1.5), &exact).is_empty());
        }
    }

    #[test]
    fn arrays_ordered() {
        let diff = d(
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["c", "a", "b"]}),
        );
        assert_eq!(kinds(&diff), [("$.tags", DiffKind::Reordered)]);
        assert_eq!(diff.differences[0].control, Some(json!(["a", "b", "c"])));
        assert_eq!(diff.differences[0].candidate, Some(json!(["c", "a", "b"])));
        assert_eq!(diff.to_string(), "$.tags: reordered");

        // Same length, different multiset: index by index.
        let diff = d(json!([1, 2, 3]), json!([1, 3, 4]));
        assert_eq!(
            kinds(&diff),
            [("$[1]", DiffKind::Changed), ("$[2]", DiffKind::Changed)]
        );

        // Duplicates count.
        let diff = d(json!([1, 1, 2]), json!([2, 1, 2]));
        assert_eq!(kinds(&diff), [("$[0]", DiffKind::Changed)]);

        let diff = d(json!([1, 2, 3, 4]), json!([1, 5]));
        assert_eq!(
            kinds(&diff),
            [
                ("$[1]", DiffKind::Changed),
                ("$[2]", DiffKind::Removed),
                ("$[3]", DiffKind::Removed),
            ]
        );
        let diff = d(json!([]), json!([true, null]));
        assert_eq!(
            kinds(&diff),
            [("$[0]", DiffKind::Added), ("$[1]", DiffKind::Added)]
        );
        assert_eq!(diff.differences[1].candidate, Some(json!(null)));
    }

    #[test]
    fn arrays_unordered() {
        let options = DiffOptions::new().unordered_arrays(pat("$.tags"));
        let a = json!({"tags": ["a", "b", "c", "b"]});
        assert!(diff_values(&a, &json!({"tags": ["b", "c", "b", "a"]}), &options).is_empty());
        let diff = diff_values(&a, &json!({"tags": ["c", "x", "b", "a", "y"]}), &options);
        assert_eq!(
            kinds(&diff),
            [
                ("$.tags[3]", DiffKind::Removed),
                ("$.tags[1]", DiffKind::Added),
                ("$.tags[4]", DiffKind::Added),
            ]
        );
        assert_eq!(diff.differences[0].control, Some(json!("b")));
        assert_eq!(diff.differences[1].candidate, Some(json!("x")));

        // Nested unordered arrays inside elements, matched via `..`.
        let options = DiffOptions::new().unordered_arrays(pat("$..*"));
        let a = json!([[1, 2], [3, [4, 5]]]);
        let b = json!([[[5, 4], 3], [2, 1]]);
        assert!(!diff_values(&a, &b, &options).is_empty()); // root is ordered
        let options = options.unordered_arrays(pat("$"));
        assert!(diff_values(&a, &b, &options).is_empty());

        // With tolerance (no hashing).
        let options = DiffOptions::new()
            .unordered_arrays(pat("$"))
            .float_tolerance(0.1);
        assert!(diff_values(&json!([1.0, 2.0]), &json!([2.05, 0.95]), &options).is_empty());
    }

    #[test]
    fn ignored_paths() {
        let options = DiffOptions::new()
            .try_ignore_path("$..updated_at")
            .unwrap()
            .ignore_path(pat("$.meta"));
        let diff = diff_values(
            &json!({"a": {"updated_at": 1, "x": 1}, "meta": {"b": 1}, "list": [{"updated_at": 1}]}),
            &json!({"a": {"updated_at": 2, "x": 2}, "meta": 5, "list": [{}], "updated_at": 3}),
            &options,
        );
        assert_eq!(kinds(&diff), [("$.a.x", DiffKind::Changed)]);

        let everything = DiffOptions::new().ignore_path(pat("$"));
        assert!(diff_values(&json!(1), &json!([2]), &everything).is_empty());

        // Ignored array elements are neither added nor removed.
        let options = DiffOptions::new().ignore_path(pat("$[2]"));
        assert!(diff_values(&json!([1, 2]), &json!([1, 2, 3]), &options).is_empty());

        // Elements differing only in ignored fields still count as reordered.
        let options = DiffOptions::new().ignore_path(pat("$[*].t"));
        let diff = diff_values(
            &json!([{"id": 1, "t": 1}, {"id": 2, "t": 1}]),
            &json!([{"id": 2, "t": 9}, {"id": 1, "t": 9}]),
            &options,
        );
        assert_eq!(kinds(&diff), [("$", DiffKind::Reordered)]);

        assert!(DiffOptions::new().try_ignore_path("nope").is_err());
        assert!(DiffOptions::new().try_unordered_arrays("$[").is_err());
    }

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
    fn truncation() {
        let options = DiffOptions::new().max_value_chars(5);
        let diff = diff_values(
            &json!({"k": "short"}),
            &json!({"k": [1, 2, 3, 4]}),
            &options,
        );
        let x = &diff.differences[0];
        assert!(x.truncated);
        // "short" is 7 chars of JSON with quotes.
        assert_eq!(x.control, Some(json!("\"shor…")));
        assert_eq!(x.candidate, Some(json!("[1,2,…")));
        assert!(x.to_string().ends_with(" (truncated)"));

        let diff = diff_values(&json!("ab"), &json!("éèêëx"), &options);
        let x = &diff.differences[0];
        assert_eq!(x.control, Some(json!("ab")));
        assert_eq!(x.candidate, Some(json!("\"éèêë…")));

        let exact = diff_values(&json!(12345), &json!(1), &options);
        assert!(!exact.differences[0].truncated);
        assert_eq!(exact.differences[0].control, Some(json!(12345)));

        let zero = diff_values(&json!(1), &json!(2), &DiffOptions::new().max_value_chars(0));
        assert_eq!(zero.differences[0].control, Some(json!("…")));

        let big = json!("x".repeat(10_000));
        let unlimited = DiffOptions::new().max_value_chars(usize::MAX);
        let diff = diff_values(&big, &json!(1), &unlimited);
        assert_eq!(diff.differences[0].control, Some(big));
        assert!(!diff.differences[0].truncated);
    }

    fn nested(depth: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..depth {
            v = json!({ "n": [v] });
        }
        v
    }

    #[test]
    fn deep_values_do_not_recurse_forever() {
        // `nested(n, leaf)` puts `leaf` at a path of 2n segments.
        let a = nested(400, json!(1));
        let b = nested(400, json!(2));
        // The difference lies below the limit: not compared, and the diff says so.
        let diff = d(a.clone(), b.clone());
        assert!(diff.is_empty());
        assert!(diff.depth_cut);
        assert_eq!(
            diff.to_string(),
            format!("no differences\n{DEPTH_CUT_NOTE}")
        );
        assert!(same_values(&a, &b, &DiffOptions::new()));
        let equal = d(a.clone(), a.clone());
        assert!(equal.is_empty() && equal.depth_cut);
        // Shallow values are not marked.
        assert!(!d(nested(3, json!(1)), nested(3, json!(2))).depth_cut);
        // Reported above the limit when the difference is shallow; the
        // reported value is cut at the limit.
        let shallow = d(a.clone(), json!({"n": 1}));
        assert_eq!(kinds(&shallow), [("$.n", DiffKind::TypeChanged)]);
        assert!(shallow.depth_cut);
        let unlimited = DiffOptions::new().max_value_chars(usize::MAX);
        let shallow = diff_values(&a, &json!({"n": 1}), &unlimited);
        let control = shallow.differences[0].control.clone().unwrap();
        assert_eq!(value_depth(&control), MAX_DEPTH - 1);
        let text = serde_json::to_string(&control).unwrap();
        assert!(
            text.contains(&format!("{{\"n\":[\"{DEPTH_CUT}\"]}}")),
            "{text}"
        );
        assert!(shallow.to_string().ends_with(DEPTH_CUT_NOTE));

        // At the limit an array or object reads as the string DEPTH_CUT.
        let at_limit = |leaf: Value| nested(MAX_DEPTH / 2, leaf);
        let diff = d(at_limit(json!([1])), at_limit(json!(5)));
        assert_eq!(diff.len(), 1);
        let x = &diff.differences[0];
        assert_eq!(
            (x.kind, x.segments.len()),
            (DiffKind::TypeChanged, MAX_DEPTH)
        );
        assert_eq!(x.control, Some(json!(DEPTH_CUT)));
        assert_eq!(x.candidate, Some(json!(5)));
        let diff = d(at_limit(json!({"k": 1})), at_limit(json!("text")));
        assert_eq!(diff.differences[0].kind, DiffKind::Changed);
        assert!(d(at_limit(json!({"k": 1})), at_limit(json!(DEPTH_CUT))).is_empty());
        assert!(d(at_limit(json!({"k": 1})), at_limit(json!([2, 3]))).is_empty());
        // One level above the limit, containers are still compared.
        let above = |leaf: Value| nested(MAX_DEPTH / 2 - 1, json!({"x": leaf}));
        assert_eq!(d(above(json!(1)), above(json!(2))).len(), 1);
    }

    /// How many levels of arrays and objects `value` has (iteratively).
    fn value_depth(value: &Value) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(value, 0)];
        while let Some((v, depth)) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
                Value::Object(m) => stack.extend(m.values().map(|i| (i, depth + 1))),
                _ => deepest = deepest.max(depth),
            }
        }
        deepest
    }

    #[test]
    fn typed_diff() {
        #[derive(Serialize)]
        struct S {
            a: u8,
            b: Vec<u8>,
        }
        let result = diff(
            &S { a: 1, b: vec![1] },
            &S { a: 1, b: vec![] },
            &DiffOptions::new(),
        )
        .unwrap();
        assert_eq!(kinds(&result), [("$.b[0]", DiffKind::Removed)]);
        let bad = std::collections::HashMap::from([((1u8, 2u8), 3u8)]);
        assert!(diff(&bad, &bad, &DiffOptions::new()).is_err());
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

    fn redacted() -> Value {
        json!(REDACTED)
    }

    #[test]
    fn redaction_at_and_below_redacted_paths() {
        let options = DiffOptions::new()
            .try_redact("$.user.password")
            .unwrap()
            .redact(pat("$.card"));
        let diff = diff_values(
            &json!({"user": {"name": "ann", "password": "hunter2"}, "card": {"number": "4111", "cvc": 1}}),
            &json!({"user": {"name": "bob", "password": "swordfish"}, "card": {"number": "5500", "exp": "12/30"}}),
            &options,
        );
        assert_eq!(
            kinds(&diff),
            [
                ("$.card.cvc", DiffKind::Removed),
                ("$.card.exp", DiffKind::Added),
                ("$.card.number", DiffKind::Changed),
                ("$.user.name", DiffKind::Changed),
                ("$.user.password", DiffKind::Changed),
            ]
        );
        let values: Vec<_> = diff
            .differences
            .iter()
            .map(|d| (d.control.clone(), d.candidate.clone()))
            .collect();
        assert_eq!(
            values,
            [
                (Some(redacted()), None),
                (None, Some(redacted())),
                (Some(redacted()), Some(redacted())),
                (Some(json!("ann")), Some(json!("bob"))),
                (Some(redacted()), Some(redacted())),
            ]
        );
        assert!(diff.differences.iter().all(|d| !d.truncated));
        let text = format!("{diff} {diff:?} {}", serde_json::to_string(&diff).unwrap());
        for secret in ["hunter2", "swordfish", "4111", "5500", "12/30"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }

        // Equal redacted values are still equal; redaction changes no verdict.
        let same = json!({"user": {"password": "x"}});
        assert!(diff_values(&same, &same, &options).is_empty());
        // A redacted root redacts everything.
        let all = DiffOptions::new().redact(pat("$"));
        let diff = diff_values(&json!({"a": 1}), &json!([2]), &all);
        assert_eq!(kinds(&diff), [("$", DiffKind::TypeChanged)]);
        assert_eq!(diff.differences[0].control, Some(redacted()));
        assert_eq!(diff.differences[0].candidate, Some(redacted()));
    }

    #[test]
    fn redaction_inside_parent_level_values() {
        let options = DiffOptions::new()
            .try_redact("$..token")
            .unwrap()
            .redact(pat("$.list[*].secret"));
        // Reordered: both arrays carry redacted elements.
        let diff = diff_values(
            &json!({"list": [{"id": 1, "secret": "s1"}, {"id": 2, "secret": "s2"}]}),
            &json!({"list": [{"id": 2, "secret": "s2"}, {"id": 1, "secret": "s1"}]}),
            &options,
        );
        assert_eq!(kinds(&diff), [("$.list", DiffKind::Reordered)]);
        assert_eq!(
            diff.differences[0].control,
            Some(json!([{"id": 1, "secret": REDACTED}, {"id": 2, "secret": REDACTED}]))
        );
        assert_eq!(
            diff.differences[0].candidate,
            Some(json!([{"id": 2, "secret": REDACTED}, {"id": 1, "secret": REDACTED}]))
        );

        // TypeChanged, Added and Removed objects; `..` reaches any depth.
        let diff = diff_values(
            &json!({"a": {"token": "t1", "deep": [{"token": {"x": "t2"}}]}, "gone": {"token": "t3"}}),
            &json!({"a": "now a string", "new": [{"token": "t4", "keep": 1}]}),
            &options,
        );
        assert_eq!(
            kinds(&diff),
            [
                ("$.a", DiffKind::TypeChanged),
                ("$.gone", DiffKind::Removed),
                ("$.new", DiffKind::Added),
            ]
        );
        assert_eq!(
            diff.differences[0].control,
            Some(json!({"token": REDACTED, "deep": [{"token": REDACTED}]}))
        );
        assert_eq!(diff.differences[0].candidate, Some(json!("now a string")));
        assert_eq!(
            diff.differences[1].control,
            Some(json!({"token": REDACTED}))
        );
        assert_eq!(
            diff.differences[2].candidate,
            Some(json!([{"token": REDACTED, "keep": 1}]))
        );
        let text = serde_json::to_string(&diff).unwrap();
        for secret in ["t1", "t2", "t3", "t4", "s1", "s2"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }

        // Values with nothing redacted inside are reported unchanged.
        let diff = diff_values(&json!({"a": [1, {"b": 2}]}), &json!({"a": 3}), &options);
        assert_eq!(diff.differences[0].control, Some(json!([1, {"b": 2}])));
    }

    #[test]
    fn redaction_before_truncation() {
        // The secret sorts first, so truncating the unredacted value would
        // keep a prefix of it.
        let options = DiffOptions::new().redact(pat("$.a")).max_value_chars(20);
        let diff = diff_values(
            &json!(null),
            &json!({"a": "secret-secret-secret", "b": "x".repeat(40)}),
            &options,
        );
        let d = &diff.differences[0];
        assert!(d.truncated);
        assert_eq!(d.candidate, Some(json!("{\"a\":\"[redacted]\",\"b…")));
        assert!(!format!("{diff:?}").contains("secret"));

        // The placeholder itself obeys the limit.
        let tiny = DiffOptions::new().redact(pat("$")).max_value_chars(3);
        let diff = diff_values(&json!(1), &json!(2), &tiny);
        assert_eq!(diff.differences[0].control, Some(json!("\"[r…")));
        assert!(diff.differences[0].truncated);
    }

    #[test]
    fn redaction_of_deep_values() {
        let options = DiffOptions::new()
            .try_redact("$..secret")
            .unwrap()
            .max_value_chars(usize::MAX);
        // Redacted inside a reported value, however deep (within the limit).
        let a = json!({"x": nested(60, json!({"secret": "deep-secret-1"}))});
        let diff = diff_values(&a, &json!({"x": 1}), &options);
        assert_eq!(diff.len(), 1);
        let text = serde_json::to_string(&diff).unwrap();
        assert!(!text.contains("deep-secret"));
        assert!(text.contains(REDACTED));
        assert!(!diff.depth_cut);
        // Below the limit the value is cut before the secret.
        let a = json!({"x": nested(400, json!({"secret": "deep-secret-1"}))});
        let diff = diff_values(&a, &json!({"x": 1}), &options);
        let text = serde_json::to_string(&diff).unwrap();
        assert!(!text.contains("deep-secret"));
        assert!(text.contains(DEPTH_CUT) && diff.depth_cut);

        // Patterns without `..` stop the search at their own length.
        let fixed = DiffOptions::new().redact(pat("$.n[0].x"));
        let diff = diff_values(&json!({"n": [{"x": 1}]}), &json!(0), &fixed);
        assert_eq!(
            diff.differences[0].control,
            Some(json!({"n": [{"x": REDACTED}]}))
        );
        assert!(DiffOptions::new().try_redact("$.[").is_err());
    }

    #[test]
    fn defaults() {
        let o = DiffOptions::default();
        assert_eq!(o.max_differences, 32);
        assert_eq!(o.max_value_chars, 256);
        assert!(o.ignored.is_empty() && o.unordered.is_empty() && o.redacted.is_empty());
        assert!(o.tolerance().is_none());
        assert!(Diff::default().is_empty());
    }
}
