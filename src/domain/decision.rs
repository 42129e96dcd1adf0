//! What rule evaluation decides for a customer and an occurrence, and why: one spelling each,
//! stored as their `as_str` text.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Send,
    HeldOut,
    Deferred,
    Suppressed,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Send => "send",
            Outcome::HeldOut => "held_out",
            Outcome::Deferred => "deferred",
            Outcome::Suppressed => "suppressed",
            Outcome::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Send,
            Outcome::HeldOut,
            Outcome::Deferred,
            Outcome::Suppressed,
            Outcome::Skipped,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Sends and held-out decisions are what `once` and `cooldown` count.
    pub fn is_contact(self) -> bool {
        matches!(self, Outcome::Send | Outcome::HeldOut)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Once,
    Cooldown,
    FrequencyCap,
    NoContact,
    NoConsent,
    Unsubscribed,
    /// The message template failed to render for this customer (data-dependent: the checker
    /// renders every template before a rule may run).
    TemplateError,
    /// The rendered SMS needs more segments than the message's `max_segments`.
    TooLong,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Once => "once",
            Reason::Cooldown => "cooldown",
            Reason::FrequencyCap => "frequency_cap",
            Reason::NoContact => "no_contact",
            Reason::NoConsent => "no_consent",
            Reason::Unsubscribed => "unsubscribed",
            Reason::TemplateError => "template_error",
            Reason::TooLong => "too_long",
        }
    }
}

impl TryFrom<String> for Outcome {
    type Error = String;

    fn try_from(s: String) -> Result<Outcome, String> {
        Outcome::parse(&s).ok_or_else(|| format!("unknown decision {s:?} in the store"))
    }
}
