//! [`DiffOptions`]: what a diff compares, ignores, redacts and keeps.

use super::{PathPattern, PathPatternError};

/// Options for [`diff`](super::diff) and [`diff_values`](super::diff_values), built in
/// builder style.
///
/// `DiffOptions::default()` equals [`DiffOptions::new()`].
///
/// ```
/// use darklaunch::diff::DiffOptions;
///
/// let options = DiffOptions::new()
///     .max_differences(10)
///     .float_tolerance(1e-9)
///     .try_ignore_path("$..updated_at")?
///     .try_redact("$..password")?
///     .try_unordered_arrays("$.tags")?;
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DiffOptions {
    pub(super) max_differences: usize,
    pub(super) max_value_bytes: usize,
    pub(super) ignored: Vec<PathPattern>,
    pub(super) redacted: Vec<PathPattern>,
    pub(super) unordered: Vec<PathPattern>,
    float_tolerance: Option<f64>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DiffOptions {
    /// Default options: at most 32 differences kept, values longer than 256
    /// bytes of compact JSON truncated, nothing ignored or redacted,
    /// exact number comparison, all arrays ordered.
    pub fn new() -> Self {
        DiffOptions {
            max_differences: 32,
            max_value_bytes: 256,
            ignored: Vec::new(),
            redacted: Vec::new(),
            unordered: Vec::new(),
            float_tolerance: None,
        }
    }

    /// Keeps at most `n` differences; any further ones are only counted in
    /// [`Diff::omitted`](super::Diff::omitted). Differences are kept in walk order (sorted keys,
    /// ascending indices).
    pub fn max_differences(mut self, n: usize) -> Self {
        self.max_differences = n;
        self
    }

    /// Truncates reported values: a control or candidate value whose compact
    /// JSON text is longer than `n` bytes is replaced by a
    /// [`Value::String`](serde_json::Value::String) holding the longest prefix of that text
    /// of at most `n` bytes that ends on a character boundary (a character is never split),
    /// followed by `…`, and [`Difference::truncated`](super::Difference::truncated) is set.
    /// The default is 256 bytes; `usize::MAX` disables truncation.
    ///
    /// Bytes, like every other cap in the crate (the insight options, context text, paths),
    /// so a value's share of a log line or span event does not depend on its script.
    ///
    /// ```
    /// use darklaunch::diff::{diff_values, DiffOptions};
    /// use serde_json::json;
    ///
    /// let options = DiffOptions::new().max_value_bytes(6);
    /// let d = diff_values(&json!("abcdefgh"), &json!("€€€"), &options);
    /// // `"abcdefgh"` is 10 bytes of JSON: its first 6 are kept.
    /// assert_eq!(d.differences[0].control, Some(json!("\"abcde…")));
    /// // `"€€€"` is 11 bytes (a `€` takes 3): 4 bytes fit, and the cut stays before the
    /// // second `€` rather than inside it.
    /// assert_eq!(d.differences[0].candidate, Some(json!("\"€…")));
    /// assert!(d.differences[0].truncated);
    /// ```
    pub fn max_value_bytes(mut self, n: usize) -> Self {
        self.max_value_bytes = n;
        self
    }

    /// The old name of [`max_value_bytes`](Self::max_value_bytes), which it calls: `n` now
    /// counts **bytes** of compact JSON, no longer characters (the same for ASCII text).
    #[deprecated(
        since = "0.2.0",
        note = "use DiffOptions::max_value_bytes (the cap now counts bytes, not characters)"
    )]
    pub fn max_value_chars(self, n: usize) -> Self {
        self.max_value_bytes(n)
    }

    /// Skips every path matched by `pattern`, including whole subtrees below
    /// a matched path (see [`PathPattern::matches_prefix_of`]). May be given
    /// several times.
    ///
    /// - Nothing at or below an ignored path is reported, and a difference
    ///   is only reported when the values differ outside ignored subtrees
    ///   (array elements are matched with ignored fields left out, so an
    ///   array whose elements differ only in ignored fields is neither
    ///   Changed nor Reordered).
    /// - Each ignored place where control and candidate differ (or only one
    ///   of them has a value) is counted once in [`Diff::ignored`](super::Diff::ignored), however
    ///   much differs below it. An empty diff with `ignored > 0` means the
    ///   values differ only in ignored subtrees.
    /// - A value a difference reports (an Added or Removed object, a
    ///   TypeChanged array, a Reordered array) has every ignored subtree
    ///   inside it removed: an ignored object member is dropped, and an
    ///   ignored array element is replaced by the string [`IGNORED`](super::IGNORED), so
    ///   that the other elements keep their indices. Ignored subtrees inside
    ///   reported values are not counted in [`Diff::ignored`](super::Diff::ignored).
    ///
    /// ```
    /// use darklaunch::diff::{diff_values, DiffOptions, IGNORED};
    /// use serde_json::json;
    ///
    /// let options = DiffOptions::new().try_ignore_path("$..at")?;
    /// let control = json!({"at": 1, "items": [{"id": 1, "at": 1}]});
    /// let candidate = json!({"at": 2, "items": [{"id": 1, "at": 2}, {"id": 2, "at": 2}]});
    /// let d = diff_values(&control, &candidate, &options);
    /// assert_eq!(d.to_string(), r#"$.items[1]: added {"id":2}"#);
    /// assert_eq!(d.ignored, 2); // $.at and $.items[0].at
    ///
    /// let d = diff_values(&json!({"at": 1}), &json!({"at": 2}), &options);
    /// assert!(d.is_empty() && d.ignored == 1);
    ///
    /// let options = DiffOptions::new().try_ignore_path("$.list[0]")?;
    /// let d = diff_values(&json!(null), &json!({"list": ["secret", "kept"]}), &options);
    /// assert_eq!(d.differences[0].candidate, Some(json!({"list": [IGNORED, "kept"]})));
    /// # Ok::<(), darklaunch::diff::PathPatternError>(())
    /// ```
    pub fn ignore_path(mut self, pattern: PathPattern) -> Self {
        self.ignored.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`ignore_path`](Self::ignore_path).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_ignore_path(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.ignore_path(PathPattern::parse(pattern)?))
    }

    /// Keeps the values of every path matched by `pattern`, and of whole
    /// subtrees below a matched path, out of the report. May be given
    /// several times.
    ///
    /// Redacted subtrees are still compared: a difference at or below a
    /// redacted path is reported with its path and kind, but its control and
    /// candidate values (where present) are replaced by
    /// `Value::String(`[`REDACTED`](super::REDACTED)`)`. A difference reported above a
    /// redacted path — a [`DiffKind::Reordered`](super::DiffKind::Reordered) array, a
    /// [`DiffKind::TypeChanged`](super::DiffKind::TypeChanged) object, an Added or Removed
    /// object — carries its values with every redacted subtree inside them replaced by
    /// [`REDACTED`](super::REDACTED). Redaction happens before truncation
    /// ([`max_value_bytes`](Self::max_value_bytes)), so a truncated value
    /// never holds a prefix of redacted text.
    ///
    /// Paths themselves are kept: a difference below a redacted path still
    /// names the keys leading to it. To hide a map whose keys are sensitive,
    /// redact (or [ignore](Self::ignore_path)) the map and make sure its
    /// entries cannot differ, or drop them with the experiment's `clean`.
    ///
    /// In an experiment, redaction complements
    /// [`ExperimentBuilder::clean`](crate::ExperimentBuilder::clean):
    /// `clean` runs first (the diff is computed on cleaned values), then
    /// redaction, then truncation.
    ///
    /// ```
    /// use darklaunch::diff::{diff_values, DiffKind, DiffOptions, REDACTED};
    /// use serde_json::json;
    ///
    /// let options = DiffOptions::new().try_redact("$..password")?;
    /// let control = json!({"user": {"name": "ann", "password": "hunter2"}});
    /// let candidate = json!({"user": {"name": "bob", "password": "swordfish"}});
    /// let d = diff_values(&control, &candidate, &options);
    /// assert_eq!(
    ///     d.to_string(),
    ///     "$.user.name: changed \"ann\" → \"bob\"\n\
    ///      $.user.password: changed \"[redacted]\" → \"[redacted]\""
    /// );
    ///
    /// // Inside a value reported at a parent path, too.
    /// let d = diff_values(&json!({"user": null}), &candidate, &options);
    /// assert_eq!(d.differences[0].path, "$.user");
    /// assert_eq!(d.differences[0].kind, DiffKind::TypeChanged);
    /// assert_eq!(
    ///     d.differences[0].candidate,
    ///     Some(json!({"name": "bob", "password": REDACTED}))
    /// );
    /// # Ok::<(), darklaunch::diff::PathPatternError>(())
    /// ```
    pub fn redact(mut self, pattern: PathPattern) -> Self {
        self.redacted.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`redact`](Self::redact).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_redact(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.redact(PathPattern::parse(pattern)?))
    }

    /// Treats two numbers as equal when `|a - b| <= abs`.
    ///
    /// The tolerance is meant to be finite and non-negative, and is not
    /// validated: a NaN, negative or zero tolerance means exact comparison,
    /// and an infinite tolerance makes all numbers equal.
    pub fn float_tolerance(mut self, abs: f64) -> Self {
        self.float_tolerance = Some(abs);
        self
    }

    /// Compares arrays at paths matched (exactly) by `pattern` as multisets,
    /// ignoring element order. May be given several times.
    pub fn unordered_arrays(mut self, pattern: PathPattern) -> Self {
        self.unordered.push(pattern);
        self
    }

    /// Parses `pattern` and calls [`unordered_arrays`](Self::unordered_arrays).
    ///
    /// # Errors
    ///
    /// Returns the parse error if `pattern` is not a valid [`PathPattern`].
    pub fn try_unordered_arrays(self, pattern: &str) -> Result<Self, PathPatternError> {
        Ok(self.unordered_arrays(PathPattern::parse(pattern)?))
    }

    /// The tolerance in effect, if any.
    pub(super) fn tolerance(&self) -> Option<f64> {
        self.float_tolerance.filter(|t| *t > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Diff;
    use super::*;

    #[test]
    fn defaults() {
        let o = DiffOptions::default();
        assert_eq!(o.max_differences, 32);
        assert_eq!(o.max_value_bytes, 256);
        assert!(o.ignored.is_empty() && o.unordered.is_empty() && o.redacted.is_empty());
        assert!(o.tolerance().is_none());
        assert!(Diff::default().is_empty());
    }
}
