//! Values that are checked once at the edge (CSV, API, configuration, rule files) so that no
//! invalid email, phone number, birthday, time zone, instant, duration, quiet hours or schedule
//! exists inside rekindle; every layer above may use them.

mod birthday;
mod contact;
mod decision;
mod duration;
mod event_kind;
mod flag;
mod instant;
mod language;
mod message;
pub mod offer_code;
mod quiet_hours;
mod schedule;
mod sms_text;
mod timezone;

pub use birthday::Birthday;
pub use contact::{Email, Phone};
pub use decision::{Outcome, Reason};
pub use duration::{format_duration, parse_duration};
pub use event_kind::parse_kind;
pub use flag::parse_flag;
pub use instant::{fmt_instant, parse_rfc3339};
pub use language::Language;
pub use message::{Channel, MessageStatus};
pub use quiet_hours::{QuietHours, parse_clock};
pub use schedule::{DEFAULT_SCHEDULE, Schedule};
pub use sms_text::{SmsCharset, SmsEncoding, SmsShape, measure as measure_sms, transliterate_gsm7};
pub use timezone::{TimeZoneName, Zone};

/// Why a value was refused; the text is shown to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// FNV-1a over bytes: a hash that stays the same on every machine and every release (std's
/// hasher may change between releases), for hold-out buckets and evaluation scopes.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// At most `max` characters of `text`, with `…` when something was cut: error messages quote
/// what a person sent, and a huge value must not come back in full.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}
