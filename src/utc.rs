//! UTC timestamps without a time-zone database: RFC 3339 for records, a shorter form for
//! reports.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as RFC 3339 in UTC with microseconds: `2024-05-01T12:34:56.123456Z`.
/// Times outside years 0000–9999 are clamped to that range.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    } = civil(time);
    let mut out = String::with_capacity(27);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
    );
    out
}

#[cfg(feature = "insight")]
/// Formats `time` to the second in UTC, for people: `2026-11-22 05:41:05Z`. Clamped like
/// [`rfc3339`].
pub(crate) fn utc_text(time: SystemTime) -> String {
    let Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        ..
    } = civil(time);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}Z")
}

/// A time's calendar date and time of day in UTC.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: u32,
}

/// Splits `time` into its UTC date and time, clamped to years 0000–9999.
fn civil(time: SystemTime) -> Civil {
    // Whole seconds and microseconds since the epoch; negative before it.
    let (secs, micros) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_micros(),
        ),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // Round down to the microsecond: 1 ns before a second is 999 999 µs into the
            // second before it.
            match before.subsec_nanos() {
                0 => (secs.saturating_neg(), 0),
                ns => (
                    secs.saturating_neg().saturating_sub(1),
                    (1_000_000_000 - ns) / 1_000,
                ),
            }
        }
    };
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const MIN: i64 = -62_167_219_200;
    const MAX: i64 = 253_402_300_799;
    let (secs, micros) = if secs < MIN {
        (MIN, 0)
    } else if secs > MAX {
        (MAX, 999_999)
    } else {
        (secs, micros)
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day % 3600 / 60,
        second: of_day % 60,
        micros,
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64, micros: u32) -> SystemTime {
        let sub = Duration::from_micros(u64::from(micros));
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + sub
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + sub
        }
    }

    #[test]
    fn rfc3339_known_values() {
        for (secs, micros, expected) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (0, 1, "1970-01-01T00:00:00.000001Z"),
            (86_399, 999_999, "1970-01-01T23:59:59.999999Z"),
            (951_782_400, 0, "2000-02-29T00:00:00.000000Z"),
            (951_868_800, 0, "2000-03-01T00:00:00.000000Z"),
            (1_000_000_000, 0, "2001-09-09T01:46:40.000000Z"),
            (1_234_567_890, 123_456, "2009-02-13T23:31:30.123456Z"),
            (1_709_164_800, 0, "2024-02-29T00:00:00.000000Z"),
            (1_735_689_599, 500_000, "2024-12-31T23:59:59.500000Z"),
            (1_735_689_600, 0, "2025-01-01T00:00:00.000000Z"),
            (4_102_444_800, 0, "2100-01-01T00:00:00.000000Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z"),
            (-1, 0, "1969-12-31T23:59:59.000000Z"),
            (-1, 250_000, "1969-12-31T23:59:59.250000Z"),
            (-86_400, 0, "1969-12-31T00:00:00.000000Z"),
            (-2_208_988_800, 0, "1900-01-01T00:00:00.000000Z"),
            (-62_135_596_800, 0, "0001-01-01T00:00:00.000000Z"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00.000000Z"),
        ] {
            assert_eq!(rfc3339(at(secs, micros)), expected, "{secs}.{micros}");
        }
        // Sub-microsecond parts are cut, before the epoch too.
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_nanos(1)),
            "1969-12-31T23:59:59.999999Z"
        );
        // Clamped outside years 0000–9999.
        assert_eq!(
            rfc3339(at(253_402_300_800, 0)),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            rfc3339(at(-62_167_219_201, 0)),
            "0000-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn civil_dates_round_trip_day_by_day() {
        // Every day from 1600 to 2400 follows the previous one.
        let mut previous = civil_from_days(-135_140 - 1);
        assert_eq!(previous, (1599, 12, 31));
        for days in -135_140..157_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1);
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} → {:?}",
                (y, m, d)
            );
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            assert!((1..=month_len).contains(&d));
            previous = (y, m, d);
        }
    }

    #[cfg(feature = "insight")]
    #[test]
    fn utc_text_known_values() {
        assert_eq!(
            utc_text(UNIX_EPOCH + Duration::from_secs(1_795_326_065)),
            "2026-11-22 05:41:05Z"
        );
        assert_eq!(utc_text(UNIX_EPOCH), "1970-01-01 00:00:00Z");
        assert_eq!(utc_text(at(-1, 250_000)), "1969-12-31 23:59:59Z");
    }
}
