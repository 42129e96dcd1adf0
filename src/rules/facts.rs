//! What rule evaluation knows about one customer at an instant T: their record and, per event
//! kind, aggregates of their events at or before T plus the individual events of the recent
//! past that momentary triggers look at. Built by the store in one streaming pass.

use std::collections::{BTreeMap, HashMap};

use jiff::tz::TimeZone;

use crate::domain::Birthday;
use crate::health::HealthConfig;
use crate::health::{Facts, Health};

/// One recent event: when, its external id (the occurrence key of event triggers), its score.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentEvent {
    pub at: i64,
    pub id: String,
    pub score: Option<f64>,
    /// The values of `[history] favourite_properties`, in that order ("" when the event has
    /// none); empty unless a template reads `history`.
    pub props: Vec<String>,
}

/// A customer's events of one kind at or before T.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindStats {
    pub count: i64,
    pub first: i64,
    pub last: i64,
    pub amount: f64,
    /// The events after the evaluation's look-back start, ordered by (time, id).
    pub recent: Vec<RecentEvent>,
}

#[derive(Debug, Clone)]
pub struct CustomerFacts {
    pub id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<Birthday>,
    pub zone: TimeZone,
    pub consent_email: bool,
    pub consent_sms: bool,
    pub unsubscribed_email: bool,
    pub unsubscribed_sms: bool,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// The language the customer reads; `None`: the configured default.
    pub language: Option<crate::domain::Language>,
    pub kinds: HashMap<String, KindStats>,
    pub health: Option<Health>,
}

impl CustomerFacts {
    /// A customer with no events; `kinds` and `health` are filled in by the caller.
    pub fn new(external_id: impl Into<String>, zone: TimeZone) -> CustomerFacts {
        CustomerFacts {
            id: 0,
            external_id: external_id.into(),
            name: None,
            email: None,
            phone: None,
            birthday: None,
            zone,
            consent_email: false,
            consent_sms: false,
            unsubscribed_email: false,
            unsubscribed_sms: false,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            language: None,
            kinds: HashMap::new(),
            health: None,
        }
    }

    /// The kinds a trigger means: the ones it names, or the configured activity events.
    pub fn kinds_of<'a>(
        &'a self,
        named: Option<&'a [String]>,
        cfg: &'a HealthConfig,
    ) -> impl Iterator<Item = &'a KindStats> + 'a {
        self.kinds.iter().filter_map(move |(k, s)| {
            let wanted = match named {
                Some(list) => list.iter().any(|n| n == k),
                None => cfg.is_activity(k),
            };
            wanted.then_some(s)
        })
    }

    /// Lifetime activity events and spend (every kind's amounts) at or before T.
    pub fn activity_count(&self, cfg: &HealthConfig) -> i64 {
        self.kinds_of(None, cfg).map(|s| s.count).sum()
    }

    pub fn spend(&self) -> f64 {
        self.kinds.values().map(|s| s.amount).sum()
    }

    /// The health score from the same aggregates; needs a look-back of at least a year.
    pub fn compute_health(&self, cfg: &HealthConfig, at: i64) -> Health {
        self.health_inputs(cfg, at).assess(cfg)
    }

    /// How the score moves on from `at` while nothing new happens (see `health::ScoreCurve`).
    pub fn score_curve(&self, cfg: &HealthConfig, at: i64) -> crate::health::ScoreCurve {
        self.health_inputs(cfg, at).curve(cfg)
    }

    fn health_inputs(&self, cfg: &HealthConfig, at: i64) -> Facts {
        let mut facts = Facts::new(at);
        for (kind, stats) in &self.kinds {
            if cfg.is_activity(kind) {
                facts.observe_last_activity(stats.last);
                for e in &stats.recent {
                    facts.observe_activity(e.at);
                }
            }
            if kind == crate::health::FEEDBACK_KIND {
                for e in &stats.recent {
                    if let Some(s) = e.score {
                        facts.observe_feedback(e.at, s);
                    }
                }
            }
        }
        facts
    }

    /// First name for greetings: the first word of the name, or "" when unknown.
    pub fn first_name(&self) -> &str {
        self.name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .unwrap_or("")
    }
}
