//! A candidate of another type than the control, compared through a cross-type comparator.
//!
//! A rewrite often returns a new type: a `PriceV2 { cents: u64 }` where the old code returned
//! `Price { amount: f64 }`. An experiment over [`Cross<Old, New>`] holds either; the behaviours
//! wrap what they return ([`Cross::Control`], [`Cross::Candidate`]), and [`compare`] turns a
//! comparator of an `Old` with a `New` into the experiment's comparator. Everything else works
//! as for one type: verdicts, publishers, the insight, and (with `serde`) diffs, which show the
//! two shapes side by side since a `Cross` serializes as the value it holds.
//!
//! ```
//! use darklaunch::cross::{self, Cross};
//! use darklaunch::publish::Recorder;
//! use darklaunch::{Experiment, Verdict};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Price { amount: f64 }
//! #[derive(Clone, Debug, PartialEq)]
//! struct PriceV2 { cents: u64 }
//!
//! let recorder = Recorder::new();
//! let experiment: Experiment<Cross<Price, PriceV2>> = Experiment::builder("price-type")
//!     .compare(cross::compare(|old: &Price, new: &PriceV2| {
//!         (old.amount * 100.0).round() as u64 == new.cents
//!     }))
//!     .publisher(recorder.clone())
//!     .build()
//!     .unwrap();
//! let price = experiment.run(
//!     || Cross::Control(Price { amount: 12.5 }),
//!     || Cross::Candidate(PriceV2 { cents: 1250 }),
//! );
//! assert_eq!(price.into_control(), Some(Price { amount: 12.5 }));
//! assert_eq!(recorder.results()[0].candidates()[0].verdict(), Verdict::Match);
//! ```

/// The control's value of type `T` or a candidate's of type `U`: the value type of an
/// experiment whose candidate returns another type (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum Cross<T, U> {
    /// What the control returned.
    Control(T),
    /// What a candidate returned.
    Candidate(U),
}

impl<T, U> Cross<T, U> {
    /// The control's value; `None` for a candidate's (which a caller gets only when the
    /// experiment [serves](crate::ExperimentBuilder::serve) the candidate).
    pub fn into_control(self) -> Option<T> {
        match self {
            Cross::Control(value) => Some(value),
            Cross::Candidate(_) => None,
        }
    }

    /// The control's value, by reference.
    pub fn control(&self) -> Option<&T> {
        match self {
            Cross::Control(value) => Some(value),
            Cross::Candidate(_) => None,
        }
    }

    /// A candidate's value, by reference.
    pub fn candidate(&self) -> Option<&U> {
        match self {
            Cross::Candidate(value) => Some(value),
            Cross::Control(_) => None,
        }
    }
}

/// The experiment's comparator for a cross-type comparator `same`: a control's `T` and a
/// candidate's `U` are compared with `same` (in either order), two values of the same side
/// with `PartialEq` (noise calibration compares the control with itself).
pub fn compare<T: PartialEq, U: PartialEq>(
    same: impl Fn(&T, &U) -> bool + Send + Sync + 'static,
) -> impl Fn(&Cross<T, U>, &Cross<T, U>) -> bool + Send + Sync + 'static {
    move |a, b| match (a, b) {
        (Cross::Control(control), Cross::Candidate(candidate))
        | (Cross::Candidate(candidate), Cross::Control(control)) => same(control, candidate),
        (Cross::Control(a), Cross::Control(b)) => a == b,
        (Cross::Candidate(a), Cross::Candidate(b)) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_compared_across_and_within() {
        let same = compare(|a: &u8, b: &String| a.to_string() == *b);
        let (one, two) = (Cross::Control(1u8), Cross::Control(2u8));
        let text = |s: &str| Cross::<u8, String>::Candidate(s.to_owned());
        assert!(same(&one, &text("1")));
        assert!(same(&text("1"), &one));
        assert!(!same(&two, &text("1")));
        assert!(same(&one, &one.clone()) && !same(&one, &two));
        assert!(same(&text("x"), &text("x")) && !same(&text("x"), &text("y")));
        assert_eq!(one.control(), Some(&1));
        assert_eq!(text("a").candidate().map(String::as_str), Some("a"));
        assert_eq!(text("a").into_control(), None);
        assert_eq!(one.candidate(), None);
    }
}
