//! The decision pipeline step by step, on hand-built customers.

use rekindle::config::HealthConfig;
use rekindle::domain::QuietHours;
use rekindle::rules::Rule;
use rekindle::rules::facts::CustomerFacts;
use rekindle::rules::pipeline::{Outcome, PastDecision, Policy, Reason, decide, holdout_bucket};

use crate::rules_support::{customer, rule, ts};

const INACTIVE: &str = "[trigger]\ntype = \"inactive\"\ndays = 30\n";
const EMAIL: &str = "[message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n";

fn policy(max: u32) -> Policy {
    Policy {
        max_messages: max,
        per: 7 * 86_400,
        quiet_sms: None,
        quiet_email: None,
    }
}

fn lapsed() -> CustomerFacts {
    customer("UTC", &[("visit", "2026-05-01T10:00:00Z", "v1")])
}

fn win_back(id: &str, extra: &str) -> Rule {
    rule(&format!(
        "id = \"{id}\"\nname = \"n\"\n{extra}\n{INACTIVE}{EMAIL}"
    ))
}

/// (rule id, outcome, reason) of each decision.
fn run(
    rules: &[Rule],
    c: &CustomerFacts,
    history: &[PastDecision],
    at: &str,
    p: &Policy,
) -> Vec<(String, Outcome, Option<Reason>)> {
    decide(rules, c, history, ts(at), p, &HealthConfig::default())
        .into_iter()
        .map(|d| (rules[d.rule].id.clone(), d.outcome, d.reason))
        .collect()
}

fn past(rule_id: &str, key: &str, outcome: Outcome, at: &str) -> PastDecision {
    PastDecision::new(rule_id, key, outcome, ts(at))
}

#[test]
fn a_recorded_occurrence_is_never_decided_again() {
    let r = win_back("wb", "");
    let h = [past(
        "wb",
        "2026-05-01T10:00:00Z",
        Outcome::Skipped,
        "2026-06-01T00:00:00Z",
    )];
    assert!(run(&[r], &lapsed(), &h, "2026-06-10T00:00:00Z", &policy(2)).is_empty());
}

#[test]
fn the_frequency_cap_defers_lower_priority_rules_and_counts_across_rules() {
    // Equal priority: by id. Higher priority first.
    let rules = [
        win_back("b-rule", "priority = 1"),
        win_back("a-rule", "priority = 1"),
        win_back("z-top", "priority = 9"),
    ];
    let mut ordered = rules.to_vec();
    ordered.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    let d = run(&ordered, &lapsed(), &[], "2026-06-10T00:00:00Z", &policy(2));
    assert_eq!(
        d,
        [
            ("z-top".into(), Outcome::Send, None),
            ("a-rule".into(), Outcome::Send, None),
            ("b-rule".into(), Outcome::Deferred, Some(Reason::FrequencyCap)),
        ]
    );
    // A send of another rule five days ago uses up part of the cap; eight days ago does not.
    let h = [past("other", "k", Outcome::Send, "2026-06-05T00:00:00Z")];
    let d = run(&ordered[..2], &lapsed(), &h, "2026-06-10T00:00:00Z", &policy(2));
    assert_eq!(d[1].1, Outcome::Deferred);
    let h = [past("other", "k", Outcome::Send, "2026-06-02T00:00:00Z")];
    let d = run(&ordered[..2], &lapsed(), &h, "2026-06-10T00:00:00Z", &policy(2));
    assert_eq!(d[1].1, Outcome::Send);
}

#[test]
fn once_and_cooldown_suppress_repeat_contacts() {
    let c = customer(
        "UTC",
        &[
            ("visit", "2026-03-01T10:00:00Z", "v1"),
            ("visit", "2026-05-01T10:00:00Z", "v2"),
        ],
    );
    let once = win_back("wb", "[limits]\nonce = true");
    let h = [past(
        "wb",
        "2026-01-01T00:00:00Z",
        Outcome::HeldOut,
        "2026-02-01T00:00:00Z",
    )];
    assert_eq!(
        run(&[once], &c, &h, "2026-06-10T00:00:00Z", &policy(9))[0].2,
        Some(Reason::Once)
    );

    let cool = win_back("wb", "[limits]\ncooldown = \"60d\"");
    let h = [past(
        "wb",
        "2026-03-01T10:00:00Z",
        Outcome::Send,
        "2026-04-15T00:00:00Z",
    )];
    assert_eq!(
        run(
            std::slice::from_ref(&cool),
            &c,
            &h,
            "2026-06-10T00:00:00Z",
            &policy(9)
        )[0]
        .2,
        Some(Reason::Cooldown)
    );
    // 61 days later the cooldown is over.
    assert_eq!(
        run(&[cool], &c, &h, "2026-06-15T00:00:01Z", &policy(9))[0].1,
        Outcome::Send
    );
}

#[test]
fn channel_falls_back_and_names_the_primary_channels_reason() {
    let sms_first = rule(&format!(
        "id = \"r\"\nname = \"n\"\n{INACTIVE}[message]\nchannel = \"sms\"\nfallback = \"email\"\nsubject = \"s\"\nbody = \"b\"\n"
    ));
    let mut c = lapsed();
    let at = "2026-06-10T00:00:00Z";
    let d = decide(
        std::slice::from_ref(&sms_first),
        &c,
        &[],
        ts(at),
        &policy(9),
        &HealthConfig::default(),
    );
    assert_eq!(
        (d[0].outcome, d[0].channel.map(|c| c.as_str())),
        (Outcome::Send, Some("email")),
        "no phone: email"
    );
    c.consent_email = false;
    assert_eq!(
        run(std::slice::from_ref(&sms_first), &c, &[], at, &policy(9))[0].2,
        Some(Reason::NoContact)
    );
    c.phone = Some("+36301234567".into());
    assert_eq!(
        run(std::slice::from_ref(&sms_first), &c, &[], at, &policy(9))[0].2,
        Some(Reason::NoConsent)
    );
    c.consent_sms = true;
    c.unsubscribed_sms = true;
    assert_eq!(
        run(&[sms_first], &c, &[], at, &policy(9))[0].2,
        Some(Reason::Unsubscribed)
    );
}

#[test]
fn holdout_is_stable_per_customer_and_close_to_the_percentage() {
    let r = win_back("wb", "[experiment]\nholdout_percent = 30");
    let held = (0..2000)
        .filter(|i| holdout_bucket("wb", &format!("c{i}")) < 30)
        .count();
    assert!((500..700).contains(&held), "30% of 2000 ≈ 600, got {held}");
    let mut c = lapsed();
    for i in 0..50 {
        c.external_id = format!("c{i}");
        let first = run(
            std::slice::from_ref(&r),
            &c,
            &[],
            "2026-06-10T00:00:00Z",
            &policy(9),
        )[0]
        .1;
        let again = run(
            std::slice::from_ref(&r),
            &c,
            &[],
            "2026-07-10T00:00:00Z",
            &policy(9),
        )[0]
        .1;
        assert_eq!(first, again, "customer c{i} changed group");
        let expected = if holdout_bucket("wb", &c.external_id) < 30 {
            Outcome::HeldOut
        } else {
            Outcome::Send
        };
        assert_eq!(first, expected);
    }
}

#[test]
fn send_at_is_local_and_quiet_hours_push_to_their_end() {
    let r = rule(&format!(
        "id = \"r\"\nname = \"n\"\n{INACTIVE}[message]\nchannel = \"sms\"\nbody = \"b\"\nsend_at = \"10:00\"\n"
    ));
    let mut c = customer("Asia/Tokyo", &[("visit", "2026-05-01T10:00:00Z", "v1")]);
    c.phone = Some("+81901234567".into());
    c.consent_sms = true;
    let p = Policy {
        quiet_sms: QuietHours::parse("21:00-08:00").unwrap(),
        ..policy(9)
    };
    let when = |at: &str| {
        decide(
            std::slice::from_ref(&r),
            &c,
            &[],
            ts(at),
            &p,
            &HealthConfig::default(),
        )[0]
        .send_at
        .unwrap()
    };
    // 06:00 Tokyo (21:00Z the day before): today's 10:00 Tokyo is ahead → 01:00Z.
    assert_eq!(when("2026-06-09T21:00:00Z"), ts("2026-06-10T01:00:00Z"));
    // 12:00 Tokyo: 10:00 has passed → now.
    assert_eq!(when("2026-06-10T03:00:00Z"), ts("2026-06-10T03:00:00Z"));
    // 22:00 Tokyo: quiet until 08:00 Tokyo next day.
    assert_eq!(when("2026-06-10T13:00:00Z"), ts("2026-06-10T23:00:00Z"));
}

#[test]
fn every_audience_condition_must_hold() {
    let cfg = HealthConfig::default();
    let at = "2026-06-10T00:00:00Z";
    let mut c = customer(
        "UTC",
        &[
            ("visit", "2026-04-01T10:00:00Z", "v1"),
            ("visit", "2026-05-01T10:00:00Z", "v2"),
            ("purchase", "2026-05-01T10:30:00Z", "p1"),
        ],
    );
    c.kinds.get_mut("purchase").unwrap().amount = 42.5;
    c.tags = vec!["brunch".into(), "vip".into()];
    c.attributes.insert("tier".into(), "gold".into());
    c.attributes.insert("city".into(), "Győr".into());
    c.health = Some(c.compute_health(&cfg, ts(at)));
    let score = i64::from(c.health.as_ref().unwrap().score);
    let band = c.health.as_ref().unwrap().band.as_str();
    let matches = |audience: &str| {
        let r = rule(&format!(
            "id = \"r\"\nname = \"n\"\n{INACTIVE}[audience]\n{audience}\n{EMAIL}"
        ));
        !run(&[r], &c, &[], at, &policy(9)).is_empty()
    };
    assert!(matches(""), "an empty audience is everyone");
    assert!(matches(&format!("health_below = {}", score + 1)));
    assert!(!matches(&format!("health_below = {score}")), "strictly below");
    assert!(matches(&format!("health_at_least = {score}")));
    assert!(!matches(&format!("health_at_least = {}", score + 1)));
    assert!(matches(&format!("bands = [\"{band}\"]")));
    let other = if band == "healthy" { "critical" } else { "healthy" };
    assert!(!matches(&format!("bands = [\"{other}\"]")));
    assert!(
        matches("min_events = 3"),
        "purchases count as activity by default"
    );
    assert!(!matches("min_events = 4"));
    assert!(matches("min_spend = 42.5"));
    assert!(!matches("min_spend = 42.51"));
    assert!(matches("tags = [\"vip\", \"brunch\"]"));
    assert!(!matches("tags = [\"vip\", \"student\"]"), "all tags are needed");
    assert!(matches(
        "attributes = { tier = \"gold\", city = [\"Budapest\", \"Győr\"] }"
    ));
    assert!(!matches("attributes = { tier = \"silver\" }"));
    assert!(
        !matches("attributes = { shoe_size = \"42\" }"),
        "a missing attribute does not match"
    );
}
