//! Text helpers: cutting text to a size cap without splitting a character, and writing JSON
//! string literals without a serializer.

#[cfg(any(feature = "serde", feature = "tracing"))]
use std::fmt::Write;

/// The marker appended where text was cut.
pub(crate) const CUT_MARKER: char = '…';

/// The longest prefix of `text` that fits in `max_bytes` once the cut marker is appended, or
/// `None` when `text` fits as it is.
pub(crate) fn cut_point(text: &str, max_bytes: usize) -> Option<usize> {
    if text.len() <= max_bytes {
        return None;
    }
    let mut cut = max_bytes.saturating_sub(CUT_MARKER.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(cut)
}

/// Text that grows to at most `max` bytes. Once something does not fit, it keeps what fits (on
/// a character boundary) and refuses the rest.
pub(crate) struct Bounded {
    out: String,
    max: usize,
    full: bool,
}

impl Bounded {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            out: String::new(),
            max,
            full: false,
        }
    }

    /// Appends `text`, or what fits of it; false once the cap is reached.
    pub(crate) fn put(&mut self, text: &str) -> bool {
        if self.full {
            return false;
        }
        let room = self.max - self.out.len();
        if text.len() <= room {
            self.out.push_str(text);
            return true;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&text[..cut]);
        self.full = true;
        false
    }

    /// How many more bytes fit.
    #[cfg_attr(not(feature = "insight"), allow(dead_code))]
    pub(crate) fn room(&self) -> usize {
        self.max - self.out.len()
    }

    /// Whether something was refused.
    #[cfg_attr(not(feature = "insight"), allow(dead_code))]
    pub(crate) fn is_cut(&self) -> bool {
        self.full
    }

    /// The text, at most `max` bytes: when something was refused, cut to leave room for `…`
    /// and ended with it. Its allocation fits its length.
    pub(crate) fn finish(self) -> String {
        let mut out = self.out;
        if self.full {
            let mut cut = self
                .max
                .saturating_sub(CUT_MARKER.len_utf8())
                .min(out.len());
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            if out.len() + CUT_MARKER.len_utf8() <= self.max {
                out.push(CUT_MARKER);
            }
        }
        out.shrink_to_fit();
        out
    }
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.put(s) {
            Ok(())
        } else {
            Err(std::fmt::Error)
        }
    }
}

/// `text` cut to `max` bytes (ending in `…` when cut), in an allocation that fits it.
#[cfg_attr(not(feature = "insight"), allow(dead_code))]
pub(crate) fn capped(text: &str, max: usize) -> String {
    let mut out = Bounded::new(max);
    out.put(text);
    out.finish()
}

/// `Display` output cut to `max` bytes (ending in `…` when cut), never formatted further than
/// the cap, so a `Display` (or a derived `Debug` through `format_args!`) that would write
/// without end, or recurse as deep as its value, stops there.
pub(crate) fn capped_display(value: impl std::fmt::Display, max: usize) -> String {
    let mut out = Bounded::new(max);
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{value}"));
    out.finish()
}

/// `text` with every control character (C0, DEL, C1) and every bidirectional-override
/// character written as an escape (`\n`, `\t`, `\u{1b}`), so that a context value, a
/// candidate name or a path cannot forge a line or send escape sequences to a terminal.
/// Borrowed when nothing needs escaping.
pub(crate) fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    fn needs_escape(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
#[cfg(any(feature = "serde", feature = "tracing"))]
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `time` clamped to 1970–9999, the years RFC 3339 text (and humantime, which panics outside
/// them) can show: a caller-set report time never panics the formatter.
#[cfg(feature = "serde")]
pub(crate) fn rfc3339_range(time: std::time::SystemTime) -> std::time::SystemTime {
    use std::time::{Duration, UNIX_EPOCH};
    let latest = UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_999);
    time.clamp(UNIX_EPOCH, latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_text_fits_its_cap_and_marks_the_cut() {
        assert_eq!(capped("short", 10), "short");
        assert_eq!(capped("abcdefghijk", 6), "abc…");
        assert_eq!(capped("abc", 0), "");
        let cut = capped(&"é".repeat(100), 9);
        assert!(
            cut.len() <= 9 && cut.ends_with('…') && cut.capacity() <= 9,
            "{cut:?}"
        );
    }

    #[test]
    fn cuts_fit_the_cap_and_respect_characters() {
        assert_eq!(cut_point("short", 10), None);
        let text = "ééééé"; // 10 bytes
        let cut = cut_point(text, 6).unwrap();
        assert!(text.is_char_boundary(cut));
        assert!(cut + CUT_MARKER.len_utf8() <= 6);
        assert_eq!(cut_point("abcdef", 2), Some(0));
    }

    #[test]
    fn capped_display_stops_at_the_cap_on_char_boundaries() {
        assert_eq!(capped_display("short", 10), "short");
        let cut = capped_display("éééééééé", 8);
        assert!(cut.len() <= 8 && cut.ends_with(CUT_MARKER), "{cut}");
        assert_eq!(capped_display("abcdefgh", 8), "abcdefgh");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(
            escape_control("plain é ✓"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape_control("u1\nverdict: safe"), "u1\\nverdict: safe");
        assert_eq!(escape_control("a\tb\r"), "a\\tb\\r");
        assert_eq!(escape_control("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(
            escape_control("\u{7f}\u{85}\u{202e}x"),
            "\\u{7f}\\u{85}\\u{202e}x"
        );
    }

    #[cfg(any(feature = "serde", feature = "tracing"))]
    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for text in [
            "plain",
            "quote\" back\\slash",
            "line\nfeed\ttab\u{1}\u{8}\u{c}",
            "é ✓",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            let parsed: String = serde_json_free_parse(&out);
            assert_eq!(parsed, text, "{out}");
        }
    }

    #[cfg(any(feature = "serde", feature = "tracing"))]
    /// Reads back a JSON string literal (enough of JSON for the test, without serde_json,
    /// which is optional).
    fn serde_json_free_parse(literal: &str) -> String {
        let inner = &literal[1..literal.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }
}
