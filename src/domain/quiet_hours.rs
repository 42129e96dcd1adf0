//! Quiet hours: a local time window in which a channel stays silent. A message scheduled
//! inside it moves to the window's end, in the customer's zone.

use jiff::civil::Time;
use jiff::tz::TimeZone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: Time,
    end: Time,
}

impl QuietHours {
    /// `HH:MM-HH:MM` (may wrap midnight, as `21:00-08:00` does); "" means none.
    pub fn parse(raw: &str) -> Result<Option<QuietHours>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let bad = || format!("invalid quiet hours {raw:?} (expected HH:MM-HH:MM, or \"\" for none)");
        let (a, b) = raw.split_once('-').ok_or_else(bad)?;
        let clock = |s: &str| {
            parse_clock(s).map(|(h, m)| Time::constant(0, 0, 0, 0).with().hour(h).minute(m).build())
        };
        let (Some(Ok(start)), Some(Ok(end))) = (clock(a), clock(b)) else {
            return Err(bad());
        };
        if start == end {
            return Err(bad());
        }
        Ok(Some(QuietHours { start, end }))
    }

    fn contains(&self, t: Time) -> bool {
        if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// `at` (Unix seconds) if it is outside the window in `zone`; otherwise the window's end.
    pub fn release(&self, at: i64, zone: &TimeZone) -> i64 {
        let Ok(ts) = jiff::Timestamp::from_second(at) else {
            return at;
        };
        let local = ts.to_zoned(zone.clone());
        if !self.contains(local.time()) {
            return at;
        }
        let mut date = local.date();
        if self.start > self.end && local.time() >= self.start {
            date = date.tomorrow().unwrap_or(date);
        }
        // An end time inside a spring-forward gap resolves forward, which is still quiet-free.
        date.to_datetime(self.end)
            .to_zoned(zone.clone())
            .map_or(at, |z| z.timestamp().as_second())
    }
}

/// `HH:MM` on a 24-hour clock.
pub fn parse_clock(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    #[test]
    fn overnight_window_moves_to_the_morning_in_the_customers_zone() {
        let q = QuietHours::parse("21:00-08:00").unwrap().unwrap();
        let bp = TimeZone::get("Europe/Budapest").unwrap();
        // 22:30 in Budapest (CEST, +02:00) → 08:00 next morning.
        assert_eq!(
            q.release(at("2026-06-15T20:30:00Z"), &bp),
            at("2026-06-16T06:00:00Z")
        );
        // 03:00 → 08:00 the same morning.
        assert_eq!(
            q.release(at("2026-06-15T01:00:00Z"), &bp),
            at("2026-06-15T06:00:00Z")
        );
        // 12:00 is outside.
        assert_eq!(
            q.release(at("2026-06-15T10:00:00Z"), &bp),
            at("2026-06-15T10:00:00Z")
        );
        // 08:00 exactly is no longer quiet; 21:00 exactly is.
        assert_eq!(
            q.release(at("2026-06-15T06:00:00Z"), &bp),
            at("2026-06-15T06:00:00Z")
        );
        assert_eq!(
            q.release(at("2026-06-15T19:00:00Z"), &bp),
            at("2026-06-16T06:00:00Z")
        );
    }

    #[test]
    fn daytime_window_and_bad_input() {
        let q = QuietHours::parse("12:00-14:00").unwrap().unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(
            q.release(at("2026-06-15T13:00:00Z"), &utc),
            at("2026-06-15T14:00:00Z")
        );
        assert_eq!(QuietHours::parse("").unwrap(), None);
        assert!(QuietHours::parse("9-5").is_err());
        assert!(QuietHours::parse("21:00-21:00").is_err());
    }
}
