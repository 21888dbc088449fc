//! Guard trips and re-arms kept for the report: the most recent few, the rest counted.

use std::collections::VecDeque;
use std::time::SystemTime;

use serde::Serialize;

use crate::guard::GuardEvent;
use crate::text::escape_control;

/// The most guard events an insight keeps; older ones are dropped and counted.
pub const MAX_GUARD_MARKS: usize = 256;

/// One guard trip or re-arm, as the report shows it: on the timeline and in its own table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct GuardMark {
    /// When it happened.
    pub at: SystemTime,
    /// The guarded candidate (control characters escaped, at most 256 bytes).
    pub candidate: String,
    /// `tripped` or `rearmed`.
    pub event: &'static str,
    /// [`GuardReason::as_str`](crate::guard::GuardReason::as_str).
    pub reason: &'static str,
    /// The observed rate that exceeded the limit (0 for a manual trip and a re-arm).
    pub observed: f64,
    /// The limit (0 for a manual trip and a re-arm).
    pub threshold: f64,
    /// The runs judged.
    pub runs: u64,
}

/// The marks an insight keeps.
#[derive(Debug, Default)]
pub(crate) struct GuardMarks {
    marks: VecDeque<GuardMark>,
    dropped: u64,
}

impl GuardMarks {
    pub(crate) fn add(&mut self, event: &GuardEvent) {
        if self.marks.len() >= MAX_GUARD_MARKS {
            self.marks.pop_front();
            self.dropped += 1;
        }
        let mut candidate = escape_control(&event.candidate).into_owned();
        if let Some(cut) = crate::text::cut_point(&candidate, 256) {
            candidate.truncate(cut);
            candidate.push(crate::text::CUT_MARKER);
        }
        self.marks.push_back(GuardMark {
            at: event.at,
            candidate,
            event: event.kind.as_str(),
            reason: event.reason.as_str(),
            observed: event.observed,
            threshold: event.threshold,
            runs: event.runs,
        });
    }

    /// These marks (the latest [`MAX_GUARD_MARKS`] of them kept, the rest counted as dropped).
    pub(crate) fn from_parts(mut marks: Vec<GuardMark>, dropped: u64) -> Self {
        let excess = marks.len().saturating_sub(MAX_GUARD_MARKS);
        marks.drain(..excess);
        Self {
            marks: marks.into(),
            dropped: dropped.saturating_add(excess as u64),
        }
    }

    /// The kept marks, oldest first, and how many older ones were dropped.
    pub(crate) fn snapshot(&self) -> (Vec<GuardMark>, u64) {
        (self.marks.iter().cloned().collect(), self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{GuardEventKind, GuardReason};

    #[test]
    fn keeps_the_latest_marks_and_counts_the_rest() {
        let mut marks = GuardMarks::default();
        for runs in 0..(MAX_GUARD_MARKS as u64 + 10) {
            marks.add(&GuardEvent {
                experiment: "e".into(),
                candidate: "v2\u{1b}[31m".into(),
                kind: GuardEventKind::Tripped,
                reason: GuardReason::ErrorRate,
                observed: 0.5,
                threshold: 0.1,
                runs,
                window: 100,
                at: SystemTime::UNIX_EPOCH,
            });
        }
        let (kept, dropped) = marks.snapshot();
        assert_eq!((kept.len(), dropped), (MAX_GUARD_MARKS, 10));
        assert_eq!(kept[0].runs, 10, "the oldest were dropped");
        assert!(
            !kept[0].candidate.contains('\u{1b}'),
            "{:?}",
            kept[0].candidate
        );
    }
}
