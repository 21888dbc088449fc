//! The diff against hostile values: far too deep, keys far too long, non-finite floats,
//! serializers that fail with huge messages, and differences hidden under ignored paths.
#![cfg(feature = "serde")]

use std::fmt;

use darklaunch::diff::{
    diff, diff_values, same, same_values, Diff, DiffKind, DiffOptions, PathSegment, DEPTH_CUT,
    IGNORED, MAX_DEPTH, MAX_ERROR_TEXT, MAX_KEY_BYTES, MAX_PATH_BYTES, REDACTED,
};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

/// The stack a caller's thread may have (guarantee 10).
const SMALL_STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with a 2 MiB stack; a stack overflow aborts the test binary.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the diff thread panicked")
}

/// A linked list; its derived `Serialize` recurses once per node.
#[derive(Serialize)]
struct Node {
    v: u64,
    secret: &'static str,
    noise: u64,
    child: Option<Box<Node>>,
}

impl Drop for Node {
    // Dropping a long chain recursively would overflow; unlink it iteratively.
    fn drop(&mut self) {
        let mut next = self.child.take();
        while let Some(mut node) = next {
            next = node.child.take();
        }
    }
}

/// A chain `depth` nodes long, whose node at `changed` (if any) has `v = 1`, and whose
/// `noise` fields differ with `noise`.
fn chain(depth: usize, changed: Option<usize>, noise: u64) -> Node {
    let mut node: Option<Box<Node>> = None;
    for level in (0..depth).rev() {
        node = Some(Box::new(Node {
            v: u64::from(changed == Some(level)),
            secret: "hunter2",
            noise: noise + level as u64,
            child: node,
        }));
    }
    match node {
        Some(node) => *node,
        None => Node {
            v: 0,
            secret: "",
            noise,
            child: None,
        },
    }
}

/// `leaf` inside `depth` nested one-element arrays.
fn nested_arrays(depth: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

fn hostile_options() -> DiffOptions {
    DiffOptions::new()
        .try_redact("$..secret")
        .unwrap()
        .try_ignore_path("$..noise")
        .unwrap()
        .try_unordered_arrays("$..*")
        .unwrap()
        .max_value_bytes(usize::MAX)
}

/// Everything a publisher does with a diff: display, debug, serialize, clone, compare, drop.
/// (Reading the JSON back is left out: reported values may nest up to 128 levels, and
/// `serde_json`'s parser refuses more than 128 levels including the envelope.)
fn exercise(diff: &Diff) -> (String, String) {
    let text = diff.to_string();
    let _ = format!("{diff:?}");
    let json = serde_json::to_string(diff).unwrap();
    let value = serde_json::to_value(diff).unwrap();
    let copy = diff.clone();
    assert_eq!(&copy, diff);
    drop((copy, value));
    (text, json)
}

#[test]
fn chains_100_000_deep_diff_on_a_2_mib_stack() {
    for depth in [10_000, 100_000] {
        on_small_stack(move || {
            let options = hostile_options();
            let control = chain(depth, None, 0);
            // Differs at the top, in ignored noise everywhere, and far below the limit.
            let mut candidate = chain(depth, Some(depth / 2), 1_000);
            candidate.v = 7;

            let d = diff(&control, &candidate, &options).unwrap();
            assert_eq!(d.paths().collect::<Vec<_>>(), ["$.v"], "{d}");
            assert!(d.depth_cut, "the diff says values were cut");
            assert!(d.ignored > 0);
            let (text, json) = exercise(&d);
            assert!(text.ends_with("(values nested deeper than 128 levels were not compared)"));
            assert!(json.contains("\"depth_cut\":true"));
            assert!(!text.contains("hunter2") && !json.contains("hunter2"));
            assert!(!same(&control, &candidate, &options));

            // Only below the limit: not visible, and said so.
            candidate.v = 0;
            let d = diff(&control, &candidate, &options).unwrap();
            assert!(d.is_empty(), "{d}");
            assert!(d.depth_cut);
            assert!(same(&control, &candidate, &options));

            // A reported value holding the whole chain is cut at the limit.
            let d = diff(&Some(&control), &None, &options).unwrap();
            assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);
            let (_, json) = exercise(&d);
            assert!(json.contains(DEPTH_CUT) && json.contains(REDACTED));
            assert!(!json.contains("hunter2"));
            assert!(!json.contains("\"noise\""), "ignored members are dropped");
        });
    }
}

#[test]
fn nested_values_hundreds_deep_diff_on_a_2_mib_stack() {
    on_small_stack(|| {
        let options = hostile_options();
        for depth in [
            20,
            MAX_DEPTH - 3,
            MAX_DEPTH - 2,
            MAX_DEPTH - 1,
            MAX_DEPTH,
            300,
            600,
        ] {
            let control =
                json!({"top": 1, "deep": nested_arrays(depth, json!({"secret": "s1", "x": 1}))});
            let candidate =
                json!({"top": 2, "deep": nested_arrays(depth, json!({"secret": "s2", "x": 2}))});
            let d = diff_values(&control, &candidate, &options);
            let (text, json) = exercise(&d);
            assert!(!json.contains("s1") && !json.contains("s2"), "{json}");
            assert!(d.paths().any(|p| p == "$.top"), "{text}");
            // The leaf's members sit at a path of depth + 2 segments.
            if depth + 1 < MAX_DEPTH {
                // Arrays are unordered: $.deep[0] removed and added, and $.top.
                assert_eq!(d.len(), 3, "{text}");
                assert_eq!(d.differences[0].kind, DiffKind::Removed);
                assert!(!d.depth_cut);
            } else {
                assert_eq!(d.len(), 1, "only the top difference is visible: {text}");
                assert_eq!(d.differences[0].path, "$.top");
                assert!(d.depth_cut);
                assert!(text.ends_with("(values nested deeper than 128 levels were not compared)"));
            }
            assert_eq!(same_values(&control, &candidate, &options), d.is_empty());
            // Through `diff` (which captures `Value`'s own recursive `Serialize`), the same.
            let typed = diff(&control, &candidate, &options).unwrap();
            assert_eq!(typed.differences, d.differences);
            assert_eq!(typed.depth_cut, d.depth_cut);

            // Whole deep values reported as Added or TypeChanged stay within the limit.
            let d = diff_values(&json!({}), &control, &options);
            let (_, json) = exercise(&d);
            assert!(!json.contains("s1"));
            assert_eq!(d.depth_cut, depth + 1 >= MAX_DEPTH);
            let d = diff_values(&json!([]), &control, &options);
            assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);
            exercise(&d);
        }
    });
}

#[test]
fn one_huge_key_gives_a_capped_path() {
    let key = "k".repeat(1 << 20);
    let control = json!({ &key: 1 });
    let candidate = json!({ &key: 2 });
    let d = diff_values(&control, &candidate, &DiffOptions::new());
    assert_eq!(d.len(), 1);
    let x = &d.differences[0];
    assert!(x.path_cut);
    assert!(x.path.len() <= MAX_PATH_BYTES, "{} bytes", x.path.len());
    let PathSegment::Key(kept) = &x.segments[0] else {
        panic!("a key segment")
    };
    assert!(kept.len() <= MAX_KEY_BYTES && kept.ends_with('…'));
    assert!(kept.starts_with("kkkk"));
    assert_eq!(x.path, format!("$[\"{kept}\"]"));
    let json = serde_json::to_string(&d).unwrap();
    assert!(
        json.len() < 2 * MAX_PATH_BYTES,
        "{} bytes of JSON",
        json.len()
    );
    assert!(json.contains("\"path_cut\":true"));
    assert!(d.to_string().len() < 2 * MAX_PATH_BYTES);

    // Multi-byte characters are cut on a boundary.
    let wide = "é".repeat(1000);
    let d = diff_values(&json!({ &wide: 1 }), &json!({}), &DiffOptions::new());
    let PathSegment::Key(kept) = &d.differences[0].segments[0] else {
        panic!("a key segment")
    };
    assert!(kept.len() <= MAX_KEY_BYTES && kept.ends_with('…'));
}

#[test]
fn long_keys_sharing_a_prefix_stay_separate_differences() {
    let prefix = "p".repeat(4 * MAX_KEY_BYTES);
    let control = json!({ format!("{prefix}a"): 1, format!("{prefix}b"): 1, "short": 1 });
    let candidate = json!({ format!("{prefix}a"): 2, format!("{prefix}b"): 3, "short": 1 });
    let d = diff_values(&control, &candidate, &DiffOptions::new());
    assert_eq!(d.len(), 2, "{d}");
    assert_eq!(d.differences[0].path, d.differences[1].path);
    assert_eq!(d.differences[0].candidate, Some(json!(2)));
    assert_eq!(d.differences[1].candidate, Some(json!(3)));
    assert!(d.differences.iter().all(|x| x.path_cut));
    // Ignoring works on the real keys, not the cut ones.
    let options = DiffOptions::new()
        .try_ignore_path(&format!("$[\"{prefix}a\"]"))
        .unwrap();
    let d = diff_values(&control, &candidate, &options);
    assert_eq!(d.len(), 1);
    assert_eq!(d.differences[0].candidate, Some(json!(3)));
    assert_eq!(d.ignored, 1);
}

#[test]
fn long_paths_keep_the_leading_segments_that_fit() {
    // 100 levels of 100-byte keys: 10 KB of path.
    let key = "x".repeat(100);
    let mut control = json!(1);
    let mut candidate = json!(2);
    for _ in 0..100 {
        control = json!({ &key: control });
        candidate = json!({ &key: candidate });
    }
    let d = diff_values(&control, &candidate, &DiffOptions::new());
    let x = &d.differences[0];
    assert!(x.path_cut);
    assert!(x.path.len() <= MAX_PATH_BYTES);
    assert!(x.path.ends_with('…'));
    assert!(x.segments.len() < 100 && !x.segments.is_empty());
    let kept = darklaunch::diff::render_path(&x.segments);
    assert_eq!(x.path, format!("{kept}…"));
    // Short paths are not touched.
    let d = diff_values(&json!({"a": [1]}), &json!({"a": [2]}), &DiffOptions::new());
    assert!(!d.differences[0].path_cut);
    assert_eq!(d.differences[0].path, "$.a[0]");
}

#[test]
fn non_finite_floats_diff_as_numbers() {
    let o = DiffOptions::new();
    let d = diff(&f64::INFINITY, &f64::NEG_INFINITY, &o).unwrap();
    assert_eq!(d.differences[0].kind, DiffKind::Changed);
    assert_eq!(d.to_string(), "$: changed \"Infinity\" → \"-Infinity\"");

    let d = diff(&f64::NAN, &1.0, &o).unwrap();
    assert_eq!(d.differences[0].kind, DiffKind::Changed, "{d}");
    let d = diff(&1.0f32, &f32::INFINITY, &o).unwrap();
    assert_eq!(d.differences[0].kind, DiffKind::Changed, "{d}");
    assert!(diff(&f64::NAN, &f64::NAN, &o).unwrap().is_empty());
    assert!(same(&f64::NAN, &f64::NAN, &o));
    assert!(!same(&f64::INFINITY, &f64::NEG_INFINITY, &o));
    assert!(!same(&f64::NAN, &0.0, &o));

    // Tolerance never makes them equal to a finite number, nor to each other.
    let loose = DiffOptions::new().float_tolerance(f64::INFINITY);
    assert!(same(&1.0, &1e300, &loose));
    assert!(!same(&f64::INFINITY, &f64::MAX, &loose));
    assert!(!same(&f64::INFINITY, &f64::NEG_INFINITY, &loose));
    assert!(!same(&f64::NAN, &0.0, &loose));
    assert!(same(&f64::INFINITY, &f64::INFINITY, &loose));

    // A non-finite float against text or null is a type change.
    #[derive(Serialize)]
    struct Reading {
        value: Option<f64>,
    }
    let d = diff(
        &Reading {
            value: Some(f64::NAN),
        },
        &Reading { value: None },
        &o,
    )
    .unwrap();
    assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);
    let d = diff_values(&json!("NaN"), &json!("text"), &o);
    assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);

    // As multiset elements (hashed), NaN matches NaN and nothing else.
    let unordered = DiffOptions::new().try_unordered_arrays("$").unwrap();
    let xs = [f64::NAN, f64::INFINITY, 1.0, f64::NEG_INFINITY];
    let ys = [f64::NEG_INFINITY, 1.0, f64::NAN, f64::INFINITY];
    assert!(same(&xs, &ys, &unordered));
    assert!(diff(&xs, &ys, &unordered).unwrap().is_empty());
    let zs = [f64::NAN, f64::NAN, 1.0, f64::NEG_INFINITY];
    let d = diff(&xs, &zs, &unordered).unwrap();
    assert_eq!(d.len(), 2, "{d}");
}

/// A value whose `Serialize` fails with a long message quoting the value.
struct Failing(String);

impl Serialize for Failing {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(format!(
            "cannot serialize {}",
            self.0
        )))
    }
}

/// A message that would never end.
struct Endless;

impl fmt::Display for Endless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        loop {
            f.write_str("secret ")?;
        }
    }
}

struct FailingEndlessly;

impl Serialize for FailingEndlessly {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(Endless))
    }
}

#[test]
fn serialize_errors_are_capped() {
    let big = Failing("v".repeat(5 * 1024));
    let error = diff(&big, &big, &DiffOptions::new())
        .unwrap_err()
        .to_string();
    assert!(error.len() <= MAX_ERROR_TEXT, "{} bytes", error.len());
    assert!(error.starts_with("cannot serialize vvv") && error.ends_with('…'));
    assert!(!same(&big, &big, &DiffOptions::new()));

    // Only one side failing is an error too, and capped.
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Either {
        Ok(u8),
        Bad(Failing),
    }
    let good = Either::Ok(1);
    let bad = Either::Bad(Failing("w".repeat(5 * 1024)));
    for (a, b) in [(&good, &bad), (&bad, &good)] {
        let error = diff(a, b, &DiffOptions::new()).unwrap_err().to_string();
        assert!(error.len() <= MAX_ERROR_TEXT, "{} bytes", error.len());
        assert!(!same(a, b, &DiffOptions::new()));
    }

    // A message that never ends is cut without being formatted to the end.
    let error = diff(&FailingEndlessly, &FailingEndlessly, &DiffOptions::new())
        .unwrap_err()
        .to_string();
    assert!(error.len() <= MAX_ERROR_TEXT && error.ends_with('…'));
}

#[test]
fn differences_only_at_ignored_paths_are_counted_not_reported() {
    let options = DiffOptions::new().try_ignore_path("$..at").unwrap();
    let d = diff_values(
        &json!({"at": 1, "items": [{"id": 1, "at": 1}, {"id": 2, "at": 1}], "same": {"at": 3}}),
        &json!({"at": 2, "items": [{"id": 1, "at": 2}, {"id": 2, "at": 2}], "same": {"at": 3}}),
        &options,
    );
    assert!(d.is_empty(), "{d}");
    assert_eq!(d.len(), 0);
    assert_eq!(d.ignored, 3);
    assert_eq!(d.to_string(), "no differences");
    // Present on one side only counts too.
    let d = diff_values(&json!({"at": 1}), &json!({}), &options);
    assert!(d.is_empty());
    assert_eq!(d.ignored, 1);
    // Nothing differs: nothing counted.
    let v = json!({"at": 1, "items": [{"at": 1}]});
    assert_eq!(diff_values(&v, &v, &options).ignored, 0);

    // Inside arrays compared as multisets, matched elements are counted too.
    let unordered = options.clone().try_unordered_arrays("$.items").unwrap();
    let d = diff_values(
        &json!({"items": [{"id": 1, "at": 1}, {"id": 2, "at": 1}]}),
        &json!({"items": [{"id": 2, "at": 2}, {"id": 1, "at": 2}]}),
        &unordered,
    );
    assert!(d.is_empty(), "{d}");
    assert_eq!(d.ignored, 2);

    // The count is serialized only when non-zero, and old JSON still reads.
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json, json!({"differences": [], "omitted": 0, "ignored": 2}));
    let old: Diff = serde_json::from_value(json!({"differences": [], "omitted": 0})).unwrap();
    assert_eq!(old.ignored, 0);
    assert!(!old.depth_cut);
    let plain = diff_values(&json!({"a": 1}), &json!({"a": 2}), &DiffOptions::new());
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        json!({"differences": [{"path": "$.a", "segments": ["a"], "kind": "changed",
            "control": 1, "candidate": 2, "truncated": false}], "omitted": 0})
    );
}

#[test]
fn ignored_subtrees_are_removed_from_reported_values() {
    let options = DiffOptions::new()
        .try_ignore_path("$..at")
        .unwrap()
        .try_ignore_path("$.list[1]")
        .unwrap()
        .try_redact("$..token")
        .unwrap();
    let d = diff_values(
        &json!({"gone": {"id": 1, "at": "t-gone", "token": "s"}, "kind": {"at": "t-kind", "n": 1}}),
        &json!({"new": [{"at": "t-new", "id": 2}], "kind": [1, {"at": "t-arr"}], "list": ["a", "t-list", "c"]}),
        &options,
    );
    let kinds: Vec<_> = d
        .differences
        .iter()
        .map(|x| (x.path.as_str(), x.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("$.gone", DiffKind::Removed),
            ("$.kind", DiffKind::TypeChanged),
            ("$.list", DiffKind::Added),
            ("$.new", DiffKind::Added),
        ]
    );
    assert_eq!(
        d.differences[0].control,
        Some(json!({"id": 1, "token": REDACTED}))
    );
    assert_eq!(d.differences[1].control, Some(json!({"n": 1})));
    assert_eq!(d.differences[1].candidate, Some(json!([1, {}])));
    assert_eq!(d.differences[2].candidate, Some(json!(["a", IGNORED, "c"])));
    assert_eq!(d.differences[3].candidate, Some(json!([{"id": 2}])));
    let text = format!("{d} {d:?} {}", serde_json::to_string(&d).unwrap());
    assert!(!text.contains("t-"), "{text}");

    // Reordered arrays carry their values without the ignored fields.
    let options = DiffOptions::new().try_ignore_path("$[*].at").unwrap();
    let d = diff_values(
        &json!([{"id": 1, "at": 1}, {"id": 2, "at": 1}]),
        &json!([{"id": 2, "at": 9}, {"id": 1, "at": 9}]),
        &options,
    );
    assert_eq!(d.differences[0].kind, DiffKind::Reordered);
    assert_eq!(
        d.differences[0].control,
        Some(json!([{"id": 1}, {"id": 2}]))
    );
    assert_eq!(
        d.differences[0].candidate,
        Some(json!([{"id": 2}, {"id": 1}]))
    );

    // Elements told apart only by ignored fields are not reordered at all.
    let d = diff_values(
        &json!([{"id": 1, "at": 1}, {"id": 1, "at": 2}]),
        &json!([{"id": 1, "at": 2}, {"id": 1, "at": 1}]),
        &options,
    );
    assert!(d.is_empty(), "{d}");
    assert_eq!(d.ignored, 2);
}

#[test]
fn same_is_an_empty_diff_without_recording() {
    let options = DiffOptions::new()
        .try_ignore_path("$.at")
        .unwrap()
        .max_differences(0);
    #[derive(Serialize)]
    struct Quote {
        price: u32,
        at: u64,
    }
    let a = Quote { price: 1, at: 1 };
    let b = Quote { price: 1, at: 2 };
    let c = Quote { price: 2, at: 1 };
    assert!(same(&a, &b, &options));
    assert!(!same(&a, &c, &options));
    // max_differences(0) keeps nothing but still counts: not the same.
    assert!(!diff(&a, &c, &options).unwrap().is_empty());
    assert!(same(&[1, 2][..], &[1, 2][..], &DiffOptions::new()));
    assert!(!same(&[1, 2][..], &[2, 1][..], &DiffOptions::new()));
    let unordered = DiffOptions::new().try_unordered_arrays("$").unwrap();
    assert!(same(&[1, 2][..], &[2, 1][..], &unordered));
    // Unsized values and maps with keys that are not strings.
    assert!(same("text", "text", &DiffOptions::new()));
    let bad = std::collections::HashMap::from([((1u8, 2u8), 3u8)]);
    assert!(!same(&bad, &bad, &DiffOptions::new()));
}

#[test]
fn arrays_differing_deep_down_are_compared_in_polynomial_time() {
    // Comparing the same pair of elements again at every level would take 2^120 steps here.
    let unordered = || {
        DiffOptions::new()
            .try_unordered_arrays("$")
            .unwrap()
            .try_unordered_arrays("$..*")
            .unwrap()
    };
    let option_sets = [
        DiffOptions::new(),
        DiffOptions::new().try_ignore_path("$..never").unwrap(),
        unordered(),
        unordered().try_ignore_path("$..never").unwrap(),
        unordered().float_tolerance(0.25),
    ];
    type Shape = fn(Value, usize) -> Value;
    let shapes: [(Shape, Shape); 3] = [
        (|v, i| json!([v, i]), |v, i| json!([v, i])),
        (|v, i| json!([v, i]), |v, _| json!([v])),
        (
            |v, i| json!({"k": [v, i], "i": i}),
            |v, i| json!({"k": [i, v], "i": i}),
        ),
    ];
    for options in &option_sets {
        for (grow_control, grow_candidate) in shapes {
            let (mut control, mut candidate) = (json!(1), json!(2));
            for level in 0..60 {
                control = grow_control(control, level);
                candidate = grow_candidate(candidate, level);
            }
            let d = diff_values(&control, &candidate, options);
            assert!(!d.is_empty());
            assert_eq!(same_values(&control, &candidate, options), d.is_empty());
            assert!(same_values(&control, &control, options));
        }
    }
}
