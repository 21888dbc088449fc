//! Old public paths, kept for one release (deprecated since 0.2.0).
//!
//! Every public item has one path. The aliases here keep the old ones compiling with a
//! deprecation warning:
//! - diff and path items, now in [`crate::diff`]: the crate-root `Diff`, `DiffKind`,
//!   `DiffOptions` and `Difference`, and the `darklaunch::path` module;
//! - typestate markers, now in [`crate::trial`] and [`crate::builder`]: the crate-root
//!   `Control`, `Named`, `NoControl`, `DefaultCompare` and `CustomCompare`;
//! - noise calibration, now in the core ([`crate::noise`]): `darklaunch::insight::{NoiseCalibration,
//!   NoiseSnapshot, PathNoise, MAX_PATH_KEY, MAX_PATH_TEXT, fold_indices, noise_key}`.
//!
//! To drop them, delete this file and the `mod deprecated` and `pub use …deprecated…` lines in
//! `lib.rs` and `insight/mod.rs`.

#[cfg(feature = "serde")]
/// Deprecated alias of [`darklaunch::diff::Diff`](crate::diff::Diff).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::Diff")]
pub type Diff = crate::diff::Diff;

#[cfg(feature = "serde")]
/// Deprecated alias of [`darklaunch::diff::DiffKind`](crate::diff::DiffKind); its variants
/// work through the alias too (`darklaunch::DiffKind::Added`, in expressions and patterns).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::DiffKind")]
pub type DiffKind = crate::diff::DiffKind;

#[cfg(feature = "serde")]
/// Deprecated alias of [`darklaunch::diff::DiffOptions`](crate::diff::DiffOptions).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::DiffOptions")]
pub type DiffOptions = crate::diff::DiffOptions;

#[cfg(feature = "serde")]
/// Deprecated alias of [`darklaunch::diff::Difference`](crate::diff::Difference).
#[deprecated(since = "0.2.0", note = "use darklaunch::diff::Difference")]
pub type Difference = crate::diff::Difference;

#[cfg(feature = "serde")]
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

/// Moved to [`darklaunch::trial::Control`](crate::trial::Control).
#[deprecated(since = "0.2.0", note = "use darklaunch::trial::Control")]
pub type Control<F> = crate::trial::Control<F>;
/// Moved to [`darklaunch::trial::Named`](crate::trial::Named).
#[deprecated(since = "0.2.0", note = "use darklaunch::trial::Named")]
pub type Named<F> = crate::trial::Named<F>;
/// Moved to [`darklaunch::trial::NoControl`](crate::trial::NoControl).
#[deprecated(since = "0.2.0", note = "use darklaunch::trial::NoControl")]
pub type NoControl = crate::trial::NoControl;
/// Moved to [`darklaunch::builder::DefaultCompare`](crate::builder::DefaultCompare).
#[deprecated(since = "0.2.0", note = "use darklaunch::builder::DefaultCompare")]
pub type DefaultCompare = crate::builder::DefaultCompare;
/// Moved to [`darklaunch::builder::CustomCompare`](crate::builder::CustomCompare).
#[deprecated(since = "0.2.0", note = "use darklaunch::builder::CustomCompare")]
pub type CustomCompare<T> = crate::builder::CustomCompare<T>;

/// Noise calibration's old paths in `darklaunch::insight` (re-exported there).
#[cfg(feature = "insight")]
pub mod insight {
    /// Moved to [`darklaunch::noise::NoiseCalibration`](crate::noise::NoiseCalibration).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::NoiseCalibration")]
    pub type NoiseCalibration = crate::noise::NoiseCalibration;
    /// Moved to [`darklaunch::noise::NoiseSnapshot`](crate::noise::NoiseSnapshot).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::NoiseSnapshot")]
    pub type NoiseSnapshot = crate::noise::NoiseSnapshot;
    /// Moved to [`darklaunch::noise::PathNoise`](crate::noise::PathNoise).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::PathNoise")]
    pub type PathNoise = crate::noise::PathNoise;
    /// Moved to [`darklaunch::noise::MAX_PATH_KEY`](crate::noise::MAX_PATH_KEY).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::MAX_PATH_KEY")]
    pub const MAX_PATH_KEY: usize = crate::noise::MAX_PATH_KEY;
    /// Moved to [`darklaunch::noise::MAX_PATH_TEXT`](crate::noise::MAX_PATH_TEXT).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::MAX_PATH_TEXT")]
    pub const MAX_PATH_TEXT: usize = crate::noise::MAX_PATH_TEXT;

    /// Moved to [`darklaunch::noise::fold_indices`](crate::noise::fold_indices).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::fold_indices")]
    pub fn fold_indices(path: &[crate::diff::PathSegment]) -> String {
        crate::noise::fold_indices(path)
    }

    /// Moved to [`darklaunch::noise::noise_key`](crate::noise::noise_key).
    #[deprecated(since = "0.2.0", note = "use darklaunch::noise::noise_key")]
    pub fn noise_key(path: &[crate::diff::PathSegment]) -> String {
        crate::noise::noise_key(path)
    }
}

#[cfg(all(test, feature = "serde"))]
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

#[cfg(test)]
#[allow(deprecated)]
mod marker_tests {
    /// The old marker paths name the same types as the new ones.
    #[test]
    fn old_marker_paths_name_the_same_types() {
        fn same<A: 'static, B: 'static>() -> bool {
            std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>()
        }
        assert!(same::<crate::NoControl, crate::trial::NoControl>());
        assert!(same::<
            crate::Control<fn() -> u8>,
            crate::trial::Control<fn() -> u8>,
        >());
        assert!(same::<
            crate::Named<fn() -> u8>,
            crate::trial::Named<fn() -> u8>,
        >());
        assert!(same::<crate::DefaultCompare, crate::builder::DefaultCompare>());
        assert!(same::<
            crate::CustomCompare<u8>,
            crate::builder::CustomCompare<u8>,
        >());
        let experiment: crate::Experiment<u8> = crate::Experiment::builder("old").build().unwrap();
        let trial: crate::Trial<'_, u8, std::convert::Infallible, crate::NoControl> =
            experiment.trial();
        assert_eq!(trial.control(|| 1).candidate("v2", || 1).run(), 1);
    }

    /// Noise calibration's old paths in `darklaunch::insight` still build a calibration.
    #[cfg(feature = "insight")]
    #[test]
    fn old_noise_paths_still_work() {
        let calibration: crate::insight::NoiseCalibration =
            crate::insight::NoiseCalibration::new().percent(10.0);
        assert!(calibration.validate().is_ok());
        assert_eq!(crate::insight::MAX_PATH_KEY, crate::noise::MAX_PATH_KEY);
        assert_eq!(crate::insight::MAX_PATH_TEXT, crate::noise::MAX_PATH_TEXT);
        let segments = [crate::diff::PathSegment::Index(3)];
        assert_eq!(
            crate::insight::fold_indices(&segments),
            crate::noise::fold_indices(&segments)
        );
        assert_eq!(
            crate::insight::noise_key(&segments),
            crate::noise::noise_key(&segments)
        );
    }
}
