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
