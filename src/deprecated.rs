//! Old public paths, kept for one release (deprecated since 0.2.0).
//!
//! Every diff and path item has one path, in [`crate::diff`]. The aliases here keep the old
//! ones compiling with a deprecation warning: the crate-root `Diff`, `DiffKind`, `DiffOptions`
//! and `Difference`, and the `darklaunch::path` module. To drop them, delete this file and its
//! `mod deprecated` and `pub use deprecated::…` lines in `lib.rs`.

/// Deprecated alias of [`darklaunch::diff::Diff`](crate::diff::Diff).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::Diff")]
pub type Diff = crate::diff::Diff;

/// Deprecated alias of [`darklaunch::diff::DiffKind`](crate::diff::DiffKind); its variants
/// work through the alias too (`darklaunch::DiffKind::Added`, in expressions and patterns).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::DiffKind")]
pub type DiffKind = crate::diff::DiffKind;

/// Deprecated alias of [`darklaunch::diff::DiffOptions`](crate::diff::DiffOptions).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::DiffOptions")]
pub type DiffOptions = crate::diff::DiffOptions;

/// Deprecated alias of [`darklaunch::diff::Difference`](crate::diff::Difference).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::Difference")]
pub type Difference = crate::diff::Difference;

/// Deprecated: JSON paths and path patterns now live in [`darklaunch::diff`](crate::diff)
/// (see its [paths section](crate::diff#paths-and-path-patterns)).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff")]
pub mod path {
    /// Deprecated alias of [`darklaunch::diff::PathSegment`](crate::diff::PathSegment).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::PathSegment")]
    pub type PathSegment = crate::diff::PathSegment;

    /// Deprecated alias of [`darklaunch::diff::PathPattern`](crate::diff::PathPattern).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::PathPattern")]
    pub type PathPattern = crate::diff::PathPattern;

    /// Deprecated alias of [`darklaunch::diff::PathPatternError`](crate::diff::PathPatternError).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::PathPatternError")]
    pub type PathPatternError = crate::diff::PathPatternError;

    /// Deprecated: [`darklaunch::diff::MAX_KEY_BYTES`](crate::diff::MAX_KEY_BYTES).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::MAX_KEY_BYTES")]
    pub const MAX_KEY_BYTES: usize = crate::diff::MAX_KEY_BYTES;

    /// Deprecated: [`darklaunch::diff::MAX_PATH_BYTES`](crate::diff::MAX_PATH_BYTES).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::MAX_PATH_BYTES")]
    pub const MAX_PATH_BYTES: usize = crate::diff::MAX_PATH_BYTES;

    /// Deprecated: calls [`darklaunch::diff::render_path`](crate::diff::render_path).
    #[deprecated(since = "0.2.0", note = "use darklaunch::diff::render_path")]
    pub fn render_path(segments: &[crate::diff::PathSegment]) -> String {
        crate::diff::render_path(segments)
    }
}

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use serde_json::json;

    /// The old paths name the same items: types, enum variants (built and matched), struct
    /// literals, associated functions, constants and functions.
    #[test]
    fn old_paths_still_work() {
        let options: crate::DiffOptions = crate::DiffOptions::new().max_differences(4);
        let diff: crate::Diff = crate::diff::diff_values(&json!({"a": 1}), &json!({}), &options);
        let first: &crate::Difference = &diff.differences[0];
        assert!(matches!(first.kind, crate::DiffKind::Removed));
        let kind = match first.kind {
            crate::DiffKind::Removed => crate::DiffKind::Added,
            other => other,
        };
        assert_eq!(kind, crate::diff::DiffKind::Added);
        let built = crate::Difference {
            path: "$".to_owned(),
            segments: Vec::new(),
            kind: crate::DiffKind::Changed,
            control: None,
            candidate: None,
            truncated: false,
            path_cut: false,
        };
        assert_eq!(built.to_string(), "$: changed");
        assert!(crate::Diff::default().is_empty());

        use crate::path::{render_path, PathPattern, PathPatternError, PathSegment};
        let segments = [PathSegment::from("a"), PathSegment::Index(2)];
        assert!(matches!(segments[1], PathSegment::Index(2)));
        assert!(matches!(&segments[0], PathSegment::Key(k) if k == "a"));
        assert_eq!(render_path(&segments), "$.a[2]");
        let pattern: PathPattern = PathPattern::parse("$.a[*]").unwrap();
        assert!(pattern.matches(&segments));
        let error: PathPatternError = PathPattern::parse("a").unwrap_err();
        assert_eq!(error.offset(), 0);
        assert_eq!(crate::path::MAX_KEY_BYTES, crate::diff::MAX_KEY_BYTES);
        assert_eq!(crate::path::MAX_PATH_BYTES, crate::diff::MAX_PATH_BYTES);
    }
}
