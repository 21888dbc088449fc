//! Number and time formatting shared by the verdict and the renderers.

use std::time::{Duration, SystemTime};

/// A time to the second in UTC, for people: `2026-11-22 05:41:05Z`. Clamped to years
/// 1970–9999 ([`rfc3339_range`](crate::text::rfc3339_range)).
pub(crate) fn utc_text(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(crate::text::rfc3339_range(time))
        .to_string()
        .replacen('T', " ", 1)
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate as a percentage with sensible precision: `1.93 %`, `0.012 %`, `0 %`.
pub(crate) fn percent_text(rate: f64) -> String {
    let percent = rate * 100.0;
    if percent == 0.0 {
        String::from("0 %")
    } else if percent >= 10.0 {
        format!("{percent:.1} %")
    } else if percent >= 0.1 {
        format!("{percent:.2} %")
    } else {
        format!("{percent:.3} %")
    }
}

/// An interval of rates: `3.81–6.53 %`.
pub(crate) fn range_text(low: f64, high: f64) -> String {
    let low = percent_text(low);
    format!("{}–{}", low.trim_end_matches(" %"), percent_text(high))
}

/// Nanoseconds in the largest unit (ns, µs, ms, s) that keeps the value at 1 or more.
pub(crate) fn in_time_unit(nanos: f64) -> (f64, &'static str) {
    if nanos < 1e3 {
        (nanos, "ns")
    } else if nanos < 1e6 {
        (nanos / 1e3, "µs")
    } else if nanos < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    }
}

/// A latency with a unit that keeps three significant figures: `812 ns`, `1.25 µs`, `3.40 ms`.
pub(crate) fn duration_text(duration: Duration) -> String {
    let (value, unit) = in_time_unit(duration.as_nanos() as f64);
    if unit == "ns" || value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// A paired latency ratio with its interval, e.g. `1.10× (1.08–1.12×)`; `–` when unknown.
pub(crate) fn ratio_text(interval: Option<crate::insight::RatioInterval>) -> String {
    match interval {
        None => String::from("–"),
        Some(interval) if interval.high.is_finite() => format!(
            "{:.2}× ({:.2}–{:.2}×)",
            interval.estimate, interval.low, interval.high
        ),
        Some(interval) => format!("{:.2}× ({:.2}×–unbounded)", interval.estimate, interval.low),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent_text(0.0193), "1.93 %");
        assert_eq!(percent_text(0.00012), "0.012 %");
        assert_eq!(duration_text(Duration::from_nanos(812)), "812 ns");
        assert_eq!(duration_text(Duration::from_nanos(1_250)), "1.25 µs");
        assert_eq!(duration_text(Duration::from_micros(3_400)), "3.40 ms");
    }

    #[test]
    fn utc_text_known_values_and_clamps() {
        assert_eq!(
            utc_text(UNIX_EPOCH + Duration::from_secs(1_795_326_065)),
            "2026-11-22 05:41:05Z"
        );
        assert_eq!(utc_text(UNIX_EPOCH), "1970-01-01 00:00:00Z");
        assert_eq!(
            utc_text(UNIX_EPOCH + Duration::from_millis(951_868_799_999)),
            "2000-02-29 23:59:59Z"
        );
        // Outside what humantime formats: clamped, never a panic.
        assert_eq!(
            utc_text(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01 00:00:00Z"
        );
        assert_eq!(
            utc_text(UNIX_EPOCH + Duration::from_secs(253_402_300_800 * 2)),
            "9999-12-31 23:59:59Z"
        );
    }
}
