//! Durations as marketers write them: `30s`, `15m`, `2h`, `30d`.

/// Seconds in a duration string, or why it is not one.
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {raw:?} (expected a whole number and a unit: 30s, 15m, 2h, 30d)");
    let raw_t = raw.trim();
    let unit = raw_t.chars().last().ok_or_else(bad)?;
    let number: i64 = raw_t[..raw_t.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    if number < 0 {
        return Err(bad());
    }
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

/// The shortest exact way to write a duration, for reports and previews.
pub fn format_duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("-1d").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert_eq!(format_duration(7200), "2h");
    }
}
