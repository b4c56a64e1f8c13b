//! `@date(format[, timestamp])`: PHP `date()` letters, `\` escapes the next character.
//! Times are UTC. The clock honours `SOURCE_DATE_EPOCH`, so builds can be reproducible.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::context::{arg_int, arg_str, expect_arity};
use crate::error::RuntimeError;
use crate::registry::SymbolSpec;
use crate::value::Value;

pub(super) fn date() -> SymbolSpec {
    SymbolSpec::operator("date", |_ctx, args| {
        expect_arity("@date", args, 0, 2)?;
        let format = if args.is_empty() { "Y-m-d H:i:s" } else { arg_str(args, 0)? };
        let (seconds, micros) = match args.get(1) {
            Some(_) => (arg_int(args, 1)?, 0),
            None => now()?,
        };
        Ok(Value::from(format_date(format, seconds, micros)))
    })
    .signature("@date(format[, timestamp])")
    .summary("The current time (or `timestamp`, in Unix seconds) formatted with PHP `date()` letters, in UTC; honours SOURCE_DATE_EPOCH.")
    .example("@date(\"Y-m-d\", 0) => \"1970-01-01\"")
    .example("@date(\"D, d M Y H:i:s\", 1700000000) => \"Tue, 14 Nov 2023 22:13:20\"")
}

fn now() -> Result<(i64, u32), RuntimeError> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let seconds = epoch
            .trim()
            .parse::<i64>()
            .map_err(|_| RuntimeError::message(format!("SOURCE_DATE_EPOCH is {epoch:?}, not a number of seconds")))?;
        return Ok((seconds, 0));
    }
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok((elapsed.as_secs() as i64, elapsed.subsec_micros()))
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: u32,
    /// 0-based day of the year.
    ordinal: u32,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil(timestamp: i64) -> Civil {
    let days = timestamp.div_euclid(86_400);
    let seconds_of_day = timestamp.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let ordinal = (1..month).map(|m| days_in_month(year, m)).sum::<u32>() + day - 1;
    Civil {
        year,
        month,
        day,
        hour: seconds_of_day / 3600,
        minute: seconds_of_day / 60 % 60,
        second: seconds_of_day % 60,
        weekday: (days + 4).rem_euclid(7) as u32,
        ordinal,
    }
}

/// ISO-8601 week number and week-based year.
fn iso_week(c: &Civil) -> (i64, u32) {
    let iso_weekday = (c.weekday + 6) % 7 + 1;
    let week = (c.ordinal as i64 + 1 - iso_weekday as i64 + 10) / 7;
    let weeks_in = |year: i64| {
        let jan1 = civil(days_from_civil(year, 1, 1) * 86_400).weekday;
        if jan1 == 4 || (is_leap(year) && jan1 == 3) { 53 } else { 52 }
    };
    if week < 1 {
        (c.year - 1, weeks_in(c.year - 1))
    } else if week > weeks_in(c.year) as i64 {
        (c.year + 1, 1)
    } else {
        (c.year, week as u32)
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats `timestamp` (Unix seconds, UTC) with PHP `date()` letters.
pub(crate) fn format_date(format: &str, timestamp: i64, micros: u32) -> String {
    let c = civil(timestamp);
    let mut out = String::with_capacity(format.len() * 2);
    let mut chars = format.chars();
    let hour12 = if c.hour.is_multiple_of(12) { 12 } else { c.hour % 12 };
    while let Some(letter) = chars.next() {
        match letter {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            'd' => out.push_str(&format!("{:02}", c.day)),
            'D' => out.push_str(&DAYS[c.weekday as usize][..3]),
            'j' => out.push_str(&c.day.to_string()),
            'l' => out.push_str(DAYS[c.weekday as usize]),
            'N' => out.push_str(&((c.weekday + 6) % 7 + 1).to_string()),
            'S' => out.push_str(match (c.day % 10, c.day) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            }),
            'w' => out.push_str(&c.weekday.to_string()),
            'z' => out.push_str(&c.ordinal.to_string()),
            'W' => out.push_str(&format!("{:02}", iso_week(&c).1)),
            'F' => out.push_str(MONTHS[c.month as usize - 1]),
            'm' => out.push_str(&format!("{:02}", c.month)),
            'M' => out.push_str(&MONTHS[c.month as usize - 1][..3]),
            'n' => out.push_str(&c.month.to_string()),
            't' => out.push_str(&days_in_month(c.year, c.month).to_string()),
            'L' => out.push(if is_leap(c.year) { '1' } else { '0' }),
            'o' => out.push_str(&iso_week(&c).0.to_string()),
            'Y' => out.push_str(&format!("{:04}", c.year)),
            'y' => out.push_str(&format!("{:02}", c.year.rem_euclid(100))),
            'a' => out.push_str(if c.hour < 12 { "am" } else { "pm" }),
            'A' => out.push_str(if c.hour < 12 { "AM" } else { "PM" }),
            'B' => {
                let beat = ((timestamp + 3600).rem_euclid(86_400) as f64 / 86.4) as u32;
                out.push_str(&format!("{beat:03}"));
            }
            'g' => out.push_str(&hour12.to_string()),
            'G' => out.push_str(&c.hour.to_string()),
            'h' => out.push_str(&format!("{hour12:02}")),
            'H' => out.push_str(&format!("{:02}", c.hour)),
            'i' => out.push_str(&format!("{:02}", c.minute)),
            's' => out.push_str(&format!("{:02}", c.second)),
            'u' => out.push_str(&format!("{micros:06}")),
            'v' => out.push_str(&format!("{:03}", micros / 1000)),
            'e' | 'T' => out.push_str("UTC"),
            'I' | 'Z' => out.push('0'),
            'O' => out.push_str("+0000"),
            'P' => out.push_str("+00:00"),
            'p' => out.push('Z'),
            'c' => out.push_str(&format_date("Y-m-d\\TH:i:sP", timestamp, micros)),
            'r' => out.push_str(&format_date("D, d M Y H:i:s O", timestamp, micros)),
            'U' => out.push_str(&timestamp.to_string()),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_letters() {
        // 2025-07-04T12:34:56Z, a Friday, day 184 of the year, ISO week 27.
        let t = 1_751_632_496;
        assert_eq!(format_date("Y-m-d H:i:s", t, 0), "2025-07-04 12:34:56");
        assert_eq!(format_date("c", t, 0), "2025-07-04T12:34:56+00:00");
        assert_eq!(format_date("D, d M Y", t, 0), "Fri, 04 Jul 2025");
        assert_eq!(format_date("l jS F y, g:i a", t, 0), "Friday 4th July 25, 12:34 pm");
        assert_eq!(format_date("N w z W t L o U", t, 0), "5 5 184 27 31 0 2025 1751632496");
        assert_eq!(format_date("\\Y\\-m", t, 0), "Y-07");
        assert_eq!(format_date("r", t, 0), "Fri, 04 Jul 2025 12:34:56 +0000");
    }

    #[test]
    fn iso_week_at_year_boundaries() {
        // 2021-01-03 is in ISO week 53 of 2020; 2024-12-30 is in week 1 of 2025.
        assert_eq!(format_date("o-W", days_from_civil(2021, 1, 3) * 86_400, 0), "2020-53");
        assert_eq!(format_date("o-W", days_from_civil(2024, 12, 30) * 86_400, 0), "2025-01");
        assert_eq!(format_date("Y-m-d", -86_400, 0), "1969-12-31");
    }
}
