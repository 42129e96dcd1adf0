//! Health scores on hand-computed cases, read the way a marketer reads them:
//! `rekindle customers show ID --at T --format json` against a real store.

use serde_json::Value;

use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};

fn show(ws: &Workspace, id: &str, at: &str) -> Value {
    let r = ws.rekindle(&["customers", "show", id, "--at", at, "--format", "json"]);
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// `parts` is [recency, frequency, feedback, cadence_days]; `since` is days_since_last.
fn assert_health(v: &Value, (score, band): (u64, &str), parts: [f64; 4], since: Option<f64>) {
    let [recency, frequency, feedback, cadence] = parts;
    let h = &v["health"];
    let close = |key: &str, want: f64| {
        let got = h[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {v}"));
        assert!((got - want).abs() < 1e-3, "{key}: got {got}, want {want} in {v}");
    };
    assert_eq!(h["score"], score, "{v}");
    assert_eq!(h["band"], band, "{v}");
    close("recency", recency);
    close("frequency", frequency);
    close("feedback", feedback);
    close("cadence_days", cadence);
    match since {
        None => assert!(h["days_since_last"].is_null(), "{v}"),
        Some(d) => close("days_since_last", d),
    }
}

fn weekly_regular_events() -> String {
    // 13 Monday visits, Jan 5 to Mar 30 2026, then nothing; feedback 8 after the last visit.
    let mut csv = String::from(EVENTS_HEADER);
    let start = jiff::civil::date(2026, 1, 5).at(9, 0, 0, 0);
    for week in 0..13 {
        let t = start.checked_add(jiff::Span::new().days(7 * week)).unwrap();
        csv.push_str(&format!("\nw{week},reg,visit,{t}Z,,"));
    }
    csv.push_str("\nw-fb,reg,feedback,2026-03-30T10:00:00Z,,8\n");
    csv
}

#[test]
fn hand_computed_scores() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        let customers = format!(
            "{CUSTOMERS_HEADER}\nnone,,,,,,,,\none,,,,,,,,\nreg,,,,,,,,\nleap,,,,,,,,\nfar,,,,,Pacific/Kiritimati,,,\n"
        );
        let mut events = weekly_regular_events();
        events.push_str(
            "one-1,one,visit,2026-05-01T12:00:00Z,,\n\
             leap-1,leap,visit,2028-02-01T12:00:00Z,,\n\
             leap-2,leap,visit,2028-02-15T12:00:00Z,,\n\
             leap-3,leap,visit,2028-02-29T12:00:00Z,,\n\
             far-1,far,visit,2026-05-02T08:00:00+14:00,,\n",
        );
        load(&ws, &customers, &events);

        // No activity: recency 0, frequency 0, neutral feedback → round(100 × 0.2 × 0.5) = 10.
        assert_health(
            &show(&ws, "none", "2026-06-01T00:00:00Z"),
            (10, "critical"),
            [0.0, 0.0, 0.5, 30.0],
            None,
        );

        // One visit 10 days ago: default cadence 30, recency 1, frequency 1×30/90.
        // round(100 × (0.5 + 0.3/3 + 0.1)) = 70 → healthy (the band's lower edge).
        let v = show(&ws, "one", "2026-05-11T12:00:00Z");
        assert_health(&v, (70, "healthy"), [1.0, 1.0 / 3.0, 0.5, 30.0], Some(10.0));
        // 80 days later: recency 1 − 50/60; round(100 × (0.5/6 + 0.1 + 0.1)) = 28.
        let v = show(&ws, "one", "2026-07-20T12:00:00Z");
        assert_health(
            &v,
            (28, "critical"),
            [1.0 / 6.0, 1.0 / 3.0, 0.5, 30.0],
            Some(80.0),
        );

        // Weekly regular, 10 days after the last visit: cadence 7, recency 1 − 3/14,
        // 12 visits in 90 days → 12×7/90; feedback 0.8. round(39.2857+28+16) = 83.
        let v = show(&ws, "reg", "2026-04-09T09:00:00Z");
        assert_health(
            &v,
            (83, "healthy"),
            [1.0 - 3.0 / 14.0, 12.0 * 7.0 / 90.0, 0.8, 7.0],
            Some(10.0),
        );
        // ...who stopped: 21 days = 3 cadences late → recency 0; 10 visits in 90 days.
        // round(100 × (0.3 × 70/90 + 0.16)) = 39 → critical.
        let v = show(&ws, "reg", "2026-04-20T09:00:00Z");
        assert_health(&v, (39, "critical"), [0.0, 70.0 / 90.0, 0.8, 7.0], Some(21.0));
        // Before any of it happened the regular has no history: events after T are ignored.
        assert_health(
            &show(&ws, "reg", "2026-01-01T00:00:00Z"),
            (10, "critical"),
            [0.0, 0.0, 0.5, 30.0],
            None,
        );

        // Feb 29 in a leap year: gaps of 14 days, last visit Feb 29, T = Mar 14 → 14 days.
        // round(100 × (0.5 + 0.3 × 42/90 + 0.1)) = 74.
        let v = show(&ws, "leap", "2028-03-14T12:00:00Z");
        assert_health(&v, (74, "healthy"), [1.0, 42.0 / 90.0, 0.5, 14.0], Some(14.0));

        // UTC+14: 08:00+14:00 on May 2 is 18:00 UTC on May 1, half a day before T.
        let v = show(&ws, "far", "2026-05-02T06:00:00Z");
        assert_health(&v, (70, "healthy"), [1.0, 1.0 / 3.0, 0.5, 30.0], Some(0.5));
    }
}

#[test]
fn text_breakdown_explains_each_component() {
    let ws = Workspace::new(crate::helpers::Backend::Sqlite);
    let customers = format!("{CUSTOMERS_HEADER}\nreg,Rita Regular,rita@example.com,,,,yes,,\n");
    load(&ws, &customers, &weekly_regular_events());
    let r = ws.rekindle(&["customers", "show", "reg", "--at", "2026-04-20T09:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    for expected in [
        "Customer reg  Rita Regular",
        "rita@example.com (consent: yes)",
        "Health as of 2026-04-20T09:00:00Z: 39 (critical)",
        "21.0 days since last activity; usual gap 7.0 days",
        "10 activities in the last 90 days",
        "latest feedback score 8.0/10",
    ] {
        assert!(r.stdout.contains(expected), "missing {expected:?} in {r:?}");
    }
}

#[test]
fn configured_weights_and_activity_kinds_change_the_score() {
    let ws = Workspace::with_config(
        crate::helpers::Backend::Sqlite,
        "[health]\nactivity_events = [\"visit\"]\ndefault_cadence_days = 10\nweights = { recency = 1.0, frequency = 0.0, feedback = 0.0 }\n",
    );
    let customers = format!("{CUSTOMERS_HEADER}\nc1,,,,,,,,\n");
    let events = format!(
        "{EVENTS_HEADER}\nv1,c1,visit,2026-05-01T00:00:00Z,,\np1,c1,purchase,2026-05-15T00:00:00Z,,\n"
    );
    load(&ws, &customers, &events);
    // Purchases do not count here: 20 days since the visit, cadence 10 → recency 1 − 10/20.
    let v = show(&ws, "c1", "2026-05-21T00:00:00Z");
    assert_health(&v, (50, "at_risk"), [0.5, 10.0 / 90.0, 0.5, 10.0], Some(20.0));
}

#[test]
fn unknown_customer_is_an_error() {
    let ws = Workspace::new(crate::helpers::Backend::Sqlite);
    assert_eq!(ws.rekindle(&["migrate"]).code, 0);
    let r = ws.rekindle(&["customers", "show", "ghost"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("no customer with id \"ghost\""), "{r:?}");
}
