//! Building rules and customers the way the tests need them: rules from TOML text, customers
//! from a list of events.

use std::path::Path;

use rekindle::rules::facts::{CustomerFacts, KindStats, RecentEvent};
use rekindle::rules::{Rule, Templates, check_file};

pub fn ts(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_second()
}

/// A rule from its TOML, panicking with the diagnostics if it does not check.
pub fn rule(toml: &str) -> Rule {
    let mut t = Templates::new();
    check_file(Path::new("t.toml"), toml, Path::new("."), &mut t)
        .unwrap_or_else(|d| panic!("rule does not check: {d:?}"))
}

/// A minimal valid rule around a trigger table body, sent by email.
pub fn rule_with_trigger(id: &str, trigger: &str) -> Rule {
    rule(&format!(
        "id = \"{id}\"\nname = \"{id}\"\n[trigger]\n{trigger}\n[message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n"
    ))
}

/// A reachable customer (email with consent) in `zone`, with events given as (kind, RFC 3339, id).
pub fn customer(zone: &str, events: &[(&str, &str, &str)]) -> CustomerFacts {
    let mut c = CustomerFacts::new("c1", jiff::tz::TimeZone::get(zone).unwrap());
    c.id = 1;
    c.name = Some("Anna Kovács".into());
    c.email = Some("anna@example.com".into());
    c.consent_email = true;
    for (kind, at, id) in events {
        let at = ts(at);
        let s = c.kinds.entry((*kind).to_string()).or_insert_with(|| KindStats {
            first: i64::MAX,
            last: i64::MIN,
            ..KindStats::default()
        });
        s.count += 1;
        s.first = s.first.min(at);
        s.last = s.last.max(at);
        s.recent.push(RecentEvent {
            at,
            id: (*id).to_string(),
            score: None,
            props: Vec::new(),
        });
        s.recent
            .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    }
    c
}
