//! Evaluation schedules: a crontab line with its usual meaning, handed to the `cron` crate.
//!
//! The crate wants a seconds field and counts numeric weekdays from 1 = Sunday, where crontab
//! counts 0 (or 7) = Sunday, 1 = Monday. Passing `1-5` through unchanged would mean
//! Sunday–Thursday, so the weekday field is rewritten with day names first.

use std::str::FromStr;

/// When `serve` evaluates a rule that names no schedule: hourly at :00.
pub const DEFAULT_SCHEDULE: &str = "0 * * * *";

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

#[derive(Debug, Clone)]
pub struct Schedule {
    /// What the marketer wrote.
    pub source: String,
    pub cron: cron::Schedule,
}

impl Schedule {
    pub fn parse(raw: &str) -> Result<Schedule, String> {
        let fields: Vec<&str> = raw.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            _ => {
                return Err(format!(
                    "invalid schedule {raw:?}: expected 5 crontab fields (minute hour day month weekday), \
                     or 6 with seconds first"
                ));
            }
        };
        let weekdays = weekday_names(rest[4]).map_err(|e| format!("invalid schedule {raw:?}: {e}"))?;
        let expr = format!(
            "{seconds} {} {} {} {} {weekdays}",
            rest[0], rest[1], rest[2], rest[3]
        );
        let cron = cron::Schedule::from_str(&expr).map_err(|e| format!("invalid schedule {raw:?}: {e}"))?;
        Ok(Schedule {
            source: raw.to_string(),
            cron,
        })
    }
}

impl Schedule {
    /// The first tick strictly after the instant `t` (Unix seconds), reading the schedule as
    /// wall-clock time in `tz`. A tick that falls into a spring-forward gap fires at the first
    /// instant after the gap (02:30 → 03:30), and a wall time that occurs twice on a fall-back
    /// day fires once, at its first occurrence — unlike the `cron` crate's own zone handling,
    /// which skips the first and doubles the second.
    pub fn next_after(&self, t: i64, tz: &jiff::tz::TimeZone) -> Option<i64> {
        let local = jiff::Timestamp::from_second(t)
            .ok()?
            .to_zoned(tz.clone())
            .datetime();
        // The cron crate walks naive wall-clock time, given here as if it were UTC.
        let mut wall = to_chrono(local)?;
        // A schedule that only matches in wall times that never occur after `t` (a Feb 30)
        // yields nothing; the bound keeps a pathological fold from looping.
        for _ in 0..1000 {
            let next = self.cron.after(&wall).next()?;
            let civil = from_chrono(next.naive_utc())?;
            let instant = tz
                .to_ambiguous_zoned(civil)
                .compatible()
                .ok()?
                .timestamp()
                .as_second();
            if instant > t {
                return Some(instant);
            }
            wall = next;
        }
        None
    }
}

fn to_chrono(d: jiff::civil::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::from(d.year()), d.month() as u32, d.day() as u32)?;
    let time = chrono::NaiveTime::from_hms_opt(d.hour() as u32, d.minute() as u32, d.second() as u32)?;
    Some(chrono::DateTime::from_naive_utc_and_offset(
        date.and_time(time),
        chrono::Utc,
    ))
}

fn from_chrono(d: chrono::NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(d.year()).ok()?,
        d.month() as i8,
        d.day() as i8,
        d.hour() as i8,
        d.minute() as i8,
        d.second() as i8,
        0,
    )
    .ok()
}

/// Rewrites a crontab weekday field (0/7 = Sunday) as a list of day names.
fn weekday_names(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>().map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("bad step in {part:?}"));
        }
        let (from, to) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (day_number(a)?, day_number(b)?),
                None => {
                    let d = day_number(r)?;
                    (d, if step > 1 { 6 } else { d })
                }
            },
        };
        // 7 is Sunday again; a range like 5-7 means Friday to Sunday.
        if from > to {
            return Err(format!("weekday range {range:?} runs backwards"));
        }
        for d in (from..=to).step_by(step) {
            days[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAY_NAMES[d]).collect();
    Ok(names.join(","))
}

fn day_number(s: &str) -> Result<usize, String> {
    if let Ok(n) = s.parse::<usize>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!("weekday {n} is not 0-7"))
        };
    }
    DAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown weekday {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_weekdays(raw: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(raw).unwrap();
        let start = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        s.cron
            .after(&start)
            .take(n)
            .map(|t| t.format("%a %H:%M").to_string())
            .collect()
    }

    #[test]
    fn one_to_five_means_monday_to_friday() {
        // 2026-06-01 is a Monday.
        assert_eq!(
            next_weekdays("0 9 * * 1-5", 6),
            [
                "Mon 09:00",
                "Tue 09:00",
                "Wed 09:00",
                "Thu 09:00",
                "Fri 09:00",
                "Mon 09:00"
            ]
        );
    }

    #[test]
    fn zero_and_seven_are_sunday() {
        assert_eq!(next_weekdays("30 8 * * 0", 1), ["Sun 08:30"]);
        assert_eq!(next_weekdays("30 8 * * 7", 1), ["Sun 08:30"]);
        assert_eq!(
            next_weekdays("0 10 * * 5-7", 3),
            ["Fri 10:00", "Sat 10:00", "Sun 10:00"]
        );
    }

    #[test]
    fn six_fields_take_seconds_first_and_the_default_is_hourly() {
        assert!(Schedule::parse("30 0 9 * * Mon-Fri").is_ok());
        assert_eq!(next_weekdays(DEFAULT_SCHEDULE, 2), ["Mon 01:00", "Mon 02:00"]);
    }

    fn utc(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    fn next_in(raw: &str, zone: &str, after: &str) -> String {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let t = Schedule::parse(raw).unwrap().next_after(utc(after), &tz).unwrap();
        jiff::Timestamp::from_second(t).unwrap().to_string()
    }

    #[test]
    fn ticks_are_wall_clock_times_in_the_business_zone() {
        // 09:00 in Paris is 07:00 UTC in summer, 08:00 in winter.
        assert_eq!(
            next_in("0 9 * * *", "Europe/Paris", "2026-06-01T07:00:00Z"),
            "2026-06-02T07:00:00Z"
        );
        assert_eq!(
            next_in("0 9 * * *", "Europe/Paris", "2026-06-01T06:59:59Z"),
            "2026-06-01T07:00:00Z"
        );
        assert_eq!(
            next_in("0 9 * * *", "Europe/Paris", "2026-12-01T00:00:00Z"),
            "2026-12-01T08:00:00Z"
        );
        // Auckland's Monday 08:00 is Sunday evening in UTC.
        assert_eq!(
            next_in("0 8 * * 1", "Pacific/Auckland", "2026-06-01T00:00:00Z"),
            "2026-06-07T20:00:00Z"
        );
    }

    #[test]
    fn daylight_saving_neither_skips_nor_doubles_a_tick() {
        // 2026-03-29 02:30 does not exist in Paris: the tick comes at 03:30 CEST (01:30 UTC).
        assert_eq!(
            next_in("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:30:00Z"
        );
        // 2026-10-25 02:30 happens twice: the first one (CEST, 00:30 UTC) fires ...
        assert_eq!(
            next_in("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z"),
            "2026-10-25T00:30:00Z"
        );
        // ... and the second one (CET, 01:30 UTC) does not: the next tick is the next day.
        assert_eq!(
            next_in("30 2 * * *", "Europe/Paris", "2026-10-25T00:30:00Z"),
            "2026-10-26T01:30:00Z"
        );
        assert_eq!(
            next_in("30 2 * * *", "Europe/Paris", "2026-10-25T01:00:00Z"),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(
            Schedule::parse("0 9 * *")
                .unwrap_err()
                .contains("expected 5 crontab fields")
        );
        assert!(Schedule::parse("0 25 * * *").is_err());
        assert!(Schedule::parse("0 9 * * 8").unwrap_err().contains("not 0-7"));
    }
}
