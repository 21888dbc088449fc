//! Samplers: where it is decided whether a call runs its candidates.
//!
//! A sampler is consulted once per call, before anything else happens. A call that is sampled
//! out runs only the control: nothing is allocated, no clock is read (except by a rate limit,
//! see [`Sampler::rate_limit`]), no candidate runs.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::random::Draws;

/// Decides which calls run their candidates.
///
/// Samplers are cheap to clone and combine with [`Sampler::and`]. Invalid settings (a
/// percentage that is NaN, negative or above 100, a zero rate) are reported by the
/// experiment's `build()` as a [`ConfigError`], never as a panic.
///
/// ```
/// use darklaunch::Sampler;
///
/// let five_percent = Sampler::percent(5.0);
/// let sticky = Sampler::keyed(1.0); // the same users every time, on every instance
/// let bounded = Sampler::percent(50.0).and(Sampler::rate_limit(100)); // ≤ 100 runs/s
/// let (sampler, handle) = Sampler::runtime(10.0); // adjustable from another thread
/// handle.kill(); // instantly stops new candidates
/// # let _ = (five_percent, sticky, bounded, sampler);
/// ```
#[derive(Clone)]
pub struct Sampler {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Always,
    Never,
    Random { threshold: u64 },
    Keyed { threshold: u64 },
    Runtime(Arc<RuntimeState>),
    When(Arc<dyn Fn() -> bool + Send + Sync>),
    RateLimit(Arc<RateLimiter>),
    All(Arc<[Sampler]>),
    Invalid(ConfigError),
}

impl Sampler {
    /// Every call runs its candidates (the default).
    pub fn always() -> Self {
        Self { kind: Kind::Always }
    }

    /// No call runs its candidates.
    pub fn never() -> Self {
        Self { kind: Kind::Never }
    }

    /// A random `percent` of calls (0 to 100; fractions such as `0.01` are fine), drawn from a
    /// thread-local generator against an integer threshold.
    pub fn percent(percent: f64) -> Self {
        match threshold_for(percent) {
            Ok(0) => Self::never(),
            Ok(u64::MAX) => Self::always(),
            Ok(threshold) => Self {
                kind: Kind::Random { threshold },
            },
            Err(error) => Self::invalid(error),
        }
    }

    /// A sticky `percent` of keys: a call whose trial sets a [`key`](crate::Trial::key) is
    /// sampled exactly when the key's stable hash falls below the threshold, so a key gets the
    /// same decision on every instance and after every restart, and raising the percentage
    /// only adds keys. Calls without a key are sampled at random at the same rate.
    ///
    /// The hash is XXH3-64 of the bytes the key's [`Hash`] implementation writes, seeded with
    /// XXH3-64 of the experiment's sampling salt (its name unless
    /// [`sampling_salt`](crate::ExperimentBuilder::sampling_salt) says otherwise), so two
    /// experiments sample independent sets of keys. Strings, byte slices and fixed-width
    /// integers hash identically on every little-endian 64-bit machine.
    pub fn keyed(percent: f64) -> Self {
        match threshold_for(percent) {
            Ok(threshold) => Self {
                kind: Kind::Keyed { threshold },
            },
            Err(error) => Self::invalid(error),
        }
    }

    /// A sampler whose rate is changed at runtime through the returned handle, from any thread
    /// (a feature-flag system, an admin endpoint). Decisions are random, as with
    /// [`Sampler::percent`].
    pub fn runtime(percent: f64) -> (Self, SamplerHandle) {
        Self::runtime_with(percent, false)
    }

    /// Like [`Sampler::runtime`], but decisions are keyed, as with [`Sampler::keyed`].
    pub fn runtime_keyed(percent: f64) -> (Self, SamplerHandle) {
        Self::runtime_with(percent, true)
    }

    fn runtime_with(percent: f64, keyed: bool) -> (Self, SamplerHandle) {
        let (threshold, invalid) = match threshold_for(percent) {
            Ok(threshold) => (threshold, None),
            Err(error) => (0, Some(error)),
        };
        let state = Arc::new(RuntimeState {
            threshold: AtomicU64::new(threshold),
            percent_bits: AtomicU64::new(percent.to_bits()),
            killed: AtomicBool::new(false),
            keyed,
        });
        let handle = SamplerHandle {
            state: state.clone(),
        };
        let sampler = match invalid {
            Some(error) => Self::invalid(error),
            None => Self {
                kind: Kind::Runtime(state),
            },
        };
        (sampler, handle)
    }

    /// Calls for which `condition` returns true (Scientist's `run_if`). A panicking condition
    /// is reported to the error hook and the call is sampled out.
    pub fn when(condition: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self {
            kind: Kind::When(Arc::new(condition)),
        }
    }

    /// At most `per_second` calls in each one-second window. It reads the clock on every call
    /// it is asked about, so put it last in an [`and`](Sampler::and) chain: it is then asked
    /// only about calls the other samplers let through.
    pub fn rate_limit(per_second: u64) -> Self {
        Self::rate_limit_with_clock(per_second, Clock::system())
    }

    /// [`Sampler::rate_limit`] measured on `clock` (a manual clock makes tests exact).
    pub fn rate_limit_with_clock(per_second: u64, clock: Clock) -> Self {
        if per_second == 0 || per_second > u64::from(u32::MAX) {
            return Self::invalid(ConfigError::InvalidRateLimit { value: per_second });
        }
        let origin = clock.now();
        Self {
            kind: Kind::RateLimit(Arc::new(RateLimiter {
                limit: per_second,
                window: AtomicU64::new(0),
                clock,
                origin,
            })),
        }
    }

    /// Calls that both samplers let through; `other` is asked only when `self` says yes.
    pub fn and(self, other: Sampler) -> Self {
        let mut parts: Vec<Sampler> = Vec::new();
        for sampler in [self, other] {
            match sampler.kind {
                Kind::All(inner) => parts.extend(inner.iter().cloned()),
                kind => parts.push(Sampler { kind }),
            }
        }
        Self {
            kind: Kind::All(parts.into()),
        }
    }

    fn invalid(error: ConfigError) -> Self {
        Self {
            kind: Kind::Invalid(error),
        }
    }

    /// The first configuration error in this sampler, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.kind {
            Kind::Invalid(error) => Err(error.clone()),
            Kind::All(parts) => parts.iter().try_for_each(Sampler::validate),
            _ => Ok(()),
        }
    }

    /// Whether decisions depend on the sampling key (so that a call's key is worth hashing).
    pub(crate) fn uses_key(&self) -> bool {
        match &self.kind {
            Kind::Keyed { .. } => true,
            Kind::Runtime(state) => state.keyed,
            Kind::All(parts) => parts.iter().any(Sampler::uses_key),
            _ => false,
        }
    }

    /// Whether deciding may call user code (which must then be guarded against panics).
    pub(crate) fn calls_user_code(&self) -> bool {
        match &self.kind {
            Kind::When(_) => true,
            Kind::All(parts) => parts.iter().any(Sampler::calls_user_code),
            _ => false,
        }
    }

    /// Whether a call with this (already hashed) key runs its candidates.
    #[inline]
    pub(crate) fn decide(&self, key: Option<u64>, draws: &Draws) -> bool {
        match &self.kind {
            Kind::Always => true,
            Kind::Never | Kind::Invalid(_) => false,
            Kind::Random { threshold } => below(draws.u64(), *threshold),
            Kind::Keyed { threshold } => below(key.unwrap_or_else(|| draws.u64()), *threshold),
            Kind::Runtime(state) => state.decide(key, draws),
            Kind::When(condition) => condition(),
            Kind::RateLimit(limiter) => limiter.admit(),
            Kind::All(parts) => parts.iter().all(|part| part.decide(key, draws)),
        }
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::always()
    }
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Always => f.write_str("Sampler::always()"),
            Kind::Never => f.write_str("Sampler::never()"),
            Kind::Random { threshold } => write!(f, "Sampler::percent({})", percent_of(*threshold)),
            Kind::Keyed { threshold } => write!(f, "Sampler::keyed({})", percent_of(*threshold)),
            Kind::Runtime(state) => write!(
                f,
                "Sampler::runtime({}{})",
                state.percent(),
                if state.killed.load(Ordering::Relaxed) {
                    ", killed"
                } else {
                    ""
                }
            ),
            Kind::When(_) => f.write_str("Sampler::when(..)"),
            Kind::RateLimit(limiter) => write!(f, "Sampler::rate_limit({})", limiter.limit),
            Kind::All(parts) => {
                let mut list = f.debug_list();
                list.entries(parts.iter());
                list.finish()
            }
            Kind::Invalid(error) => write!(f, "Sampler(invalid: {error})"),
        }
    }
}

/// Changes a [`Sampler::runtime`] sampler from any thread; the next call sees the change.
#[derive(Clone)]
pub struct SamplerHandle {
    state: Arc<RuntimeState>,
}

impl SamplerHandle {
    /// Sets the sampling percentage (0 to 100). An invalid value leaves the rate unchanged.
    pub fn set_percent(&self, percent: f64) -> Result<(), ConfigError> {
        let threshold = threshold_for(percent)?;
        self.state
            .percent_bits
            .store(percent.to_bits(), Ordering::Relaxed);
        self.state.threshold.store(threshold, Ordering::Relaxed);
        Ok(())
    }

    /// The current sampling percentage (as last set, whether or not killed).
    pub fn percent(&self) -> f64 {
        self.state.percent()
    }

    /// The kill switch: no call runs its candidates until [`resume`](Self::resume).
    pub fn kill(&self) {
        self.state.killed.store(true, Ordering::SeqCst);
    }

    /// Undoes [`kill`](Self::kill); the last set percentage applies again.
    pub fn resume(&self) {
        self.state.killed.store(false, Ordering::SeqCst);
    }

    /// Whether the kill switch is on.
    pub fn is_killed(&self) -> bool {
        self.state.killed.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for SamplerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplerHandle")
            .field("percent", &self.percent())
            .field("killed", &self.is_killed())
            .finish()
    }
}

struct RuntimeState {
    threshold: AtomicU64,
    percent_bits: AtomicU64,
    killed: AtomicBool,
    keyed: bool,
}

impl RuntimeState {
    #[inline]
    fn decide(&self, key: Option<u64>, draws: &Draws) -> bool {
        if self.killed.load(Ordering::Relaxed) {
            return false;
        }
        let threshold = self.threshold.load(Ordering::Relaxed);
        if threshold == 0 {
            return false;
        }
        let draw = match (self.keyed, key) {
            (true, Some(hash)) => hash,
            _ => draws.u64(),
        };
        below(draw, threshold)
    }

    fn percent(&self) -> f64 {
        f64::from_bits(self.percent_bits.load(Ordering::Relaxed))
    }
}

/// Fixed one-second windows; the window number and its count share one atomic word so that
/// admission is a single compare-and-swap.
struct RateLimiter {
    limit: u64,
    window: AtomicU64,
    clock: Clock,
    origin: crate::clock::Tick,
}

impl RateLimiter {
    fn admit(&self) -> bool {
        let second = self
            .clock
            .now()
            .saturating_duration_since(self.origin)
            .as_secs();
        let window = second & 0xFFFF_FFFF;
        self.window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                let (current, count) = (word >> 32, word & 0xFFFF_FFFF);
                if current != window {
                    Some((window << 32) | 1)
                } else if count < self.limit {
                    Some(word + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }
}

/// The integer threshold for `percent`: a draw below it is sampled. `u64::MAX` means always.
pub(crate) fn threshold_for(percent: f64) -> Result<u64, ConfigError> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(ConfigError::InvalidPercent { value: percent });
    }
    if percent >= 100.0 {
        return Ok(u64::MAX);
    }
    // 2^64 as f64; the cast saturates, so values a hair under 100 % become "always".
    Ok((percent / 100.0 * 18_446_744_073_709_551_616.0) as u64)
}

pub(crate) fn percent_of(threshold: u64) -> f64 {
    threshold as f64 / 18_446_744_073_709_551_616.0 * 100.0
}

#[inline]
pub(crate) fn below(draw: u64, threshold: u64) -> bool {
    threshold == u64::MAX || draw < threshold
}

/// The seed keyed sampling uses for an experiment whose sampling salt is `salt`.
pub(crate) fn salt_seed(salt: &str) -> u64 {
    xxh3_64(salt.as_bytes())
}

/// The stable hash of a sampling key: XXH3-64, seeded with the experiment's salt, over the
/// bytes the key's `Hash` implementation writes. Never allocates.
///
/// ```
/// // The same key and salt give the same hash in every process, on every run.
/// let a = darklaunch::stable_key_hash("pricing-v2", &"user-42");
/// let b = darklaunch::stable_key_hash("pricing-v2", &"user-42");
/// assert_eq!(a, b);
/// assert_ne!(a, darklaunch::stable_key_hash("search-v3", &"user-42"));
/// ```
pub fn stable_key_hash<K: Hash + ?Sized>(salt: &str, key: &K) -> u64 {
    hash_with_seed(salt_seed(salt), key)
}

pub(crate) fn hash_with_seed<K: Hash + ?Sized>(seed: u64, key: &K) -> u64 {
    let mut hasher = Xxh3::with_seed(seed);
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    #[test]
    fn invalid_percentages_are_config_errors() {
        for bad in [f64::NAN, -0.5, 100.5, f64::INFINITY, f64::NEG_INFINITY] {
            let error = Sampler::percent(bad).validate().unwrap_err();
            assert!(matches!(error, ConfigError::InvalidPercent { .. }), "{bad}");
            assert!(Sampler::keyed(bad).validate().is_err());
            assert!(Sampler::runtime(bad).0.validate().is_err());
            assert!(Sampler::always()
                .and(Sampler::percent(bad))
                .validate()
                .is_err());
        }
        assert!(Sampler::rate_limit(0).validate().is_err());
    }

    #[test]
    fn extremes_are_exact() {
        assert!((0..10_000).all(|_| Sampler::percent(100.0).decide(None, &Draws::Thread)));
        assert!((0..10_000).all(|_| !Sampler::percent(0.0).decide(None, &Draws::Thread)));
        assert!((0..10_000).all(|_| Sampler::keyed(100.0).decide(Some(u64::MAX), &Draws::Thread)));
        assert!(!Sampler::keyed(0.0).decide(Some(0), &Draws::Thread));
    }

    #[test]
    fn keyed_decisions_are_monotone_in_the_percentage() {
        let seed = salt_seed("exp");
        for key in 0..2_000u32 {
            let hash = hash_with_seed(seed, &key);
            let mut was_in = false;
            for pct in [0.5, 1.0, 5.0, 20.0, 50.0, 99.0] {
                let now_in = Sampler::keyed(pct).decide(Some(hash), &Draws::Thread);
                assert!(
                    !was_in || now_in,
                    "key {key} left the sample when {pct} % was set"
                );
                was_in = now_in;
            }
        }
    }

    #[test]
    fn only_keyed_samplers_use_the_key() {
        assert!(Sampler::keyed(5.0).uses_key());
        assert!(Sampler::runtime_keyed(5.0).0.uses_key());
        assert!(Sampler::percent(50.0).and(Sampler::keyed(5.0)).uses_key());
        assert!(!Sampler::percent(5.0).uses_key());
        assert!(!Sampler::runtime(5.0).0.uses_key());
        assert!(!Sampler::always().and(Sampler::rate_limit(3)).uses_key());
    }

    #[test]
    fn runtime_handle_changes_rate_and_kills() {
        let (sampler, handle) = Sampler::runtime(100.0);
        assert!(sampler.decide(None, &Draws::Thread));
        handle.kill();
        assert!(handle.is_killed());
        assert!((0..1_000).all(|_| !sampler.decide(None, &Draws::Thread)));
        handle.resume();
        assert!(sampler.decide(None, &Draws::Thread));
        handle.set_percent(0.0).unwrap();
        assert!((0..1_000).all(|_| !sampler.decide(None, &Draws::Thread)));
        assert!(handle.set_percent(f64::NAN).is_err());
        assert_eq!(handle.percent(), 0.0);
    }

    #[test]
    fn rate_limit_admits_exactly_the_limit_per_window() {
        let clock = ManualClock::new();
        let sampler = Sampler::rate_limit_with_clock(3, Clock::manual(&clock));
        let admitted = |n| {
            (0..n)
                .filter(|_| sampler.decide(None, &Draws::Thread))
                .count()
        };
        assert_eq!(admitted(10), 3);
        clock.advance(Duration::from_millis(999));
        assert_eq!(admitted(10), 0);
        clock.advance(Duration::from_millis(1));
        assert_eq!(admitted(10), 3);
    }

    #[test]
    fn and_asks_the_second_only_when_the_first_agrees() {
        let clock = ManualClock::new();
        let limited =
            Sampler::never().and(Sampler::rate_limit_with_clock(1, Clock::manual(&clock)));
        assert!(!limited.decide(None, &Draws::Thread));
        let Kind::All(parts) = &limited.kind else {
            panic!("and builds a chain")
        };
        // The rate limiter's budget for this window is untouched.
        assert!(parts[1].decide(None, &Draws::Thread));
    }
}
