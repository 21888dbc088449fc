//! The verdict as text for a person or JSON for a job.

use std::fmt::Write as _;

use darklaunch::insight::{AnytimeBounds, Proportion, ReleaseStatus};

use crate::error::FleetError;
use crate::verdict::{FleetVerdict, QuantileComparison, QUANTILES};

/// `text` with control characters escaped (names come from metric labels).
pub fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A rate as a percentage with three significant digits (`0.0421 %`, `1.23 %`, `45.6 %`).
pub fn percent(rate: f64) -> String {
    if !rate.is_finite() {
        return String::from("n/a");
    }
    let value = rate * 100.0;
    if value == 0.0 {
        return String::from("0 %");
    }
    let digits = (2 - value.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{value:.digits$} %")
}

/// Seconds in the most readable unit (`850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`).
pub fn seconds(value: Option<f64>) -> String {
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return String::from("n/a");
    };
    if value == 0.0 {
        return String::from("0 s");
    }
    let (scaled, unit) = match value.abs() {
        v if v < 1e-6 => (value * 1e9, "ns"),
        v if v < 1e-3 => (value * 1e6, "µs"),
        v if v < 1.0 => (value * 1e3, "ms"),
        _ => (value, "s"),
    };
    let digits = (2 - scaled.abs().log10().floor() as i32).clamp(0, 2) as usize;
    format!("{scaled:.digits$} {unit}")
}

/// A count with thousands separators.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One cell of the latency table.
type Cell = fn(&QuantileComparison) -> String;

fn status_word(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Safe => "SAFE",
        ReleaseStatus::NotSafe => "NOT SAFE",
        ReleaseStatus::Inconclusive => "UNDECIDED",
    }
}

fn rate_line(out: &mut String, what: &str, rate: &Proportion, bounds: &AnytimeBounds) {
    let _ = writeln!(
        out,
        "  {what:<14} {:>10}   anytime {} bounds [{}, {}]   (Wilson 95 % [{}, {}])",
        percent(rate.estimate),
        percent(bounds.level),
        percent(bounds.low),
        percent(bounds.high),
        percent(rate.low),
        percent(rate.high),
    );
}

/// The verdict as text: per candidate its status and summary, counts, rates with their
/// bounds, and latency quantiles beside the control's.
pub fn text(verdict: &FleetVerdict) -> String {
    let mut out = String::new();
    let scope = match &verdict.window {
        Some(window) => format!("increase over the last {}", escape(window)),
        None => String::from("counters as they stand"),
    };
    let _ = writeln!(
        out,
        "experiment {} across the fleet ({scope}, from {})",
        escape(&verdict.experiment),
        escape(&verdict.prometheus)
    );
    let policy = &verdict.policy;
    let _ = writeln!(
        out,
        "policy: mismatch rate ≤ {}, error and timeout rates ≤ {}, at least {} runs, {} confidence{}",
        percent(policy.max_mismatch_rate),
        percent(policy.max_error_rate),
        thousands(policy.min_runs),
        percent(policy.confidence),
        policy
            .max_p99_ratio
            .map(|r| format!(", p99 ≤ {r}× the control's"))
            .unwrap_or_default()
    );
    for candidate in &verdict.candidates {
        let judged = &candidate.judged;
        let counts = &judged.counts;
        let _ = writeln!(
            out,
            "\ncandidate {}: {}\n  {}",
            escape(&judged.name),
            status_word(judged.verdict.status),
            escape(&judged.verdict.summary)
        );
        let _ = writeln!(
            out,
            "  runs {}: match {}, mismatch {}, ignored {}, noise {}, errors {}, timeouts {}",
            thousands(judged.runs),
            thousands(counts.matched),
            thousands(counts.mismatched),
            thousands(counts.ignored),
            thousands(counts.noise),
            thousands(counts.errors),
            thousands(counts.timeouts),
        );
        rate_line(
            &mut out,
            "mismatch rate",
            &judged.mismatch_rate,
            &judged.mismatch_bounds,
        );
        rate_line(
            &mut out,
            "error rate",
            &judged.error_rate,
            &judged.error_bounds,
        );
        rate_line(
            &mut out,
            "timeout rate",
            &judged.timeout_rate,
            &judged.timeout_bounds,
        );
        if candidate
            .latency
            .iter()
            .any(|q| q.candidate_seconds.is_some() || q.control_seconds.is_some())
        {
            let _ = writeln!(
                out,
                "  latency (from the duration buckets, as histogram_quantile):"
            );
            let _ = write!(out, "    {:<12}", "");
            for (name, _) in QUANTILES {
                let _ = write!(out, " {name:>10}");
            }
            let _ = writeln!(out);
            let rows: [(&str, Cell); 3] = [
                ("candidate", |q| seconds(q.candidate_seconds)),
                ("control", |q| seconds(q.control_seconds)),
                ("ratio", |q| {
                    q.ratio.map_or_else(|| "n/a".into(), |r| format!("{r:.2}×"))
                }),
            ];
            for (label, cell) in rows {
                let _ = write!(out, "    {label:<12}");
                for q in &candidate.latency {
                    let _ = write!(out, " {:>10}", cell(q));
                }
                let _ = writeln!(out);
            }
        } else {
            let _ = writeln!(out, "  latency: no duration buckets");
        }
    }
    if verdict.shed > 0 {
        let _ = writeln!(
            out,
            "\n{} runs shed over the in-flight cap (they ran no candidate)",
            thousands(verdict.shed)
        );
    }
    for warning in &verdict.warnings {
        let _ = writeln!(out, "\nwarning: {}", escape(warning));
    }
    let _ = writeln!(
        out,
        "\nfleet verdict: {} (exit {})",
        status_word(verdict.status).to_lowercase(),
        verdict.exit_code
    );
    out
}

/// The verdict as one JSON document.
pub fn json(verdict: &FleetVerdict) -> String {
    serde_json::to_string_pretty(verdict).unwrap_or_else(|error| {
        // Serializing plain data cannot fail; say so rather than panic if it ever does.
        serde_json::json!({ "error": { "kind": "output", "exit_code": 8, "message": error.to_string() } })
            .to_string()
    })
}

/// An error as one JSON document (for `--format json`).
pub fn json_error(error: &FleetError) -> String {
    let exit = error.exit();
    serde_json::json!({
        "error": {
            "kind": exit.name(),
            "exit_code": exit.code(),
            "message": error.to_string(),
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.012345), "1.23 %");
        assert_eq!(percent(0.000421), "0.0421 %");
        assert_eq!(percent(0.5), "50.0 %");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(f64::NAN), "n/a");
        assert_eq!(seconds(Some(0.00001234)), "12.3 µs");
        assert_eq!(seconds(Some(0.0045678)), "4.57 ms");
        assert_eq!(seconds(Some(8.5e-7)), "850 ns");
        assert_eq!(seconds(Some(1.2)), "1.20 s");
        assert_eq!(seconds(Some(0.0)), "0 s");
        assert_eq!(seconds(None), "n/a");
        assert_eq!(seconds(Some(f64::INFINITY)), "n/a");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(escape("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
    }

    #[test]
    fn errors_render_as_json_with_their_code() {
        let error = FleetError::NoData {
            what: "experiment \"x\"".into(),
        };
        let value: serde_json::Value = serde_json::from_str(&json_error(&error)).unwrap();
        assert_eq!(value["error"]["kind"], "no_data");
        assert_eq!(value["error"]["exit_code"], 7);
    }
}
