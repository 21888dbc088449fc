//! The structural walk over two JSON trees, shared by [`diff_values`](super::diff_values)
//! (which records every difference) and [`same_values`](super::same_values) (which stops at
//! the first).

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::hash::hash_value;
use super::path::{capped_path, SegRef};
use super::redact::scrub;
use super::truncate::limit_value;
use super::{Diff, DiffKind, DiffOptions, Difference, DEPTH_CUT, REDACTED};
use crate::capture::is_non_finite_text;

/// How many levels of arrays and objects a diff compares: an array or object
/// at this depth (a path of 128 segments) is not looked into, and neither is
/// anything below it (see the [module docs](crate::diff#depth-limit)).
pub const MAX_DEPTH: usize = crate::capture::MAX_CAPTURE_DEPTH;

/// Whether the walk records differences or only checks for equality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
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

pub(super) struct Walker<'a, 'o> {
    options: &'o DiffOptions,
    tolerance: Option<f64>,
    path: PathStack<'a>,
    pub(super) out: Diff,
}

impl<'a, 'o> Walker<'a, 'o> {
    pub(super) fn new(options: &'o DiffOptions) -> Self {
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
    pub(super) fn compare(&mut self, a: &'a Value, b: &'a Value, mode: Mode) -> bool {
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
        let limit = options.max_value_bytes;
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

pub(super) fn is_container(value: &Value) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{d, kinds, nested, pat};
    use super::super::types::DEPTH_CUT_NOTE;
    use super::super::{diff_values, same_values, PathSegment};
    use super::*;
    use serde_json::json;

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
        let unlimited = DiffOptions::new().max_value_bytes(usize::MAX);
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
}
