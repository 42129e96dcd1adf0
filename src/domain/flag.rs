use super::Invalid;

/// A yes/no cell: `true/false/1/0/yes/no` in any case; empty means no.
pub fn parse_flag(raw: &str) -> Result<bool, Invalid> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        other => Err(Invalid(format!(
            "invalid yes/no value {other:?} (expected true/false/1/0/yes/no)"
        ))),
    }
}
