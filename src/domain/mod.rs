//! Values that are checked once at the edge (CSV, API) so that no invalid email, phone number,
//! birthday or time zone exists inside rekindle.

mod birthday;
mod contact;
mod flag;
mod timezone;

pub use birthday::Birthday;
pub use contact::{Email, Phone};
pub use flag::parse_flag;
pub use timezone::TimeZoneName;

/// Why a value was refused; the text is shown to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// At most `max` characters of `text`, with `…` when something was cut: error messages quote
/// what a person sent, and a huge value must not come back in full.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
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
