//! Serving a candidate: a sticky share of keys gets the candidate's result, with the control
//! run as the shadow (and as the fallback).

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::ConfigError;
use crate::guard::Guard;
use crate::sample::{below, threshold_for};

/// The share of keys (0 to 100 %) whose calls get the served candidate's result; changed at
/// runtime from any thread (by hand, or by a flag service through
/// `darklaunch::flags`), the next call sees the change. Cheap to clone: clones share one
/// share.
///
/// A call with a key ([`Trial::key`](crate::Trial::key)) is served by a stable hash of the key,
/// independent of keyed sampling's: the same key gets the same answer on every call, instance
/// and restart, and raising the share only adds keys. A call without a key is drawn at random.
///
/// ```
/// use darklaunch::ServeShare;
///
/// let share = ServeShare::new(10.0);
/// share.set_percent(25.0).unwrap();
/// assert_eq!(share.percent(), 25.0);
/// assert!(share.set_percent(f64::NAN).is_err()); // refused; 25 % stays
/// assert_eq!(share.percent(), 25.0);
/// ```
#[derive(Clone)]
pub struct ServeShare {
    state: Arc<ShareState>,
}

struct ShareState {
    threshold: AtomicU64,
    percent_bits: AtomicU64,
    /// A bad initial share, reported by `build`.
    invalid: Option<f64>,
}

impl ServeShare {
    /// A share of `percent` (0 to 100). A bad value is a [`ConfigError`] at `build`.
    pub fn new(percent: f64) -> Self {
        let (threshold, invalid) = match threshold_for(percent) {
            Ok(threshold) => (threshold, None),
            Err(_) => (0, Some(percent)),
        };
        Self {
            state: Arc::new(ShareState {
                threshold: AtomicU64::new(threshold),
                percent_bits: AtomicU64::new(
                    if invalid.is_some() { 0.0f64 } else { percent }.to_bits(),
                ),
                invalid,
            }),
        }
    }

    /// Sets the share (0 to 100). A bad value (NaN, negative, over 100) is refused and the
    /// share stays as it was.
    pub fn set_percent(&self, percent: f64) -> Result<(), ConfigError> {
        let threshold = threshold_for(percent)
            .map_err(|_| ConfigError::InvalidServeShare { value: percent })?;
        self.state
            .percent_bits
            .store(percent.to_bits(), Ordering::Relaxed);
        self.state.threshold.store(threshold, Ordering::Release);
        Ok(())
    }

    /// The share now, in percent.
    pub fn percent(&self) -> f64 {
        f64::from_bits(self.state.percent_bits.load(Ordering::Relaxed))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self.state.invalid {
            Some(value) => Err(ConfigError::InvalidServeShare { value }),
            None => Ok(()),
        }
    }

    /// Whether a call with key hash `key` (or none: a random draw) is in the share.
    #[inline]
    fn includes(&self, key: Option<u64>) -> bool {
        let threshold = self.state.threshold.load(Ordering::Acquire);
        if threshold == 0 {
            return false;
        }
        let draw = match key {
            Some(hash) => serve_draw(hash),
            None => crate::random::Draws::Thread.u64(),
        };
        below(draw, threshold)
    }
}

/// The serving draw of a key: the sampling hash remixed (SplitMix64's finalizer with another
/// constant added), so that which keys are served does not follow which keys are sampled.
fn serve_draw(hash: u64) -> u64 {
    let mut z = hash ^ 0x5345_5256_4544_2121; // "SERVED!!"
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl fmt::Debug for ServeShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeShare")
            .field("percent", &self.percent())
            .finish()
    }
}

/// An experiment's served candidate.
pub(crate) struct Serving {
    pub(crate) candidate: Cow<'static, str>,
    pub(crate) share: ServeShare,
    /// The served candidate's guard: while it is not armed, every key gets the control's.
    pub(crate) guard: Option<Arc<Guard>>,
    /// Whether the served candidate's `Err` and panic reach the caller (instead of the
    /// control's result).
    pub(crate) propagate: bool,
    /// Whether the served candidate is the experiment's default one (the one-candidate run
    /// forms serve only it).
    pub(crate) default_candidate: bool,
}

impl Serving {
    /// Whether this call gets the served candidate's result.
    #[inline]
    pub(crate) fn serves(&self, key: Option<u64>) -> bool {
        self.share.includes(key) && self.guard.as_ref().is_none_or(|guard| guard.is_armed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_serves_that_share_of_keys_and_grows_by_adding_keys() {
        let share = ServeShare::new(10.0);
        let keys: Vec<u64> = (0..100_000u64)
            .map(|k| crate::sample::hash_with_seed(7, &k))
            .collect();
        let at_ten: Vec<bool> = keys.iter().map(|k| share.includes(Some(*k))).collect();
        let served = at_ten.iter().filter(|s| **s).count();
        assert!((9_400..10_600).contains(&served), "{served}");
        share.set_percent(30.0).unwrap();
        let at_thirty: Vec<bool> = keys.iter().map(|k| share.includes(Some(*k))).collect();
        assert!(at_ten
            .iter()
            .zip(&at_thirty)
            .all(|(ten, thirty)| !ten || *thirty));
        share.set_percent(0.0).unwrap();
        assert!(keys.iter().all(|k| !share.includes(Some(*k))));
        share.set_percent(100.0).unwrap();
        assert!(keys.iter().all(|k| share.includes(Some(*k))));
    }

    #[test]
    fn bad_shares_are_refused() {
        for bad in [f64::NAN, -1.0, 100.5, f64::INFINITY] {
            assert!(matches!(
                ServeShare::new(bad).validate(),
                Err(ConfigError::InvalidServeShare { .. })
            ));
            let share = ServeShare::new(5.0);
            let error = share.set_percent(bad).unwrap_err();
            assert!(error.to_string().contains("serving share"), "{error}");
            assert_eq!(share.percent(), 5.0);
        }
    }

    #[test]
    fn the_serving_draw_is_independent_of_the_sampling_draw() {
        // Keys sampled at 10 % (hash below the threshold) are served at 10 % like any others.
        let threshold = threshold_for(10.0).unwrap();
        let share = ServeShare::new(10.0);
        let sampled: Vec<u64> = (0..200_000u64)
            .map(|k| crate::sample::hash_with_seed(3, &k))
            .filter(|hash| below(*hash, threshold))
            .collect();
        let served = sampled.iter().filter(|k| share.includes(Some(**k))).count();
        let share_of = served as f64 / sampled.len() as f64;
        assert!((0.085..0.115).contains(&share_of), "{share_of}");
    }
}
