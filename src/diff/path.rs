//! JSON paths and path patterns.
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
//! # Size caps on reported paths
//!
//! A map key is data, and can be as long as any value. The paths a
//! [`Diff`](crate::diff::Diff) reports are therefore capped like its values:
//! every key segment is cut to at most [`MAX_KEY_BYTES`] bytes (ending in
//! `…`), and a rendered path to at most [`MAX_PATH_BYTES`] bytes (the
//! segments that do not fit are dropped and the text ends in `…`). See
//! [`Difference::path_cut`](crate::diff::Difference::path_cut).
//! [`render_path`] itself renders whatever it is given, uncapped.

use crate::text::{cut_point, push_json_string, CUT_MARKER};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
/// [`PathPattern`] that matches exactly this path.
///
/// ```
/// use darklaunch::path::{render_path, PathSegment};
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

fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One element of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Token {
    /// An exact object key.
    Key(String),
    /// An exact array index.
    Index(usize),
    /// `*`: any single key or index.
    Any,
    /// `[*]`: any single index.
    AnyIndex,
    /// `..`: zero or more segments.
    Descent,
}

/// A pattern selecting JSON paths, such as `$.items[*].price` or `$..id`.
///
/// See the [module documentation](self) for the syntax. Parse with
/// [`PathPattern::parse`] or [`str::parse`]; [`Display`](fmt::Display)
/// renders the pattern back in canonical form, which parses to an equal
/// pattern. Serializes as that string.
///
/// ```
/// use darklaunch::path::{PathPattern, PathSegment};
///
/// let price: PathPattern = "$.items[*].price".parse()?;
/// let path = [
///     PathSegment::from("items"),
///     PathSegment::Index(3),
///     PathSegment::from("price"),
/// ];
/// assert!(price.matches(&path));
/// assert!(!price.matches(&path[..2])); // matching is full-length
///
/// // A pattern that matches a prefix covers the whole subtree.
/// let items = PathPattern::parse("$.items")?;
/// assert!(!items.matches(&path));
/// assert!(items.matches_prefix_of(&path));
///
/// // `..` is recursive descent: any depth, including zero.
/// let any_id = PathPattern::parse("$..id")?;
/// assert!(any_id.matches(&[PathSegment::from("id")]));
/// assert!(any_id.matches(&[PathSegment::from("a"), PathSegment::Index(0), PathSegment::from("id")]));
///
/// // Errors say what is wrong and where.
/// let err = PathPattern::parse("$.items[2").unwrap_err();
/// assert_eq!(err.offset(), 7);
/// assert!(err.to_string().contains("unterminated bracket"));
/// # Ok::<(), darklaunch::path::PathPatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathPattern {
    tokens: Vec<Token>,
    /// `Some(n)` when the pattern has no `..` and so only matches paths of
    /// length `n`.
    fixed_len: Option<usize>,
}

impl PathPattern {
    /// Parses a pattern such as `$.items[*].price`, `$.user.*`, `$..id`,
    /// `$.a["b c"]` or `$.items[2]`.
    ///
    /// # Errors
    ///
    /// Returns a [`PathPatternError`] describing the problem and its byte
    /// offset, e.g. a missing leading `$`, an unterminated bracket or an
    /// empty key. Never panics.
    pub fn parse(pattern: &str) -> Result<Self, PathPatternError> {
        Parser {
            src: pattern,
            bytes: pattern.as_bytes(),
            pos: 0,
        }
        .parse()
    }

    /// Returns true if the pattern matches `path` exactly (full length).
    pub fn matches(&self, path: &[PathSegment]) -> bool {
        self.matches_segments(path, false)
    }

    /// Returns true if the pattern matches `path` or any prefix of it,
    /// i.e. if `path` lies in a subtree selected by the pattern.
    pub fn matches_prefix_of(&self, path: &[PathSegment]) -> bool {
        self.matches_segments(path, true)
    }

    /// Matching over any segment representation. With `prefix`, a match of
    /// any prefix of `path` counts.
    pub(crate) fn matches_segments<S: AsSegRef>(&self, path: &[S], prefix: bool) -> bool {
        if let Some(n) = self.fixed_len {
            if path.len() < n || (!prefix && path.len() != n) {
                return false;
            }
        }
        // Glob matching where `..` is a star over segments and every other
        // token matches exactly one segment. Backtracking to the most recent
        // `..` is sufficient for this class of patterns.
        let tokens = &self.tokens;
        let (mut t, mut s) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(Token::Descent) = tokens.get(t) {
                star = Some((t + 1, s));
                t += 1;
                continue;
            }
            if t == tokens.len() && (prefix || s == path.len()) {
                return true;
            }
            if let (Some(token), Some(segment)) = (tokens.get(t), path.get(s)) {
                if token_matches(token, segment.seg_ref()) {
                    t += 1;
                    s += 1;
                    continue;
                }
            }
            match star {
                Some((star_t, star_s)) if star_s < path.len() => {
                    star = Some((star_t, star_s + 1));
                    t = star_t;
                    s = star_s + 1;
                }
                _ => return false,
            }
        }
    }
}

fn token_matches(token: &Token, segment: SegRef<'_>) -> bool {
    match (token, segment) {
        (Token::Key(k), SegRef::Key(s)) => k == s,
        (Token::Index(i), SegRef::Index(j)) => *i == j,
        (Token::Any, _) => true,
        (Token::AnyIndex, SegRef::Index(_)) => true,
        _ => false,
    }
}

impl FromStr for PathPattern {
    type Err = PathPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PathPattern::parse(s)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("$");
        let mut after_descent = false;
        for token in &self.tokens {
            match token {
                Token::Descent => out.push_str(".."),
                Token::Key(k) if after_descent && is_identifier(k) => out.push_str(k),
                Token::Key(k) => push_segment(&mut out, SegRef::Key(k)),
                Token::Index(i) => push_segment(&mut out, SegRef::Index(*i)),
                Token::Any if after_descent => out.push('*'),
                Token::Any => out.push_str(".*"),
                Token::AnyIndex => out.push_str("[*]"),
            }
            after_descent = matches!(token, Token::Descent);
        }
        f.write_str(&out)
    }
}

impl Serialize for PathPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PathPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Error returned when a [`PathPattern`] cannot be parsed.
///
/// Displays as e.g.
/// `invalid path pattern "$.items[2" at byte 7: unterminated bracket: '[' is never closed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPatternError {
    input: String,
    offset: usize,
    message: String,
}

impl PathPatternError {
    /// Byte offset in the input where the problem was detected.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What is wrong, without the input and offset.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The pattern text that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for PathPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid path pattern {:?} at byte {}: {}",
            self.input, self.offset, self.message
        )
    }
}

impl std::error::Error for PathPatternError {}

struct Parser<'s> {
    src: &'s str,
    bytes: &'s [u8],
    /// Always on a char boundary.
    pos: usize,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<PathPattern, PathPatternError> {
        match self.bytes.first() {
            Some(b'$') => self.pos = 1,
            Some(_) => {
                return Err(self.err(
                    0,
                    format!(
                        "a path pattern must start with '$', found {}",
                        self.describe(0)
                    ),
                ))
            }
            None => return Err(self.err(0, "empty pattern; a path pattern must start with '$'")),
        }
        let mut tokens = Vec::new();
        while let Some(&byte) = self.bytes.get(self.pos) {
            match byte {
                b'.' if self.bytes.get(self.pos + 1) == Some(&b'.') => {
                    let at = self.pos;
                    self.pos += 2;
                    tokens.push(Token::Descent);
                    match self.bytes.get(self.pos) {
                        None => {
                            return Err(self.err(
                                at,
                                "'..' at end of pattern; it must be followed by a key, '*' or '['",
                            ))
                        }
                        Some(b'[') => tokens.push(self.bracket()?),
                        Some(b'.') => {
                            return Err(self.err(
                                self.pos,
                                "unexpected '.' after '..'; expected a key, '*' or '['",
                            ))
                        }
                        Some(_) => tokens.push(self.dot_member(at)?),
                    }
                }
                b'.' => {
                    let at = self.pos;
                    self.pos += 1;
                    tokens.push(self.dot_member(at)?);
                }
                b'[' => tokens.push(self.bracket()?),
                _ => {
                    return Err(self.err(
                        self.pos,
                        format!(
                            "unexpected {}; expected '.' or '['",
                            self.describe(self.pos)
                        ),
                    ))
                }
            }
        }
        let fixed_len = if tokens.contains(&Token::Descent) {
            None
        } else {
            Some(tokens.len())
        };
        Ok(PathPattern { tokens, fixed_len })
    }

    /// Parses what follows `.` or `..` (at `self.pos`): `*` or a dot key.
    fn dot_member(&mut self, dot_at: usize) -> Result<Token, PathPatternError> {
        if self.bytes.get(self.pos) == Some(&b'*') {
            self.pos += 1;
            return Ok(Token::Any);
        }
        let rest = self.src.get(self.pos..).unwrap_or("");
        let len = rest
            .char_indices()
            .find(|&(_, c)| !is_dot_key_char(c))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(match rest.chars().next() {
                None => self.err(dot_at, "empty key: '.' at end of pattern"),
                Some(c) => self.err(
                    self.pos,
                    format!(
                        "empty key: expected a key or '*' after '.', found {c:?} \
                         (use [\"...\"] for keys with special characters)"
                    ),
                ),
            });
        }
        let key = rest.get(..len).unwrap_or("").to_owned();
        self.pos += len;
        Ok(Token::Key(key))
    }

    /// Parses a bracket segment starting at `self.pos` (which holds `[`).
    fn bracket(&mut self) -> Result<Token, PathPatternError> {
        let open = self.pos;
        self.pos += 1;
        let token = match self.bytes.get(self.pos) {
            None => return Err(self.unterminated(open)),
            Some(b'*') => {
                self.pos += 1;
                Token::AnyIndex
            }
            Some(b) if b.is_ascii_digit() => {
                let start = self.pos;
                while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
                let digits = self.src.get(start..self.pos).unwrap_or("");
                match digits.parse::<usize>() {
                    Ok(index) => Token::Index(index),
                    Err(_) => {
                        return Err(self.err(start, format!("array index {digits} is too large")))
                    }
                }
            }
            Some(b'"') => Token::Key(self.quoted()?),
            Some(b'-') => {
                return Err(self.err(self.pos, "negative array indices are not supported"));
            }
            Some(b']') => return Err(self.err(open, format!("empty brackets; {BRACKET_CONTENT}"))),
            Some(_) => {
                return Err(self.err(
                    self.pos,
                    format!(
                        "unexpected {} inside brackets; {BRACKET_CONTENT}",
                        self.describe(self.pos)
                    ),
                ))
            }
        };
        match self.bytes.get(self.pos) {
            Some(b']') => {
                self.pos += 1;
                Ok(token)
            }
            None => Err(self.unterminated(open)),
            Some(_) => Err(self.err(
                self.pos,
                format!(
                    "expected ']' to close the bracket opened at byte {open}, found {}",
                    self.describe(self.pos)
                ),
            )),
        }
    }

    /// Parses a JSON string literal starting at `self.pos` (which holds `"`).
    fn quoted(&mut self) -> Result<String, PathPatternError> {
        let quote = self.pos;
        let mut i = quote + 1;
        loop {
            match self.bytes.get(i) {
                None => {
                    return Err(self.err(
                        quote,
                        "unterminated bracket: quoted key has no closing '\"'",
                    ))
                }
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let literal = self.src.get(quote..=i).unwrap_or("");
        let key = serde_json::from_str::<String>(literal)
            .map_err(|e| self.err(quote, format!("invalid quoted key: {e}")))?;
        self.pos = i + 1;
        Ok(key)
    }

    fn unterminated(&self, open: usize) -> PathPatternError {
        self.err(open, "unterminated bracket: '[' is never closed")
    }

    fn describe(&self, pos: usize) -> String {
        match self.src.get(pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of pattern".to_owned(),
        }
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> PathPatternError {
        PathPatternError {
            input: self.src.to_owned(),
            offset,
            message: message.into(),
        }
    }
}

const BRACKET_CONTENT: &str = "expected an index, '*' or a double-quoted key";

fn is_dot_key_char(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '*' | '"' | '\'') && !c.is_whitespace() && !c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        match PathPattern::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn path(segments: &[&dyn ToSeg]) -> Vec<PathSegment> {
        segments.iter().map(|s| s.to_seg()).collect()
    }

    trait ToSeg {
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
    fn parses_and_displays_canonically() {
        for (input, canonical) in [
            ("$", "$"),
            ("$.items[*].price", "$.items[*].price"),
            ("$.user.*", "$.user.*"),
            ("$..id", "$..id"),
            ("$..*", "$..*"),
            ("$..[0]", "$..[0]"),
            ("$..[\"a b\"]", "$..[\"a b\"]"),
            ("$.a[\"b c\"]", "$.a[\"b c\"]"),
            ("$[\"plain\"]", "$.plain"),
            ("$.items[2]", "$.items[2]"),
            ("$.items[007]", "$.items[7]"),
            ("$.café", "$[\"café\"]"),
            ("$.a-b", "$[\"a-b\"]"),
            ("$[*][*]", "$[*][*]"),
            ("$[\"*\"]", "$[\"*\"]"),
            ("$.a..b..c", "$.a..b..c"),
        ] {
            let pattern = p(input);
            assert_eq!(pattern.to_string(), canonical, "{input}");
            assert_eq!(p(canonical), pattern, "{input}");
        }
        assert_eq!(p(r#"$["a\u0041\n"]"#), p(r#"$["aA\n"]"#));
        let via_from_str: PathPattern = "$.a".parse().unwrap();
        assert_eq!(via_from_str, p("$.a"));
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        for (input, offset, needle) in [
            ("", 0, "must start with '$'"),
            ("a.b", 0, "must start with '$'"),
            (".a", 0, "must start with '$'"),
            ("$.", 1, "empty key"),
            ("$.a.", 3, "empty key"),
            ("$.[0]", 2, "empty key"),
            ("$..", 1, "'..' at end"),
            ("$...a", 3, "unexpected '.' after '..'"),
            ("$a", 1, "expected '.' or '['"),
            ("$.items[2", 7, "unterminated bracket"),
            ("$.items[", 7, "unterminated bracket"),
            ("$[\"abc", 2, "unterminated bracket"),
            ("$[\"abc\"", 1, "unterminated bracket"),
            ("$[]", 1, "empty brackets"),
            ("$[-1]", 2, "negative"),
            ("$['a']", 2, "inside brackets"),
            ("$[ 1]", 2, "inside brackets"),
            ("$[1 ]", 3, "expected ']'"),
            ("$[99999999999999999999999]", 2, "too large"),
            ("$[\"\\q\"]", 2, "invalid quoted key"),
            ("$.*x", 3, "expected '.' or '['"),
            ("$.a b", 3, "expected '.' or '['"),
        ] {
            let err = PathPattern::parse(input).expect_err(input);
            assert_eq!(err.offset(), offset, "{input}: {err}");
            assert!(err.to_string().contains(needle), "{input}: {err}");
            assert!(err.to_string().contains(&format!("at byte {offset}")));
            assert_eq!(err.input(), input);
            assert!(!err.message().is_empty());
        }
        let err: Box<dyn std::error::Error> = Box::new(PathPattern::parse("x").unwrap_err());
        assert!(err.to_string().starts_with("invalid path pattern \"x\""));
    }

    #[test]
    fn exact_matching() {
        let pat = p("$.items[*].price");
        assert!(pat.matches(&path(&[&"items", &0usize, &"price"])));
        assert!(pat.matches(&path(&[&"items", &99usize, &"price"])));
        assert!(!pat.matches(&path(&[&"items", &"0", &"price"])));
        assert!(!pat.matches(&path(&[&"items", &0usize])));
        assert!(!pat.matches(&path(&[&"items", &0usize, &"price", &"x"])));

        let user = p("$.user.*");
        assert!(user.matches(&path(&[&"user", &"email"])));
        assert!(user.matches(&path(&[&"user", &3usize])));
        assert!(!user.matches(&path(&[&"user"])));

        let root = p("$");
        assert!(root.matches(&[]));
        assert!(!root.matches(&path(&[&"a"])));
        assert!(root.matches_prefix_of(&path(&[&"a", &1usize])));

        let idx = p("$.items[2]");
        assert!(idx.matches(&path(&[&"items", &2usize])));
        assert!(!idx.matches(&path(&[&"items", &3usize])));

        let spaced = p("$.a[\"b c\"]");
        assert!(spaced.matches(&path(&[&"a", &"b c"])));
    }

    #[test]
    fn descent_matching() {
        let id = p("$..id");
        assert!(id.matches(&path(&[&"id"])));
        assert!(id.matches(&path(&[&"a", &"id"])));
        assert!(id.matches(&path(&[&"a", &3usize, &"b", &"id"])));
        assert!(id.matches(&path(&[&"id", &"id"])));
        assert!(!id.matches(&path(&[&"id", &"x"])));
        assert!(!id.matches(&[]));
        assert!(id.matches_prefix_of(&path(&[&"a", &"id", &"x"])));
        assert!(!id.matches_prefix_of(&path(&[&"a", &"b"])));

        let mid = p("$.a..b.c");
        assert!(mid.matches(&path(&[&"a", &"b", &"c"])));
        assert!(mid.matches(&path(&[&"a", &"x", &"b", &"b", &"c"])));
        assert!(!mid.matches(&path(&[&"a", &"b", &"c", &"d"])));
        assert!(mid.matches_prefix_of(&path(&[&"a", &"b", &"c", &"d"])));
        assert!(!mid.matches(&path(&[&"x", &"b", &"c"])));

        let two = p("$..a..b");
        assert!(two.matches(&path(&[&"a", &"b"])));
        assert!(two.matches(&path(&[&"x", &"a", &"y", &"z", &"b"])));
        assert!(!two.matches(&path(&[&"b", &"a"])));

        let any_index = p("$..[*]");
        assert!(any_index.matches(&path(&[&"a", &1usize])));
        assert!(!any_index.matches(&path(&[&1usize, &"a"])));
    }

    #[test]
    fn prefix_matching() {
        let items = p("$.items");
        assert!(items.matches_prefix_of(&path(&[&"items"])));
        assert!(items.matches_prefix_of(&path(&[&"items", &1usize, &"x"])));
        assert!(!items.matches_prefix_of(&[]));
        assert!(!items.matches_prefix_of(&path(&[&"other", &"items"])));
    }

    #[test]
    fn serde_round_trip() {
        let pat = p("$..[\"a b\"][*]");
        let json = serde_json::to_string(&pat).unwrap();
        assert_eq!(json, r#""$..[\"a b\"][*]""#);
        let back: PathPattern = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pat);
        assert!(serde_json::from_str::<PathPattern>(r#""nope""#).is_err());

        let segs = path(&[&"a", &2usize]);
        assert_eq!(serde_json::to_string(&segs).unwrap(), r#"["a",2]"#);
        let back: Vec<PathSegment> = serde_json::from_str(r#"["a",2]"#).unwrap();
        assert_eq!(back, segs);
    }
}
