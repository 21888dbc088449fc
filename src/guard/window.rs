//! A guard's sliding window, counted without a lock: the window is split into buckets of runs,
//! each bucket's six counts packed into one atomic word, so that counting a run is a single
//! `fetch_add`. The run that fills a bucket sums the window, clears the oldest bucket for
//! reuse and moves on; the window is judged then, once per bucket.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits per packed count: a bucket holds at most [`MAX_BUCKET`] runs, which leaves room for
/// as many adds racing past a full bucket before they are taken back.
const BITS: u32 = 10;
const MASK: u64 = (1 << BITS) - 1;
/// The most runs one bucket holds.
const MAX_BUCKET: u64 = 500;
/// A window has at least this many buckets (a power of two; fewer only for a window of fewer
/// runs), so that it slides by at most an eighth of itself at a time.
const MIN_BUCKETS: u64 = 8;

/// What one run adds to the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) error: bool,
    pub(crate) timeout: bool,
    pub(crate) mismatch: bool,
    pub(crate) shed: bool,
    pub(crate) slow: bool,
}

impl Sample {
    fn packed(self) -> u64 {
        let flags = [
            self.error,
            self.timeout,
            self.mismatch,
            self.shed,
            self.slow,
        ];
        flags.iter().enumerate().fold(1, |word, (index, &flag)| {
            word | (u64::from(flag) << (BITS * (index as u32 + 1)))
        })
    }
}

/// The window's counts when it was judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) runs: u64,
    pub(crate) errors: u64,
    pub(crate) timeouts: u64,
    pub(crate) mismatches: u64,
    pub(crate) shed: u64,
    pub(crate) slow: u64,
}

impl Totals {
    fn add(&mut self, word: u64) {
        let field = |index: u32| (word >> (BITS * index)) & MASK;
        self.runs += field(0);
        self.errors += field(1);
        self.timeouts += field(2);
        self.mismatches += field(3);
        self.shed += field(4);
        self.slow += field(5);
    }
}

/// The sliding window of one guard.
pub(crate) struct Window {
    buckets: Box<[AtomicU64]>,
    /// `buckets.len() - 1`: the buckets are a power of two.
    mask: u64,
    bucket_len: u64,
    /// How many buckets have been filled since the window was made or cleared.
    epoch: AtomicU64,
}

impl Window {
    /// A window of at least `runs` runs (rounded up to whole buckets).
    pub(crate) fn new(runs: u64) -> Self {
        let runs = runs.max(1);
        // A power of two, so that finding a run's bucket is a mask, not a division.
        let count = runs
            .min(MIN_BUCKETS)
            .max(runs.div_ceil(MAX_BUCKET))
            .next_power_of_two();
        let bucket_len = runs.div_ceil(count);
        Self {
            buckets: (0..count).map(|_| AtomicU64::new(0)).collect(),
            mask: count - 1,
            bucket_len,
            epoch: AtomicU64::new(0),
        }
    }

    /// The runs the window holds once full.
    pub(crate) fn len(&self) -> u64 {
        self.bucket_len * self.buckets.len() as u64
    }

    /// The runs between two judgements.
    #[cfg(test)]
    pub(crate) fn bucket_len(&self) -> u64 {
        self.bucket_len
    }

    /// Counts one run. The run that fills a bucket gets the window's totals back, to judge;
    /// every other run gets `None`. A run that races past a full bucket before the next one is
    /// opened is not counted (it is taken back, so that no count spills into another).
    #[inline]
    pub(crate) fn record(&self, sample: Sample) -> Option<Totals> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let bucket = &self.buckets[(epoch & self.mask) as usize];
        let add = sample.packed();
        let before = bucket.fetch_add(add, Ordering::AcqRel) & MASK;
        if before >= self.bucket_len {
            bucket.fetch_sub(add, Ordering::AcqRel);
            return None;
        }
        if before + 1 < self.bucket_len {
            return None;
        }
        Some(self.judge(epoch))
    }

    /// Sums the window once bucket `epoch` is full, and opens the next bucket.
    #[cold]
    fn judge(&self, epoch: u64) -> Totals {
        let mut totals = Totals::default();
        for bucket in self.buckets.iter() {
            totals.add(bucket.load(Ordering::Acquire));
        }
        // The oldest bucket is reused for the next runs.
        self.buckets[((epoch + 1) & self.mask) as usize].store(0, Ordering::Release);
        self.epoch.store(epoch + 1, Ordering::Release);
        totals
    }

    /// Forgets every run (when a probe starts, or the guard is reset by hand).
    pub(crate) fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Release);
        }
        self.epoch.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_window_is_whole_buckets_of_at_most_five_hundred_runs() {
        for (asked, len, bucket_len) in [
            (1, 1, 1),
            (5, 8, 1),
            (8, 8, 1),
            (100, 104, 13),
            (1_000, 1_000, 125),
            (4_001, 4_016, 251),
            (1_000_000, 1_001_472, 489),
        ] {
            let window = Window::new(asked);
            assert!(window.bucket_len() <= MAX_BUCKET, "{asked}");
            assert!(window.len() >= asked, "{asked}");
            assert_eq!(
                (window.len(), window.bucket_len()),
                (len, bucket_len),
                "{asked}"
            );
        }
    }

    proptest! {
        /// Judged once per bucket, over exactly the last whole buckets, every count exact.
        #[test]
        fn totals_are_exact_over_the_last_buckets(
            runs in 1u64..300,
            samples in proptest::collection::vec(
                (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
                0..2_000,
            ),
        ) {
            let window = Window::new(runs);
            let bucket = window.bucket_len() as usize;
            let samples: Vec<Sample> = samples
                .into_iter()
                .map(|(error, timeout, mismatch, shed, slow)| Sample { error, timeout, mismatch, shed, slow })
                .collect();
            for (index, &sample) in samples.iter().enumerate() {
                let judged = window.record(sample);
                let done = index + 1;
                prop_assert_eq!(judged.is_some(), done % bucket == 0, "run {}", done);
                if let Some(totals) = judged {
                    let held = (window.len() as usize).min(done);
                    let last = &samples[done - held..done];
                    let count = |f: fn(&Sample) -> bool| last.iter().filter(|s| f(s)).count() as u64;
                    prop_assert_eq!(totals, Totals {
                        runs: held as u64,
                        errors: count(|s| s.error),
                        timeouts: count(|s| s.timeout),
                        mismatches: count(|s| s.mismatch),
                        shed: count(|s| s.shed),
                        slow: count(|s| s.slow),
                    });
                }
            }
        }
    }

    #[test]
    fn a_cleared_window_counts_afresh() {
        // Eight buckets of one run: every run is judged.
        let window = Window::new(8);
        let error = Sample {
            error: true,
            ..Sample::default()
        };
        for _ in 0..5 {
            assert!(window.record(error).is_some());
        }
        window.clear();
        let totals = window.record(Sample::default()).expect("judged");
        assert_eq!((totals.runs, totals.errors), (1, 0));
    }

    #[test]
    fn concurrent_runs_never_spill_into_another_count() {
        let window = std::sync::Arc::new(Window::new(1_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let window = window.clone();
                std::thread::spawn(move || {
                    let mut judged = Vec::new();
                    for _ in 0..50_000 {
                        if let Some(totals) = window.record(Sample {
                            error: true,
                            ..Sample::default()
                        }) {
                            judged.push(totals);
                        }
                    }
                    judged
                })
            })
            .flat_map(|thread| thread.join().unwrap())
            .collect();
        assert!(!threads.is_empty());
        for totals in threads {
            // Every counted run was an error and nothing else; no count leaked into another.
            assert_eq!(totals.errors, totals.runs);
            assert!(totals.runs <= window.len() + 3 * window.bucket_len());
            assert_eq!(
                (totals.timeouts, totals.mismatches, totals.shed, totals.slow),
                (0, 0, 0, 0)
            );
        }
    }
}
