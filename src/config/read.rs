//! How each typed setting is read from its TOML text: once, by serde, so that a bad value is a
//! parse error naming its key, line and column, and nothing downstream parses it again.

use std::time::Duration;

use serde::Deserialize;
use serde::de::Error;

use crate::domain::{Email, QuietHours, Schedule, Zone};

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// `30s`, `5m`, `2h`, `7d`.
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let raw = text(d)?;
    crate::domain::parse_duration(&raw)
        .map(|secs| Duration::from_secs(secs.max(0) as u64))
        .map_err(D::Error::custom)
}

/// `HH:MM-HH:MM`, or `""` for none.
pub fn quiet_hours<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<QuietHours>, D::Error> {
    QuietHours::parse(&text(d)?).map_err(D::Error::custom)
}

/// A crontab line.
pub fn schedule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Schedule, D::Error> {
    Schedule::parse(&text(d)?).map_err(D::Error::custom)
}

/// An IANA time zone name.
pub fn zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
    Zone::parse(&text(d)?).map_err(D::Error::custom)
}

/// `ADDRESS:PORT`.
pub fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::net::SocketAddr, D::Error> {
    let raw = text(d)?;
    raw.parse().map_err(|_| {
        D::Error::custom(format!(
            "expected ADDRESS:PORT such as 127.0.0.1:8080, got {raw:?}"
        ))
    })
}

/// `Name <address>` or a bare address, as lettre will use it.
pub fn mailbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<lettre::message::Mailbox, D::Error> {
    let raw = text(d)?;
    raw.parse()
        .map_err(|_| D::Error::custom(format!("not a valid sender: {raw:?}")))
}

/// An email address, if given.
pub fn email<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Email>, D::Error> {
    Email::parse(&text(d)?).map(Some).map_err(D::Error::custom)
}

/// A BCP 47 language tag such as `hu` or `en-GB`.
pub fn language<'de, D: serde::Deserializer<'de>>(d: D) -> Result<crate::domain::Language, D::Error> {
    crate::domain::Language::parse(&text(d)?).map_err(D::Error::custom)
}

/// An ISO 3166 country code such as `HU`.
pub fn country<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<phonenumber::country::Id>, D::Error> {
    let raw = text(d)?;
    raw.trim().to_ascii_uppercase().parse().map(Some).map_err(|_| {
        D::Error::custom(format!(
            "unknown country code {raw:?} (expected two letters such as HU or SK)"
        ))
    })
}

/// An http(s) URL, if given (where customers reach the service).
pub fn http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = text(d)?;
    if raw.starts_with("https://") || raw.starts_with("http://") {
        Ok(Some(raw))
    } else {
        Err(D::Error::custom(format!("expected an http(s) URL, got {raw:?}")))
    }
}
