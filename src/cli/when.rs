//! `--at`, `--since`, `--until`: an RFC 3339 instant, or a date meaning midnight in the
//! business's time zone (`default_timezone`), which is only known once the configuration is read.

use jiff::civil::Date;
use jiff::tz::TimeZone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Instant(i64),
    /// Midnight at the start of this day, in the business's zone.
    Date(Date),
}

impl When {
    /// Unix seconds, a date taken as midnight in `zone`.
    pub fn resolve(self, zone: &TimeZone) -> anyhow::Result<i64> {
        match self {
            When::Instant(t) => Ok(t),
            When::Date(d) => Ok(d.to_zoned(zone.clone())?.timestamp().as_second()),
        }
    }
}

/// clap's value parser for every instant option.
pub fn parse_when(s: &str) -> Result<When, String> {
    let s = s.trim();
    if let Ok(t) = rekindle::domain::parse_rfc3339(s) {
        return Ok(When::Instant(t));
    }
    if s.len() == 10
        && let Ok(d) = s.parse::<Date>()
    {
        return Ok(When::Date(d));
    }
    Err("expected a date such as 2026-11-01 (midnight in default_timezone) or an RFC 3339 instant such as 2026-11-01T09:00:00+01:00".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_midnight_in_the_business_zone() {
        let budapest = TimeZone::get("Europe/Budapest").unwrap();
        let when = parse_when("2026-11-01").unwrap();
        // Budapest is UTC+1 in November: local midnight is 23:00 UTC the day before.
        let expected: jiff::Timestamp = "2026-10-31T23:00:00Z".parse().unwrap();
        assert_eq!(when.resolve(&budapest).unwrap(), expected.as_second());
        assert_eq!(
            parse_when("2026-11-01T09:00:00Z").unwrap(),
            When::Instant(
                "2026-11-01T09:00:00Z"
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_second()
            )
        );
        assert!(parse_when("2026-13-01").is_err());
        assert!(parse_when("yesterday").is_err());
        assert!(parse_when("2026-11-01T09:00:00+25:00").is_err());
    }
}
