//! Runs and mismatches over time in a bounded number of intervals: when the points would
//! exceed the cap, neighbouring intervals merge and the interval doubles.

use std::time::Duration;

use crate::insight::report::TimelinePoint;

/// One candidate's counts per interval, all candidates of an insight sharing one interval.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    /// `(runs, mismatches)` per interval, from the insight's start.
    points: Vec<(u64, u64)>,
}

impl Timeline {
    /// A timeline of these `(runs, mismatches)` per interval.
    pub(crate) fn from_points(points: Vec<(u64, u64)>) -> Self {
        Self { points }
    }

    /// `(runs, mismatches)` per interval.
    pub(crate) fn raw_points(&self) -> &[(u64, u64)] {
        &self.points
    }

    /// Counts one run at interval `index`.
    pub(crate) fn count(&mut self, index: usize, mismatch: bool) {
        if self.points.len() <= index {
            self.points.resize(index + 1, (0, 0));
        }
        let point = &mut self.points[index];
        point.0 += 1;
        point.1 += u64::from(mismatch);
    }

    /// Merges neighbouring intervals pairwise (the interval doubled).
    pub(crate) fn halve(&mut self) {
        self.points = self
            .points
            .chunks(2)
            .map(|pair| pair.iter().fold((0, 0), |(r, m), p| (r + p.0, m + p.1)))
            .collect();
    }

    pub(crate) fn points(&self, interval: Duration) -> Vec<TimelinePoint> {
        self.points
            .iter()
            .enumerate()
            .map(|(index, &(runs, mismatches))| TimelinePoint {
                offset: interval.saturating_mul(index as u32),
                width: interval,
                runs,
                mismatches,
            })
            .collect()
    }
}

/// Where an elapsed time falls, doubling `interval` (and halving every timeline through
/// `halve_all`) until it falls within `max_points` intervals.
pub(crate) fn interval_index(
    elapsed: Duration,
    interval: &mut Duration,
    max_points: usize,
    mut halve_all: impl FnMut(),
) -> usize {
    loop {
        let index = (elapsed.as_nanos() / interval.as_nanos().max(1)) as usize;
        if index < max_points {
            return index;
        }
        *interval = interval.saturating_mul(2);
        halve_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_every_count() {
        let mut timeline = Timeline::default();
        let mut interval = Duration::from_secs(1);
        for second in 0..100u64 {
            let index = interval_index(Duration::from_secs(second), &mut interval, 8, || {
                timeline.halve()
            });
            timeline.count(index, second % 10 == 0);
        }
        let points = timeline.points(interval);
        assert!(points.len() <= 8);
        assert_eq!(interval, Duration::from_secs(16));
        assert_eq!(points.iter().map(|p| p.runs).sum::<u64>(), 100);
        assert_eq!(points.iter().map(|p| p.mismatches).sum::<u64>(), 10);
    }
}
