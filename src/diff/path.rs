//! JSON paths: [`PathSegment`], their rendering ([`render_path`]) and the caps on the paths
//! a diff reports ([`MAX_KEY_BYTES`], [`MAX_PATH_BYTES`]); see the
//! [module docs](crate::diff#paths-and-path-patterns).

use crate::text::{cut_point, push_json_string, CUT_MARKER};
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

/// One step of a JSON path: an object key or an array index.
///
/// Serializes untagged: a key as a JSON string, an index as a JSON number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// An object member name.
    Key(String),
    /// A zero-based array index.
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_owned())
    }
}

impl From<String> for PathSegment {
    fn from(key: String) -> Self {
        PathSegment::Key(key)
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

impl fmt::Display for PathSegment {
    /// Renders the segment as it appears inside a rendered path:
    /// `.key`, `["weird key"]` or `[3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        push_segment(&mut out, self.seg_ref());
        f.write_str(&out)
    }
}

/// A borrowed path segment, used to match patterns without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegRef<'a> {
    Key(&'a str),
    Index(usize),
}

/// Anything that can be viewed as a borrowed path segment.
pub(crate) trait AsSegRef {
    fn seg_ref(&self) -> SegRef<'_>;
}

impl AsSegRef for PathSegment {
    fn seg_ref(&self) -> SegRef<'_> {
        match self {
            PathSegment::Key(k) => SegRef::Key(k),
            PathSegment::Index(i) => SegRef::Index(*i),
        }
    }
}

impl AsSegRef for SegRef<'_> {
    fn seg_ref(&self) -> SegRef<'_> {
        *self
    }
}

/// Renders a path as text: `$`, `$.a`, `$["weird key"]`, `$.items[3]`.
///
/// Keys matching `[A-Za-z_][A-Za-z0-9_]*` use dot form; all other keys use
/// bracket form with JSON string escaping. The output always parses as a
/// [`PathPattern`](super::PathPattern) that matches exactly this path.
///
/// ```
/// use darklaunch::diff::{render_path, PathSegment};
///
/// let path = [
///     PathSegment::from("items"),
///     PathSegment::Index(3),
///     PathSegment::from("unit price"),
/// ];
/// assert_eq!(render_path(&path), r#"$.items[3]["unit price"]"#);
/// assert_eq!(render_path(&[]), "$");
/// ```
pub fn render_path(segments: &[PathSegment]) -> String {
    let mut out = String::with_capacity(1 + segments.len() * 8);
    out.push('$');
    for segment in segments {
        push_segment(&mut out, segment.seg_ref());
    }
    out
}

/// The longest key, in bytes, that a reported path keeps: a longer key segment in
/// [`Difference::segments`](crate::diff::Difference::segments) and
/// [`Difference::path`](crate::diff::Difference::path) is cut to at most this many bytes,
/// ending in `…` (on a character boundary).
pub const MAX_KEY_BYTES: usize = 128;

/// The longest rendered path, in bytes, that a reported difference keeps: when
/// [`Difference::path`](crate::diff::Difference::path) would be longer, only the leading
/// segments that fit are kept (in `path` and in
/// [`Difference::segments`](crate::diff::Difference::segments)) and `path` ends in `…`.
pub const MAX_PATH_BYTES: usize = 1024;

/// A path capped for a report: its segments (keys cut to [`MAX_KEY_BYTES`], trailing
/// segments dropped to fit [`MAX_PATH_BYTES`]), its rendering, and whether anything was cut.
pub(crate) struct CappedPath {
    pub(crate) segments: Vec<PathSegment>,
    pub(crate) rendered: String,
    pub(crate) cut: bool,
}

/// Caps `path` for a report (see [`MAX_KEY_BYTES`] and [`MAX_PATH_BYTES`]). Without cuts,
/// `rendered == render_path(&segments)`; when segments were dropped, `rendered` is
/// `render_path(&segments)` followed by `…`, and at most [`MAX_PATH_BYTES`] long.
pub(crate) fn capped_path(path: &[SegRef<'_>]) -> CappedPath {
    let mut segments = Vec::with_capacity(path.len());
    let mut rendered = String::from("$");
    let mut cut = false;
    // The longest rendered prefix (bytes, segments) that leaves room for the marker.
    let mut fits_with_marker = (rendered.len(), 0usize);
    for segment in path {
        let segment = match *segment {
            SegRef::Key(key) => match cut_point(key, MAX_KEY_BYTES) {
                Some(at) => {
                    cut = true;
                    let mut short = String::with_capacity(at + CUT_MARKER.len_utf8());
                    short.push_str(key.get(..at).unwrap_or(""));
                    short.push(CUT_MARKER);
                    PathSegment::Key(short)
                }
                None => PathSegment::Key(key.to_owned()),
            },
            SegRef::Index(index) => PathSegment::Index(index),
        };
        push_segment(&mut rendered, segment.seg_ref());
        segments.push(segment);
        if rendered.len() > MAX_PATH_BYTES {
            let (bytes, kept) = fits_with_marker;
            rendered.truncate(bytes);
            rendered.push(CUT_MARKER);
            segments.truncate(kept);
            return CappedPath {
                segments,
                rendered,
                cut: true,
            };
        }
        if rendered.len() + CUT_MARKER.len_utf8() <= MAX_PATH_BYTES {
            fits_with_marker = (rendered.len(), segments.len());
        }
    }
    CappedPath {
        segments,
        rendered,
        cut,
    }
}

/// Appends one rendered segment to `out`.
pub(crate) fn push_segment(out: &mut String, segment: SegRef<'_>) {
    match segment {
        SegRef::Key(key) if is_identifier(key) => {
            out.push('.');
            out.push_str(key);
        }
        SegRef::Key(key) => {
            out.push('[');
            push_json_string(out, key);
            out.push(']');
        }
        SegRef::Index(index) => {
            // Writing to a String cannot fail.
            let _ = write!(out, "[{index}]");
        }
    }
}

pub(super) fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::super::test_support::path;
    use super::*;

    #[test]
    fn renders_paths() {
        assert_eq!(render_path(&[]), "$");
        assert_eq!(render_path(&path(&[&"a"])), "$.a");
        assert_eq!(render_path(&path(&[&"items", &3usize])), "$.items[3]");
        assert_eq!(
            render_path(&path(&[&"items", &3usize, &"price"])),
            "$.items[3].price"
        );
        assert_eq!(render_path(&path(&[&"weird key"])), r#"$["weird key"]"#);
        assert_eq!(render_path(&path(&[&"1abc"])), r#"$["1abc"]"#);
        assert_eq!(render_path(&path(&[&""])), r#"$[""]"#);
        assert_eq!(render_path(&path(&[&"_x9"])), "$._x9");
        assert_eq!(render_path(&path(&[&"a\"b\\c\n"])), r#"$["a\"b\\c\n"]"#);
        assert_eq!(render_path(&path(&[&"\u{1}"])), r#"$["\u0001"]"#);
        assert_eq!(render_path(&path(&[&"café"])), r#"$["café"]"#);
        assert_eq!(PathSegment::from("a b").to_string(), r#"["a b"]"#);
    }

    #[test]
    fn capped_paths() {
        let short = capped_path(&[SegRef::Key("items"), SegRef::Index(3), SegRef::Key("a b")]);
        assert!(!short.cut);
        assert_eq!(short.rendered, r#"$.items[3]["a b"]"#);
        assert_eq!(short.rendered, render_path(&short.segments));

        // One long key: cut on a char boundary, with the marker, in both forms.
        let long = "é".repeat(MAX_KEY_BYTES);
        let capped = capped_path(&[SegRef::Key(&long), SegRef::Index(0)]);
        assert!(capped.cut);
        let PathSegment::Key(kept) = &capped.segments[0] else {
            panic!("a key")
        };
        assert!(kept.len() <= MAX_KEY_BYTES && kept.ends_with(CUT_MARKER));
        assert_eq!(capped.segments[1], PathSegment::Index(0));
        assert_eq!(capped.rendered, render_path(&capped.segments));
        // A key of exactly the limit is kept.
        let exact = "k".repeat(MAX_KEY_BYTES);
        let capped = capped_path(&[SegRef::Key(&exact)]);
        assert!(!capped.cut);
        assert_eq!(capped.segments, [PathSegment::Key(exact.clone())]);

        // Many segments: the leading ones that fit, then the marker.
        let many: Vec<SegRef<'_>> = (0..40).map(|_| SegRef::Key(&exact)).collect();
        let capped = capped_path(&many);
        assert!(capped.cut);
        assert!(capped.rendered.len() <= MAX_PATH_BYTES);
        assert!(capped.rendered.ends_with(CUT_MARKER));
        assert_eq!(
            capped.segments.len(),
            (MAX_PATH_BYTES - 1 - 3) / (MAX_KEY_BYTES + 1)
        );
        assert_eq!(
            capped.rendered,
            format!("{}{CUT_MARKER}", render_path(&capped.segments))
        );
        // Escaped control characters count at their rendered size.
        let control = "\u{1}".repeat(MAX_KEY_BYTES);
        let capped = capped_path(&[SegRef::Key(&control), SegRef::Key(&control)]);
        assert!(capped.rendered.len() <= MAX_PATH_BYTES);
        assert_eq!(capped.segments.len(), 1);
        // A path that fits exactly is not marked.
        let indices: Vec<SegRef<'_>> = (0..(MAX_PATH_BYTES - 1) / 3)
            .map(|_| SegRef::Index(0))
            .collect();
        let capped = capped_path(&indices);
        assert!(!capped.cut && capped.rendered.len() == MAX_PATH_BYTES);
    }

    #[test]
    fn segments_serialize_untagged() {
        let segs = path(&[&"a", &2usize]);
        assert_eq!(serde_json::to_string(&segs).unwrap(), r#"["a",2]"#);
        let back: Vec<PathSegment> = serde_json::from_str(r#"["a",2]"#).unwrap();
        assert_eq!(back, segs);
    }
}
