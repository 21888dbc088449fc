//! PromQL for the verdict: label matchers quoted safely, metric names and durations checked
//! before anything is sent.

use std::time::Duration;

/// A Prometheus duration such as `1h`, `90m` or `1d12h`, checked: units among `y w d h m s ms`,
/// each at most once and from the largest down, the whole more than zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    text: String,
    length: Duration,
}

impl Window {
    /// Parses `text` as Prometheus parses a range duration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let length = parse_duration(text)?;
        if length.is_zero() {
            return Err(format!("{text:?} is zero: a window needs a length"));
        }
        Ok(Self {
            text: text.to_owned(),
            length,
        })
    }

    /// The duration as given (valid PromQL).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its length.
    pub fn length(&self) -> Duration {
        self.length
    }
}

/// Milliseconds per unit, largest first, as Prometheus orders them.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration (`1h30m`, `500ms`, `2d`) into its length; `0s` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not a duration ({why}); use digits and units y, w, d, h, m, s, ms, \
             largest first, e.g. 1h, 30m, 1d12h"
        ))
    };
    if text.is_empty() {
        return bad("it is empty");
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut next_unit = 0;
    let mut millis: u64 = 0;
    while at < bytes.len() {
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at == start {
            return bad("a number must come before each unit");
        }
        let Ok(number) = text[start..at].parse::<u64>() else {
            return bad("a number is too large");
        };
        let unit_start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
            at += 1;
        }
        let unit = &text[unit_start..at];
        let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return bad(if unit.is_empty() {
                "a unit must follow each number"
            } else {
                "unknown unit"
            });
        };
        if position < next_unit {
            return bad("units must appear once each, largest first");
        }
        next_unit = position + 1;
        let Some(total) = number
            .checked_mul(UNITS[position].1)
            .and_then(|part| millis.checked_add(part))
        else {
            return bad("it is too long");
        };
        millis = total;
    }
    // Prometheus keeps durations in nanoseconds of an i64.
    if millis > (i64::MAX as u64) / 1_000_000 {
        return bad("it is too long");
    }
    Ok(Duration::from_millis(millis))
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `value` as a PromQL double-quoted string literal: backslashes, quotes and control
/// characters escaped, so that any experiment name selects exactly itself.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the verdict reads from Prometheus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The experiment's name (the `experiment` label).
    pub experiment: String,
    /// Only this candidate (the `candidate` label), if set.
    pub candidate: Option<String>,
    /// Counts over this window (`increase`), or the counters as they stand.
    pub window: Option<Window>,
    /// The runs counter's name (default `darklaunch_runs_total`).
    pub runs_metric: String,
    /// The duration histogram's name, without `_bucket` (default
    /// `darklaunch_duration_seconds`).
    pub duration_metric: String,
}

/// The runs counter's name as Prometheus shows `darklaunch.runs`.
pub const RUNS_METRIC: &str = "darklaunch_runs_total";
/// The duration histogram's name as Prometheus shows `darklaunch.duration`.
pub const DURATION_METRIC: &str = "darklaunch_duration_seconds";

impl Selection {
    /// The duration histogram's bucket series' name.
    pub fn bucket_metric(&self) -> String {
        format!("{}_bucket", self.duration_metric)
    }

    /// `metric{experiment="…"[, candidate="…"]}`, wrapped in `increase(…[window])` with a
    /// window.
    fn series(&self, metric: &str, with_candidate: bool) -> String {
        let mut matchers = format!("experiment={}", quote(&self.experiment));
        if let (true, Some(candidate)) = (with_candidate, &self.candidate) {
            matchers.push_str(&format!(", candidate={}", quote(candidate)));
        }
        let selector = format!("{metric}{{{matchers}}}");
        match &self.window {
            Some(window) => format!("increase({selector}[{}])", window.as_str()),
            None => selector,
        }
    }

    /// Runs by candidate and outcome, summed over every instance.
    pub fn runs_query(&self) -> String {
        format!(
            "sum by (candidate, outcome) ({})",
            self.series(&self.runs_metric, true)
        )
    }

    /// Duration buckets by behaviour and bound, summed over every instance (all behaviours:
    /// the control's are needed beside a candidate's).
    pub fn buckets_query(&self) -> String {
        format!(
            "sum by (behavior, le) ({})",
            self.series(&self.bucket_metric(), false)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn selection(experiment: &str, candidate: Option<&str>, window: Option<&str>) -> Selection {
        Selection {
            experiment: experiment.into(),
            candidate: candidate.map(Into::into),
            window: window.map(|w| Window::parse(w).unwrap()),
            runs_metric: RUNS_METRIC.into(),
            duration_metric: DURATION_METRIC.into(),
        }
    }

    #[test]
    fn queries_sum_over_instances() {
        let s = selection("checkout", None, None);
        assert_eq!(
            s.runs_query(),
            r#"sum by (candidate, outcome) (darklaunch_runs_total{experiment="checkout"})"#
        );
        assert_eq!(
            s.buckets_query(),
            r#"sum by (behavior, le) (darklaunch_duration_seconds_bucket{experiment="checkout"})"#
        );
    }

    #[test]
    fn a_window_takes_the_increase_and_a_candidate_narrows_the_runs() {
        let s = selection("checkout", Some("v2"), Some("1h"));
        assert_eq!(
            s.runs_query(),
            r#"sum by (candidate, outcome) (increase(darklaunch_runs_total{experiment="checkout", candidate="v2"}[1h]))"#
        );
        // The control's buckets are needed too: no candidate matcher.
        assert_eq!(
            s.buckets_query(),
            r#"sum by (behavior, le) (increase(darklaunch_duration_seconds_bucket{experiment="checkout"}[1h]))"#
        );
    }

    #[test]
    fn names_are_quoted_so_that_they_select_only_themselves() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny\u{7}"), r#""x\ny\u0007""#);
        let s = selection(r#"x"} or vector(1) or {"#, None, None);
        assert_eq!(
            s.runs_query(),
            r#"sum by (candidate, outcome) (darklaunch_runs_total{experiment="x\"} or vector(1) or {"})"#
        );
    }

    #[test]
    fn durations_parse_as_prometheus_parses_them() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_duration("1w2d").unwrap(),
            Duration::from_secs(9 * 86_400)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "h",
            "1",
            "1x",
            "30m1h",
            "1h1h",
            "-1h",
            "1.5h",
            " 1h",
            "1H",
            "1h ",
            "99999999999999999999s",
            "9999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(Window::parse("0s").is_err());
        assert_eq!(Window::parse("15m").unwrap().as_str(), "15m");
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(is_metric_name("darklaunch_runs_total"));
        assert!(is_metric_name("ns:darklaunch_runs_total"));
        for bad in ["", "1abc", "a-b", "a{b}", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad:?}");
        }
    }

    /// Reads a quoted PromQL string back as Prometheus's lexer does (for the escapes `quote`
    /// writes).
    fn unquote(text: &str) -> Option<String> {
        let inner = text.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return None,
                '\\' => match chars.next()? {
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c if c.is_control() => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn quoting_round_trips(value in any::<String>()) {
            prop_assert_eq!(unquote(&quote(&value)), Some(value));
        }

        #[test]
        fn durations_never_panic(text in "[0-9a-z]{0,12}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn composed_durations_add_up(h in 0u64..1000, m in 0u64..1000, ms in 0u64..1000) {
            let text = format!("{h}h{m}m{ms}ms");
            prop_assert_eq!(
                parse_duration(&text).unwrap(),
                Duration::from_millis(h * 3_600_000 + m * 60_000 + ms)
            );
        }
    }
}
