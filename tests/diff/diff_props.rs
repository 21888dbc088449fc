//! Property tests for the structural diff and JSON path patterns.
#![cfg(feature = "serde")]

use darklaunch::diff::{
    diff, diff_values, render_path, same, same_values, Diff, DiffKind, DiffOptions, Difference,
    PathPattern, PathSegment, IGNORED, INFINITY, MAX_KEY_BYTES, MAX_PATH_BYTES, NAN, NEG_INFINITY,
    REDACTED,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Number, Value};
use std::collections::HashSet;

// ---------------------------------------------------------------------------
// Strategies

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..4).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop_oneof![
            Just(0.5),
            Just(-0.0),
            Just(1.0),
            Just(2.5e300),
            Just(-1e-300)
        ]
        .prop_map(|f| json!(f)),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{0,3}",
        "\\PC{0,8}",
        any::<String>(),
        Just("ü🎉\"\\\n".to_owned())
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-d]", 1 => "[a-z_ 0-9]{0,4}", 1 => any::<String>()]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(Value),
    Insert(String, Value),
    RemoveChild(Index),
    Reverse,
    Rotate,
    TweakNumber,
}

fn arb_mutation() -> impl Strategy<Value = (Index, Mutation)> {
    let mutation = prop_oneof![
        arb_json().prop_map(Mutation::Replace),
        (arb_key(), arb_json()).prop_map(|(k, v)| Mutation::Insert(k, v)),
        any::<Index>().prop_map(Mutation::RemoveChild),
        Just(Mutation::Reverse),
        Just(Mutation::Rotate),
        Just(Mutation::TweakNumber),
    ];
    (any::<Index>(), mutation)
}

/// A control value and a candidate derived from it by 0–4 mutations.
fn arb_pair() -> impl Strategy<Value = (Value, Value)> {
    (arb_json(), prop::collection::vec(arb_mutation(), 0..5)).prop_map(|(control, mutations)| {
        let mut candidate = control.clone();
        for (at, mutation) in mutations {
            mutate(&mut candidate, at, mutation);
        }
        (control, candidate)
    })
}

fn all_paths(value: &Value) -> Vec<Vec<PathSegment>> {
    fn walk(value: &Value, prefix: &mut Vec<PathSegment>, out: &mut Vec<Vec<PathSegment>>) {
        out.push(prefix.clone());
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    prefix.push(PathSegment::Index(i));
                    walk(item, prefix, out);
                    prefix.pop();
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    prefix.push(PathSegment::Key(key.clone()));
                    walk(item, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn get<'v>(mut value: &'v Value, path: &[PathSegment]) -> Option<&'v Value> {
    for segment in path {
        value = match segment {
            PathSegment::Key(k) => value.as_object()?.get(k)?,
            PathSegment::Index(i) => value.as_array()?.get(*i)?,
        };
    }
    Some(value)
}

fn get_mut<'v>(mut value: &'v mut Value, path: &[PathSegment]) -> Option<&'v mut Value> {
    for segment in path {
        value = match segment {
            PathSegment::Key(k) => value.as_object_mut()?.get_mut(k)?,
            PathSegment::Index(i) => value.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(value)
}

fn mutate(root: &mut Value, at: Index, mutation: Mutation) {
    let paths = all_paths(root);
    let path = at.get(&paths).clone();
    let Some(node) = get_mut(root, &path) else {
        return;
    };
    match (mutation, node) {
        (Mutation::Replace(v), node) => *node = v,
        (Mutation::Insert(k, v), Value::Object(m)) => {
            m.insert(k, v);
        }
        (Mutation::Insert(k, v), Value::Array(items)) => {
            let i = k.len().min(items.len());
            items.insert(i, v);
        }
        (Mutation::Insert(k, v), node) => *node = json!({ k: v }),
        (Mutation::RemoveChild(i), Value::Object(m)) if !m.is_empty() => {
            let key = i.get(&m.keys().cloned().collect::<Vec<_>>()).clone();
            m.remove(&key);
        }
        (Mutation::RemoveChild(i), Value::Array(items)) if !items.is_empty() => {
            items.remove(i.index(items.len()));
        }
        (Mutation::Reverse, Value::Array(items)) => items.reverse(),
        (Mutation::Rotate, Value::Array(items)) if !items.is_empty() => items.rotate_left(1),
        (Mutation::TweakNumber, Value::Number(n)) => {
            *n = match n.as_i64() {
                Some(i) => Number::from_f64(i as f64 + 0.5).unwrap_or_else(|| 0.into()),
                None => (n.as_f64().unwrap_or(0.0) as i64).into(),
            };
        }
        (Mutation::TweakNumber, node) => *node = json!(1),
        _ => {}
    }
}

/// Reference equality: integers exactly, otherwise numbers as f64.
fn json_eq(a: &Value, b: &Value) -> bool {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if !x.is_f64() && !y.is_f64() {
                int(x) == int(y)
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

/// Same JSON type, counting the strings of non-finite floats as numbers.
fn same_json_type(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::String(s) => [NAN, INFINITY, NEG_INFINITY].contains(&s.as_str()),
        v => v.is_number(),
    };
    if number(a) || number(b) {
        return number(a) && number(b);
    }
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// `value`, found at `at`, with every subtree at a path matched by one of
/// `patterns` removed: object members dropped, array elements replaced by
/// [`IGNORED`].
fn strip(value: &Value, at: &mut Vec<PathSegment>, patterns: &[PathPattern]) -> Value {
    let matched = |path: &[PathSegment]| patterns.iter().any(|p| p.matches(path));
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    at.push(PathSegment::Index(i));
                    let kept = if matched(at) {
                        json!(IGNORED)
                    } else {
                        strip(item, at, patterns)
                    };
                    at.pop();
                    kept
                })
                .collect(),
        ),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter_map(|(key, item)| {
                    at.push(PathSegment::Key(key.clone()));
                    let kept = (!matched(at)).then(|| strip(item, at, patterns));
                    at.pop();
                    kept.map(|v| (key.clone(), v))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Random options for the agreement of `same` with `diff`.
fn arb_options(control: &Value, candidate: &Value) -> impl Strategy<Value = DiffOptions> {
    let mut paths = all_paths(control);
    paths.extend(all_paths(candidate));
    let pattern = (
        any::<Index>(),
        prop::collection::vec(prop::bool::weighted(0.3), 8),
        prop::option::weighted(0.3, 0usize..4),
    )
        .prop_map(move |(pick, wild, descent_from)| {
            let path: &Vec<PathSegment> = pick.get(&paths);
            generalize(path, &wild, descent_from)
        });
    (
        prop::collection::vec(pattern.clone(), 0..3),
        prop::collection::vec(pattern, 0..2),
        prop::option::of(prop_oneof![Just(0.5), Just(1.0), Just(f64::INFINITY)]),
        prop_oneof![Just(usize::MAX), 0usize..3],
        any::<bool>(),
    )
        .prop_map(
            |(ignored, unordered, tolerance, max_differences, all_unordered)| {
                let mut options = DiffOptions::new().max_differences(max_differences);
                for p in ignored {
                    options = options.ignore_path(p.parse().unwrap());
                }
                for p in unordered {
                    options = options.unordered_arrays(p.parse().unwrap());
                }
                if all_unordered {
                    options = options
                        .unordered_arrays("$".parse().unwrap())
                        .unordered_arrays("$..*".parse().unwrap());
                }
                if let Some(t) = tolerance {
                    options = options.float_tolerance(t);
                }
                options
            },
        )
}

/// A key, sometimes far longer than [`MAX_KEY_BYTES`], with multi-byte and
/// control characters, sometimes sharing a long prefix with its siblings.
fn arb_long_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,3}",
        "[a-z_]{100,300}",
        "[\\x00-\\x1féü🎉a-z\"\\\\]{60,200}",
        ("[a-c]{0,4}").prop_map(|tail| format!("{}{tail}", "p".repeat(200))),
    ]
}

/// Values with long keys, nested deep enough for paths over [`MAX_PATH_BYTES`].
fn arb_long_keyed() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![any::<u8>().prop_map(Value::from), Just(Value::Null)];
    leaf.prop_recursive(12, 64, 3, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            3 => prop::collection::btree_map(arb_long_key(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A float, finite or not.
fn arb_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN),
        -3.0..3.0f64,
        any::<f64>(),
    ]
}

fn unbounded() -> DiffOptions {
    DiffOptions::new()
        .max_differences(usize::MAX)
        .max_value_bytes(usize::MAX)
}

/// Applies the differences to `control`: sets first, then removals from the
/// highest path down, then additions from the lowest path up.
fn apply(control: &Value, diff: &Diff) -> Result<Value, String> {
    let mut out = control.clone();
    let mut removals: Vec<&Difference> = Vec::new();
    let mut additions: Vec<&Difference> = Vec::new();
    for d in &diff.differences {
        match d.kind {
            DiffKind::Changed | DiffKind::TypeChanged | DiffKind::Reordered => {
                let value = d.candidate.clone().ok_or(format!("{d}: no candidate"))?;
                let slot = get_mut(&mut out, &d.segments).ok_or(format!("{d}: no such path"))?;
                *slot = value;
            }
            DiffKind::Removed => removals.push(d),
            DiffKind::Added => additions.push(d),
        }
    }
    removals.sort_by(|a, b| b.segments.cmp(&a.segments));
    additions.sort_by(|a, b| a.segments.cmp(&b.segments));
    for d in removals {
        let (last, parent) = d.segments.split_last().ok_or(format!("{d}: at root"))?;
        let parent = get_mut(&mut out, parent).ok_or(format!("{d}: no parent"))?;
        match (last, parent) {
            (PathSegment::Key(k), Value::Object(m)) if m.contains_key(k) => {
                m.remove(k);
            }
            (PathSegment::Index(i), Value::Array(items)) if *i < items.len() => {
                items.remove(*i);
            }
            _ => return Err(format!("{d}: cannot remove")),
        }
    }
    for d in additions {
        let value = d.candidate.clone().ok_or(format!("{d}: no candidate"))?;
        let (last, parent) = d.segments.split_last().ok_or(format!("{d}: at root"))?;
        let parent = get_mut(&mut out, parent).ok_or(format!("{d}: no parent"))?;
        match (last, parent) {
            (PathSegment::Key(k), Value::Object(m)) if !m.contains_key(k) => {
                m.insert(k.clone(), value);
            }
            (PathSegment::Index(i), Value::Array(items)) if *i <= items.len() => {
                items.insert(*i, value);
            }
            _ => return Err(format!("{d}: cannot add")),
        }
    }
    Ok(out)
}

fn json_bytes(value: &Value) -> usize {
    serde_json::to_string(value).unwrap().len()
}

/// Builds a pattern covering `path`, generalizing some segments to
/// wildcards and optionally replacing a leading part with `..`.
fn generalize(path: &[PathSegment], wild: &[bool], descent_from: Option<usize>) -> String {
    let mut out = String::from("$");
    let start = match descent_from {
        Some(n) if n < path.len() => {
            out.push_str("..");
            // After `..`, a dot key is written without its dot.
            n
        }
        _ => 0,
    };
    for (i, segment) in path.iter().enumerate().skip(start) {
        let wildcard = wild.get(i).copied().unwrap_or(false);
        let text = match (segment, wildcard) {
            (PathSegment::Key(_), true) => ".*".to_owned(),
            (PathSegment::Index(_), true) => "[*]".to_owned(),
            (segment, false) => segment.to_string(),
        };
        if i == start && out.ends_with("..") {
            out.push_str(text.strip_prefix('.').unwrap_or(&text));
        } else {
            out.push_str(&text);
        }
    }
    out
}

/// Pattern tokens for the reference matcher.
#[derive(Clone, Debug)]
enum Tok {
    Key(&'static str),
    Index(usize),
    Any,
    AnyIndex,
    Descent,
}

fn arb_toks() -> impl Strategy<Value = Vec<Tok>> {
    let tok = prop_oneof![
        prop_oneof![Just("a"), Just("b")].prop_map(Tok::Key),
        (0usize..2).prop_map(Tok::Index),
        Just(Tok::Any),
        Just(Tok::AnyIndex),
        Just(Tok::Descent),
    ];
    prop::collection::vec(tok, 0..6).prop_map(|toks| {
        // `..` must be followed by something other than `..`.
        let mut out: Vec<Tok> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            let next_ok = matches!(toks.get(i + 1), Some(n) if !matches!(n, Tok::Descent));
            if !matches!(t, Tok::Descent) || next_ok {
                out.push(t.clone());
            }
        }
        out
    })
}

fn render_toks(toks: &[Tok]) -> String {
    let mut out = String::from("$");
    let mut after_descent = false;
    for t in toks {
        let dot = if after_descent { "" } else { "." };
        match t {
            Tok::Key(k) => out.push_str(&format!("{dot}{k}")),
            Tok::Index(i) => out.push_str(&format!("[{i}]")),
            Tok::Any => out.push_str(&format!("{dot}*")),
            Tok::AnyIndex => out.push_str("[*]"),
            Tok::Descent => out.push_str(".."),
        }
        after_descent = matches!(t, Tok::Descent);
    }
    out
}

/// Naive recursive matcher used as the reference.
fn reference_match(toks: &[Tok], path: &[PathSegment]) -> bool {
    match toks.split_first() {
        None => path.is_empty(),
        Some((Tok::Descent, rest)) => (0..=path.len()).any(|k| reference_match(rest, &path[k..])),
        Some((tok, rest)) => match path.split_first() {
            None => false,
            Some((segment, tail)) => {
                let ok = match (tok, segment) {
                    (Tok::Key(k), PathSegment::Key(s)) => k == s,
                    (Tok::Index(i), PathSegment::Index(j)) => i == j,
                    (Tok::Any, _) => true,
                    (Tok::AnyIndex, PathSegment::Index(_)) => true,
                    _ => false,
                };
                ok && reference_match(rest, tail)
            }
        },
    }
}

fn arb_small_path() -> impl Strategy<Value = Vec<PathSegment>> {
    prop::collection::vec(
        prop_oneof![
            prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(PathSegment::from),
            (0usize..3).prop_map(PathSegment::Index),
        ],
        0..7,
    )
}

fn deep_shuffle(value: &mut Value, state: &mut u64) {
    let mut next = || {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 33) as usize
    };
    if let Value::Array(items) = value {
        for i in (1..items.len()).rev() {
            items.swap(i, next() % (i + 1));
        }
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| deep_shuffle(v, state)),
        Value::Object(members) => members.values_mut().for_each(|v| deep_shuffle(v, state)),
        _ => {}
    }
}

/// Replaces every string leaf not in `keep` with a fresh marker
/// `zq<n>qz`, recording it in `keep`.
fn mark_strings(value: &mut Value, keep: &mut HashSet<String>) {
    match value {
        Value::String(s) if !keep.contains(s.as_str()) => {
            *s = format!("zq{}qz", keep.len());
            keep.insert(s.clone());
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mark_strings(v, keep)),
        Value::Object(members) => members.values_mut().for_each(|v| mark_strings(v, keep)),
        _ => {}
    }
}

/// Like [`arb_pair`], but every string leaf is a unique marker (equal
/// leaves of control and candidate share theirs).
fn arb_marked_pair() -> impl Strategy<Value = (Value, Value)> {
    (arb_json(), prop::collection::vec(arb_mutation(), 0..5)).prop_map(
        |(mut control, mutations)| {
            let mut markers = HashSet::new();
            mark_strings(&mut control, &mut markers);
            let mut candidate = control.clone();
            for (at, mutation) in mutations {
                mutate(&mut candidate, at, mutation);
            }
            mark_strings(&mut candidate, &mut markers);
            (control, candidate)
        },
    )
}

/// Sorts the string leaves of `value` into those inside a subtree matched by
/// one of `patterns` and the others; collects every key into `keys`.
fn partition_strings(
    value: &Value,
    patterns: &[PathPattern],
    redacted: &mut HashSet<String>,
    plain: &mut HashSet<String>,
    keys: &mut Vec<String>,
) {
    for path in all_paths(value) {
        if let Some(PathSegment::Key(k)) = path.last() {
            keys.push(k.clone());
        }
        if let Some(Value::String(s)) = get(value, &path) {
            if patterns.iter().any(|p| p.matches_prefix_of(&path)) {
                redacted.insert(s.clone());
            } else {
                plain.insert(s.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// 1. A value diffed with itself is empty, whatever the options.
    #[test]
    fn diff_with_itself_is_empty(value in arb_json()) {
        let copy = value.clone();
        for options in [
            DiffOptions::new(),
            unbounded(),
            DiffOptions::new().max_differences(0).max_value_bytes(0),
            DiffOptions::new().float_tolerance(0.5),
            DiffOptions::new().unordered_arrays("$".parse().unwrap()).unordered_arrays("$..*".parse().unwrap()),
        ] {
            let diff = diff_values(&value, &copy, &options);
            prop_assert!(diff.is_empty(), "{diff}");
            prop_assert_eq!(diff.len(), 0);
        }
    }

    /// 2. Applying the reported differences to the control yields the
    /// candidate, and every difference is accurate.
    #[test]
    fn differences_explain_the_change((control, candidate) in arb_pair()) {
        let diff = diff_values(&control, &candidate, &unbounded());
        prop_assert_eq!(diff.omitted, 0);
        prop_assert_eq!(diff.ignored, 0);
        prop_assert!(!diff.depth_cut);
        // Keys this short are never cut, so every path is exact.
        for d in &diff.differences {
            prop_assert!(!d.truncated);
            prop_assert!(!d.path_cut);
            prop_assert_eq!(&d.path, &render_path(&d.segments));
            let in_control = get(&control, &d.segments);
            let in_candidate = get(&candidate, &d.segments);
            match d.kind {
                DiffKind::Added => {
                    prop_assert!(in_control.is_none() && d.control.is_none(), "{}", d);
                    prop_assert_eq!(in_candidate, d.candidate.as_ref());
                }
                DiffKind::Removed => {
                    prop_assert!(in_candidate.is_none() && d.candidate.is_none(), "{}", d);
                    prop_assert_eq!(in_control, d.control.as_ref());
                }
                kind => {
                    prop_assert_eq!(in_control, d.control.as_ref());
                    prop_assert_eq!(in_candidate, d.candidate.as_ref());
                    let (c, k) = (in_control.unwrap(), in_candidate.unwrap());
                    prop_assert!(!json_eq(c, k), "{}", d);
                    match kind {
                        DiffKind::TypeChanged => prop_assert!(!same_json_type(c, k)),
                        DiffKind::Changed => prop_assert!(same_json_type(c, k)),
                        _ => prop_assert!(c.is_array() && k.is_array()),
                    }
                }
            }
        }
        let applied = apply(&control, &diff).map_err(TestCaseError::fail)?;
        prop_assert!(json_eq(&applied, &candidate), "applied {} != candidate {}\n{}", applied, candidate, diff);

        // The reverse diff finds the same paths with Added and Removed swapped.
        let reverse = diff_values(&candidate, &control, &unbounded());
        prop_assert_eq!(reverse.len(), diff.len());
        for (d, r) in diff.differences.iter().zip(&reverse.differences) {
            prop_assert_eq!(&d.segments, &r.segments);
            let expected = match d.kind {
                DiffKind::Added => DiffKind::Removed,
                DiffKind::Removed => DiffKind::Added,
                kind => kind,
            };
            prop_assert_eq!(r.kind, expected);
        }
    }

    /// 3. Limits bound the report without changing what is found.
    #[test]
    fn bounds_hold(
        (control, candidate) in arb_pair(),
        max_differences in 0usize..8,
        max_bytes in 0usize..40,
    ) {
        let full = diff_values(&control, &candidate, &unbounded());
        let options = DiffOptions::new()
            .max_differences(max_differences)
            .max_value_bytes(max_bytes);
        let diff = diff_values(&control, &candidate, &options);
        prop_assert!(diff.differences.len() <= max_differences);
        prop_assert_eq!(diff.len(), diff.differences.len() + diff.omitted);
        prop_assert_eq!(diff.len(), full.len());
        prop_assert_eq!(diff.is_empty(), full.is_empty());
        let lines = diff.to_string().lines().count();
        let expected_lines = diff.differences.len().max(1) + usize::from(diff.omitted > 0 && !diff.differences.is_empty());
        prop_assert_eq!(lines, expected_lines);
        for (d, f) in diff.differences.iter().zip(&full.differences) {
            prop_assert_eq!(&d.segments, &f.segments);
            prop_assert_eq!(d.kind, f.kind);
            let mut any_truncated = false;
            for (kept, original) in [(&d.control, &f.control), (&d.candidate, &f.candidate)] {
                prop_assert_eq!(kept.is_some(), original.is_some());
                let (Some(kept), Some(original)) = (kept, original) else { continue };
                let text = serde_json::to_string(original).unwrap();
                if text.len() <= max_bytes {
                    prop_assert_eq!(kept, original);
                    prop_assert!(json_bytes(kept) <= max_bytes);
                } else {
                    any_truncated = true;
                    // The longest prefix within the cap that does not split a character.
                    let cut = (0..=max_bytes).rev().find(|&n| text.is_char_boundary(n)).unwrap_or(0);
                    let expected = format!("{}…", &text[..cut]);
                    prop_assert_eq!(kept, &Value::String(expected));
                    // The kept text is bounded: the limit plus the ellipsis.
                    prop_assert!(kept.as_str().unwrap().len() <= max_bytes + '…'.len_utf8());
                }
            }
            prop_assert_eq!(d.truncated, any_truncated);
        }

        let default_diff = diff_values(&control, &candidate, &DiffOptions::new());
        prop_assert_eq!(default_diff.is_empty(), json_eq(&control, &candidate));
    }

    /// 4. Ignored paths never appear in the differences.
    #[test]
    fn ignored_paths_never_appear(
        (control, candidate) in arb_pair(),
        pick in any::<Index>(),
        from_candidate in any::<bool>(),
        wild in prop::collection::vec(prop::bool::weighted(0.3), 8),
        descent_from in prop::option::weighted(0.3, 0usize..4),
    ) {
        let source = if from_candidate { &candidate } else { &control };
        let paths = all_paths(source);
        let path = pick.get(&paths);
        let text = generalize(path, &wild, descent_from);
        let pattern: PathPattern = text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(pattern.matches(path), "{} should match {}", text, render_path(path));

        let options = unbounded().ignore_path(pattern.clone());
        let diff = diff_values(&control, &candidate, &options);
        let patterns = [pattern.clone()];
        for d in &diff.differences {
            prop_assert!(!pattern.matches_prefix_of(&d.segments), "{} reported despite ignore {}", d, text);
            // Nor inside the values reported: an ignored array element is
            // the marker, an ignored member is gone.
            for value in [&d.control, &d.candidate].into_iter().flatten() {
                for inner in all_paths(value) {
                    let mut path = d.segments.clone();
                    path.extend(inner.iter().cloned());
                    if pattern.matches(&path) {
                        prop_assert!(matches!(path.last(), Some(PathSegment::Index(_))), "{} inside {}", render_path(&path), d);
                        prop_assert_eq!(get(value, &inner), Some(&json!(IGNORED)), "{} inside {}", render_path(&path), d);
                    }
                }
            }
            // A reported pair of values still differs once ignored subtrees are gone.
            if let (Some(c), Some(k)) = (&d.control, &d.candidate) {
                prop_assert!(!json_eq(c, k), "{} differs only in ignored subtrees", d);
            }
        }
        // Differences outside any array are unaffected by the ignore, apart
        // from their values losing ignored subtrees.
        let full = diff_values(&control, &candidate, &unbounded());
        for f in &full.differences {
            let has_index = f.segments.iter().any(|s| matches!(s, PathSegment::Index(_)));
            if !has_index && f.kind != DiffKind::Reordered && !pattern.matches_prefix_of(&f.segments) {
                let mut expected = f.clone();
                for value in [&mut expected.control, &mut expected.candidate].into_iter().flatten() {
                    *value = strip(value, &mut f.segments.clone(), &patterns);
                }
                prop_assert!(diff.differences.contains(&expected), "{} missing with ignore {}", f, text);
            }
        }
        // Ignored differences are counted, and an empty diff tells whether
        // the values differ only in ignored subtrees.
        prop_assert_eq!(diff.len(), diff.differences.len());
        if diff.is_empty() {
            prop_assert_eq!(diff.ignored > 0, !full.is_empty(), "ignored {} with full diff {}", diff.ignored, full);
        }
        if full.is_empty() {
            prop_assert_eq!(diff.ignored, 0);
        }
        prop_assert_eq!(same_values(&control, &candidate, &options), diff.is_empty());
    }

    /// 4c. `same` agrees with an empty diff, whatever the options.
    #[test]
    fn same_agrees_with_diff(
        (control, candidate, options) in arb_pair().prop_flat_map(|(a, b)| {
            let options = arb_options(&a, &b);
            (Just(a), Just(b), options)
        }),
    ) {
        let d = diff_values(&control, &candidate, &options);
        prop_assert_eq!(same_values(&control, &candidate, &options), d.is_empty(), "{}", d);
        prop_assert_eq!(same(&control, &candidate, &options), d.is_empty(), "{}", d);
        let typed = diff(&control, &candidate, &options).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(typed.is_empty(), d.is_empty());
        // An equal pair is always the same.
        prop_assert!(same_values(&control, &control, &options));
    }

    /// 4d. Reported paths never exceed the caps, and are exact when not cut.
    #[test]
    fn paths_are_capped(
        (control, candidate) in (arb_long_keyed(), prop::collection::vec(arb_mutation(), 0..4))
            .prop_map(|(control, mutations)| {
                let mut candidate = control.clone();
                for (at, mutation) in mutations {
                    mutate(&mut candidate, at, mutation);
                }
                (control, candidate)
            }),
    ) {
        let full = diff_values(&control, &candidate, &unbounded());
        for d in &full.differences {
            prop_assert!(d.path.len() <= MAX_PATH_BYTES, "{} bytes", d.path.len());
            for segment in &d.segments {
                if let PathSegment::Key(key) = segment {
                    prop_assert!(key.len() <= MAX_KEY_BYTES, "{} bytes", key.len());
                }
            }
            let rendered = render_path(&d.segments);
            if d.path_cut {
                prop_assert!(d.path.contains('…'));
                let marked = format!("{}…", rendered);
                prop_assert!(d.path == rendered || d.path == marked);
            } else {
                prop_assert_eq!(&d.path, &rendered);
                let at = |v: &Value| get(v, &d.segments).cloned();
                match d.kind {
                    DiffKind::Added => prop_assert_eq!(at(&candidate), d.candidate.clone()),
                    DiffKind::Removed => prop_assert_eq!(at(&control), d.control.clone()),
                    _ => {
                        prop_assert_eq!(at(&control), d.control.clone());
                        prop_assert_eq!(at(&candidate), d.candidate.clone());
                    }
                }
            }
            // The whole line stays bounded by the caps.
            prop_assert!(d.to_string().len() <= MAX_PATH_BYTES + 64 + 2 * 4 * 300);
        }
        // Cutting paths merges nothing: as many differences as paths found
        // by the reverse diff.
        let reverse = diff_values(&candidate, &control, &unbounded());
        prop_assert_eq!(reverse.len(), full.len());
        let json = serde_json::to_string(&full).unwrap();
        prop_assert!(json.len() <= full.differences.len() * (MAX_PATH_BYTES + 12 * MAX_PATH_BYTES + 4096) + 64);
    }

    /// 4e. Non-finite floats never equal finite ones, `inf != -inf`, NaN
    /// equals NaN; tolerance never applies to them.
    #[test]
    fn non_finite_floats(a in arb_float(), b in arb_float(), tolerance in prop_oneof![Just(None), Just(Some(f64::INFINITY)), Just(Some(1.0))]) {
        let mut options = DiffOptions::new();
        if let Some(t) = tolerance {
            options = options.float_tolerance(t);
        }
        let d = diff(&a, &b, &options).unwrap();
        let within = tolerance.is_some_and(|t| (a - b).abs() <= t);
        let expected_equal = if a.is_finite() && b.is_finite() {
            a == b || within
        } else {
            (a.is_nan() && b.is_nan()) || (!a.is_nan() && a == b)
        };
        prop_assert_eq!(d.is_empty(), expected_equal, "{} vs {}: {}", a, b, d);
        prop_assert_eq!(same(&a, &b, &options), expected_equal);
        if !expected_equal {
            prop_assert_eq!(d.differences[0].kind, DiffKind::Changed, "{} vs {}", a, b);
        }
        // Inside arrays compared as multisets, too (hashing agrees with equality).
        let unordered = options.clone().unordered_arrays("$".parse().unwrap());
        let xs = vec![a, b, 1.5, a];
        let ys = vec![b, a, a, 1.5];
        prop_assert!(same(&xs, &ys, &unordered) || !expected_equal || tolerance.is_some());
        let zs = vec![a, 1.5, b, a];
        prop_assert!(same(&xs, &zs, &unordered) || tolerance.is_some(), "{:?} vs {:?}", xs, zs);
        if a.is_nan() || a.is_infinite() {
            prop_assert!(!same(&vec![a], &vec![1.0], &unordered));
        }
    }

    /// 4b. No string found only inside redacted subtrees appears anywhere in
    /// the diff (Debug, Display or JSON), whatever the limits; redaction
    /// changes neither the paths nor the kinds reported.
    #[test]
    fn redacted_values_never_appear(
        (control, candidate) in arb_marked_pair(),
        picks in prop::collection::vec(
            (
                any::<Index>(),
                any::<bool>(),
                prop::collection::vec(prop::bool::weighted(0.3), 8),
                prop::option::weighted(0.3, 0usize..4),
            ),
            1..3,
        ),
        max_differences in prop_oneof![Just(usize::MAX), 0usize..6],
        max_chars in prop_oneof![Just(usize::MAX), 0usize..60],
    ) {
        let mut patterns = Vec::new();
        for (pick, from_candidate, wild, descent_from) in &picks {
            let source = if *from_candidate { &candidate } else { &control };
            let paths = all_paths(source);
            let path: &Vec<PathSegment> = pick.get(&paths);
            let text = generalize(path, wild, *descent_from);
            let pattern: PathPattern = text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            patterns.push(pattern);
        }
        let (mut redacted, mut plain, mut keys) = (HashSet::new(), HashSet::new(), Vec::new());
        for value in [&control, &candidate] {
            partition_strings(value, &patterns, &mut redacted, &mut plain, &mut keys);
        }
        let secrets: Vec<&String> = redacted
            .iter()
            .filter(|s| !plain.contains(*s) && !keys.iter().any(|k| k.contains(s.as_str())))
            .collect();

        let mut options = DiffOptions::new()
            .max_differences(max_differences)
            .max_value_bytes(max_chars);
        for pattern in &patterns {
            options = options.redact(pattern.clone());
        }
        let diff = diff_values(&control, &candidate, &options);
        let rendered = format!("{diff:?}\n{diff}\n{}", serde_json::to_string(&diff).unwrap());
        for secret in &secrets {
            prop_assert!(!rendered.contains(secret.as_str()), "{} leaked:\n{}", secret, rendered);
        }

        // Same findings as without redaction.
        let plain_options = DiffOptions::new()
            .max_differences(max_differences)
            .max_value_bytes(max_chars);
        let unredacted = diff_values(&control, &candidate, &plain_options);
        prop_assert_eq!(diff.len(), unredacted.len());
        prop_assert_eq!(diff.omitted, unredacted.omitted);
        for (d, u) in diff.differences.iter().zip(&unredacted.differences) {
            prop_assert_eq!(&d.segments, &u.segments);
            prop_assert_eq!(d.kind, u.kind);
            prop_assert_eq!(d.control.is_some(), u.control.is_some());
            prop_assert_eq!(d.candidate.is_some(), u.candidate.is_some());
            if max_chars == usize::MAX && patterns.iter().any(|p| p.matches_prefix_of(&d.segments)) {
                for value in [&d.control, &d.candidate].into_iter().flatten() {
                    prop_assert_eq!(value, &json!(REDACTED));
                }
            }
        }
    }

    /// 5a. Parsing arbitrary text never panics, and valid patterns
    /// round-trip through their canonical rendering.
    #[test]
    fn parse_never_panics(text in prop_oneof![any::<String>(), "[$.\\[\\]*\"'a-c0-9\\\\ -]{0,16}", "\\$[.\\[\\]*\"a0-9\\\\]{0,16}"]) {
        if let Ok(pattern) = PathPattern::parse(&text) {
            let canonical = pattern.to_string();
            let reparsed = PathPattern::parse(&canonical);
            prop_assert_eq!(reparsed.as_ref(), Ok(&pattern), "{} -> {}", text, canonical);
        } else if let Err(e) = text.parse::<PathPattern>() {
            prop_assert!(e.offset() <= text.len());
            prop_assert!(!e.message().is_empty());
        }
    }

    /// 5b. A rendered path parses as a pattern matching exactly that path.
    #[test]
    fn rendered_paths_parse_and_match(
        path in prop::collection::vec(
            prop_oneof![
                arb_key().prop_map(PathSegment::Key),
                any::<usize>().prop_map(PathSegment::Index),
                Just(PathSegment::Key("*".to_owned())),
            ],
            0..6,
        ),
        extra in any::<usize>(),
    ) {
        let text = render_path(&path);
        let pattern = PathPattern::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(pattern.matches(&path));
        prop_assert_eq!(pattern.to_string(), text);
        let mut longer = path.clone();
        longer.push(PathSegment::Index(extra));
        prop_assert!(!pattern.matches(&longer));
        prop_assert!(pattern.matches_prefix_of(&longer));
        if let Some((_, shorter)) = path.split_last() {
            prop_assert!(!pattern.matches(shorter));
            prop_assert!(!pattern.matches_prefix_of(shorter));
        }
    }

    /// 5c. Pattern matching agrees with a naive reference matcher.
    #[test]
    fn matching_agrees_with_reference(toks in arb_toks(), path in arb_small_path()) {
        let text = render_toks(&toks);
        let pattern = PathPattern::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(pattern.matches(&path), reference_match(&toks, &path), "{} vs {}", text, render_path(&path));
        let prefix = (0..=path.len()).any(|k| reference_match(&toks, &path[..k]));
        prop_assert_eq!(pattern.matches_prefix_of(&path), prefix, "{} prefix of {}", text, render_path(&path));
    }

    /// Shuffling arrays at every level makes no difference when all arrays
    /// are compared unordered.
    #[test]
    fn deep_shuffles_are_unordered_equal(value in arb_json(), seed in any::<u64>()) {
        let mut shuffled = value.clone();
        let mut state = seed;
        deep_shuffle(&mut shuffled, &mut state);
        let options = unbounded()
            .unordered_arrays("$".parse().unwrap())
            .unordered_arrays("$..*".parse().unwrap());
        let diff = diff_values(&value, &shuffled, &options);
        prop_assert!(diff.is_empty(), "{}", diff);
        // Changing one leaf is still noticed.
        let mut changed = shuffled.clone();
        let paths = all_paths(&changed);
        let leaf = paths.iter().rev().find(|p| !get(&changed, p).is_some_and(|v| v.is_array() || v.is_object()));
        if let Some(leaf) = leaf.cloned() {
            if let Some(slot) = get_mut(&mut changed, &leaf) {
                *slot = json!({"unique": "marker"});
            }
            prop_assert!(!diff_values(&value, &changed, &options).is_empty());
        }
    }

    /// Arrays that are permutations of each other: at most one Reordered
    /// difference, none when compared unordered.
    #[test]
    fn permutations(items in prop::collection::vec(arb_json(), 0..8), seed in any::<u64>()) {
        let mut shuffled = items.clone();
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let (a, b) = (Value::Array(items), Value::Array(shuffled));
        let ordered = diff_values(&a, &b, &DiffOptions::new());
        if json_eq(&a, &b) {
            prop_assert!(ordered.is_empty());
        } else {
            prop_assert_eq!(ordered.len(), 1);
            prop_assert_eq!(ordered.differences[0].kind, DiffKind::Reordered);
            prop_assert_eq!(&ordered.differences[0].path, "$");
        }
        let unordered = DiffOptions::new().unordered_arrays("$".parse().unwrap());
        prop_assert!(diff_values(&a, &b, &unordered).is_empty());
    }
}
