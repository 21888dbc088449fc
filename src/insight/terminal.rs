//! The report as plain-text tables for a terminal.

use std::fmt::Write;

use crate::insight::format::{duration_text, percent_text, range_text, thousands, utc_text};
use crate::insight::report::{CandidateReport, Report};
use crate::insight::LatencySummary;
use crate::noise::noise_key;
use crate::text::escape_control;

/// User-supplied text (names, context, paths, values) with control characters escaped, so that
/// it cannot forge a line or send escape sequences to the terminal.
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    escape_control(text)
}

/// A text table: a header row, then rows; the first column left-aligned, the others right.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|cell| (*cell).to_owned()).collect()],
        }
    }

    /// Adds a row; its cells' control characters are escaped.
    fn row(&mut self, cells: Vec<String>) {
        let cells = cells
            .into_iter()
            .map(|cell| match esc(&cell) {
                std::borrow::Cow::Borrowed(_) => cell,
                std::borrow::Cow::Owned(escaped) => escaped,
            })
            .collect();
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(column))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::from("  ");
            for (column, cell) in row.iter().enumerate() {
                let pad = widths[column].saturating_sub(cell.chars().count());
                if column == 0 {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                } else {
                    line.push_str("  ");
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn latency_row(name: &str, latency: &LatencySummary) -> Vec<String> {
    vec![
        name.to_owned(),
        thousands(latency.count),
        duration_text(latency.p50),
        duration_text(latency.p90),
        duration_text(latency.p99),
        duration_text(latency.max),
    ]
}

fn rate_cell(rate: &crate::insight::Proportion) -> String {
    format!(
        "{} ({})",
        percent_text(rate.estimate),
        range_text(rate.low, rate.high)
    )
}

impl Report {
    /// The report as plain-text tables: the verdicts, counts and rates, latency percentiles,
    /// mismatch groups with one sample diff each, and the noise calibration table.
    pub fn to_terminal(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "darklaunch report · experiment {} · {} sampled runs · {} to {}",
            esc(&self.experiment),
            thousands(self.runs),
            utc_text(self.started_at),
            utc_text(self.generated_at)
        );

        out.push_str("\nVerdict\n");
        if self.candidates.is_empty() {
            out.push_str("  no results yet\n");
        }
        for candidate in &self.candidates {
            let _ = writeln!(
                out,
                "  [{}] {}",
                candidate.verdict.status.as_str(),
                esc(&candidate.verdict.summary)
            );
        }

        if !self.candidates.is_empty() {
            out.push_str("\nOutcomes (fixed-sample 95 % Wilson intervals, descriptive only: the verdict uses anytime-valid bounds)\n");
            let mut table = Table::new(&[
                "candidate",
                "runs",
                "match",
                "mismatch",
                "noise",
                "ignored",
                "errors",
                "timeouts",
                "mismatch rate",
                "error rate",
            ]);
            for c in &self.candidates {
                table.row(vec![
                    c.name.clone(),
                    thousands(c.runs),
                    thousands(c.matched),
                    thousands(c.mismatched),
                    thousands(c.noise),
                    thousands(c.ignored),
                    thousands(c.errors),
                    thousands(c.timeouts),
                    rate_cell(&c.mismatch_rate),
                    rate_cell(&c.error_rate),
                ]);
            }
            table.render(&mut out);
        }
        if self.untracked_candidate_results > 0 {
            let _ = writeln!(
                out,
                "  … and {} results of further candidates (beyond the candidate cap; counted only)",
                thousands(self.untracked_candidate_results)
            );
        }

        out.push_str("\nLatency\n");
        let mut table = Table::new(&["behaviour", "count", "p50", "p90", "p99", "max"]);
        table.row(latency_row("control", &self.control_latency));
        for candidate in &self.candidates {
            table.row(latency_row(&candidate.name, &candidate.latency));
        }
        table.render(&mut out);
        if self.candidates.iter().any(|c| c.paired_latency.runs > 0) {
            out.push_str(
                "\nPaired with the control (candidate ÷ control on the same runs, 95 % distribution-free intervals)\n",
            );
            let mut table = Table::new(&["candidate", "runs", "median", "p90", "p99", "verdict"]);
            for candidate in &self.candidates {
                let paired = &candidate.paired_latency;
                table.row(vec![
                    candidate.name.clone(),
                    thousands(paired.runs),
                    crate::insight::format::ratio_text(paired.median),
                    crate::insight::format::ratio_text(paired.p90),
                    crate::insight::format::ratio_text(paired.p99),
                    candidate
                        .latency_status
                        .map_or("not judged", |status| status.as_str())
                        .to_string(),
                ]);
            }
            table.render(&mut out);
        }

        if !self.guard_events.is_empty() {
            out.push_str("\nGuard events\n");
            let mut table = Table::new(&[
                "time",
                "candidate",
                "event",
                "reason",
                "observed",
                "limit",
                "runs",
            ]);
            for mark in &self.guard_events {
                table.row(vec![
                    utc_text(mark.at),
                    mark.candidate.clone(),
                    mark.event.to_string(),
                    mark.reason.to_string(),
                    percent_text(mark.observed),
                    percent_text(mark.threshold),
                    thousands(mark.runs),
                ]);
            }
            table.render(&mut out);
            if self.guard_events_dropped > 0 {
                let _ = writeln!(
                    out,
                    "  … and {} older guard events (counted only)",
                    thousands(self.guard_events_dropped)
                );
            }
        }

        if let Some(key) = &self.breakdown_key {
            for candidate in self.candidates.iter().filter(|c| !c.breakdown.is_empty()) {
                let _ = writeln!(out, "\n{} by {}", esc(&candidate.name), esc(key));
                let mut table = Table::new(&[
                    key.as_str(),
                    "runs",
                    "mismatch",
                    "errors",
                    "timeouts",
                    "mismatch rate",
                    "p50",
                    "p99",
                ]);
                for entry in &candidate.breakdown {
                    table.row(vec![
                        entry.value.clone(),
                        thousands(entry.runs),
                        thousands(entry.mismatched),
                        thousands(entry.errors),
                        thousands(entry.timeouts),
                        rate_cell(&entry.mismatch_rate),
                        crate::insight::format::duration_text(entry.latency.p50),
                        crate::insight::format::duration_text(entry.latency.p99),
                    ]);
                }
                table.render(&mut out);
            }
        }

        let noise_paths = self.noise_paths();
        for candidate in &self.candidates {
            render_groups(candidate, &noise_paths, &mut out);
        }

        if let Some(noise) = &self.noise {
            let _ = writeln!(
                out,
                "\nNoise calibration ({} comparisons, {} calibrated runs in the window)",
                thousands(noise.comparisons),
                thousands(noise.calibrations)
            );
            if noise.paths.is_empty() {
                out.push_str("  no differences seen\n");
            } else {
                let mut table =
                    Table::new(&["path", "raw", "noise", "raw rate", "noise rate", "class"]);
                for path in &noise.paths {
                    table.row(vec![
                        path.path.clone(),
                        thousands(path.raw),
                        thousands(path.noise),
                        percent_text(path.raw_rate()),
                        percent_text(path.noise_rate()),
                        String::from(if path.is_noise { "noise" } else { "reported" }),
                    ]);
                }
                table.render(&mut out);
            }
        }
        out
    }
}

fn render_groups(candidate: &CandidateReport, noise_paths: &[&str], out: &mut String) {
    let _ = writeln!(
        out,
        "\nMismatch groups · {} ({} groups)",
        esc(&candidate.name),
        candidate.groups.len()
    );
    if candidate.groups.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let mut table = Table::new(&["shape", "count", "first seen", "last seen"]);
    for group in &candidate.groups {
        let shape = group
            .shape
            .iter()
            .map(|entry| format!("{} {}", entry.path, entry.kind))
            .collect::<Vec<_>>()
            .join(", ");
        table.row(vec![
            shape,
            thousands(group.count),
            utc_text(group.first_seen),
            utc_text(group.last_seen),
        ]);
    }
    table.render(out);
    if candidate.ungrouped_mismatches > 0 {
        let _ = writeln!(
            out,
            "  … and {} mismatches of further shapes",
            thousands(candidate.ungrouped_mismatches)
        );
    }
    for (index, group) in candidate.groups.iter().enumerate().take(5) {
        let Some(sample) = group.samples.first() else {
            continue;
        };
        let context = sample
            .context
            .iter()
            .map(|(key, value)| format!("{}={}", esc(key), esc(value)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(out, "  sample of group {}: {context}", index + 1);
        if let Some(diff) = &sample.diff {
            for difference in &diff.differences {
                let noise = noise_paths.contains(&noise_key(&difference.segments).as_str());
                let note = if noise { "   (noise)" } else { "" };
                let line = difference.to_string();
                let _ = writeln!(out, "    {}{note}", esc(&line));
            }
            if diff.omitted > 0 {
                let _ = writeln!(out, "    … and {} more differences", diff.omitted);
            }
        }
        let no_differences = sample
            .diff
            .as_ref()
            .is_none_or(|diff| diff.differences.is_empty());
        if no_differences {
            let _ = writeln!(out, "    control:   {}", esc(&sample.control));
            let _ = writeln!(out, "    candidate: {}", esc(&sample.candidate));
        }
        if let Some(note) = &sample.note {
            let _ = writeln!(out, "    note: {}", esc(note));
        }
        if let Some(input) = &sample.input {
            let _ = writeln!(out, "    input: {}", esc(input));
        }
        if let Some(trace_id) = &sample.trace_id {
            let _ = writeln!(out, "    trace: {}", esc(trace_id));
        }
    }
}
