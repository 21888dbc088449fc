//! The entry points: [`diff`] and [`same`] for `Serialize` values, [`diff_values`] and
//! [`same_values`] for JSON values, and [`comparator`] for an experiment.

use serde::Serialize;
use serde_json::Value;

use super::walk::{Mode, Walker};
use super::{Diff, DiffOptions};
use crate::capture::CaptureError;

/// Serializes both values into [`serde_json::Value`]s and compares them with
/// [`diff_values`].
///
/// Serializing stops [`MAX_DEPTH`](super::MAX_DEPTH) levels deep (see the
/// [module docs](crate::diff#depth-limit)), and NaN and infinities keep their
/// identity (see [non-finite floats](crate::diff#non-finite-floats)).
///
/// # Errors
///
/// Returns the error if either value cannot be represented as a
/// [`serde_json::Value`]: its `Serialize` implementation fails, or a map key
/// is not a string, number, boolean or unit variant. The error's message is
/// cut to at most [`MAX_ERROR_TEXT`](super::MAX_ERROR_TEXT) bytes, since it can quote the value.
///
/// ```
/// use darklaunch::diff::{diff, DiffKind, DiffOptions};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Order {
///     id: u32,
///     total: f64,
///     tags: Vec<&'static str>,
/// }
///
/// let control = Order { id: 7, total: 10.0, tags: vec!["new", "gift"] };
/// let candidate = Order { id: 7, total: 12.5, tags: vec!["gift", "new"] };
///
/// let d = diff(&control, &candidate, &DiffOptions::new())?;
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.differences[0].kind, DiffKind::Reordered);
/// assert_eq!(d.to_string(), "$.tags: reordered\n$.total: changed 10.0 → 12.5");
///
/// // Equal values give an empty diff.
/// assert!(diff(&control, &control, &DiffOptions::new())?.is_empty());
///
/// // Options can ignore subtrees or compare arrays as multisets.
/// let options = DiffOptions::new()
///     .try_ignore_path("$.total")?
///     .try_unordered_arrays("$.tags")?;
/// let d = diff(&control, &candidate, &options)?;
/// assert!(d.is_empty());
/// assert_eq!(d.ignored, 1); // $.total differed, but is ignored
///
/// // Infinities keep their sign.
/// let d = diff(&f64::INFINITY, &f64::NEG_INFINITY, &DiffOptions::new())?;
/// assert_eq!(d.to_string(), r#"$: changed "Infinity" → "-Infinity""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff<T: Serialize + ?Sized>(
    control: &T,
    candidate: &T,
    options: &DiffOptions,
) -> Result<Diff, serde_json::Error> {
    let control = crate::capture::capture(control).map_err(json_error)?;
    let candidate = crate::capture::capture(candidate).map_err(json_error)?;
    let mut out = diff_values(&control.value, &candidate.value, options);
    out.depth_cut |= control.depth_cut || candidate.depth_cut;
    Ok(out)
}

/// The capture's (already capped) error as a `serde_json::Error` with the same message.
fn json_error(error: CaptureError) -> serde_json::Error {
    <serde_json::Error as serde::ser::Error>::custom(error.message())
}

/// True if and only if [`diff`] of the two values under `options` would be
/// empty: no difference kept or omitted (ignored differences and a
/// [depth cut](Diff::depth_cut) do not count, as in [`Diff::is_empty`]).
///
/// Cheaper than `diff(..).is_empty()`: the walk stops at the first
/// difference and records nothing (no paths, no values). A value that
/// cannot be serialized gives `false`. Meant as a comparator for an
/// experiment that should judge values by the same rules its diffs report.
///
/// ```
/// use darklaunch::diff::{same, DiffOptions};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Quote {
///     price: f64,
///     quoted_at: u64,
/// }
///
/// let control = Quote { price: 10.0, quoted_at: 1_700_000_000 };
/// let candidate = Quote { price: 10.000_000_1, quoted_at: 1_700_000_042 };
/// assert!(!same(&control, &candidate, &DiffOptions::new()));
///
/// let options = DiffOptions::new()
///     .float_tolerance(1e-6)
///     .try_ignore_path("$.quoted_at")?;
/// assert!(same(&control, &candidate, &options));
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
pub fn same<T: Serialize + ?Sized>(control: &T, candidate: &T, options: &DiffOptions) -> bool {
    let Ok(control) = crate::capture::capture(control) else {
        return false;
    };
    let Ok(candidate) = crate::capture::capture(candidate) else {
        return false;
    };
    same_values(&control.value, &candidate.value, options)
}

/// A comparator for [`ExperimentBuilder::compare`](crate::ExperimentBuilder::compare) that
/// judges two values equal when their structural diff under `options` is empty — so ignore
/// paths, float tolerance and unordered arrays decide matches, as
/// `tower::ShadowResponse::json_compare` does for HTTP responses. Pair it with
/// [`ExperimentBuilder::diff`](crate::ExperimentBuilder::diff) under the same options to see
/// what differed in the mismatches.
///
/// ```
/// use darklaunch::diff::{comparator, DiffOptions};
/// use darklaunch::Experiment;
///
/// #[derive(Clone, PartialEq, serde::Serialize)]
/// struct Quote { total: u64, generated_at: u64 }
///
/// let options = DiffOptions::new().try_ignore_path("$.generated_at")?;
/// let experiment: Experiment<Quote> = Experiment::builder("quote-v2")
///     .compare(comparator(options.clone()))
///     .diff(options)
///     .build()?;
/// experiment.run(|| Quote { total: 5, generated_at: 1 }, || Quote { total: 5, generated_at: 2 });
/// assert_eq!(experiment.stats().matched, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn comparator<T: Serialize + ?Sized>(
    options: DiffOptions,
) -> impl Fn(&T, &T) -> bool + Send + Sync + 'static {
    move |control: &T, candidate: &T| same(control, candidate, &options)
}

/// [`same`] for values already in JSON: true if and only if
/// [`diff_values`] would return an empty diff. Allocates nothing unless it
/// has to match the elements of arrays compared as multisets.
///
/// ```
/// use darklaunch::diff::{same_values, DiffOptions};
/// use serde_json::json;
///
/// let options = DiffOptions::new().try_ignore_path("$..id")?;
/// assert!(same_values(&json!({"id": 1, "n": 2}), &json!({"id": 7, "n": 2}), &options));
/// assert!(!same_values(&json!({"n": 2}), &json!({"n": 3}), &options));
/// # Ok::<(), darklaunch::diff::PathPatternError>(())
/// ```
pub fn same_values(control: &Value, candidate: &Value, options: &DiffOptions) -> bool {
    Walker::new(options).compare(control, candidate, Mode::Check)
}

/// Compares two JSON values structurally (see the [module docs](crate::diff) for
/// the rules). Never panics, never recurses deeper than [`MAX_DEPTH`](super::MAX_DEPTH) levels
/// whatever the depth of the values, and allocates nothing when the values
/// are equal with their arrays in the same order and no ignored subtree
/// differs.
///
/// ```
/// use darklaunch::diff::{diff_values, DiffKind, DiffOptions};
/// use serde_json::json;
///
/// let control = json!({"user": {"email": "a@b.c"}, "items": [{"price": 10}]});
/// let candidate = json!({"user": {}, "items": [{"price": 12}]});
/// let d = diff_values(&control, &candidate, &DiffOptions::new());
/// assert_eq!(d.paths().collect::<Vec<_>>(), ["$.items[0].price", "$.user.email"]);
/// assert_eq!(d.differences[1].kind, DiffKind::Removed);
/// assert_eq!(
///     d.to_string(),
///     "$.items[0].price: changed 10 → 12\n$.user.email: removed \"a@b.c\""
/// );
/// ```
pub fn diff_values(control: &Value, candidate: &Value, options: &DiffOptions) -> Diff {
    let mut walker = Walker::new(options);
    walker.compare(control, candidate, Mode::Record);
    walker.out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::kinds;
    use super::super::DiffKind;
    use super::*;

    #[test]
    fn typed_diff() {
        #[derive(Serialize)]
        struct S {
            a: u8,
            b: Vec<u8>,
        }
        let result = diff(
            &S { a: 1, b: vec![1] },
            &S { a: 1, b: vec![] },
            &DiffOptions::new(),
        )
        .unwrap();
        assert_eq!(kinds(&result), [("$.b[0]", DiffKind::Removed)]);
        let bad = std::collections::HashMap::from([((1u8, 2u8), 3u8)]);
        assert!(diff(&bad, &bad, &DiffOptions::new()).is_err());
    }
}
