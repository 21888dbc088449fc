//! The report as one self-contained HTML page: inline CSS, inline SVG charts, one tiny inline
//! script that only checks the charts rendered, and nothing fetched from anywhere.

use std::fmt::Write;

use serde_json::Value;

use crate::diff::Diff;
use crate::insight::report::{CandidateReport, MismatchGroup, MismatchSample, Report, ShapeEntry};
use crate::insight::svg;
use crate::insight::text::{duration_text, percent_text, range_text, thousands, utc_text};
use crate::insight::verdict::ReleaseStatus;
use crate::insight::{LatencySummary, Proportion};
use crate::noise::{noise_key, NoiseSnapshot};
use crate::text::escape_control;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, safe in element
/// content and in quoted attribute values, and control and bidirectional-override characters
/// written as visible escapes (`\n`, `\u{1b}`).
pub(crate) fn escape(text: &str) -> String {
    let text = escape_control(text);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's style sheet. System fonts only.
const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; background: #f6f8fa; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 4px; }
h1 .experiment { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 6px; }
p { margin: 6px 0; }
.meta { color: #57606a; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
.verdicts { list-style: none; margin: 12px 0 0; padding: 0; }
.verdict { margin: 6px 0; padding: 8px 12px; border-radius: 6px; border-left: 6px solid; background: #fff; }
.verdict .badge { display: inline-block; min-width: 96px; margin-right: 8px; padding: 1px 8px; border-radius: 10px;
  color: #fff; font-weight: 600; font-size: 12px; text-align: center; text-transform: uppercase; letter-spacing: .03em; }
.status-safe { border-color: #1a7f37; }
.status-safe .badge { background: #1a7f37; }
.status-not_safe { border-color: #cf222e; }
.status-not_safe .badge { background: #cf222e; }
.status-inconclusive { border-color: #9a6700; }
.status-inconclusive .badge { background: #9a6700; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 10px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; vertical-align: top; text-align: left; }
th { background: #f0f3f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: #57606a; font-size: 12px; }
code, .value { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.value { word-break: break-all; max-width: 440px; }
.absent { color: #8c959f; font-style: italic; }
.empty { color: #57606a; font-style: italic; }
.context { margin: 4px 0; }
.context span { display: inline-block; margin: 0 6px 4px 0; padding: 0 6px; border-radius: 4px; background: #eaeef2;
  font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.sample { border-top: 1px dashed #d0d7de; padding-top: 6px; margin-top: 8px; }
.noise-class-noise { color: #57606a; }
tr.noise-row td { color: #8c959f; }
.noise-class-reported { font-weight: 600; }
figure { margin: 12px 0; }
figcaption { color: #57606a; font-size: 13px; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
svg.chart .plot { fill: #fff; }
svg.chart .grid { stroke: #e6e9ec; stroke-width: 1; }
svg.chart .axis { stroke: #6e7781; stroke-width: 1; fill: none; }
svg.chart text { font-size: 12px; fill: #57606a; }
svg.chart .axis-title { font-size: 12.5px; fill: #1f2328; }
svg.chart .legend { font-size: 12.5px; fill: #1f2328; }
svg.chart .no-data { font-size: 16px; fill: #8c959f; font-style: italic; }
footer { margin-top: 40px; color: #8c959f; font-size: 12px; }
"#;

/// Runs on load: counts, per chart, the series that really have a rendered geometry, and writes
/// the counts into the DOM (`data-charts-rendered` on `<body>`, `data-series-rendered` on each
/// chart, and a hidden `#render-check`). The page reads the same without it.
const RENDER_CHECK: &str = r#"(function () {
  function check() {
    var charts = document.querySelectorAll('svg.chart'), rendered = 0, parts = [];
    for (var i = 0; i < charts.length; i++) {
      var chart = charts[i], series = chart.querySelectorAll('.series'), count = 0;
      for (var j = 0; j < series.length; j++) {
        var element = series[j];
        try {
          var box = element.getBBox();
          var length = typeof element.getTotalLength === 'function' ? element.getTotalLength() : 1;
          if (box.width > 0 && length > 0) { count++; }
        } catch (error) { /* not rendered */ }
      }
      chart.setAttribute('data-series-rendered', String(count));
      if (count > 0) { rendered++; }
      parts.push(chart.getAttribute('data-chart') + '=' + count);
    }
    document.body.setAttribute('data-charts-rendered', String(rendered));
    var out = document.getElementById('render-check');
    if (!out) {
      out = document.createElement('div');
      out.id = 'render-check';
      out.hidden = true;
      document.body.appendChild(out);
    }
    out.setAttribute('data-charts', String(charts.length));
    out.textContent = parts.join(' ');
  }
  if (document.readyState === 'complete') { check(); } else { window.addEventListener('load', check); }
})();"#;

impl Report {
    /// The report as a self-contained HTML5 page: the verdicts, outcome counts and rates,
    /// latency percentiles, two inline SVG charts (latency by percentile and mismatch rate over
    /// time), mismatch groups with sample diffs, and the noise calibration table.
    ///
    /// The page loads nothing: its style sheet, charts and one small script (which only
    /// records whether the charts rendered) are inline, and it reads the same without the
    /// script. Every text from the report is HTML-escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        let title = if self.experiment.is_empty() {
            String::from("darklaunch report")
        } else {
            format!("darklaunch report · {}", self.experiment)
        };
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(out, "<title>{}</title>", escape(&title));
        let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");

        self.header(&mut out);
        self.outcomes(&mut out);
        self.latency(&mut out);
        self.mismatch_rate(&mut out);
        self.groups(&mut out);
        if let Some(noise) = &self.noise {
            noise_section(noise, &mut out);
        }

        let _ = writeln!(
            out,
            "<footer>Generated by darklaunch at {}.</footer>\n</main>",
            escape(&utc_text(self.generated_at))
        );
        let _ = writeln!(out, "<script>\n{RENDER_CHECK}\n</script>\n</body>\n</html>");
        out
    }

    /// Writes [`to_html`](Report::to_html) to `path`.
    pub fn write_html(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_html())
    }

    fn header(&self, out: &mut String) {
        out.push_str("<header>\n");
        if self.experiment.is_empty() {
            out.push_str(
                "<h1>darklaunch report <span class=\"empty\">(no results yet)</span></h1>\n",
            );
        } else {
            let _ = writeln!(
                out,
                "<h1>darklaunch report · <span class=\"experiment\">{}</span></h1>",
                escape(&self.experiment)
            );
        }
        let span = self
            .generated_at
            .duration_since(self.started_at)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<p class=\"meta\"><strong>{}</strong> sampled runs · {} to {} ({})</p>",
            thousands(self.runs),
            escape(&utc_text(self.started_at)),
            escape(&utc_text(self.generated_at)),
            escape(&duration_text(span)),
        );
        out.push_str("<ul class=\"verdicts\">\n");
        if self.candidates.is_empty() {
            out.push_str("<li class=\"verdict status-inconclusive\"><span class=\"badge\">no data</span>No candidate results yet.</li>\n");
        }
        for candidate in &self.candidates {
            let status = candidate.verdict.status;
            let _ = writeln!(
                out,
                "<li class=\"verdict status-{}\" data-candidate=\"{}\"><span class=\"badge\">{}</span>{}</li>",
                status.as_str(),
                escape(&candidate.name),
                status_label(status),
                escape(&candidate.verdict.summary)
            );
        }
        out.push_str("</ul>\n</header>\n");
    }

    fn outcomes(&self, out: &mut String) {
        out.push_str("<section id=\"outcomes\">\n<h2>Outcomes</h2>\n");
        if self.candidates.is_empty() {
            out.push_str("<p class=\"empty\">No candidate results yet.</p>\n</section>\n");
            return;
        }
        out.push_str("<p class=\"meta\">Rates with 95 % Wilson intervals.</p>\n<table class=\"outcomes\">\n<thead><tr><th>candidate</th>");
        for header in [
            "runs", "match", "mismatch", "noise", "ignored", "errors", "timeouts",
        ] {
            let _ = write!(out, "<th class=\"num\">{header}</th>");
        }
        out.push_str("<th class=\"num\">mismatch rate</th><th class=\"num\">error rate</th><th class=\"num\">timeout rate</th></tr></thead>\n<tbody>\n");
        for c in &self.candidates {
            let _ = write!(out, "<tr><td><code>{}</code></td>", escape(&c.name));
            for count in [c.runs, c.matched, c.mismatched] {
                let _ = write!(out, "<td class=\"num\">{}</td>", thousands(count));
            }
            let _ = write!(out, "<td class=\"num\">{}", thousands(c.noise));
            if c.reclassified_as_noise > 0 {
                let _ = write!(
                    out,
                    "<br><span class=\"ci\">{} reclassified</span>",
                    thousands(c.reclassified_as_noise)
                );
            }
            out.push_str("</td>");
            for count in [c.ignored, c.errors, c.timeouts] {
                let _ = write!(out, "<td class=\"num\">{}</td>", thousands(count));
            }
            for rate in [&c.mismatch_rate, &c.error_rate, &c.timeout_rate] {
                let _ = write!(out, "<td class=\"num\">{}</td>", rate_cell(rate));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        if self.candidates.iter().any(|c| c.reclassified_as_noise > 0) {
            out.push_str("<p class=\"meta\">Reclassified: mismatches published before calibration learnt that their paths are noise; the report counts them as noise.</p>\n");
        }
        out.push_str("</section>\n");
    }

    fn latency(&self, out: &mut String) {
        out.push_str("<section id=\"latency\">\n<h2>Latency</h2>\n<table class=\"latency\">\n<thead><tr><th>behaviour</th>");
        for header in ["count", "p50", "p90", "p99", "max"] {
            let _ = write!(out, "<th class=\"num\">{header}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        latency_row("control", &self.control_latency, out);
        for candidate in &self.candidates {
            latency_row(&candidate.name, &candidate.latency, out);
        }
        out.push_str("</tbody>\n</table>\n<figure>\n");
        out.push_str(&svg::latency_chart(self));
        out.push_str("\n<figcaption>Latency by percentile: the latency at or below which each percentage of runs finished. Both axes are logarithmic; curves further up are slower.</figcaption>\n</figure>\n</section>\n");
    }

    fn mismatch_rate(&self, out: &mut String) {
        out.push_str(
            "<section id=\"mismatch-rate\">\n<h2>Mismatch rate over time</h2>\n<figure>\n",
        );
        out.push_str(&svg::mismatch_rate_chart(self));
        out.push_str("\n<figcaption>Mismatches over runs per timeline interval, per candidate; intervals without runs are left blank.</figcaption>\n</figure>\n</section>\n");
    }

    fn groups(&self, out: &mut String) {
        out.push_str("<section id=\"groups\">\n<h2>Mismatch groups</h2>\n");
        if self.candidates.is_empty() {
            out.push_str("<p class=\"empty\">No candidate results yet.</p>\n");
        }
        let noise_paths = self.noise_paths();
        for candidate in &self.candidates {
            candidate_groups(candidate, &noise_paths, out);
        }
        out.push_str("</section>\n");
    }
}

/// The badge text of a status.
fn status_label(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Safe => "safe",
        ReleaseStatus::NotSafe => "not safe",
        ReleaseStatus::Inconclusive => "inconclusive",
    }
}

/// `1.93 %` with its interval underneath.
fn rate_cell(rate: &Proportion) -> String {
    format!(
        "{}<br><span class=\"ci\">{}</span>",
        escape(&percent_text(rate.estimate)),
        escape(&range_text(rate.low, rate.high))
    )
}

fn latency_row(name: &str, latency: &LatencySummary, out: &mut String) {
    let _ = write!(
        out,
        "<tr><td><code>{}</code></td><td class=\"num\">{}</td>",
        escape(name),
        thousands(latency.count)
    );
    for value in [latency.p50, latency.p90, latency.p99, latency.max] {
        if latency.count == 0 {
            out.push_str("<td class=\"num\"><span class=\"absent\">–</span></td>");
        } else {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                escape(&duration_text(value))
            );
        }
    }
    out.push_str("</tr>\n");
}

/// A shape as `path kind, path kind`, paths in `<code>`.
fn shape_html(shape: &[ShapeEntry]) -> String {
    if shape.is_empty() {
        return String::from("<span class=\"absent\">(empty shape)</span>");
    }
    shape
        .iter()
        .map(|entry| {
            format!(
                "<code>{}</code> {}",
                escape(&entry.path),
                escape(&entry.kind)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn candidate_groups(candidate: &CandidateReport, noise_paths: &[&str], out: &mut String) {
    let count = candidate.groups.len();
    let _ = writeln!(
        out,
        "<div class=\"card candidate-groups\" data-candidate=\"{}\">\n<h3><code>{}</code> · {} {}</h3>",
        escape(&candidate.name),
        escape(&candidate.name),
        thousands(count as u64),
        if count == 1 { "group" } else { "groups" }
    );
    if candidate.groups.is_empty() {
        if candidate.ungrouped_mismatches == 0 {
            out.push_str("<p class=\"empty\">No mismatches.</p>\n");
        }
    } else {
        out.push_str("<table class=\"groups\">\n<thead><tr><th class=\"num\">#</th><th>shape</th><th class=\"num\">count</th><th>first seen</th><th>last seen</th></tr></thead>\n<tbody>\n");
        for (index, group) in candidate.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                index + 1,
                shape_html(&group.shape),
                thousands(group.count),
                escape(&utc_text(group.first_seen)),
                escape(&utc_text(group.last_seen))
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    if candidate.ungrouped_mismatches > 0 {
        let _ = writeln!(
            out,
            "<p class=\"ungrouped\">… and {} mismatches of further shapes (beyond the group cap; counted only).</p>",
            thousands(candidate.ungrouped_mismatches)
        );
    }
    for (index, group) in candidate.groups.iter().enumerate() {
        group_samples(index, group, noise_paths, out);
    }
    out.push_str("</div>\n");
}

fn group_samples(index: usize, group: &MismatchGroup, noise_paths: &[&str], out: &mut String) {
    let _ = writeln!(
        out,
        "<div class=\"group\">\n<h4>Group {}: {} <span class=\"meta\">({} mismatches)</span></h4>",
        index + 1,
        shape_html(&group.shape),
        thousands(group.count)
    );
    if group.samples.is_empty() {
        out.push_str("<p class=\"empty\">No samples kept.</p>\n");
    }
    for (number, sample) in group.samples.iter().enumerate() {
        sample_html(number, sample, noise_paths, out);
    }
    out.push_str("</div>\n");
}

fn sample_html(number: usize, sample: &MismatchSample, noise_paths: &[&str], out: &mut String) {
    let _ = writeln!(
        out,
        "<div class=\"sample\">\n<p><strong>Sample {}</strong> <span class=\"meta\">seen {}</span></p>",
        number + 1,
        escape(&utc_text(sample.seen_at))
    );
    if sample.context.is_empty() {
        out.push_str("<p class=\"context empty\">no context</p>\n");
    } else {
        out.push_str("<p class=\"context\">");
        for (key, value) in &sample.context {
            let _ = write!(out, "<span>{}={}</span>", escape(key), escape(value));
        }
        out.push_str("</p>\n");
    }
    if let Some(note) = &sample.note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
    match &sample.diff {
        Some(diff) if !diff.differences.is_empty() => diff_table(diff, noise_paths, out),
        _ => {
            let _ = writeln!(
                out,
                "<table class=\"outcome\"><tbody><tr><th>control</th><td class=\"value\">{}</td></tr><tr><th>candidate</th><td class=\"value\">{}</td></tr></tbody></table>",
                escape(&sample.control),
                escape(&sample.candidate)
            );
        }
    }
    out.push_str("</div>\n");
}

/// A JSON value in a diff cell, or "absent".
fn value_cell(value: Option<&Value>) -> String {
    match value {
        Some(value) => format!("<td class=\"value\">{}</td>", escape(&value.to_string())),
        None => String::from("<td class=\"value\"><span class=\"absent\">absent</span></td>"),
    }
}

/// A sample's differences; rows on paths calibration classifies as noise are marked and dimmed.
fn diff_table(diff: &Diff, noise_paths: &[&str], out: &mut String) {
    out.push_str("<table class=\"diff\">\n<thead><tr><th>path</th><th>kind</th><th>control</th><th>candidate</th></tr></thead>\n<tbody>\n");
    for difference in &diff.differences {
        let noise = noise_paths.contains(&noise_key(&difference.segments).as_str());
        let kind = if noise {
            format!("{} (noise)", difference.kind.as_str())
        } else if difference.truncated {
            format!("{} (truncated)", difference.kind.as_str())
        } else {
            difference.kind.as_str().to_owned()
        };
        let _ = writeln!(
            out,
            "<tr{}><td><code>{}</code></td><td>{}</td>{}{}</tr>",
            if noise { " class=\"noise-row\"" } else { "" },
            escape(&difference.path),
            escape(&kind),
            value_cell(difference.control.as_ref()),
            value_cell(difference.candidate.as_ref())
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if diff.omitted > 0 {
        let _ = writeln!(
            out,
            "<p class=\"meta\">… and {} more differences not kept.</p>",
            thousands(diff.omitted as u64)
        );
    }
}

fn noise_section(noise: &NoiseSnapshot, out: &mut String) {
    let _ = writeln!(
        out,
        "<section id=\"noise\">\n<h2>Noise calibration</h2>\n<p class=\"meta\">{} comparisons and {} calibrated runs in the window. A path is noise when the control differs from itself there about as often as the candidate differs from the control.</p>",
        thousands(noise.comparisons),
        thousands(noise.calibrations)
    );
    if noise.paths.is_empty() {
        out.push_str("<p class=\"empty\">No differences seen.</p>\n</section>\n");
        return;
    }
    out.push_str("<table class=\"noise\">\n<thead><tr><th>path</th><th class=\"num\">raw</th><th class=\"num\">noise</th><th class=\"num\">raw rate</th><th class=\"num\">noise rate</th><th>class</th></tr></thead>\n<tbody>\n");
    for path in &noise.paths {
        let class = if path.is_noise { "noise" } else { "reported" };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"noise-class-{class}\">{class}</td></tr>",
            escape(&path.path),
            thousands(path.raw),
            thousands(path.noise),
            escape(&percent_text(path.raw_rate())),
            escape(&percent_text(path.noise_rate())),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Serialize;
    use serde_json::json;

    use super::*;
    use crate::diff::{diff_values, DiffOptions};
    use crate::insight::report::TimelinePoint;
    use crate::insight::verdict::ReleaseVerdict;
    use crate::insight::{Insight, QuantilePoint};
    use crate::noise::PathNoise;
    use crate::Experiment;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain µs – text"), "plain µs – text");
        assert_eq!(escape(""), "");
    }

    fn empty_report() -> Report {
        let now = crate::real_clock::wall();
        Report {
            experiment: String::new(),
            started_at: now,
            generated_at: now,
            runs: 0,
            control_latency: LatencySummary::default(),
            candidates: Vec::new(),
            noise: None,
            untracked_candidate_results: 0,
        }
    }

    fn candidate(name: &str) -> CandidateReport {
        CandidateReport {
            name: name.to_owned(),
            runs: 0,
            matched: 0,
            mismatched: 0,
            noise: 0,
            reclassified_as_noise: 0,
            ignored: 0,
            errors: 0,
            timeouts: 0,
            mismatch_rate: Proportion::wilson(0, 0),
            error_rate: Proportion::wilson(0, 0),
            timeout_rate: Proportion::wilson(0, 0),
            latency: LatencySummary::default(),
            groups: Vec::new(),
            ungrouped_mismatches: 0,
            timeline: Vec::new(),
            verdict: ReleaseVerdict {
                status: ReleaseStatus::Inconclusive,
                summary: format!("{name}: not enough evidence yet"),
            },
        }
    }

    fn assert_sane_svg(html: &str) {
        assert!(!html.contains("NaN"), "NaN in the page");
        for chart in html.split("<svg").skip(1) {
            let chart = chart.split("</svg>").next().unwrap_or_default();
            assert!(!chart.contains("inf"), "an infinity in a chart: {chart}");
        }
        assert!(!html.contains("http"), "a URL in the page");
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 2);
        assert!(html.contains("data-chart=\"latency\""));
        assert!(html.contains("data-chart=\"mismatch-rate\""));
        assert_eq!(html.matches("<script>").count(), 1, "one script only");
    }

    #[test]
    fn an_empty_report_renders_frames_with_no_data_notes() {
        let html = empty_report().to_html();
        assert_sane_svg(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("no latency data yet"));
        assert!(html.contains("no candidates yet"));
        assert!(html.contains("No candidate results yet."));
        assert!(!html.contains("class=\"series\""));

        // A candidate with no runs, no groups and an empty timeline; zero-length latency.
        let mut report = empty_report();
        report.experiment = String::from("empty");
        report.candidates.push(candidate("v2"));
        report.control_latency.count = 3;
        report.control_latency.quantiles = vec![
            QuantilePoint {
                quantile: 0.0,
                latency: Duration::ZERO,
            },
            QuantilePoint {
                quantile: 1.0,
                latency: Duration::ZERO,
            },
        ];
        report.candidates[0].timeline.push(TimelinePoint {
            offset: Duration::ZERO,
            width: Duration::ZERO,
            runs: 0,
            mismatches: 0,
        });
        report.noise = Some(NoiseSnapshot::default());
        let html = report.to_html();
        assert_sane_svg(&html);
        assert!(html.contains("No mismatches."));
        assert!(html.contains("no runs on the timeline yet"));
        assert!(html.contains("No differences seen."));
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let mut report = empty_report();
        report.experiment = String::from("<script>alert(1)</script>");
        let mut c = candidate("<script>");
        c.runs = 10;
        c.mismatched = 1;
        c.verdict.summary = String::from("<script> is not safe & \"odd\"");
        c.latency.count = 10;
        c.latency.quantiles = vec![
            QuantilePoint {
                quantile: 0.5,
                latency: Duration::from_micros(3),
            },
            QuantilePoint {
                quantile: 1.0,
                latency: Duration::from_micros(40),
            },
        ];
        c.timeline = vec![TimelinePoint {
            offset: Duration::ZERO,
            width: Duration::from_secs(1),
            runs: 10,
            mismatches: 1,
        }];
        let diff = diff_values(
            &json!({"a": "<b>", "c'": 1}),
            &json!({"a": "</td>", "d": null}),
            &DiffOptions::new(),
        );
        c.groups.push(MismatchGroup {
            shape: vec![ShapeEntry {
                path: String::from("$.a<i>"),
                kind: String::from("changed"),
            }],
            count: 1,
            first_seen: crate::real_clock::wall(),
            last_seen: crate::real_clock::wall(),
            samples: vec![
                MismatchSample {
                    seen_at: crate::real_clock::wall(),
                    context: vec![(String::from("<k>"), String::from("\"v'&"))],
                    control: String::from("{}"),
                    candidate: String::from("{}"),
                    diff: Some(diff),
                    note: Some(String::from("<note>\u{1b}[2J")),
                },
                MismatchSample {
                    seen_at: crate::real_clock::wall(),
                    context: Vec::new(),
                    control: String::from("<control>"),
                    candidate: String::from("error: <boom>\nverdict: safe"),
                    diff: None,
                    note: None,
                },
            ],
        });
        c.ungrouped_mismatches = 2;
        report.candidates.push(c);
        report.noise = Some(NoiseSnapshot {
            comparisons: 10,
            calibrations: 0,
            paths: vec![PathNoise {
                path: String::from("$.<id>"),
                raw: 3,
                noise: 0,
                comparisons: 10,
                calibrations: 0,
                is_noise: false,
            }],
        });
        let html = report.to_html();
        assert_sane_svg(&html);
        // The only tags named script are the page's own.
        assert_eq!(html.matches("<script").count(), 1);
        assert_eq!(html.matches("</script>").count(), 1);
        for raw in [
            "<b>",
            "</td>\"",
            "<i>",
            "<k>",
            "<control>",
            "<boom>",
            "$.<id>",
        ] {
            assert!(!html.contains(raw), "unescaped {raw}");
        }
        assert!(html.contains("data-series=\"&lt;script&gt;\""));
        assert!(html.contains("&lt;k&gt;=&quot;v&#39;&amp;"));
        assert!(html.contains("&quot;&lt;/td&gt;&quot;"));
        assert!(html.contains("mismatches of further shapes"));
        assert!(html.contains("$.&lt;id&gt;"));
        // Control characters are visible escapes, never raw.
        assert!(!html.contains('\u{1b}'));
        assert!(!html.lines().any(|line| line.starts_with("verdict: safe")));
        assert!(html.contains("&lt;note&gt;\\u{1b}[2J"));
    }

    #[derive(Clone, PartialEq, Serialize)]
    struct Quote {
        total: u64,
        currency: &'static str,
    }

    #[test]
    fn a_report_with_data_has_two_charts_with_series() {
        let insight = Insight::new();
        let experiment: Experiment<Quote> = Experiment::builder("quote-v2")
            .diff(DiffOptions::new())
            .publisher(insight.clone())
            .build()
            .unwrap();
        for n in 0..2_000u64 {
            experiment
                .trial()
                .context("customer", n % 7)
                .control(|| Quote {
                    total: n,
                    currency: "EUR",
                })
                .candidate("v2", || Quote {
                    total: if n % 40 == 0 { n + 1 } else { n },
                    currency: "EUR",
                })
                .run();
        }
        let report = insight.report();
        let html = report.to_html();
        assert_sane_svg(&html);
        assert!(html.contains("data-series=\"control\""));
        assert_eq!(html.matches("data-series=\"v2\"").count(), 2);
        assert!(html.contains("<code>$.total</code> changed"));
        assert!(html.contains("customer="));
        assert!(html.contains("status-not_safe"));
        assert!(html.contains(svg::CONTROL_COLOUR));
        assert!(html.contains(svg::candidate_colour(0)));

        let path =
            std::env::temp_dir().join(format!("darklaunch-html-unit-{}.html", std::process::id()));
        report.write_html(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(written.len(), html.len());
    }
}
