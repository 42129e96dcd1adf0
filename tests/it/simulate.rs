//! `rules simulate`: the coming weeks played forward over today's data — series steps, the
//! frequency cap and birthdays come due on their days — and nothing is recorded or sent.

use serde_json::Value;

use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};

const SERIES: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
days = 30
[[steps]]
channel = "email"
subject = "We miss you"
body = "Come back"
[[steps]]
after = "7d"
channel = "email"
subject = "Still here"
body = "Still waiting"
"#;

const BIRTHDAY: &str = r#"id = "birthday"
name = "Birthday"
priority = 5
[trigger]
type = "birthday"
[message]
channel = "email"
subject = "Happy birthday"
body = "Cake!"
"#;

#[tokio::test]
async fn the_coming_weeks_show_each_step_on_its_day_and_nothing_is_recorded() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, "[policy]\nmax_messages = 1\nper = \"7d\"\n");
        ws.write("rules/win-back.toml", SERIES);
        ws.write("rules/birthday.toml", BIRTHDAY);
        let customers = format!(
            "{CUSTOMERS_HEADER}\n\
             a,Anna,a@example.com,,,UTC,yes,,\n\
             b,Bea,b@example.com,,1990-06-08,UTC,yes,,\n"
        );
        let events = format!(
            "{EVENTS_HEADER}\nv1,a,visit,2026-05-01T10:00:00Z,,\nv2,b,visit,2026-05-01T10:00:00Z,,\n"
        );
        load(&ws, &customers, &events);
        let r = ws.rekindle(&[
            "rules",
            "simulate",
            "--from",
            "2026-06-01T12:00:00Z",
            "--days",
            "21",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        let lines: Vec<Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let count = |day: &str, rule: &str, step: u64, decision: &str| -> u64 {
            lines
                .iter()
                .filter(|l| {
                    l["day"] == day && l["rule"] == rule && l["step"] == step && l["decision"] == decision
                })
                .map(|l| l["count"].as_u64().unwrap())
                .sum()
        };
        // Day 1: step 1 to both. A week later Anna gets step 2; Bea's birthday (higher
        // priority) takes her one message of the week, so her step 2 is deferred day after day
        // and goes when the cap has room again, a week after the birthday.
        assert_eq!(
            count("2026-06-01", "win-back", 1, "send"),
            2,
            "{backend:?}: {lines:?}"
        );
        assert_eq!(count("2026-06-08", "birthday", 1, "send"), 1, "{lines:?}");
        assert_eq!(count("2026-06-08", "win-back", 2, "send"), 1);
        for day in 8..=14 {
            assert_eq!(
                count(&format!("2026-06-{day:02}"), "win-back", 2, "deferred"),
                1,
                "{day}"
            );
        }
        assert_eq!(count("2026-06-15", "win-back", 2, "send"), 1, "{lines:?}");
        assert_eq!(
            count("2026-06-16", "win-back", 2, "deferred"),
            0,
            "remembered as sent"
        );
        // Nothing in the series after its last step; nothing recorded anywhere.
        assert!(!lines.iter().any(|l| l["step"] == 3));
        let store = ws.store().await;
        assert!(
            store.decision_counts().await.unwrap().is_empty(),
            "{backend:?}: nothing recorded"
        );
        store.close().await;
        let text = ws.rekindle(&[
            "rules",
            "simulate",
            "--from",
            "2026-06-01T12:00:00Z",
            "--days",
            "21",
        ]);
        assert!(text.stdout.contains("win-back step 2"), "{text:?}");
        assert!(text.stdout.contains("nothing is recorded or sent"), "{text:?}");
        // One page for the owner: a chart of the days and the same rows, nothing to load.
        let r = ws.rekindle(&[
            "rules",
            "simulate",
            "--from",
            "2026-06-01T12:00:00Z",
            "--days",
            "21",
            "--format",
            "html",
            "-o",
            "next.html",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        let page = std::fs::read_to_string(ws.path("next.html")).unwrap();
        assert!(page.contains("<svg") && !page.contains("<script") && !page.contains("src=\"http"));
        assert!(
            page.contains(
                "<tr><td>2026-06-15</td><td>win-back step 2</td><td>1</td><td>0</td><td>0</td></tr>"
            ),
            "{page}"
        );
    }
}
