//! Structural diff of serde values.
//!
//! [`diff`] serializes two values into [`serde_json::Value`]s (without
//! unbounded recursion, see below) and compares them with [`diff_values`],
//! which walks both trees and reports each [`Difference`] with its JSON path
//! (see [paths](#paths-and-path-patterns)). [`same`] answers only "would the diff be empty?",
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
//!   ([`DiffOptions::max_value_bytes`]) last.
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
//! at most [`max_value_bytes`](DiffOptions::max_value_bytes) bytes of JSON
//! (cut on a character boundary, then `…`), each path key at most
//! [`MAX_KEY_BYTES`] bytes and each rendered path at most [`MAX_PATH_BYTES`]
//! bytes ([`Difference::path_cut`]), and a serialization error at most
//! [`MAX_ERROR_TEXT`] bytes. What is cut ends in `…` and is flagged.
//!
//! # Paths and path patterns
//!
//! A *path* locates one node inside a JSON document. It is a list of
//! [`PathSegment`]s and renders (see [`render_path`]) as text like
//! `$.items[3].price`: the root is `$`, an identifier-like object key is
//! written `.key`, any other key is written in bracket form with JSON string
//! escaping (`$["weird key"]`), and an array index is written `[3]`.
//!
//! A [`PathPattern`] selects a set of paths. Patterns use the same syntax
//! plus wildcards:
//!
//! | syntax        | matches                                         |
//! |---------------|-------------------------------------------------|
//! | `.key`        | the object key `key`                            |
//! | `["any key"]` | the object key `any key` (JSON string escapes)  |
//! | `[3]`         | array index 3                                   |
//! | `.*`          | any single key or index                         |
//! | `[*]`         | any single array index                          |
//! | `..`          | any number (zero or more) of segments; must be followed by a key, `*` or a bracket, e.g. `$..id` |
//!
//! In dot form a key may contain any characters except `.`, `[`, `]`, `*`,
//! quotes, whitespace and control characters; use the bracket form for
//! anything else. Bracket contents allow no surrounding whitespace.
//!
//! ## Size caps on reported paths
//!
//! A map key is data, and can be as long as any value. The paths a
//! [`Diff`] reports are therefore capped like its values:
//! every key segment is cut to at most [`MAX_KEY_BYTES`] bytes (ending in
//! `…`), and a rendered path to at most [`MAX_PATH_BYTES`] bytes (the
//! segments that do not fit are dropped and the text ends in `…`). See
//! [`Difference::path_cut`].
//! [`render_path`] itself renders whatever it is given, uncapped.

mod compare;
mod hash;
mod options;
mod path;
mod pattern;
mod redact;
#[cfg(test)]
mod test_support;
mod truncate;
mod types;
mod walk;

pub use crate::capture::{DEPTH_CUT, INFINITY, MAX_ERROR_TEXT, NAN, NEG_INFINITY};
pub use compare::{comparator, diff, diff_values, same, same_values};
pub use options::DiffOptions;
#[cfg(feature = "serde")]
pub(crate) use truncate::published_value;
// Noise calibration renders paths of its own.
pub(crate) use path::{push_segment, SegRef};
pub use path::{render_path, PathSegment, MAX_KEY_BYTES, MAX_PATH_BYTES};
pub use pattern::{PathPattern, PathPatternError};
pub use redact::{IGNORED, REDACTED};
pub use types::{Diff, DiffKind, Difference};
pub use walk::MAX_DEPTH;
