//! Structural diff of serde values.
//!
//! [`diff`] serializes two values with `serde_json` and compares them with
//! [`diff_values`], which walks both trees and reports each [`Difference`]
//! with its JSON path (see [`crate::path`]). [`DiffOptions`] bounds the size
//! of the report, ignores subtrees, redacts subtrees, sets a numeric
//! tolerance and selects arrays to compare as multisets.
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
//! - Below 128 levels of nesting the walk stops descending: differing
//!   subtrees there are reported as one Changed at the depth-128 path.
//! - Redacted subtrees ([`DiffOptions::redact`]) are compared like any
//!   other, but their contents never appear in the report: a reported value
//!   at or below a redacted path is replaced by [`REDACTED`], and so is every
//!   redacted subtree nested inside a reported value. Values are redacted
//!   first and truncated ([`DiffOptions::max_value_chars`]) second.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use crate::path::SegRef;
pub use crate::path::{render_path, PathPattern, PathPatternError, PathSegment};

/// Paths deeper than this are not descended into.
const MAX_DEPTH: usize = 128;
/// How deep element hashing (for multiset matching) looks.
const HASH_DEPTH: usize = 32;

/// The text that replaces redacted values in a [`Diff`] (see
/// [`DiffOptions::redact`]).
pub const REDACTED: &str = "[redacted]";

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
    /// Rendered JSON path, e.g. `$.items[3].price`.
    pub path: String,
    /// The same path as segments.
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
}

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
    /// `… and N more differences` if some were omitted. Lines are separated
    /// by `\n` with no trailing newline; an empty diff displays as
    /// `no differences`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// Serializes both values with `serde_json` and compares them with
/// [`diff_values`].
///
/// # Errors
///
/// Returns the error if either value cannot be represented as a
/// [`serde_json::Value`] (e.g. a map with non-string keys).
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
/// assert!(diff(&control, &candidate, &options)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff<T: Serialize + ?Sized>(
    control: &T,
    candidate: &T,
    options: &DiffOptions,
) -> Result<Diff, serde_json::Error> {
    let control = capture_value(control)?;
    let candidate = capture_value(candidate)?;
    Ok(diff_values(&control.value, &candidate.value, options))
}

/// Captures `value` without unbounded recursion (see [`crate::capture`]), with a capped error.
fn capture_value<T: Serialize + ?Sized>(
    value: &T,
) -> Result<crate::capture::Captured, serde_json::Error> {
    crate::capture::capture(value).map_err(<serde_json::Error as serde::ser::Error>::custom)
}

/// Compares two JSON values structurally (see the [module docs](self) for
/// the rules). Never panics; allocates nothing when the values are equal.
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
    let mut walker = Walker {
        options,
        tolerance: options.tolerance(),
        path: PathStack {
            segments: [SegRef::Index(0); MAX_DEPTH],
            len: 0,
        },
        out: Diff::default(),
    };
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

impl<'a> Walker<'a, '_> {
    /// Compares `a` and `b` at the current path. Returns true if no
    /// difference was found. In `Check` mode returns at the first difference.
    fn compare(&mut self, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
        if self.is_ignored() {
            return true;
        }
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) if x == y => true,
            (Value::Number(x), Value::Number(y)) if numbers_equal(x, y, self.tolerance) => true,
            (Value::String(x), Value::String(y)) if x == y => true,
            (Value::Array(x), Value::Array(y)) => self.compare_arrays(a, b, x, y, mode),
            (Value::Object(x), Value::Object(y)) => self.compare_objects(a, b, x, y, mode),
            _ if same_type(a, b) => self.report(DiffKind::Changed, Some(a), Some(b), mode),
            _ => self.report(DiffKind::TypeChanged, Some(a), Some(b), mode),
        }
    }

    /// Compares `a` and `b` at the current path extended by `segment`.
    fn child(&mut self, segment: SegRef<'a>, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
        if !self.path.push(segment) {
            // Unreachable: containers check the depth before descending.
            return deep_equal(a, b, self.tolerance);
        }
        let equal = self.compare(a, b, mode);
        self.path.pop();
        equal
    }

    /// Reports an Added or Removed value at the current path extended by
    /// `segment`, unless that path is ignored.
    fn child_one_sided(
        &mut self,
        segment: SegRef<'a>,
        kind: DiffKind,
        control: Option<&'a Value>,
        candidate: Option<&'a Value>,
        mode: Mode,
    ) -> bool {
        if !self.path.push(segment) {
            return false;
        }
        let equal = self.is_ignored() || self.report(kind, control, candidate, mode);
        self.path.pop();
        equal
    }

    /// Handles containers at the depth limit: `Some(equal)` if the walk must
    /// not descend further.
    fn depth_limited(&mut self, a: &'a Value, b: &'a Value, mode: Mode) -> Option<bool> {
        if self.path.len < MAX_DEPTH {
            return None;
        }
        Some(
            deep_equal(a, b, self.tolerance)
                || self.report(DiffKind::Changed, Some(a), Some(b), mode),
        )
    }

    fn compare_objects(
        &mut self,
        a: &'a Value,
        b: &'a Value,
        x: &'a Map<String, Value>,
        y: &'a Map<String, Value>,
        mode: Mode,
    ) -> bool {
        if let Some(equal) = self.depth_limited(a, b, mode) {
            return equal;
        }
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
        if let Some(equal) = self.depth_limited(a, b, mode) {
            return equal;
        }
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
            return true;
        }
        let (x_rest, y_rest) = (x.get(first..).unwrap_or(&[]), y.get(first..).unwrap_or(&[]));
        if self.is_unordered() {
            return self.compare_unordered(x_rest, y_rest, first, mode);
        }
        if x.len() == y.len() {
            // Here `first < common`: an element differs positionally.
            if mode == Mode::Check {
                return false;
            }
            if self.is_permutation(x_rest, y_rest, first) {
                return self.report(DiffKind::Reordered, Some(a), Some(b), mode);
            }
            for (i, (p, q)) in x_rest.iter().zip(y_rest).enumerate() {
                self.child(SegRef::Index(first + i), p, q, Mode::Record);
            }
            return false;
        }
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
        let Some((matched_x, matched_y)) = self.match_elements(xs, ys, base, early_exit) else {
            return false;
        };
        let mut equal = true;
        for ((k, p), matched) in xs.iter().enumerate().zip(&matched_x) {
            if !matched {
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
    /// pairs first, then by hash bucket or linear search). Returns which
    /// elements were matched, or `None` if `early_exit` and some element of
    /// `xs` found no partner. Element equality is checked at the control
    /// element's path (`base + k`).
    fn match_elements(
        &mut self,
        xs: &'a [Value],
        ys: &'a [Value],
        base: usize,
        early_exit: bool,
    ) -> Option<(Vec<bool>, Vec<bool>)> {
        let mut matched_x = vec![false; xs.len()];
        let mut matched_y = vec![false; ys.len()];
        for (k, (p, q)) in xs.iter().zip(ys).enumerate() {
            if self.child(SegRef::Index(base + k), p, q, Mode::Check) {
                matched_x[k] = true;
                matched_y[k] = true;
            }
        }
        // Hashing is consistent with equality only without tolerance and
        // without ignored paths.
        let mut buckets: Option<HashMap<u64, Vec<usize>>> =
            (self.tolerance.is_none() && self.options.ignored.is_empty()).then(|| {
                let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
                for (j, q) in ys.iter().enumerate() {
                    if !matched_y[j] {
                        buckets.entry(hash_value(q)).or_default().push(j);
                    }
                }
                buckets
            });
        for (k, p) in xs.iter().enumerate() {
            if matched_x[k] {
                continue;
            }
            let seg = SegRef::Index(base + k);
            let partner = match buckets.as_mut() {
                Some(buckets) => buckets.get_mut(&hash_value(p)).and_then(|candidates| {
                    let pos = candidates.iter().position(|&j| {
                        ys.get(j)
                            .is_some_and(|q| self.child(seg, p, q, Mode::Check))
                    })?;
                    Some(candidates.remove(pos))
                }),
                None => (0..ys.len()).find(|&j| {
                    !matched_y[j]
                        && ys
                            .get(j)
                            .is_some_and(|q| self.child(seg, p, q, Mode::Check))
                }),
            };
            match partner {
                Some(j) => {
                    matched_x[k] = true;
                    matched_y[j] = true;
                }
                None if early_exit => return None,
                None => {}
            }
        }
        Some((matched_x, matched_y))
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
        let segments: Vec<PathSegment> = self
            .path
            .as_slice()
            .iter()
            .map(|s| s.to_segment())
            .collect();
        let limit = self.options.max_value_chars;
        let mut truncated = false;
        let redact_here = self.is_redacted();
        let mut publishable = |value: &Value| {
            let value = if redact_here {
                Cow::Owned(Value::String(REDACTED.to_owned()))
            } else {
                redact_nested(value, self.path.as_slice(), &self.options.redacted)
            };
            limit_value(value, limit, &mut truncated)
        };
        let control = control.map(&mut publishable);
        let candidate = candidate.map(&mut publishable);
        self.out.differences.push(Difference {
            path: render_path(&segments),
            segments,
            kind,
            control,
            candidate,
            truncated,
        });
        false
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
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

/// Iterative equality (no ignores, arrays ordered), used below the depth
/// limit so that deep values cannot overflow the stack.
fn deep_equal(a: &Value, b: &Value, tolerance: Option<f64>) -> bool {
    let mut pending = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        match (a, b) {
            (Value::Null, Value::Null) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::Number(x), Value::Number(y)) if numbers_equal(x, y, tolerance) => {}
            (Value::String(x), Value::String(y)) if x == y => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                pending.extend(x.iter().zip(y));
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (key, p) in x {
                    match y.get(key) {
                        Some(q) => pending.push((p, q)),
                        None => return false,
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

/// A hash consistent with exact element equality, including multiset
/// comparison of nested arrays (array and object contents are combined
/// order-independently). Only looks `HASH_DEPTH` levels deep.
fn hash_value(value: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    feed_hash(value, &mut hasher, HASH_DEPTH);
    hasher.finish()
}

fn feed_hash(value: &Value, hasher: &mut DefaultHasher, depth: usize) {
    match value {
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
            hasher.write_u8(3);
            s.hash(hasher);
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            if let Some(depth) = depth.checked_sub(1) {
                let mut sum = 0u64;
                for item in items {
                    let mut sub = DefaultHasher::new();
                    feed_hash(item, &mut sub, depth);
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
                    feed_hash(item, &mut sub, depth);
                    sum = sum.wrapping_add(sub.finish());
                }
                hasher.write_u64(sum);
            }
        }
    }
}

/// A step of the iterative walk in [`redact_nested`].
enum RedactStep<'v> {
    /// Visit `value` at the current path extended by the segment.
    Enter(SegRef<'v>, &'v Value),
    /// Leave the most recently entered container.
    Exit,
}

/// `value` (found at path `at`) with every nested subtree whose path is
/// matched by one of `patterns` replaced by [`REDACTED`]; borrowed when
/// nothing inside it is redacted. The caller has checked that no prefix of
/// `at` (including `at` itself) is matched. Iterative, so deep values cannot
/// overflow the stack.
fn redact_nested<'v>(
    value: &'v Value,
    at: &[SegRef<'_>],
    patterns: &[PathPattern],
) -> Cow<'v, Value> {
    if patterns.is_empty() || !matches!(value, Value::Array(_) | Value::Object(_)) {
        return Cow::Borrowed(value);
    }
    // Without `..`, no pattern matches paths longer than its own length.
    let longest = patterns
        .iter()
        .try_fold(0usize, |longest, p| p.fixed_len().map(|n| longest.max(n)));
    let may_match_below = |len: usize| longest.is_none_or(|n| len < n);
    if !may_match_below(at.len()) {
        return Cow::Borrowed(value);
    }
    let mut path: Vec<SegRef<'_>> = at.to_vec();
    let base = path.len();
    let mut hits: Vec<Vec<PathSegment>> = Vec::new();
    let mut stack: Vec<RedactStep<'v>> = Vec::new();
    push_children(value, &mut stack);
    while let Some(step) = stack.pop() {
        let (segment, node) = match step {
            RedactStep::Exit => {
                path.pop();
                continue;
            }
            RedactStep::Enter(segment, node) => (segment, node),
        };
        path.push(segment);
        if patterns.iter().any(|p| p.matches_segments(&path, false)) {
            let relative = path.get(base..).unwrap_or(&[]);
            hits.push(relative.iter().map(|s| s.to_segment()).collect());
            path.pop();
        } else if matches!(node, Value::Array(_) | Value::Object(_)) && may_match_below(path.len())
        {
            stack.push(RedactStep::Exit);
            push_children(node, &mut stack);
        } else {
            path.pop();
        }
    }
    if hits.is_empty() {
        return Cow::Borrowed(value);
    }
    let mut out = value.clone();
    for hit in hits {
        if let Some(slot) = value_at_mut(&mut out, &hit) {
            *slot = Value::String(REDACTED.to_owned());
        }
    }
    Cow::Owned(out)
}

/// Pushes an `Enter` step for each child of `value`, last child first (so
/// that children are visited in order).
fn push_children<'v>(value: &'v Value, stack: &mut Vec<RedactStep<'v>>) {
    match value {
        Value::Array(items) => stack.extend(
            items
                .iter()
                .enumerate()
                .rev()
                .map(|(i, item)| RedactStep::Enter(SegRef::Index(i), item)),
        ),
        Value::Object(members) => {
            let start = stack.len();
            stack.extend(
                members
                    .iter()
                    .map(|(key, item)| RedactStep::Enter(SegRef::Key(key), item)),
            );
            stack.get_mut(start..).unwrap_or(&mut []).reverse();
        }
        _ => {}
    }
}

/// The node at `path` below `value`, if there is one.
fn value_at_mut<'v>(mut value: &'v mut Value, path: &[PathSegment]) -> Option<&'v mut Value> {
    for segment in path {
        value = match segment {
            PathSegment::Key(key) => value.as_object_mut()?.get_mut(key)?,
            PathSegment::Index(i) => value.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(value)
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
        let a = nested(400, json!(1));
        let b = nested(400, json!(2));
        let diff = d(a.clone(), b);
        assert_eq!(diff.len(), 1);
        let x = &diff.differences[0];
        assert_eq!(x.kind, DiffKind::Changed);
        assert_eq!(x.segments.len(), MAX_DEPTH);
        assert!(x.truncated);
        assert!(d(a.clone(), a).is_empty());
        // Reported above the limit when the difference is shallow.
        let shallow = d(nested(400, json!(1)), json!({"n": 1}));
        assert_eq!(kinds(&shallow), [("$.n", DiffKind::TypeChanged)]);
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
        // Reported at the depth limit; the secret lies far below it.
        let options = DiffOptions::new()
            .try_redact("$..secret")
            .unwrap()
            .max_value_chars(usize::MAX);
        let a = nested(400, json!({"secret": "deep-secret-1"}));
        let b = nested(400, json!({"secret": "deep-secret-2"}));
        let diff = diff_values(&a, &b, &options);
        assert_eq!(diff.len(), 1);
        let text = serde_json::to_string(&diff).unwrap();
        assert!(!text.contains("deep-secret"));
        assert!(text.contains(REDACTED));

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
