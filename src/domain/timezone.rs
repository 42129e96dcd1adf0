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

/// A time zone with its IANA name: what the configuration's `default_timezone` becomes once
/// read, so nothing downstream looks the name up again.
#[derive(Debug, Clone)]
pub struct Zone {
    name: TimeZoneName,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn parse(raw: &str) -> Result<Zone, Invalid> {
        let name = TimeZoneName::parse(raw)?;
        let tz = jiff::tz::TimeZone::get(name.as_str()).map_err(|e| Invalid(e.to_string()))?;
        Ok(Zone { name, tz })
    }

    pub fn utc() -> Zone {
        Zone {
            name: TimeZoneName("UTC".into()),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }
}
