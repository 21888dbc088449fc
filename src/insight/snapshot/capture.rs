//! [`Insight::snapshot`]: what an insight gathered, copied out under its lock.

use crate::insight::collector::Insight;
use crate::insight::snapshot::noise::NoiseCounts;
use crate::insight::snapshot::{CandidateSnapshot, GroupSnapshot, Limits, Snapshot};

impl<T, E> Insight<T, E> {
    /// A [`Snapshot`] of everything gathered so far: counts, histograms, groups with their
    /// samples, noise calibration's counts and the timeline, to serialize
    /// ([`Snapshot::to_json`]) and merge with other processes' snapshots of the same experiment
    /// ([`Snapshot::merge`]). Unlike [`report`](Self::report), it evaluates nothing and changes
    /// no reported status.
    ///
    /// ```
    /// use darklaunch::insight::Insight;
    /// use darklaunch::Experiment;
    ///
    /// let insight = Insight::new();
    /// let experiment: Experiment<u64> = Experiment::builder("tax-v2")
    ///     .publisher(insight.clone())
    ///     .build()?;
    /// experiment.run(|| 1, || 2);
    /// let snapshot = insight.snapshot();
    /// assert_eq!((snapshot.experiment(), snapshot.runs()), ("tax-v2", 1));
    /// assert_eq!(snapshot.report().candidates[0].mismatched, 1);
    /// # Ok::<(), darklaunch::ConfigError>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let wall = crate::real_clock::wall();
        self.with_state(|state, options, noise| {
            let (guard_events, guard_events_dropped) = state.guards.snapshot();
            Snapshot {
                experiment: state.experiment.clone(),
                started_at: state.started.map_or(wall, |(_, at)| at),
                generated_at: wall,
                runs: state.runs,
                untracked: state.untracked,
                control: state.control.clone(),
                candidates: state
                    .candidates
                    .iter()
                    .map(|candidate| CandidateSnapshot {
                        name: candidate.name.clone(),
                        runs: candidate.runs,
                        counts: candidate.counts,
                        latency: candidate.latency.clone(),
                        paired: candidate.paired.clone(),
                        breakdown: candidate.breakdown.clone(),
                        groups: {
                            let mut groups: Vec<GroupSnapshot> = candidate
                                .groups
                                .export()
                                .into_iter()
                                .map(|(group, keys)| GroupSnapshot {
                                    shape: group.shape,
                                    keys,
                                    count: group.count,
                                    first_seen: group.first_seen,
                                    last_seen: group.last_seen,
                                    samples: group.samples,
                                })
                                .collect();
                            // A stable order, whatever the map's.
                            groups.sort_by(|a, b| {
                                a.first_seen
                                    .cmp(&b.first_seen)
                                    .then_with(|| a.shape.cmp(&b.shape))
                            });
                            groups
                        },
                        ungrouped: candidate.groups.ungrouped,
                        timeline: candidate.timeline.raw_points().to_vec(),
                    })
                    .collect(),
                noise: noise.map(|(snapshot, model)| NoiseCounts::of(&snapshot, model.settings())),
                interval: state.interval,
                guard_events,
                guard_events_dropped,
                breakdown_key: options.breakdown_key.clone(),
                limits: Limits::of(options),
            }
        })
    }
}
