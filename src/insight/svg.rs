//! Inline SVG charts for the HTML report: latency by percentile and mismatch rate over time.
//!
//! Every coordinate goes through [`num`], which never prints `NaN` or an infinity; every label
//! from the report goes through [`escape`]. The charts need no script and no external resource.

use std::fmt::Write;
use std::time::Duration;

use crate::insight::format::{in_time_unit, percent_text};
use crate::insight::html::escape;
use crate::insight::report::{CandidateReport, Report};
use crate::insight::LatencySummary;

/// The control's series colour (a blue).
pub(crate) const CONTROL_COLOUR: &str = "#1c7ed6";

/// Candidates' series colours, in order of appearance (cycled beyond eight candidates).
pub(crate) const CANDIDATE_COLOURS: [&str; 8] = [
    "#e8590c", // orange
    "#9c36b5", // purple
    "#2f9e44", // green
    "#c2255c", // raspberry
    "#0c8599", // teal
    "#f59f00", // amber
    "#5f3dc4", // violet
    "#66a80f", // lime
];

/// The colour of the candidate at `index`.
pub(crate) fn candidate_colour(index: usize) -> &'static str {
    CANDIDATE_COLOURS[index % CANDIDATE_COLOURS.len()]
}

/// Chart width in SVG units (and CSS pixels).
const WIDTH: f64 = 880.0;
/// Plot area height.
const PLOT_HEIGHT: f64 = 280.0;
const MARGIN_LEFT: f64 = 76.0;
const MARGIN_RIGHT: f64 = 24.0;
const MARGIN_TOP: f64 = 16.0;
/// Space under the plot for tick labels and the axis title.
const AXIS_SPACE: f64 = 52.0;
/// Height of one legend row.
const LEGEND_ROW: f64 = 22.0;
/// Width of one legend entry.
const LEGEND_ENTRY: f64 = 200.0;
/// Longest series name shown in a legend, in characters.
const LEGEND_NAME_CHARS: usize = 24;

/// The highest percentile position on the latency chart (99.99 %): `log10(1 / (1 - q))`.
const LATENCY_X_MAX: f64 = 4.0;

/// A coordinate or value for an attribute: one decimal, and `0` for anything not finite.
fn num(value: f64) -> String {
    if value.is_finite() {
        let text = format!("{value:.1}");
        match text.strip_suffix(".0") {
            Some("-0") => String::from("0"),
            Some(whole) => whole.to_owned(),
            None => text,
        }
    } else {
        String::from("0")
    }
}

/// `value` mapped from `[low, high]` onto `[from, to]`; the middle of the range when the domain
/// is empty or the result would not be finite.
fn scale(value: f64, low: f64, high: f64, from: f64, to: f64) -> f64 {
    let span = high - low;
    let scaled = if span.is_finite() && span > 0.0 {
        from + (value - low) / span * (to - from)
    } else {
        (from + to) / 2.0
    };
    if scaled.is_finite() {
        scaled
    } else {
        (from + to) / 2.0
    }
}

/// A name cut to `LEGEND_NAME_CHARS` characters (with an ellipsis), then escaped.
fn legend_name(name: &str) -> String {
    if name.chars().count() > LEGEND_NAME_CHARS {
        let cut: String = name.chars().take(LEGEND_NAME_CHARS - 1).collect();
        escape(&format!("{cut}…"))
    } else {
        escape(name)
    }
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) for about `ticks` ticks over `range`.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = range / ticks.max(1.0);
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    ceil_125(raw)
}

/// Decimals needed to print multiples of `step` exactly (0 to 6).
fn decimals(step: f64) -> usize {
    if !step.is_finite() || step <= 0.0 || step >= 1.0 {
        0
    } else {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    }
}

/// Ticks `0, step, 2 step, …` up to `high` (at most 40).
fn linear_ticks(high: f64, step: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(high.is_finite() && step.is_finite() && step > 0.0) {
        return vec![0.0];
    }
    let mut index = 0u32;
    while index <= 40 {
        let tick = f64::from(index) * step;
        if tick > high * (1.0 + 1e-9) {
            break;
        }
        ticks.push(tick);
        index += 1;
    }
    ticks
}

/// The largest `1, 2, 5 × 10^k` at or below `value` (`value` ≥ 1).
fn floor_125(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    let normalized = value / magnitude;
    let factor = if normalized >= 10.0 - 1e-9 {
        10.0
    } else if normalized >= 5.0 - 1e-9 {
        5.0
    } else if normalized >= 2.0 - 1e-9 {
        2.0
    } else {
        1.0
    };
    factor * magnitude
}

/// The smallest `1, 2, 5 × 10^k` at or above `value` (`value` > 0).
fn ceil_125(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    let normalized = value / magnitude;
    let factor = if normalized <= 1.0 + 1e-9 {
        1.0
    } else if normalized <= 2.0 + 1e-9 {
        2.0
    } else if normalized <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    factor * magnitude
}

/// A latency tick label: `1 ns`, `20 µs`, `500 ms`, `2 s`.
fn latency_tick_label(nanos: f64) -> String {
    let (value, unit) = in_time_unit(nanos);
    if (value - value.round()).abs() < 1e-6 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A latency in nanoseconds, at least 1 (the log scale's floor).
fn nanos(duration: Duration) -> f64 {
    (duration.as_nanos() as f64).max(1.0)
}

/// Where quantile `q` sits on the latency chart's x axis: `log10(1 / (1 - q))`, with `q`
/// clamped to `[0, 0.9999]` (so the maximum, `q = 1`, is drawn at 99.99 %).
fn percentile_position(quantile: f64) -> Option<f64> {
    if !quantile.is_finite() {
        return None;
    }
    let q = quantile.clamp(0.0, 0.9999);
    let position = -(1.0 - q).log10();
    position
        .is_finite()
        .then(|| position.clamp(0.0, LATENCY_X_MAX))
}

/// One series: a name, a colour and its points in data units.
struct Series<'a> {
    name: &'a str,
    colour: &'static str,
    points: Vec<(f64, f64)>,
}

/// The frame shared by both charts: the opening tag, the plot area, the axes and their
/// titles; the caller adds ticks, series and the legend, then [`Frame::finish`].
struct Frame {
    svg: String,
    legend_per_row: usize,
}

impl Frame {
    fn plot_left() -> f64 {
        MARGIN_LEFT
    }
    fn plot_right() -> f64 {
        WIDTH - MARGIN_RIGHT
    }
    fn plot_top() -> f64 {
        MARGIN_TOP
    }
    fn plot_bottom() -> f64 {
        MARGIN_TOP + PLOT_HEIGHT
    }

    fn new(chart: &str, label: &str, legend_entries: usize, x_title: &str, y_title: &str) -> Self {
        let per_row = ((Self::plot_right() - Self::plot_left()) / LEGEND_ENTRY)
            .floor()
            .max(1.0) as usize;
        let rows = legend_entries.div_ceil(per_row).max(1);
        let height = Self::plot_bottom() + AXIS_SPACE + rows as f64 * LEGEND_ROW + 8.0;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" data-chart="{chart}" role="img" aria-label="{label}" viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#,
            label = escape(label),
            w = num(WIDTH),
            h = num(height),
        );
        let _ = write!(
            svg,
            r#"<rect class="plot" x="{}" y="{}" width="{}" height="{}"/>"#,
            num(Self::plot_left()),
            num(Self::plot_top()),
            num(Self::plot_right() - Self::plot_left()),
            num(PLOT_HEIGHT)
        );
        // Axis titles.
        let _ = write!(
            svg,
            r#"<text class="axis-title" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num((Self::plot_left() + Self::plot_right()) / 2.0),
            num(Self::plot_bottom() + 40.0),
            escape(x_title)
        );
        let middle = (Self::plot_top() + Self::plot_bottom()) / 2.0;
        let _ = write!(
            svg,
            r#"<text class="axis-title" x="16" y="{m}" text-anchor="middle" transform="rotate(-90 16 {m})">{}</text>"#,
            escape(y_title),
            m = num(middle),
        );
        Self {
            svg,
            legend_per_row: per_row,
        }
    }

    /// A vertical grid line and its label under the plot at x `at`.
    fn x_tick(&mut self, at: f64, label: &str) {
        let _ = write!(
            self.svg,
            r#"<line class="grid" x1="{x}" y1="{}" x2="{x}" y2="{}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            num(Self::plot_top()),
            num(Self::plot_bottom()),
            num(Self::plot_bottom() + 18.0),
            escape(label),
            x = num(at),
        );
    }

    /// A horizontal grid line and its label left of the plot at y `at`.
    fn y_tick(&mut self, at: f64, label: &str) {
        let _ = write!(
            self.svg,
            r#"<line class="grid" x1="{}" y1="{y}" x2="{}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            num(Self::plot_left()),
            num(Self::plot_right()),
            num(Self::plot_left() - 8.0),
            num(at + 4.0),
            escape(label),
            y = num(at),
        );
    }

    /// The axis lines (drawn over the grid).
    fn axes(&mut self) {
        let _ = write!(
            self.svg,
            r#"<path class="axis" d="M{} {}V{}H{}"/>"#,
            num(Self::plot_left()),
            num(Self::plot_top()),
            num(Self::plot_bottom()),
            num(Self::plot_right())
        );
    }

    /// The "no data" note in the middle of the plot.
    fn no_data(&mut self, note: &str) {
        let _ = write!(
            self.svg,
            r#"<text class="no-data" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num((Self::plot_left() + Self::plot_right()) / 2.0),
            num((Self::plot_top() + Self::plot_bottom()) / 2.0),
            escape(note)
        );
    }

    /// Legend entry number `index`: a line swatch in `colour` and the (escaped) name.
    fn legend(&mut self, index: usize, name: &str, colour: &str, note: &str) {
        let row = index / self.legend_per_row;
        let column = index % self.legend_per_row;
        let x = Self::plot_left() + column as f64 * LEGEND_ENTRY;
        let y = Self::plot_bottom() + AXIS_SPACE + row as f64 * LEGEND_ROW + 8.0;
        let _ = write!(
            self.svg,
            r#"<g class="legend-entry"><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text class="legend" x="{}" y="{}">{}{}</text></g>"#,
            num(x),
            num(x + 18.0),
            num(x + 24.0),
            num(y + 4.0),
            legend_name(name),
            escape(note),
            y = num(y),
        );
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// Chart 1: latency by percentile of the control and each candidate (log-scaled percentile
/// axis, log-scaled latency axis).
pub(crate) fn latency_chart(report: &Report) -> String {
    let mut series = Vec::with_capacity(report.candidates.len() + 1);
    series.push(latency_series(
        "control",
        CONTROL_COLOUR,
        &report.control_latency,
    ));
    for (index, candidate) in report.candidates.iter().enumerate() {
        series.push(latency_series(
            &candidate.name,
            candidate_colour(index),
            &candidate.latency,
        ));
    }

    let mut frame = Frame::new(
        "latency",
        "Latency by percentile, control and candidates",
        series.len(),
        "percentile (log scale of 1 / (1 − q); the maximum is drawn at 99.99 %)",
        "latency (log scale)",
    );

    let values = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let low = values().fold(f64::INFINITY, f64::min);
    let high = values().fold(f64::NEG_INFINITY, f64::max);
    let has_data = low.is_finite() && high.is_finite();
    let (y_low, y_high) = if has_data {
        let low = floor_125(low.max(1.0));
        let mut high = ceil_125(high.max(1.0));
        if high <= low {
            high = ceil_125(low * 1.5);
        }
        (low, high)
    } else {
        (1.0, 1_000.0)
    };
    let (log_low, log_high) = (y_low.log10(), y_high.log10());
    let y = |value: f64| {
        scale(
            value.max(1.0).log10(),
            log_low,
            log_high,
            Frame::plot_bottom(),
            Frame::plot_top(),
        )
    };
    let x = |position: f64| {
        scale(
            position,
            0.0,
            LATENCY_X_MAX,
            Frame::plot_left(),
            Frame::plot_right(),
        )
    };

    for (quantile, label) in [
        (0.0, "0 %"),
        (0.5, "50 %"),
        (0.9, "90 %"),
        (0.99, "99 %"),
        (0.999, "99.9 %"),
        (0.9999, "99.99 %"),
    ] {
        if let Some(position) = percentile_position(quantile) {
            frame.x_tick(x(position), label);
        }
    }
    for tick in latency_ticks(y_low, y_high) {
        frame.y_tick(y(tick), &latency_tick_label(tick));
    }
    frame.axes();

    if !has_data {
        frame.no_data("no latency data yet");
    }
    for s in &series {
        if s.points.is_empty() {
            continue;
        }
        let points = s
            .points
            .iter()
            .map(|&(px, py)| format!("{},{}", num(x(px)), num(y(py))))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            frame.svg,
            r#"<polyline class="series" data-series="{name}" points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"/>"#,
            name = escape(s.name),
            colour = s.colour,
        );
    }
    for (index, s) in series.iter().enumerate() {
        let note = if s.points.is_empty() {
            " (no data)"
        } else {
            ""
        };
        frame.legend(index, s.name, s.colour, note);
    }
    frame.finish()
}

/// A latency summary's quantiles as chart points (percentile position, nanoseconds).
fn latency_series<'a>(name: &'a str, colour: &'static str, latency: &LatencySummary) -> Series<'a> {
    let points = if latency.count == 0 {
        Vec::new()
    } else {
        latency
            .quantiles
            .iter()
            .filter_map(|point| {
                percentile_position(point.quantile).map(|x| (x, nanos(point.latency)))
            })
            .collect()
    };
    Series {
        name,
        colour,
        points,
    }
}

/// Latency ticks between `low` and `high` (both `1, 2, 5 × 10^k`): every 1-2-5 value when
/// that gives at most nine ticks, else decades (thinned to at most nine).
fn latency_ticks(low: f64, high: f64) -> Vec<f64> {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    let within = |tick: f64| tick >= low * (1.0 - 1e-9) && tick <= high * (1.0 + 1e-9);
    let decades: Vec<i32> = (first..=last).take(40).collect();
    let all: Vec<f64> = decades
        .iter()
        .flat_map(|&decade| [1.0, 2.0, 5.0].map(|factor| factor * 10f64.powi(decade)))
        .filter(|&tick| within(tick))
        .collect();
    if all.len() <= 9 {
        return all;
    }
    let powers: Vec<f64> = decades
        .iter()
        .map(|&decade| 10f64.powi(decade))
        .filter(|&tick| within(tick))
        .collect();
    let every = powers.len().div_ceil(9).max(1);
    powers.into_iter().step_by(every).collect()
}

/// One timeline interval with runs, in chart units.
#[derive(Clone, Copy)]
struct Interval {
    /// Seconds since the start.
    start: f64,
    /// Seconds since the start.
    end: f64,
    /// Mismatches over runs, in percent.
    rate: f64,
    mismatches: u64,
    runs: u64,
}

/// A candidate's timeline intervals that had runs.
fn intervals(candidate: &CandidateReport) -> Vec<Interval> {
    candidate
        .timeline
        .iter()
        .filter(|point| point.runs > 0)
        .map(|point| {
            let start = point.offset.as_secs_f64();
            let mismatches = point.mismatches.min(point.runs);
            Interval {
                start,
                end: start + point.width.as_secs_f64(),
                rate: 100.0 * mismatches as f64 / point.runs as f64,
                mismatches,
                runs: point.runs,
            }
        })
        .collect()
}

/// Chart 2: each candidate's mismatch rate per timeline interval, as a step line over the
/// intervals that had runs, with a point in the middle of each.
pub(crate) fn mismatch_rate_chart(report: &Report) -> String {
    let mut frame = Frame::new(
        "mismatch-rate",
        "Mismatch rate over time, per candidate",
        report.candidates.len(),
        "seconds since the first run",
        "mismatches / runs",
    );

    let all: Vec<Vec<Interval>> = report.candidates.iter().map(intervals).collect();
    let has_data = all.iter().any(|points| !points.is_empty());
    let marks: Vec<(f64, &crate::insight::GuardMark)> = report
        .guard_events
        .iter()
        .map(|mark| {
            let offset = mark
                .at
                .duration_since(report.started_at)
                .unwrap_or_default();
            (offset.as_secs_f64(), mark)
        })
        .collect();
    let x_high = all
        .iter()
        .flatten()
        .map(|point| point.end)
        .chain(marks.iter().map(|(offset, _)| *offset))
        .fold(0.0, f64::max);
    let x_high = if x_high.is_finite() && x_high > 0.0 {
        x_high
    } else {
        1.0
    };
    let rate_high = all
        .iter()
        .flatten()
        .map(|point| point.rate)
        .fold(0.0, f64::max);
    let y_step = nice_step(if rate_high > 0.0 { rate_high } else { 1.0 }, 5.0);
    let y_high = if rate_high > 0.0 {
        ((rate_high / y_step).ceil() * y_step).max(y_step)
    } else {
        1.0
    };
    let x_step = nice_step(x_high, 8.0);

    let x = |seconds: f64| {
        scale(
            seconds,
            0.0,
            x_high,
            Frame::plot_left(),
            Frame::plot_right(),
        )
    };
    let y = |percent: f64| {
        scale(
            percent,
            0.0,
            y_high,
            Frame::plot_bottom(),
            Frame::plot_top(),
        )
    };

    let x_decimals = decimals(x_step);
    for tick in linear_ticks(x_high, x_step) {
        frame.x_tick(x(tick), &format!("{tick:.x_decimals$} s"));
    }
    let y_decimals = decimals(y_step);
    for tick in linear_ticks(y_high, y_step) {
        frame.y_tick(y(tick), &format!("{tick:.y_decimals$} %"));
    }
    frame.axes();

    if !has_data {
        frame.no_data(if report.candidates.is_empty() {
            "no candidates yet"
        } else {
            "no runs on the timeline yet"
        });
    }
    // Guard trips (red) and re-arms (green) as dashed vertical lines.
    for (offset, mark) in &marks {
        let colour = if mark.event == "tripped" {
            "#c0392b"
        } else {
            "#1e8449"
        };
        let at = num(x(*offset));
        let _ = write!(
            frame.svg,
            r#"<line class="guard-mark" data-event="{event}" data-candidate="{name}" x1="{at}" x2="{at}" y1="{top}" y2="{bottom}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 4"><title>{name}: guard {event} ({reason}) at {offset:.3} s</title></line>"#,
            event = mark.event,
            name = escape(&mark.candidate),
            reason = mark.reason,
            top = num(Frame::plot_top()),
            bottom = num(Frame::plot_bottom()),
        );
    }
    for (index, (candidate, points)) in report.candidates.iter().zip(&all).enumerate() {
        let colour = candidate_colour(index);
        if !points.is_empty() {
            // A step line: level over each interval, joined where intervals touch, broken
            // over intervals without runs.
            let mut d = String::new();
            let mut previous_end: Option<f64> = None;
            for &Interval {
                start, end, rate, ..
            } in points
            {
                let joined = previous_end.is_some_and(|last| (start - last).abs() < 1e-9);
                if joined {
                    let _ = write!(d, "V{}", num(y(rate)));
                } else {
                    let _ = write!(d, "M{} {}", num(x(start)), num(y(rate)));
                }
                let _ = write!(d, "H{}", num(x(end)));
                previous_end = Some(end);
            }
            let _ = write!(
                frame.svg,
                r#"<path class="series" data-series="{name}" d="{d}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"/>"#,
                name = escape(&candidate.name),
            );
            let _ = write!(frame.svg, r#"<g class="points" fill="{colour}">"#);
            for &Interval {
                start,
                end,
                rate,
                mismatches,
                runs,
            } in points
            {
                let _ = write!(
                    frame.svg,
                    r#"<circle cx="{}" cy="{}" r="3.5"><title>{}: {} of {} runs mismatched ({}) from {start:.3} s</title></circle>"#,
                    num(x((start + end) / 2.0)),
                    num(y(rate)),
                    escape(&candidate.name),
                    mismatches,
                    runs,
                    percent_text(rate / 100.0),
                );
            }
            frame.svg.push_str("</g>");
        }
        let note = if points.is_empty() { " (no data)" } else { "" };
        frame.legend(index, &candidate.name, colour, note);
    }
    frame.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_always_finite() {
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.25), "12.2");
        assert_eq!(scale(5.0, 1.0, 1.0, 0.0, 10.0), 5.0);
        assert_eq!(scale(f64::NAN, 0.0, 1.0, 0.0, 10.0), 5.0);
    }

    #[test]
    fn percentile_positions() {
        assert_eq!(percentile_position(0.0), Some(0.0));
        assert!((percentile_position(0.9).unwrap() - 1.0).abs() < 1e-9);
        assert!((percentile_position(0.999).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(percentile_position(1.0), percentile_position(0.9999));
        assert_eq!(percentile_position(f64::NAN), None);
    }

    #[test]
    fn ticks() {
        assert_eq!(floor_125(1.0), 1.0);
        assert_eq!(floor_125(730.0), 500.0);
        assert_eq!(ceil_125(730.0), 1000.0);
        assert_eq!(ceil_125(1000.0), 1000.0);
        assert_eq!(
            latency_ticks(100.0, 1000.0),
            vec![100.0, 200.0, 500.0, 1000.0]
        );
        // 1 ns to an hour: decades only, at most nine.
        let wide = latency_ticks(1.0, 5e12);
        assert!(wide.len() <= 9 && wide.len() >= 5, "{wide:?}");
        assert_eq!(latency_tick_label(1_000.0), "1 µs");
        assert_eq!(latency_tick_label(200_000_000.0), "200 ms");
        assert_eq!(nice_step(7.3, 5.0), 2.0);
        assert_eq!(linear_ticks(1.0, 0.25), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(decimals(0.25), 1);
        assert_eq!(decimals(0.05), 2);
        assert_eq!(decimals(5.0), 0);
    }
}
