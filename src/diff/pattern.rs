//! [`PathPattern`]: patterns selecting JSON paths, their parser and [`PathPatternError`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::path::{is_identifier, push_segment, AsSegRef, PathSegment, SegRef};

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
/// See the [module docs](crate::diff#paths-and-path-patterns) for the syntax. Parse with
/// [`PathPattern::parse`] or [`str::parse`]; [`Display`](fmt::Display)
/// renders the pattern back in canonical form, which parses to an equal
/// pattern. Serializes as that string.
///
/// ```
/// use darklaunch::diff::{PathPattern, PathSegment};
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
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
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
    use super::super::test_support::path;
    use super::*;

    fn p(s: &str) -> PathPattern {
        match PathPattern::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
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
    }
}
