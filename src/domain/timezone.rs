use super::Invalid;

/// An IANA time zone name known to the time zone database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<TimeZoneName, Invalid> {
        let raw = raw.trim();
        match jiff::tz::TimeZone::get(raw) {
            Ok(_) => Ok(TimeZoneName(raw.to_string())),
            Err(_) => Err(Invalid(format!("unknown time zone {raw:?}"))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
