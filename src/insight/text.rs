//! Number and time formatting shared by the verdict and the renderers.

use std::time::Duration;

pub(crate) use crate::utc::utc_text;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
