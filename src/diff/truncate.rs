//! The cap on each reported value
//! ([`DiffOptions::max_value_bytes`](super::DiffOptions::max_value_bytes)).

use std::borrow::Cow;
use std::io;

use serde_json::Value;

use crate::text::CUT_MARKER;

/// Takes `value`, or, if its compact JSON is longer than `limit` bytes, replaces it with the
/// longest prefix of that text of at most `limit` bytes ending on a character boundary,
/// followed by `…`. The JSON is never written further than the cap.
pub(super) fn limit_value(value: Cow<'_, Value>, limit: usize, truncated: &mut bool) -> Value {
    if limit == usize::MAX {
        return value.into_owned();
    }
    let mut writer = LimitedWriter {
        buf: Vec::new(),
        limit,
        exceeded: false,
    };
    // The only possible error is the writer refusing more output.
    let _ = serde_json::to_writer(&mut writer, value.as_ref());
    if !writer.exceeded {
        return value.into_owned();
    }
    *truncated = true;
    let mut text = match String::from_utf8(writer.buf) {
        Ok(text) => text,
        // The cap fell inside a character (serde_json writes valid UTF-8, so that is the only
        // invalid part): keep what precedes it.
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let mut bytes = error.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    };
    text.push(CUT_MARKER);
    Value::String(text)
}

/// Collects at most `limit` bytes of output, then fails.
struct LimitedWriter {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.buf.len());
        if bytes.len() <= room {
            self.buf.extend_from_slice(bytes);
            return Ok(bytes.len());
        }
        self.buf.extend_from_slice(bytes.get(..room).unwrap_or(&[]));
        self.exceeded = true;
        Err(io::Error::other("value exceeds max_value_bytes"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `value` as a reported value may be published: ignored and redacted subtrees handled as
/// [`DiffOptions`](super::DiffOptions) says, arrays and objects at the depth limit cut, and
/// the whole capped at its `max_value_bytes`. True when something was cut.
pub(crate) fn published_value(value: &Value, options: &super::DiffOptions) -> (Value, bool) {
    let (mut depth_cut, mut truncated) = (false, false);
    let scrubbed = super::redact::scrub(value, &[], options, &mut depth_cut);
    let value = limit_value(scrubbed, options.max_value_bytes, &mut truncated);
    (value, depth_cut || truncated)
}

#[cfg(test)]
mod tests {
    use super::super::{diff_values, DiffOptions};
    use serde_json::{json, Value};

    #[test]
    fn truncation() {
        let options = DiffOptions::new().max_value_bytes(5);
        let diff = diff_values(
            &json!({"k": "short"}),
            &json!({"k": [1, 2, 3, 4]}),
            &options,
        );
        let x = &diff.differences[0];
        assert!(x.truncated);
        // "short" is 7 bytes of JSON with quotes.
        assert_eq!(x.control, Some(json!("\"shor…")));
        assert_eq!(x.candidate, Some(json!("[1,2,…")));
        assert!(x.to_string().ends_with(" (truncated)"));

        // Bytes, not characters: `"éèêëx"` is 11 bytes of JSON; its first 5 are the quote
        // and two characters of 2 bytes each.
        let diff = diff_values(&json!("ab"), &json!("éèêëx"), &options);
        let x = &diff.differences[0];
        assert_eq!(x.control, Some(json!("ab")));
        assert_eq!(x.candidate, Some(json!("\"éè…")));

        let exact = diff_values(&json!(12345), &json!(1), &options);
        assert!(!exact.differences[0].truncated);
        assert_eq!(exact.differences[0].control, Some(json!(12345)));

        let zero = diff_values(&json!(1), &json!(2), &DiffOptions::new().max_value_bytes(0));
        assert_eq!(zero.differences[0].control, Some(json!("…")));

        let big = json!("x".repeat(10_000));
        let unlimited = DiffOptions::new().max_value_bytes(usize::MAX);
        let diff = diff_values(&big, &json!(1), &unlimited);
        assert_eq!(diff.differences[0].control, Some(big));
        assert!(!diff.differences[0].truncated);
    }

    /// The cap counts bytes and never splits a character: for every cap up to the text's
    /// length, what is kept is the longest prefix of the JSON text that fits in the cap and
    /// ends on a character boundary.
    #[test]
    fn the_cap_counts_bytes_and_never_splits_a_character() {
        // Characters of 1, 2, 3 and 4 bytes.
        let value = json!("aé€😀b€😀é");
        let text = serde_json::to_string(&value).unwrap();
        assert_eq!((text.len(), text.chars().count()), (22, 10));
        for cap in 0..text.len() {
            let options = DiffOptions::new().max_value_bytes(cap);
            let diff = diff_values(&value, &json!(null), &options);
            let x = &diff.differences[0];
            assert!(x.truncated, "cap {cap}");
            let Some(Value::String(kept)) = &x.control else {
                panic!("cap {cap}: {:?}", x.control)
            };
            let prefix = kept.strip_suffix('…').expect("ends in the marker");
            let expected = (0..=cap).rev().find(|&n| text.is_char_boundary(n)).unwrap();
            assert_eq!(prefix, &text[..expected], "cap {cap}");
            assert!(prefix.len() <= cap);
        }
        // Exactly the text's length in bytes keeps the value whole; two bytes less falls
        // inside the final `é` (2 bytes), which goes whole, leaving 19 bytes.
        let whole = DiffOptions::new().max_value_bytes(text.len());
        let diff = diff_values(&value, &json!(null), &whole);
        assert_eq!(diff.differences[0].control, Some(value.clone()));
        assert!(!diff.differences[0].truncated);
        let inside = DiffOptions::new().max_value_bytes(text.len() - 2);
        let diff = diff_values(&value, &json!(null), &inside);
        let expected = format!("{}…", &text[..text.len() - 3]);
        assert_eq!(diff.differences[0].control, Some(json!(expected)));
        // A cap counted in characters (22 bytes hold 10) would have kept it whole at 10.
        let ten = DiffOptions::new().max_value_bytes(10);
        assert!(diff_values(&value, &json!(null), &ten).differences[0].truncated);
    }

    /// The deprecated name sets the same cap, in bytes.
    #[test]
    #[allow(deprecated)]
    fn the_old_name_is_the_byte_cap() {
        let old = DiffOptions::new().max_value_chars(4);
        let new = DiffOptions::new().max_value_bytes(4);
        let value = json!("€€€");
        let a = diff_values(&value, &json!(1), &old);
        let b = diff_values(&value, &json!(1), &new);
        assert_eq!(a, b);
        assert_eq!(a.differences[0].control, Some(json!("\"€…")));
    }
}
