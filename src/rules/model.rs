//! A rule file exactly as written, with the position of every value that a later check may
//! need to point at. Unknown keys are refused here, by serde.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: Spanned<String>,
    pub name: Spanned<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub schedule: Option<Spanned<String>>,
    #[serde(default)]
    pub priority: i64,
    pub trigger: Spanned<RawTrigger>,
    #[serde(default)]
    pub audience: RawAudience,
    /// A single message, or…
    pub message: Option<Spanned<RawMessage>>,
    /// …a series of steps (`[[steps]]`), each a message with `after` from step 2 on.
    pub steps: Option<Spanned<Vec<Spanned<RawMessage>>>>,
    pub offer: Option<Spanned<RawOffer>>,
    #[serde(default)]
    pub limits: RawLimits,
    pub goal: Option<RawGoal>,
    #[serde(default)]
    pub experiment: RawExperiment,
}

/// Every trigger parameter of every type; which apply is checked per type, so that a
/// misplaced one is reported at its own line instead of as "unknown key" somewhere vague.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub days: Option<Spanned<i64>>,
    pub events: Option<Spanned<Vec<String>>>,
    pub event: Option<Spanned<String>>,
    pub delay: Option<Spanned<String>>,
    pub max_age: Option<Spanned<String>>,
    pub days_before: Option<Spanned<i64>>,
    pub count: Option<Spanned<i64>>,
    pub score: Option<Spanned<i64>>,
    pub factor: Option<Spanned<f64>>,
    pub missing: Option<Spanned<String>>,
    pub within: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudience {
    pub health_below: Option<Spanned<i64>>,
    pub health_at_least: Option<Spanned<i64>>,
    pub bands: Option<Spanned<Vec<String>>>,
    pub min_events: Option<Spanned<i64>>,
    pub min_spend: Option<Spanned<f64>>,
    pub tags: Option<Vec<String>>,
    pub attributes: Option<BTreeMap<String, Spanned<AttributeMatch>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AttributeMatch {
    One(String),
    AnyOf(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub channel: Spanned<String>,
    pub fallback: Option<Spanned<String>>,
    pub subject: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub body_file: Option<Spanned<String>>,
    pub send_at: Option<Spanned<String>>,
    /// An SMS longer than this many segments is skipped (`too_long`), never truncated.
    pub max_segments: Option<Spanned<i64>>,
    /// `auto` or `gsm7`; unset means `[sms] charset`.
    pub sms_charset: Option<Spanned<String>>,
    /// Steps 2 and later: how long after the previous step went out.
    pub after: Option<Spanned<String>>,
    /// Email: the grey line inbox lists show after the subject.
    pub preheader: Option<Spanned<String>>,
    /// Email: a button under the body.
    pub button: Option<Spanned<RawButton>>,
}

/// `button = { text = "Book a table", url = "https://…" }`; in a translation `url` may be left
/// out (the untranslated button's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawButton {
    pub text: Spanned<String>,
    pub url: Option<Spanned<String>>,
}

/// A personal offer code shared by a series' steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffer {
    pub prefix: Option<Spanned<String>>,
    pub percent: Option<Spanned<f64>>,
    pub amount: Option<Spanned<f64>>,
    pub valid: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub cooldown: Option<Spanned<String>>,
    #[serde(default)]
    pub once: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGoal {
    pub events: Spanned<Vec<String>>,
    pub within: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub holdout_percent: Option<Spanned<i64>>,
}
