//! Every trigger type at its edges, on customers built by hand.

use rekindle::config::HealthConfig;
use rekindle::domain::Birthday;
use rekindle::rules::trigger::occurrences;

use crate::rules_support::{customer, rule_with_trigger, ts};

fn keys(trigger: &str, c: &rekindle::rules::facts::CustomerFacts, at: &str) -> Vec<String> {
    let r = rule_with_trigger("r", trigger);
    occurrences(&r.trigger, c, ts(at), &HealthConfig::default())
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[test]
fn inactive_matches_from_exactly_n_days_and_keys_on_the_last_visit() {
    let c = customer(
        "UTC",
        &[
            ("visit", "2026-05-01T10:00:00Z", "v1"),
            ("booking", "2026-05-10T10:00:00Z", "b1"),
        ],
    );
    let t = "type = \"inactive\"\nevents = [\"visit\"]\ndays = 30";
    assert!(
        keys(t, &c, "2026-05-31T09:59:59Z").is_empty(),
        "one second short of 30 days"
    );
    assert_eq!(keys(t, &c, "2026-05-31T10:00:00Z"), ["2026-05-01T10:00:00Z"]);
    // Without `events` every activity kind counts: the booking is more recent.
    let t = "type = \"inactive\"\ndays = 30";
    assert!(keys(t, &c, "2026-05-31T10:00:00Z").is_empty());
    assert_eq!(keys(t, &c, "2026-06-09T10:00:00Z"), ["2026-05-10T10:00:00Z"]);
    // Never visited: nothing to win back.
    let none = customer("UTC", &[]);
    assert!(keys(t, &none, "2026-06-09T10:00:00Z").is_empty());
}

#[test]
fn first_event_waits_for_the_delay_and_expires_after_max_age() {
    let c = customer(
        "UTC",
        &[
            ("booking", "2026-06-01T12:00:00Z", "b1"),
            ("booking", "2026-06-02T12:00:00Z", "b2"),
        ],
    );
    let t = "type = \"first_event\"\nevent = \"booking\"\ndelay = \"1h\"\nmax_age = \"1d\"";
    assert!(keys(t, &c, "2026-06-01T12:59:59Z").is_empty(), "before the delay");
    assert_eq!(
        keys(t, &c, "2026-06-01T13:00:00Z"),
        ["b1"],
        "only the first booking"
    );
    assert_eq!(keys(t, &c, "2026-06-02T12:59:59Z"), ["b1"]);
    assert!(
        keys(t, &c, "2026-06-02T13:00:00Z").is_empty(),
        "max_age is exclusive"
    );
}

#[test]
fn event_fires_for_every_event_two_hours_later() {
    let c = customer(
        "UTC",
        &[
            ("visit", "2026-06-01T10:00:00Z", "v1"),
            ("visit", "2026-06-01T11:00:00Z", "v2"),
        ],
    );
    let t = "type = \"event\"\nevent = \"visit\"\ndelay = \"2h\"\nmax_age = \"1d\"";
    assert!(keys(t, &c, "2026-06-01T11:59:59Z").is_empty());
    assert_eq!(keys(t, &c, "2026-06-01T12:00:00Z"), ["v1"]);
    assert_eq!(keys(t, &c, "2026-06-01T13:30:00Z"), ["v1", "v2"]);
    assert_eq!(keys(t, &c, "2026-06-02T12:30:00Z"), ["v2"]);
}

#[test]
fn birthday_uses_the_customers_local_date() {
    let mut c = customer("Pacific/Auckland", &[]);
    c.birthday = Some(Birthday::parse("1990-06-15").unwrap());
    let t = "type = \"birthday\"";
    // 2026-06-14T13:00Z is already June 15 in Auckland (+12:00), still June 14 in UTC.
    assert_eq!(keys(t, &c, "2026-06-14T13:00:00Z"), ["2026"]);
    assert!(keys(t, &c, "2026-06-14T11:00:00Z").is_empty());
    let t = "type = \"birthday\"\ndays_before = 3";
    assert_eq!(keys(t, &c, "2026-06-12T00:00:00Z"), ["2026"]);
}

#[test]
fn a_feb_29_birthday_falls_on_feb_28_in_other_years() {
    let mut c = customer("UTC", &[]);
    c.birthday = Some(Birthday::parse("--02-29").unwrap());
    let t = "type = \"birthday\"";
    assert_eq!(keys(t, &c, "2027-02-28T12:00:00Z"), ["2027"]);
    assert!(keys(t, &c, "2027-03-01T12:00:00Z").is_empty());
    assert_eq!(
        keys(t, &c, "2028-02-29T12:00:00Z"),
        ["2028"],
        "leap year: the day itself"
    );
    assert!(
        keys(t, &c, "2028-02-28T12:00:00Z").is_empty(),
        "leap year: not the day before"
    );
}

#[test]
fn anniversary_counts_years_from_the_first_local_date() {
    // First visit 2024-02-29 23:30 in New York = 2024-03-01 04:30 UTC: the local date counts.
    let c = customer("America/New_York", &[("visit", "2024-03-01T04:30:00Z", "v1")]);
    let r = rule_with_trigger("r", "type = \"anniversary\"\nevent = \"visit\"");
    let cfg = HealthConfig::default();
    let at = ts("2025-02-28T17:00:00Z");
    let o = occurrences(&r.trigger, &c, at, &cfg);
    assert_eq!(o.len(), 1, "Feb 28 in a non-leap year");
    assert_eq!(o[0].key, "2025");
    assert_eq!(o[0].vars["years"], 1);
    assert!(occurrences(&r.trigger, &c, ts("2026-03-01T17:00:00Z"), &cfg).is_empty());
    assert_eq!(
        occurrences(&r.trigger, &c, ts("2028-02-29T17:00:00Z"), &cfg)[0].vars["years"],
        4
    );
    assert!(
        occurrences(&r.trigger, &c, ts("2024-02-29T17:00:00Z"), &cfg).is_empty(),
        "same year"
    );
}

#[test]
fn milestone_is_the_count_th_event_within_max_age() {
    let mut events = Vec::new();
    let times: Vec<String> = (1..=10).map(|d| format!("2026-06-{d:02}T10:00:00Z")).collect();
    let ids: Vec<String> = (1..=10).map(|d| format!("v{d:02}")).collect();
    for (t, id) in times.iter().zip(&ids) {
        events.push(("visit", t.as_str(), id.as_str()));
    }
    let c = customer("UTC", &events);
    let t = "type = \"milestone\"\nevent = \"visit\"\ncount = 10\nmax_age = \"2d\"";
    assert!(
        keys(t, &c, "2026-06-10T09:59:59Z").is_empty(),
        "only 9 visits by then"
    );
    assert_eq!(keys(t, &c, "2026-06-10T10:00:00Z"), ["10"]);
    assert!(keys(t, &c, "2026-06-12T10:00:00Z").is_empty(), "too late");
    let t = "type = \"milestone\"\nevent = \"visit\"\ncount = 11";
    assert!(keys(t, &c, "2026-06-11T00:00:00Z").is_empty());
}

#[test]
fn health_below_needs_activity_and_rearms_after_the_next_visit() {
    let cfg = HealthConfig::default();
    let mut c = customer("UTC", &[("visit", "2026-01-01T10:00:00Z", "v1")]);
    let at = ts("2026-06-01T00:00:00Z");
    c.health = Some(c.compute_health(&cfg, at));
    assert!(c.health.as_ref().unwrap().score < 40);
    let r = rule_with_trigger("r", "type = \"health_below\"\nscore = 40");
    let o = occurrences(&r.trigger, &c, at, &cfg);
    assert_eq!(o[0].key, "2026-01-01T10:00:00Z");
    let mut nobody = customer("UTC", &[]);
    nobody.health = Some(nobody.compute_health(&cfg, at));
    assert!(
        occurrences(&r.trigger, &nobody, at, &cfg).is_empty(),
        "no activity, no trigger"
    );
}

#[test]
fn overdue_is_relative_to_the_customers_own_cadence() {
    let weekly = customer(
        "UTC",
        &[
            ("visit", "2026-05-01T10:00:00Z", "v1"),
            ("visit", "2026-05-08T10:00:00Z", "v2"),
            ("visit", "2026-05-15T10:00:00Z", "v3"),
        ],
    );
    let t = "type = \"overdue\"\nevents = [\"visit\"]";
    assert!(keys(t, &weekly, "2026-05-29T09:59:59Z").is_empty());
    assert_eq!(
        keys(t, &weekly, "2026-05-29T10:00:00Z"),
        ["2026-05-15T10:00:00Z"],
        "2 × 7 days"
    );
    let t3 = "type = \"overdue\"\nfactor = 3.0\nevents = [\"visit\"]";
    assert!(keys(t3, &weekly, "2026-06-01T00:00:00Z").is_empty());
    // Two visits are one gap: no habit yet.
    let two = customer(
        "UTC",
        &[
            ("visit", "2026-05-01T10:00:00Z", "v1"),
            ("visit", "2026-05-08T10:00:00Z", "v2"),
        ],
    );
    assert!(keys(t, &two, "2026-09-01T00:00:00Z").is_empty());
}

#[test]
fn absence_fires_when_the_follow_up_never_came() {
    let c = customer(
        "UTC",
        &[
            ("booking", "2026-06-01T10:00:00Z", "b1"),
            ("visit", "2026-06-02T10:00:00Z", "v1"),
            ("booking", "2026-06-03T10:00:00Z", "b2"),
        ],
    );
    let t = "type = \"absence\"\nevent = \"booking\"\nmissing = \"visit\"\nwithin = \"2d\"\nmax_age = \"1d\"";
    assert!(
        keys(t, &c, "2026-06-05T09:59:59Z").is_empty(),
        "b1 was followed up; b2 still has time"
    );
    assert_eq!(keys(t, &c, "2026-06-05T10:00:00Z"), ["b2"]);
    assert!(keys(t, &c, "2026-06-06T10:00:00Z").is_empty(), "past max_age");
}
