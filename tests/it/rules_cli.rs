//! `rules preview` and `evaluate` through the real binary on both backends.

use serde_json::Value;

use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};

const WIN_BACK: &str = r#"id = "win-back"
name = "Win back"
priority = 10
[trigger]
type = "inactive"
events = ["visit"]
days = 30
[message]
channel = "email"
fallback = "sms"
subject = "We miss you, {{ customer.first_name }}!"
body = "Hi {{ customer.first_name }}, {{ trigger.days_inactive }} days already."
send_at = "10:00"
"#;

const AT_RISK: &str = r#"id = "at-risk"
name = "At risk"
priority = 5
[trigger]
type = "health_below"
score = 60
[message]
channel = "email"
subject = "A thank-you"
body = "Your score is {{ health.score }}."
"#;

fn workspace(backend: crate::helpers::Backend, config: &str) -> Workspace {
    let ws = Workspace::with_config(backend, config);
    ws.write("rules/win-back.toml", WIN_BACK);
    ws.write("rules/at-risk.toml", AT_RISK);
    let customers = format!(
        "{CUSTOMERS_HEADER}\n\
         anna,Anna Kovács,anna@example.com,,,Europe/Budapest,yes,,\n\
         ben,Ben Ito,,+81 90 1234 5678,,Asia/Tokyo,,yes,\n\
         cleo,Cleo,cleo@example.com,,,,no,,\n\
         dora,Dora,dora@example.com,,,,yes,,\n"
    );
    let events = format!(
        "{EVENTS_HEADER}\n\
         a1,anna,visit,2026-05-01T10:00:00Z,,\n\
         b1,ben,visit,2026-05-02T10:00:00Z,,\n\
         c1,cleo,visit,2026-05-03T10:00:00Z,,\n\
         d1,dora,visit,2026-06-14T10:00:00Z,,\n"
    );
    load(&ws, &customers, &events);
    ws
}

const AT: &str = "2026-06-15T05:00:00Z";

fn preview_json(ws: &Workspace, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["rules", "preview", "--at", AT, "--format", "json"];
    all.extend_from_slice(args);
    let r = ws.rekindle(&all);
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn find<'a>(decisions: &'a [Value], rule: &str, customer: &str) -> &'a Value {
    decisions
        .iter()
        .find(|d| d["rule"] == rule && d["customer"] == customer)
        .unwrap_or_else(|| panic!("no {rule}/{customer} in {decisions:?}"))
}

#[tokio::test]
async fn preview_shows_every_decision_and_records_nothing() {
    for backend in backends() {
        let ws = workspace(backend, "[policy]\nmax_messages = 1\n");
        let d = preview_json(&ws, &[]);
        // Anna: Budapest 07:00 local → today's 10:00 local is 08:00 UTC.
        let anna = find(&d, "win-back", "anna");
        assert_eq!(anna["decision"], "send", "{backend:?}");
        assert_eq!(anna["channel"], "email");
        assert_eq!(anna["send_at"], "2026-06-15T08:00:00Z");
        assert_eq!(anna["reason"], Value::Null);
        assert_eq!(anna["occurrence"], "2026-05-01T10:00:00Z");
        // Ben has no email: SMS fallback; 14:00 in Tokyo is past 10:00, so now.
        let ben = find(&d, "win-back", "ben");
        assert_eq!(
            (ben["channel"].as_str(), ben["send_at"].as_str()),
            (Some("sms"), Some(AT))
        );
        // Cleo said no to email and has no phone: the primary channel's reason.
        let cleo = find(&d, "win-back", "cleo");
        assert_eq!(
            (cleo["decision"].as_str(), cleo["reason"].as_str()),
            (Some("skipped"), Some("no_consent"))
        );
        assert_eq!(cleo["channel"], Value::Null);
        // Anna is also at risk, but the cap of one message is taken by the higher priority rule.
        let anna_risk = find(&d, "at-risk", "anna");
        assert_eq!(
            (anna_risk["decision"].as_str(), anna_risk["reason"].as_str()),
            (Some("deferred"), Some("frequency_cap"))
        );
        // Dora visited yesterday: nothing.
        assert!(!d.iter().any(|x| x["customer"] == "dora"), "{d:?}");

        // Only the named rule.
        let only = preview_json(&ws, &["at-risk"]);
        assert!(only.iter().all(|x| x["rule"] == "at-risk"));
        assert_eq!(find(&only, "at-risk", "anna")["decision"], "send");

        let store = ws.store().await;
        assert!(
            store.decision_counts().await.unwrap().is_empty(),
            "{backend:?}: preview recorded something"
        );
        store.close().await;
    }
}

#[test]
fn text_preview_counts_per_rule_and_renders_samples() {
    let ws = workspace(crate::helpers::Backend::Sqlite, "");
    let r = ws.rekindle(&["rules", "preview", "--at", AT]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("Decisions at 2026-06-15T05:00:00Z over 4 customers"),
        "{r:?}"
    );
    let row = r.stdout.lines().find(|l| l.starts_with("win-back")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..6], ["win-back", "2", "0", "0", "0", "1"], "{row}");
    assert!(r.stdout.contains("Subject: We miss you, Anna!"), "{r:?}");
    assert!(r.stdout.contains("Hi Ben, 43 days already."), "{r:?}");
    let r = ws.rekindle(&["rules", "preview", "no-such-rule"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no rule with id \"no-such-rule\""), "{r:?}");
}

#[tokio::test]
async fn evaluate_records_each_decision_once_even_when_run_twice_or_concurrently() {
    for backend in backends() {
        let ws = workspace(backend, "");
        let preview = preview_json(&ws, &[]);
        let expected: usize = preview.iter().filter(|d| d["decision"] != "deferred").count();
        let sends = preview.iter().filter(|d| d["decision"] == "send").count();
        // Two processes at the same instant, then a third run.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| ws.rekindle(&["evaluate", "--at", AT]));
            let b = s.spawn(|| ws.rekindle(&["evaluate", "--at", AT]));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!((a.code, b.code), (0, 0), "{backend:?}: {a:?} {b:?}");
        // The summary counts what the preview showed (a run that started after the other
        // had recorded everything finds nothing left to decide).
        let said = format!("{} decisions ({sends} sends)", preview.len());
        assert!(
            [&a, &b].iter().any(|r| r.stdout.contains(&said)),
            "{backend:?}: {said} in {a:?} {b:?}"
        );
        let again = ws.rekindle(&["evaluate", "--at", AT]);
        assert!(
            again.stdout.contains(", 0 newly recorded"),
            "{backend:?}: {again:?}"
        );
        let store = ws.store().await;
        let recorded: i64 = store.decision_counts().await.unwrap().iter().map(|c| c.3).sum();
        assert_eq!(recorded as usize, expected, "{backend:?}");
        // Previews now show nothing new: recorded occurrences are not decided again.
        assert!(preview_json(&ws, &[]).is_empty(), "{backend:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_deferred_match_comes_back_when_the_cap_has_room() {
    for backend in backends() {
        let ws = workspace(backend, "[policy]\nmax_messages = 1\nper = \"7d\"\n");
        assert_eq!(ws.rekindle(&["evaluate", "--at", AT]).code, 0);
        let store = ws.store().await;
        let counts = store.decision_counts().await.unwrap();
        // Ben and Cleo are skipped for at-risk (no email, no consent); Anna's was deferred.
        let at_risk: Vec<_> = counts
            .iter()
            .filter(|c| c.0 == "at-risk")
            .map(|c| (c.1.as_str(), c.3))
            .collect();
        assert_eq!(
            at_risk,
            [("skipped", 1), ("skipped", 1)],
            "{backend:?}: deferred must not be recorded: {counts:?}"
        );
        // Eight days later the cap has room again and Anna is still at risk.
        let later = "2026-06-23T05:00:00Z";
        let r = ws.rekindle(&["rules", "preview", "at-risk", "--at", later, "--format", "json"]);
        let anna: Vec<Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            find(&anna, "at-risk", "anna")["decision"],
            "send",
            "{backend:?}: {r:?}"
        );
        store.close().await;
    }
}
