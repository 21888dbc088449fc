//! A snapshot's report: the snapshot turned back into an insight's state and evaluated as an
//! insight evaluates its own.

use crate::insight::collector::{evaluate, normalized, CandidateState, InsightOptions, State};
use crate::insight::grouping::Groups;
use crate::insight::guard_marks::GuardMarks;
use crate::insight::report::{MismatchGroup, Report};
use crate::insight::snapshot::Snapshot;
use crate::insight::timeline::Timeline;

impl Snapshot {
    /// The [`Report`] of this snapshot, judged by the default [`InsightOptions`]' policy:
    /// what [`Insight::report`](crate::insight::Insight::report) says of the runs the snapshot
    /// counts, rendered the same way ([`Report::to_terminal`], [`Report::to_html`]). See
    /// [`report_with`](Self::report_with).
    pub fn report(&self) -> Report {
        self.report_with(&InsightOptions::default())
    }

    /// The [`Report`] of this snapshot, judged by `options`' release policy and linking trace
    /// ids through its [`trace_link`](InsightOptions::trace_link); the caps, the breakdown key
    /// and what was gathered are the snapshot's. The noise paths are classified from the
    /// snapshot's (merged) counts, and the groups judged again by them. The reported status is
    /// this evaluation's: the live insight's
    /// [`consecutive_evaluations`](crate::insight::ReleasePolicy::consecutive_evaluations) do
    /// not apply.
    pub fn report_with(&self, options: &InsightOptions) -> Report {
        let mut options = normalized(options.clone());
        options.samples_per_group = self.limits.samples_per_group;
        options.max_groups = self.limits.max_groups;
        options.max_candidates = self.limits.max_candidates;
        options.max_timeline_points = self.limits.max_timeline_points;
        options.breakdown_key = self.breakdown_key.clone();
        options.breakdown_values = (self.limits.breakdown_tracked / 2).max(1);
        let candidates = self
            .candidates
            .iter()
            .map(|candidate| CandidateState {
                name: candidate.name.clone(),
                runs: candidate.runs,
                counts: candidate.counts,
                latency: candidate.latency.clone(),
                paired: candidate.paired.clone(),
                breakdown: candidate.breakdown.clone(),
                groups: Groups::import(
                    candidate.groups.iter().map(|group| {
                        (
                            MismatchGroup {
                                shape: group.shape.clone(),
                                count: group.count,
                                first_seen: group.first_seen,
                                last_seen: group.last_seen,
                                samples: group.samples.clone(),
                            },
                            group.keys.clone(),
                        )
                    }),
                    candidate.ungrouped,
                ),
                timeline: Timeline::from_points(candidate.timeline.clone()),
            })
            .collect();
        let mut state = State::new(
            self.experiment.clone(),
            Some((crate::real_clock::instant(), self.started_at)),
            self.runs,
            self.control.clone(),
            candidates,
            self.untracked,
            self.interval,
            GuardMarks::from_parts(self.guard_events.clone(), self.guard_events_dropped),
        );
        let noise = self.noise.as_ref().map(|noise| noise.classified());
        evaluate(
            &mut state,
            noise,
            &options,
            self.generated_at,
            &mut Vec::new(),
            false,
        )
    }
}
