//! A counter for the one thing every call does — count itself — without a locked
//! read-modify-write: each thread owns a slot that only it writes.
//!
//! A locked `fetch_add` costs about 5 ns even uncontended, the whole sampled-out budget, and
//! from many cores at once it bounces one cache line between them. Here a thread increments
//! its own slot with a plain load and store (exact, because no other thread writes that slot),
//! and a reader sums the slots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Process-wide thread numbers, handed out once per thread in the order threads first count.
/// An identifier allocator, not configuration: nothing needs to set or reset it.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Relaxed);
}

/// Threads numbered below this own a slot; later threads share an atomic (still exact).
fn owned_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 4).clamp(8, 256)
}

#[derive(Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

/// Counts events from many threads, exactly, with a plain store on the owning thread.
pub(crate) struct RunCounter {
    owned: Box<[Slot]>,
    shared: Slot,
}

impl Default for RunCounter {
    fn default() -> Self {
        Self {
            owned: (0..owned_slots()).map(|_| Slot::default()).collect(),
            shared: Slot::default(),
        }
    }
}

impl RunCounter {
    #[inline]
    pub(crate) fn increment(&self) {
        let thread = THREAD.with(|n| *n);
        match self.owned.get(thread) {
            // Only this thread ever writes this slot, so load-then-store loses nothing.
            Some(slot) => slot.0.store(slot.0.load(Relaxed).wrapping_add(1), Relaxed),
            None => {
                self.shared.0.fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.owned
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|slot| slot.0.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_exactly_from_more_threads_than_slots() {
        let counter = Arc::new(RunCounter::default());
        let threads = owned_slots() + 8;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.increment();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(counter.sum(), threads as u64 * 10_000);
    }
}
