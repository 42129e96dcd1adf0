//! A checked rule: every value parsed and in range. Only rules of this type ever run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::domain::Schedule;
use crate::health::Band;

pub use crate::domain::Channel;

/// When a rule matches. Durations are in seconds; `events: None` means the configured
/// activity events.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Inactive {
        days: i64,
        events: Option<Vec<String>>,
    },
    FirstEvent {
        event: String,
        delay: i64,
        max_age: i64,
    },
    Event {
        event: String,
        delay: i64,
        max_age: i64,
    },
    Birthday {
        days_before: i64,
    },
    Anniversary {
        event: String,
    },
    Milestone {
        event: String,
        count: i64,
        max_age: i64,
    },
    HealthBelow {
        score: i64,
    },
    Overdue {
        factor: f64,
        events: Option<Vec<String>>,
    },
    Absence {
        event: String,
        missing: String,
        within: i64,
        max_age: i64,
    },
}

impl Trigger {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Inactive { .. } => TriggerKind::Inactive,
            Trigger::FirstEvent { .. } => TriggerKind::FirstEvent,
            Trigger::Event { .. } => TriggerKind::Event,
            Trigger::Birthday { .. } => TriggerKind::Birthday,
            Trigger::Anniversary { .. } => TriggerKind::Anniversary,
            Trigger::Milestone { .. } => TriggerKind::Milestone,
            Trigger::HealthBelow { .. } => TriggerKind::HealthBelow,
            Trigger::Overdue { .. } => TriggerKind::Overdue,
            Trigger::Absence { .. } => TriggerKind::Absence,
        }
    }
}

/// The trigger types, each with the one spelling marketers write, the keys its `[trigger]`
/// table takes and the `trigger.*` variables its templates see — all in this one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Inactive,
    FirstEvent,
    Event,
    Birthday,
    Anniversary,
    Milestone,
    HealthBelow,
    Overdue,
    Absence,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 9] = [
        TriggerKind::Inactive,
        TriggerKind::FirstEvent,
        TriggerKind::Event,
        TriggerKind::Birthday,
        TriggerKind::Anniversary,
        TriggerKind::Milestone,
        TriggerKind::HealthBelow,
        TriggerKind::Overdue,
        TriggerKind::Absence,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Inactive => "inactive",
            TriggerKind::FirstEvent => "first_event",
            TriggerKind::Event => "event",
            TriggerKind::Birthday => "birthday",
            TriggerKind::Anniversary => "anniversary",
            TriggerKind::Milestone => "milestone",
            TriggerKind::HealthBelow => "health_below",
            TriggerKind::Overdue => "overdue",
            TriggerKind::Absence => "absence",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerKind> {
        TriggerKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The keys of its `[trigger]` table besides `type`.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            TriggerKind::Inactive => &["days", "events"],
            TriggerKind::FirstEvent | TriggerKind::Event => &["event", "delay", "max_age"],
            TriggerKind::Birthday => &["days_before"],
            TriggerKind::Anniversary => &["event"],
            TriggerKind::Milestone => &["event", "count", "max_age"],
            TriggerKind::HealthBelow => &["score"],
            TriggerKind::Overdue => &["factor", "events"],
            TriggerKind::Absence => &["event", "missing", "within", "max_age"],
        }
    }

    /// The variables `trigger.*` offers its templates.
    pub fn template_fields(self) -> &'static [&'static str] {
        match self {
            TriggerKind::Inactive => &["days_inactive", "last_event_at"],
            TriggerKind::Overdue => &["days_inactive", "last_event_at", "cadence_days"],
            TriggerKind::FirstEvent | TriggerKind::Event | TriggerKind::Absence => &["event_at"],
            TriggerKind::Birthday => &["days_before"],
            TriggerKind::Anniversary => &["years"],
            TriggerKind::Milestone => &["count"],
            TriggerKind::HealthBelow => &["score"],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    pub health_below: Option<i64>,
    pub health_at_least: Option<i64>,
    pub bands: Option<Vec<Band>>,
    pub min_events: Option<i64>,
    pub min_spend: Option<f64>,
    pub tags: Vec<String>,
    /// Attribute name → accepted values (one value means equality).
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Audience {
    pub fn needs_health(&self) -> bool {
        self.health_below.is_some() || self.health_at_least.is_some() || self.bands.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: Channel,
    pub fallback: Option<Channel>,
    /// Template source; present whenever email is the channel or the fallback.
    pub subject: Option<String>,
    pub body: String,
    /// Local time of day in the customer's zone, as (hour, minute).
    pub send_at: Option<(i8, i8)>,
    /// SMS only: more segments than this is skipped as `too_long`.
    pub max_segments: Option<usize>,
    /// SMS only: `None` follows `[sms] charset`.
    pub sms_charset: Option<crate::domain::SmsCharset>,
    /// The languages it is translated into (`[message.hu]` …); their templates are compiled
    /// under `translated_name`.
    pub translations: Vec<Translation>,
    /// Email: the inbox's grey line after the subject (a template).
    pub preheader: Option<String>,
    /// Email: a button under the body.
    pub button: Option<Button>,
}

/// A button under an email's body: its text and where it leads (both templates; the URL's
/// scheme and host are written by the marketer, so it is tracked like a link in the body).
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub text: String,
    pub url: String,
}

/// A translation of a message; a part it does not translate (subject, preheader, the
/// button's text or URL) is the untranslated message's.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub language: crate::domain::Language,
    pub has_subject: bool,
    pub has_preheader: bool,
    pub has_button_text: bool,
    pub has_button_url: bool,
}

impl Message {
    /// The translation a customer reading `language` gets: the exact tag, else one of the
    /// same language (`en-GB` → `en`, `en` → `en-US`), else none (the base text).
    pub fn translation_for(&self, language: &crate::domain::Language) -> Option<&Translation> {
        self.translations
            .iter()
            .find(|t| t.language == *language)
            .or_else(|| {
                self.translations
                    .iter()
                    .find(|t| t.language.as_str() == language.primary())
            })
            .or_else(|| {
                self.translations
                    .iter()
                    .find(|t| t.language.primary() == language.primary())
            })
    }
}

/// One message of a rule: the rule's `[message]`, or one of its `[[steps]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1 for `[message]` and the first of `[[steps]]`.
    pub number: u8,
    /// Seconds after the previous step went out (0 for step 1).
    pub after: i64,
    pub message: Message,
}

/// What a series' offer code is worth, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Upper-case letters and digits, printed before the code (`BACK-…`).
    pub prefix: String,
    pub value: OfferValue,
    /// Seconds from the send of the step that carries it first.
    pub valid: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OfferValue {
    Percent(f64),
    /// In `[messages] currency`.
    Amount(f64),
}

/// Most steps a series may have: more is no longer winning a customer back.
pub const MAX_STEPS: usize = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub cooldown: Option<i64>,
    pub once: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub events: Vec<String>,
    pub within: i64,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub schedule: Schedule,
    pub priority: i64,
    pub trigger: Trigger,
    pub audience: Audience,
    /// At least one; a `[message]` rule has exactly one.
    pub steps: Vec<Step>,
    pub offer: Option<Offer>,
    pub limits: Limits,
    pub goal: Option<Goal>,
    pub holdout_percent: u8,
    /// The file it came from, for messages.
    pub file: PathBuf,
    /// What `rules check` says about it without refusing it.
    pub warnings: Vec<super::Diagnostic>,
}

impl Rule {
    /// Step 1's message (a `[message]` rule's only one).
    pub fn message(&self) -> &Message {
        &self.steps[0].message
    }

    /// Whether it is a series of more than one step.
    pub fn is_series(&self) -> bool {
        self.steps.len() > 1
    }

    /// Whether evaluating this rule needs health scores.
    pub fn needs_health(&self, template_uses_health: bool) -> bool {
        matches!(self.trigger, Trigger::HealthBelow { .. })
            || self.audience.needs_health()
            || template_uses_health
    }
}
