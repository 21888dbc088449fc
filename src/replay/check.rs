//! Checking recorded cases against today's control and a new candidate.

use std::fmt::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::diff::Diff;
use crate::experiment::Experiment;
use crate::observation::{Outcome, Verdict};
use crate::output::BehaviorOutput;
use crate::replay::{Cases, Skipped, Source, Unreadable};
use crate::run::outcome_and_payload;
use crate::text::{capped, escape_control};

/// How many cases of each kind a summary lists (the rest are counted).
const LISTED: usize = 20;

/// The longest summary, in bytes.
const MAX_SUMMARY: usize = 64 * 1024;

/// One replayed case: what was recorded and what happens now.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    /// Where the case was read.
    pub source: Source,
    /// The candidate's name in the record.
    pub candidate: String,
    /// The verdict it was recorded with.
    pub recorded: Verdict,
    /// The verdict now.
    pub now: Verdict,
    /// The recorded diff, if any.
    pub recorded_diff: Option<Diff>,
    /// The diff now, for a mismatch of two values in an experiment that diffs.
    pub diff: Option<Diff>,
    /// The new candidate's outcome now: [`Outcome::kind`](crate::Outcome::kind), and the
    /// message of a panic.
    pub outcome: String,
}

impl CaseReport {
    /// Whether the diff now has the same shape (the same paths with the same kinds) as the
    /// recorded one: the defect reproduced exactly.
    pub fn same_shape_as_recorded(&self) -> bool {
        let shape = |diff: &Option<Diff>| -> Vec<(String, crate::diff::DiffKind)> {
            let mut shape: Vec<_> = diff
                .iter()
                .flat_map(|diff| diff.differences.iter())
                .map(|difference| (difference.path.clone(), difference.kind))
                .collect();
            shape.sort_by(|a, b| a.0.cmp(&b.0));
            shape
        };
        shape(&self.diff) == shape(&self.recorded_diff)
    }
}

/// What a replay found; [`assert_fixed`](Self::assert_fixed) turns it into a test.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReplayReport {
    /// The experiment replayed.
    pub experiment: String,
    /// Cases recorded as differing (mismatch, candidate error, timeout) that now agree
    /// (match, ignored or noise).
    pub fixed: Vec<CaseReport>,
    /// Cases recorded as differing that still differ.
    pub still_differ: Vec<CaseReport>,
    /// Cases recorded as agreeing that now differ: a new defect.
    pub newly_differ: Vec<CaseReport>,
    /// Cases recorded as agreeing that still agree.
    pub still_agree: usize,
    /// What the reading passed over on purpose.
    pub skipped: Skipped,
    /// The lines that could not be read.
    pub unreadable: Vec<Unreadable>,
}

impl ReplayReport {
    /// How many cases were replayed.
    pub fn cases(&self) -> usize {
        self.fixed.len() + self.still_differ.len() + self.newly_differ.len() + self.still_agree
    }

    /// Whether every case now agrees and every line could be read.
    pub fn all_agree(&self) -> bool {
        self.still_differ.is_empty() && self.newly_differ.is_empty() && self.unreadable.is_empty()
    }

    /// Panics with [the summary](Self::summary) unless at least one case was replayed, every
    /// case now agrees, and every line could be read: the check a test makes after a fix.
    ///
    /// # Panics
    ///
    /// As said: when a case still or newly differs, a line could not be read, or there was
    /// no case to replay.
    #[track_caller]
    pub fn assert_fixed(&self) {
        if self.cases() == 0 {
            panic!(
                "{}\nno case was replayed: nothing is proven",
                self.summary()
            );
        }
        if !self.all_agree() {
            panic!("{}", self.summary());
        }
    }

    /// A readable summary: the counts, then up to 20 cases of each differing kind with their
    /// source, verdicts and diff, then the unreadable lines. At most 64 KiB; control
    /// characters escaped.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replay of experiment \"{}\": {} cases: {} fixed, {} still differ, {} newly differ, {} still agree; {} unreadable lines",
            escape_control(&self.experiment),
            self.cases(),
            self.fixed.len(),
            self.still_differ.len(),
            self.newly_differ.len(),
            self.still_agree,
            self.unreadable.len(),
        );
        let skipped = &self.skipped;
        let _ = writeln!(
            out,
            "  skipped: {} of other experiments, {} of other candidates, {} without input, {} guard records, {} blank",
            skipped.other_experiment,
            skipped.other_candidate,
            skipped.without_input,
            skipped.guard_records,
            skipped.blank_lines,
        );
        for (title, cases) in [
            ("still differs", &self.still_differ),
            ("newly differs", &self.newly_differ),
        ] {
            for case in cases.iter().take(LISTED) {
                let _ = writeln!(
                    out,
                    "  {title}: {} (candidate \"{}\", recorded {}, now {}: {})",
                    case.source,
                    escape_control(&case.candidate),
                    case.recorded,
                    case.now,
                    escape_control(&case.outcome),
                );
                if let Some(diff) = &case.diff {
                    for line in diff.to_string().lines() {
                        let _ = writeln!(out, "      {}", escape_control(line));
                    }
                }
            }
            if cases.len() > LISTED {
                let _ = writeln!(out, "  … and {} more that {title}", cases.len() - LISTED);
            }
        }
        for line in self.unreadable.iter().take(LISTED) {
            let _ = writeln!(out, "  unreadable: {}: {}", line.source, line.reason);
        }
        if self.unreadable.len() > LISTED {
            let _ = writeln!(
                out,
                "  … and {} more unreadable lines",
                self.unreadable.len() - LISTED
            );
        }
        capped(&out, MAX_SUMMARY)
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Whether a verdict says the candidate disagreed with the control.
fn differs(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Mismatch | Verdict::CandidateError | Verdict::TimedOut
    )
}

impl<T, E> Experiment<T, E> {
    /// Runs `control` and `candidate` on every case's input, in the caller's thread, and judges
    /// them with this experiment's compare, ignore rules, clean, diff and noise settings (as
    /// [`compare_outcomes`](Self::compare_outcomes): nothing is counted or published). A panic
    /// in either is caught and judged as a panic, as in a run. See [`crate::replay`].
    pub fn replay<I, O>(
        &self,
        cases: &Cases<I>,
        mut control: impl FnMut(&I) -> O,
        mut candidate: impl FnMut(&I) -> O,
    ) -> ReplayReport
    where
        O: BehaviorOutput<T, E>,
    {
        let mut report = ReplayReport {
            experiment: cases.experiment.clone(),
            fixed: Vec::new(),
            still_differ: Vec::new(),
            newly_differ: Vec::new(),
            still_agree: 0,
            skipped: cases.skipped.clone(),
            unreadable: cases.unreadable.clone(),
        };
        for case in &cases.cases {
            let (expected, _) =
                outcome_and_payload(catch_unwind(AssertUnwindSafe(|| control(&case.input))));
            let (actual, _) =
                outcome_and_payload(catch_unwind(AssertUnwindSafe(|| candidate(&case.input))));
            let judged = self.compare_outcomes(expected, actual);
            let outcome = match judged.observation().outcome() {
                Outcome::Panicked(message) => format!("panicked: {message}"),
                other => other.kind().to_owned(),
            };
            let now = judged.verdict();
            let entry = CaseReport {
                source: case.source.clone(),
                candidate: case.candidate.clone(),
                recorded: case.verdict,
                now,
                recorded_diff: case.diff.clone(),
                diff: judged.diff().cloned(),
                outcome: capped(&outcome, 512),
            };
            match (differs(case.verdict), differs(now)) {
                (true, false) => report.fixed.push(entry),
                (true, true) => report.still_differ.push(entry),
                (false, true) => report.newly_differ.push(entry),
                (false, false) => report.still_agree += 1,
            }
        }
        report
    }
}
