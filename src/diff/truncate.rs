//! The cap on each reported value ([`DiffOptions::max_value_chars`](super::DiffOptions::max_value_chars)).

use std::borrow::Cow;
use std::io;

use serde_json::Value;

/// Takes `value`, or replaces it with a truncated rendering if its compact
/// JSON exceeds `limit` characters.
pub(super) fn limit_value(value: Cow<'_, Value>, limit: usize, truncated: &mut bool) -> Value {
    if limit == usize::MAX {
        return value.into_owned();
    }
    let mut writer = LimitedWriter {
        buf: Vec::new(),
        chars: 0,
        limit,
        exceeded: false,
    };
    // The only possible error is the writer refusing more output.
    let _ = serde_json::to_writer(&mut writer, value.as_ref());
    if !writer.exceeded {
        return value.into_owned();
    }
    *truncated = true;
    let mut text = String::from_utf8_lossy(&writer.buf).into_owned();
    text.push('…');
    Value::String(text)
}

/// Collects at most `limit` characters of UTF-8 output, then fails.
struct LimitedWriter {
    buf: Vec<u8>,
    chars: usize,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for (i, &byte) in bytes.iter().enumerate() {
            // Count characters by their first byte (not 0b10xx_xxxx).
            if byte & 0xC0 != 0x80 {
                if self.chars >= self.limit {
                    self.exceeded = true;
                    self.buf.extend_from_slice(bytes.get(..i).unwrap_or(&[]));
                    return Err(io::Error::other("value exceeds max_value_chars"));
                }
                self.chars += 1;
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{diff_values, DiffOptions};
    use serde_json::json;

    #[test]
    fn truncation() {
        let options = DiffOptions::new().max_value_chars(5);
        let diff = diff_values(
            &json!({"k": "short"}),
            &json!({"k": [1, 2, 3, 4]}),
            &options,
        );
        let x = &diff.differences[0];
        assert!(x.truncated);
        // "short" is 7 chars of JSON with quotes.
        assert_eq!(x.control, Some(json!("\"shor…")));
        assert_eq!(x.candidate, Some(json!("[1,2,…")));
        assert!(x.to_string().ends_with(" (truncated)"));

        let diff = diff_values(&json!("ab"), &json!("éèêëx"), &options);
        let x = &diff.differences[0];
        assert_eq!(x.control, Some(json!("ab")));
        assert_eq!(x.candidate, Some(json!("\"éèêë…")));

        let exact = diff_values(&json!(12345), &json!(1), &options);
        assert!(!exact.differences[0].truncated);
        assert_eq!(exact.differences[0].control, Some(json!(12345)));

        let zero = diff_values(&json!(1), &json!(2), &DiffOptions::new().max_value_chars(0));
        assert_eq!(zero.differences[0].control, Some(json!("…")));

        let big = json!("x".repeat(10_000));
        let unlimited = DiffOptions::new().max_value_chars(usize::MAX);
        let diff = diff_values(&big, &json!(1), &unlimited);
        assert_eq!(diff.differences[0].control, Some(big));
        assert!(!diff.differences[0].truncated);
    }
}
