//! [`Snapshot::merge`]: counts and histograms add, groups merge by shape, noise counts add,
//! timelines are placed on one axis of wall-clock time.

use std::time::Duration;

use crate::insight::grouping::MAX_KEYS_PER_ENTRY;
use crate::insight::guard_marks::MAX_GUARD_MARKS;
use crate::insight::latency::LatencyHistogram;
use crate::insight::paired::PairedRatios;
use crate::insight::snapshot::{CandidateSnapshot, GroupSnapshot, Limits, Snapshot, SnapshotError};

/// Where one snapshot's timeline lies on the merged axis.
#[derive(Clone, Copy)]
struct Placement {
    /// From the merged start to this snapshot's start.
    offset: Duration,
    interval: Duration,
}

impl Placement {
    /// The merged interval index of this snapshot's point `index`.
    fn index(self, index: usize, interval: Duration) -> u128 {
        let start = self.offset.as_nanos() + self.interval.as_nanos() * index as u128;
        start / interval.as_nanos().max(1)
    }
}

/// `points` placed on the merged axis, added into `into` (grown as needed, to at most
/// `max_points` points: the merged interval was chosen so that every point falls within them,
/// and one that would not, with an interval too long to double, goes to the last).
fn place(
    into: &mut Vec<(u64, u64)>,
    points: &[(u64, u64)],
    placement: Placement,
    interval: Duration,
    max_points: usize,
) {
    let last = max_points.max(1) - 1;
    for (index, &(runs, mismatches)) in points.iter().enumerate() {
        let at = usize::try_from(placement.index(index, interval))
            .unwrap_or(usize::MAX)
            .min(last);
        if into.len() <= at {
            into.resize(at + 1, (0, 0));
        }
        let point = &mut into[at];
        point.0 = point.0.saturating_add(runs);
        point.1 = point.1.saturating_add(mismatches);
    }
}

impl Snapshot {
    /// Adds `other`, a snapshot of the same experiment from another process (or another time):
    /// counts and histograms add exactly, groups merge by shape (counts add, the earliest first
    /// sighting and latest last one, the earliest samples up to this snapshot's cap), noise
    /// calibration's counts add (each path is classified again from the sums when the report is
    /// made), timelines are placed by wall-clock time, candidates are matched by name. This
    /// snapshot's caps apply: what exceeds them is counted, as an insight counts it (groups
    /// beyond the cap as ungrouped mismatches, candidates beyond it as untracked results).
    ///
    /// A snapshot of an insight that has seen no run names no experiment: merging it changes
    /// nothing, and merging into it takes the other's name.
    ///
    /// # Errors
    ///
    /// Nothing is merged when `other` is of another experiment
    /// ([`SnapshotError::DifferentExperiment`]) or its noise calibration has other thresholds
    /// ([`SnapshotError::DifferentNoiseSettings`]).
    pub fn merge(&mut self, other: &Snapshot) -> Result<(), SnapshotError> {
        if other.runs == 0 && other.experiment.is_empty() {
            return Ok(());
        }
        if self.runs == 0 && self.experiment.is_empty() {
            *self = self.emptied(other);
        }
        if self.experiment != other.experiment {
            return Err(SnapshotError::DifferentExperiment {
                ours: self.experiment.clone(),
                theirs: crate::text::capped(&other.experiment, 256),
            });
        }
        if let (Some(ours), Some(theirs)) = (&self.noise, &other.noise) {
            if ours.thresholds() != theirs.thresholds() {
                return Err(SnapshotError::DifferentNoiseSettings {
                    ours: ours.thresholds(),
                    theirs: theirs.thresholds(),
                });
            }
        }
        // Nothing fails from here on.
        let limits = self.limits;
        let start = self.started_at.min(other.started_at);
        let placement = |snapshot: &Snapshot| Placement {
            offset: snapshot
                .started_at
                .duration_since(start)
                .unwrap_or_default(),
            interval: snapshot.interval,
        };
        let (mine, theirs) = (placement(self), placement(other));
        let interval = self.merged_interval(other, mine, theirs);
        for candidate in &mut self.candidates {
            let mut points = Vec::new();
            place(
                &mut points,
                &candidate.timeline,
                mine,
                interval,
                limits.max_timeline_points,
            );
            candidate.timeline = points;
        }
        for candidate in &other.candidates {
            let position = self
                .candidates
                .iter()
                .position(|c| c.name == candidate.name);
            let into = match position {
                Some(position) => &mut self.candidates[position],
                None if self.candidates.len() < limits.max_candidates => {
                    self.candidates.push(CandidateSnapshot {
                        name: candidate.name.clone(),
                        runs: 0,
                        counts: [0; 6],
                        latency: LatencyHistogram::new(limits.significant_digits),
                        paired: PairedRatios::new(),
                        breakdown: None,
                        groups: Vec::new(),
                        ungrouped: 0,
                        timeline: Vec::new(),
                    });
                    let last = self.candidates.len() - 1;
                    &mut self.candidates[last]
                }
                None => {
                    self.untracked = self.untracked.saturating_add(candidate.runs);
                    continue;
                }
            };
            merge_candidate(into, candidate, &limits);
            place(
                &mut into.timeline,
                &candidate.timeline,
                theirs,
                interval,
                limits.max_timeline_points,
            );
        }
        self.interval = interval;
        self.started_at = start;
        self.generated_at = self.generated_at.max(other.generated_at);
        self.runs = self.runs.saturating_add(other.runs);
        self.untracked = self.untracked.saturating_add(other.untracked);
        self.control.merge(&other.control);
        match (&mut self.noise, &other.noise) {
            (Some(ours), Some(theirs)) => ours.merge(theirs),
            (ours @ None, Some(theirs)) => *ours = Some(theirs.clone()),
            (_, None) => {}
        }
        self.guard_events.extend(other.guard_events.iter().cloned());
        self.guard_events.sort_by_key(|mark| mark.at);
        let excess = self.guard_events.len().saturating_sub(MAX_GUARD_MARKS);
        self.guard_events.drain(..excess);
        self.guard_events_dropped = self
            .guard_events_dropped
            .saturating_add(other.guard_events_dropped)
            .saturating_add(excess as u64);
        if self.breakdown_key.is_none() {
            self.breakdown_key = other.breakdown_key.clone();
        }
        Ok(())
    }

    /// An empty snapshot of `other`'s experiment, with this one's caps.
    fn emptied(&self, other: &Snapshot) -> Snapshot {
        Snapshot {
            experiment: other.experiment.clone(),
            started_at: other.started_at,
            generated_at: self.generated_at.max(other.generated_at),
            runs: 0,
            untracked: 0,
            control: LatencyHistogram::new(self.limits.significant_digits),
            candidates: Vec::new(),
            noise: None,
            interval: other.interval,
            guard_events: Vec::new(),
            guard_events_dropped: 0,
            breakdown_key: other.breakdown_key.clone(),
            limits: self.limits,
        }
    }

    /// The larger of the two intervals, doubled until every point of both timelines falls
    /// within this snapshot's cap on timeline points.
    fn merged_interval(&self, other: &Snapshot, mine: Placement, theirs: Placement) -> Duration {
        let mut interval = self
            .interval
            .max(other.interval)
            .max(Duration::from_nanos(1));
        let last = |snapshot: &Snapshot| {
            snapshot
                .candidates
                .iter()
                .map(|candidate| candidate.timeline.len())
                .max()
                .unwrap_or(0)
        };
        let max_points = self.limits.max_timeline_points.max(1) as u128;
        for (placement, points) in [(mine, last(self)), (theirs, last(other))] {
            if points == 0 {
                continue;
            }
            while placement.index(points - 1, interval) >= max_points
                && interval < Duration::MAX / 2
            {
                interval = interval.saturating_mul(2);
            }
        }
        interval
    }
}

fn merge_candidate(into: &mut CandidateSnapshot, other: &CandidateSnapshot, limits: &Limits) {
    into.runs = into.runs.saturating_add(other.runs);
    for (mine, theirs) in into.counts.iter_mut().zip(other.counts) {
        *mine = mine.saturating_add(theirs);
    }
    into.latency.merge(&other.latency);
    into.paired.merge(&other.paired);
    match (&mut into.breakdown, &other.breakdown) {
        (Some(ours), Some(theirs)) => ours.merge(theirs),
        (ours @ None, Some(theirs)) => *ours = Some(theirs.clone()),
        (_, None) => {}
    }
    for group in &other.groups {
        let position = into
            .groups
            .iter()
            .position(|mine| mine.shape == group.shape);
        match position {
            Some(position) => {
                merge_group(&mut into.groups[position], group, limits.samples_per_group)
            }
            None if into.groups.len() < limits.max_groups => {
                let mut group = group.clone();
                group.samples.truncate(limits.samples_per_group);
                into.groups.push(group);
            }
            None => into.ungrouped = into.ungrouped.saturating_add(group.count),
        }
    }
    into.ungrouped = into.ungrouped.saturating_add(other.ungrouped);
}

fn merge_group(into: &mut GroupSnapshot, other: &GroupSnapshot, samples_per_group: usize) {
    into.count = into.count.saturating_add(other.count);
    into.first_seen = into.first_seen.min(other.first_seen);
    into.last_seen = into.last_seen.max(other.last_seen);
    for (mine, theirs) in into.keys.iter_mut().zip(&other.keys) {
        for key in theirs {
            if mine.len() < MAX_KEYS_PER_ENTRY && !mine.contains(key) {
                mine.push(key.clone());
            }
        }
    }
    into.samples.extend(other.samples.iter().cloned());
    into.samples.sort_by_key(|sample| sample.seen_at);
    into.samples.truncate(samples_per_group);
}
