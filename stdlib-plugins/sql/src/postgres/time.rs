//! PostgreSQL's binary date and time values as ISO-8601 text. PostgreSQL counts from
//! 2000-01-01 (days for `date`, microseconds for `timestamp`); infinities are the extreme
//! integers.

use std::fmt::Write;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_POSTGRES_DAYS: i64 = 10_957;

/// `date`: `2024-02-29`.
pub(crate) fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_string(),
        i32::MIN => "-infinity".to_string(),
        _ => {
            let mut out = String::new();
            push_date(&mut out, i64::from(days));
            out
        }
    }
}

/// `timestamp` (no zone): `2024-02-29T13:05:09.25`; `timestamptz` adds `Z` (it is UTC).
pub(crate) fn timestamp(micros: i64, utc: bool) -> String {
    match micros {
        i64::MAX => return "infinity".to_string(),
        i64::MIN => return "-infinity".to_string(),
        _ => {}
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    let time_of_day = micros.rem_euclid(MICROS_PER_DAY);
    let mut out = String::new();
    push_date(&mut out, days);
    out.push('T');
    push_time(&mut out, time_of_day);
    if utc {
        out.push('Z');
    }
    out
}

/// `time`: `13:05:09.25`.
pub(crate) fn time(micros: i64) -> String {
    let mut out = String::new();
    push_time(&mut out, micros);
    out
}

/// `timetz`: `13:05:09+02:00`. PostgreSQL stores the zone as seconds *west* of UTC.
pub(crate) fn time_with_zone(micros: i64, seconds_west: i32) -> String {
    let mut out = time(micros);
    let east = -i64::from(seconds_west);
    let sign = if east < 0 { '-' } else { '+' };
    let east = east.abs();
    let _ = write!(out, "{sign}{:02}:{:02}", east / 3600, east % 3600 / 60);
    if east % 60 != 0 {
        let _ = write!(out, ":{:02}", east % 60);
    }
    out
}

/// `interval` as an ISO-8601 duration: `P1Y2M3DT4H5M6.5S`, `PT0S` for zero. Each part keeps
/// its own sign, as PostgreSQL's parts do (`P-1DT2H`).
pub(crate) fn interval(micros: i64, days: i32, months: i32) -> String {
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (value, unit) in [(i64::from(years), 'Y'), (i64::from(months), 'M'), (i64::from(days), 'D')] {
        if value != 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    if micros != 0 {
        out.push('T');
        let negative = micros < 0;
        let total = micros.unsigned_abs();
        let hours = total / 3_600_000_000;
        let minutes = total / 60_000_000 % 60;
        let seconds = total % 60_000_000;
        let sign = if negative { "-" } else { "" };
        if hours != 0 {
            let _ = write!(out, "{sign}{hours}H");
        }
        if minutes != 0 {
            let _ = write!(out, "{sign}{minutes}M");
        }
        if seconds != 0 {
            let _ = write!(out, "{sign}{}", seconds / 1_000_000);
            push_fraction(&mut out, seconds % 1_000_000);
            out.push('S');
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

/// `YYYY-MM-DD` for a day counted from 2000-01-01 (years before 1 and after 9999 as
/// ISO-8601's expanded years: `-0044`, `+10000`).
fn push_date(out: &mut String, postgres_days: i64) {
    let (year, month, day) = civil_from_days(postgres_days + UNIX_TO_POSTGRES_DAYS);
    if year > 9999 {
        let _ = write!(out, "+{year}");
    } else if year < 0 {
        let _ = write!(out, "-{:04}", -year);
    } else {
        let _ = write!(out, "{year:04}");
    }
    let _ = write!(out, "-{month:02}-{day:02}");
}

fn push_time(out: &mut String, micros: i64) {
    let seconds = micros / MICROS_PER_SECOND;
    let _ = write!(out, "{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    push_fraction(out, (micros % MICROS_PER_SECOND) as u64);
}

/// `.25` for 250000 µs; nothing for 0.
fn push_fraction(out: &mut String, micros: u64) {
    if micros != 0 {
        let digits = format!("{micros:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// (year, month, day) of a day counted from 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(59), "2000-02-29");
        assert_eq!(date(-10_957), "1970-01-01");
        assert_eq!(date(-730_119), "0001-01-01");
        assert_eq!(date(i32::MAX), "infinity");
        assert_eq!(timestamp(0, false), "2000-01-01T00:00:00");
        assert_eq!(timestamp(-1, true), "1999-12-31T23:59:59.999999Z");
        assert_eq!(timestamp(MICROS_PER_DAY + 3_723_250_000, true), "2000-01-02T01:02:03.25Z");
        assert_eq!(timestamp(i64::MIN, true), "-infinity");
    }

    #[test]
    fn times_and_intervals() {
        assert_eq!(time(0), "00:00:00");
        assert_eq!(time(45_296_000_001), "12:34:56.000001");
        assert_eq!(time_with_zone(3_600_000_000, -7200), "01:00:00+02:00");
        assert_eq!(time_with_zone(0, 19_800), "00:00:00-05:30");
        assert_eq!(interval(0, 0, 0), "PT0S");
        assert_eq!(interval(14_706_500_000, 3, 14), "P1Y2M3DT4H5M6.5S");
        assert_eq!(interval(-7_200_000_000, -1, 0), "P-1DT-2H");
    }
}
