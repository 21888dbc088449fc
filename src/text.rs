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

/// `message` formatted, cut to `max_bytes` (ending in `…` when cut). Stops formatting at the
/// cap, so a `Display` that would write without end holds no more than the cap.
pub(crate) fn capped_text(message: impl std::fmt::Display, max_bytes: usize) -> String {
    struct Bounded {
        out: String,
        max: usize,
        cut: bool,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let room = self.max.saturating_sub(self.out.len());
            if s.len() <= room {
                self.out.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.out.push_str(s.get(..end).unwrap_or(""));
            self.cut = true;
            Err(std::fmt::Error)
        }
    }
    let mut bounded = Bounded {
        out: String::new(),
        max: max_bytes,
        cut: false,
    };
    let _ = std::fmt::Write::write_fmt(&mut bounded, format_args!("{message}"));
    if bounded.cut {
        while bounded.out.len() + CUT_MARKER.len_utf8() > max_bytes && bounded.out.pop().is_some() {
        }
        bounded.out.push(CUT_MARKER);
    }
    bounded.out
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn capped_text_stops_at_the_cap_on_char_boundaries() {
        assert_eq!(capped_text("short", 10), "short");
        let cut = capped_text("éééééééé", 8);
        assert!(cut.len() <= 8 && cut.ends_with(CUT_MARKER), "{cut}");
        assert_eq!(capped_text("abcdefgh", 8), "abcdefgh");
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
