//! Random draws for sampling, serving, guard probes and behaviour order, from `rand`'s small
//! generator: one per thread, seeded from the operating system, by default; one per experiment,
//! seeded by the caller, with [`seed`](crate::ExperimentBuilder::seed), so that a test sees the
//! same decisions and orders on every run.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rand::rngs::{SmallRng, SysRng};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};

thread_local! {
    static THREAD: RefCell<SmallRng> = RefCell::new(from_os());
}

/// A generator seeded by the operating system, or, where it has no entropy to give (early
/// boot, a sandbox without `getrandom`), from a process-wide counter: never a panic.
fn from_os() -> SmallRng {
    SmallRng::try_from_rng(&mut SysRng).unwrap_or_else(|_| SmallRng::seed_from_u64(fallback()))
}

fn fallback() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

/// Runs `f` on this thread's generator; on a thread whose locals are being torn down (a
/// run from another thread-local's destructor), on a fresh one.
#[inline]
fn with_thread<R>(mut f: impl FnMut(&mut SmallRng) -> R) -> R {
    let ran = THREAD.try_with(|cell| cell.try_borrow_mut().ok().map(|mut rng| f(&mut rng)));
    match ran {
        Ok(Some(value)) => value,
        _ => f(&mut SmallRng::seed_from_u64(fallback())),
    }
}

/// Where an experiment's random draws come from.
pub(crate) enum Draws {
    /// This thread's generator.
    Thread,
    /// The experiment's own generator, seeded by the caller: the same draws in the same order
    /// on every run of a test (one lock per draw; for tests, not for hot paths).
    Seeded(Mutex<SmallRng>),
}

impl Draws {
    pub(crate) fn seeded(seed: u64) -> Self {
        Draws::Seeded(Mutex::new(SmallRng::seed_from_u64(seed)))
    }

    fn with<R>(&self, mut f: impl FnMut(&mut SmallRng) -> R) -> R {
        match self {
            Draws::Thread => with_thread(f),
            Draws::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                f(&mut rng)
            }
        }
    }

    /// A uniformly random `u64`.
    #[inline]
    pub(crate) fn u64(&self) -> u64 {
        match self {
            Draws::Thread => with_thread(|rng| rng.next_u64()),
            Draws::Seeded(_) => self.with(|rng| rng.next_u64()),
        }
    }

    /// Shuffles `order` (the candidates' indices) and picks where among them the control runs,
    /// from 0 (first) to `order.len()` (last).
    pub(crate) fn order(&self, order: &mut [usize]) -> usize {
        self.with(|rng| {
            order.shuffle(rng);
            rng.random_range(0..=order.len())
        })
    }
}

impl std::fmt::Debug for Draws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Draws::Thread => "Draws::Thread",
            Draws::Seeded(_) => "Draws::Seeded",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat_and_seeds_differ() {
        let draws = |seed| {
            let d = Draws::seeded(seed);
            (0..8).map(|_| d.u64()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn orders_are_permutations_with_the_control_anywhere() {
        let draws = Draws::Thread;
        let mut seen = [false; 4];
        for _ in 0..1_000 {
            let mut order = [0, 1, 2];
            let at = draws.order(&mut order);
            let mut sorted = order;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2]);
            seen[at] = true;
        }
        assert_eq!(seen, [true; 4], "the control runs first, last and between");
    }

    #[test]
    fn the_fallback_seeds_differ_and_draws_say_what_they_are() {
        assert_ne!(fallback(), fallback());
        assert_eq!(format!("{:?}", Draws::Thread), "Draws::Thread");
        assert_eq!(format!("{:?}", Draws::seeded(1)), "Draws::Seeded");
    }

    #[test]
    fn thread_draws_differ_between_threads() {
        let here = Draws::Thread.u64();
        let there = std::thread::spawn(|| Draws::Thread.u64()).join().unwrap();
        assert_ne!(here, there);
    }
}
