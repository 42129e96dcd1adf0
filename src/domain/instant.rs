//! Instants: Unix seconds inside rekindle, RFC 3339 at the edges.

use super::Invalid;

/// RFC 3339 in UTC to the second, as every output shows instants.
pub fn fmt_instant(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(|_| t.to_string(), |ts| ts.to_string())
}

/// The largest UTC offset in use anywhere (Kiribati, +14:00); jiff accepts up to ±25:59.
const MAX_OFFSET_HOURS: i64 = 14;

/// An RFC 3339 instant with an explicit offset, as Unix seconds (fractions dropped). An offset
/// beyond ±14:00 is refused: no place on Earth uses one, so it is a typing error.
pub fn parse_rfc3339(raw: &str) -> Result<i64, Invalid> {
    let bad = || {
        Invalid(format!(
            "invalid instant {raw:?} (expected RFC 3339 with an offset, e.g. 2026-05-01T10:00:00+02:00)"
        ))
    };
    let t: jiff::Timestamp = raw.trim().parse().map_err(|_| bad())?;
    // jiff has already checked the syntax; only the offset's size is left to judge.
    let tail = raw.trim();
    if let Some(pos) = tail
        .rfind(['+', '-'])
        .filter(|&p| tail[..p].contains(['T', 't', ' ']))
        && let Some(hours) = tail.get(pos + 1..pos + 3).and_then(|h| h.parse::<i64>().ok())
        && hours > MAX_OFFSET_HOURS
    {
        return Err(bad());
    }
    Ok(t.as_second())
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_beyond_fourteen_hours_are_refused() {
        assert_eq!(
            super::parse_rfc3339("2026-05-01T10:00:00+02:00"),
            Ok(1_777_622_400)
        );
        assert_eq!(super::parse_rfc3339("2026-05-01T08:00:00Z"), Ok(1_777_622_400));
        assert!(super::parse_rfc3339("2026-05-01T10:00:00+14:00").is_ok());
        assert!(super::parse_rfc3339("2026-05-01T10:00:00-12:00").is_ok());
        assert!(super::parse_rfc3339("2026-05-01T10:00:00+25:00").is_err());
        assert!(super::parse_rfc3339("2026-05-01T10:00:00-15:30").is_err());
        assert!(
            super::parse_rfc3339("2026-05-01T10:00:00").is_err(),
            "an offset is required"
        );
    }
}
