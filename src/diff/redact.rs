//! What a reported value may show: ignored subtrees removed, redacted subtrees replaced by
//! [`REDACTED`], and containers at the depth limit replaced by [`DEPTH_CUT`].

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::path::SegRef;
use super::walk::{is_container, MAX_DEPTH};
use super::{DiffOptions, DEPTH_CUT};

/// The text that replaces redacted values in a [`Diff`](super::Diff) (see
/// [`DiffOptions::redact`]).
pub const REDACTED: &str = "[redacted]";

/// The text that replaces an ignored array element inside a reported value
/// (see [`DiffOptions::ignore_path`]); ignored object members are dropped.
pub const IGNORED: &str = "[ignored]";

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
pub(super) fn scrub<'v>(
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{kinds, nested, pat};
    use super::super::{diff_values, DiffKind};
    use super::*;
    use serde_json::json;

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
        let options = DiffOptions::new().redact(pat("$.a")).max_value_bytes(20);
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
        let tiny = DiffOptions::new().redact(pat("$")).max_value_bytes(3);
        let diff = diff_values(&json!(1), &json!(2), &tiny);
        assert_eq!(diff.differences[0].control, Some(json!("\"[r…")));
        assert!(diff.differences[0].truncated);
    }

    #[test]
    fn redaction_of_deep_values() {
        let options = DiffOptions::new()
            .try_redact("$..secret")
            .unwrap()
            .max_value_bytes(usize::MAX);
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
}
