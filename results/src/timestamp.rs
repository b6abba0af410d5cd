//! Wall-clock names for run directories, without a date library.
//!
//! A run directory is named after the UTC time it started, e.g. `20261126T111700.123Z`,
//! which sorts lexically in time order. The conversion from days since the epoch to a civil
//! date is the standard proleptic-Gregorian one.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current UTC time as `YYYYMMDDTHHMMSS.mmmZ`.
pub fn now_compact() -> String {
    compact(SystemTime::now())
}

/// The current UTC time as RFC 3339, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_rfc3339() -> String {
    let (date, time, millis) = parts(SystemTime::now());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        date.0, date.1, date.2, time.0, time.1, time.2
    )
}

/// `t` as `YYYYMMDDTHHMMSS.mmmZ`.
pub fn compact(t: SystemTime) -> String {
    let (date, time, millis) = parts(t);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}.{millis:03}Z", date.0, date.1, date.2, time.0, time.1, time.2)
}

type Date = (i64, u32, u32);
type Time = (u64, u64, u64);

fn parts(t: SystemTime) -> (Date, Time, u64) {
    // Before 1970 only on a badly set clock; clamp rather than fail a run over a name.
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let of_day = secs % 86_400;
    (
        civil_from_days(days),
        (of_day / 3600, of_day % 3600 / 60, of_day % 60),
        u64::from(since.subsec_millis()),
    )
}

/// Days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants_format_as_utc() {
        assert_eq!(compact(UNIX_EPOCH), "19700101T000000.000Z");
        // 2024-02-29T12:34:56.789Z, a leap day.
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(compact(t), "20240229T123456.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(compact(t), "20000229T000000.000Z");
    }
}
