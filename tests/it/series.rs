//! A three-step win-back series with an offer code, replayed with `run --once --at` day by day
//! through the real binary on both backends: who gets which step, when the series stops, and
//! the code's life from issue to redemption.

use std::collections::HashMap;

use rekindle::rules::pipeline::holdout_bucket;
use rekindle::store::{Receipt, Store};

use crate::helpers::{Backend, CUSTOMERS_HEADER, EVENTS_HEADER, Run, Workspace, backends, load};

const SERIES: &str = r#"id = "win-back-series"
name = "Win back: three tries, then let go"
[trigger]
type = "inactive"
days = 30
events = ["visit"]
[[steps]]
channel = "email"
subject = "We miss you, {{ customer.first_name or 'friend' }}"
body = "Here is {{ offer.percent }}% off your next visit: {{ offer.code }} (until {{ offer.expires_on }})."
[[steps]]
after = "7d"
channel = "sms"
body = "Your code {{ offer.code }} is still waiting, {{ customer.first_name }}."
[[steps]]
after = "7d"
channel = "email"
subject = "Last call"
body = "Your offer {{ offer.code }} ends on {{ offer.expires_on }}."
[offer]
prefix = "BACK"
percent = 10
valid = "21d"
[goal]
events = ["visit"]
within = "30d"
[experiment]
holdout_percent = 20
"#;

/// A purchase thank-you that goes first: it fills the frequency cap of a day.
const THANKS: &str = r#"id = "thanks"
name = "Thanks for the purchase"
priority = 10
[trigger]
type = "event"
event = "purchase"
[message]
channel = "email"
subject = "Thank you"
body = "Thanks!"
"#;

const HOLDOUT: u8 = 20;
const CROWD: usize = 30;

fn run_at(ws: &Workspace, at: &str) -> Run {
    let r = ws.rekindle(&["run", "--once", "--at", at]);
    assert_eq!(r.code, 0, "{:?} at {at}: {r:?}", ws.backend);
    r
}

/// Which steps each customer got (step, decision, message status), oldest first.
async fn steps(
    store: &Store,
    ids: &HashMap<String, i64>,
    customer: &str,
) -> Vec<(i64, String, Option<String>)> {
    let mut h = store.customer_history(ids[customer], 50).await.unwrap();
    h.retain(|r| r.rule == "win-back-series");
    h.reverse();
    h.into_iter()
        .map(|r| (r.step, r.decision, r.message_status))
        .collect()
}

fn sent(steps: &[i64]) -> Vec<(i64, String, Option<String>)> {
    steps
        .iter()
        .map(|s| (*s, "send".to_string(), Some("sent".to_string())))
        .collect()
}

fn is_code(code: &str) -> bool {
    let Some(rest) = code.strip_prefix("BACK-") else {
        return false;
    };
    rest.len() == 11
        && rest.chars().enumerate().all(|(i, c)| {
            if i == 5 {
                c == '-'
            } else {
                c.is_ascii_alphanumeric() && !"01OIL".contains(c) && !c.is_ascii_lowercase()
            }
        })
}

#[tokio::test]
async fn a_three_step_series_stops_for_each_reason_and_its_codes_redeem_once() {
    for backend in backends() {
        check_series(backend).await;
    }
}

async fn check_series(backend: Backend) {
    let ws = Workspace::with_config(backend, "[policy]\nmax_messages = 1\nper = \"7d\"\n");
    ws.write("rules/win-back-series.toml", SERIES);
    ws.write("rules/thanks.toml", THANKS);
    // A crowd lapsed since May 1; roles go to customers the holdout does not take.
    let mut customers = String::from(CUSTOMERS_HEADER);
    let mut events = String::from(EVENTS_HEADER);
    for i in 0..CROWD {
        customers.push_str(&format!(
            "\nc{i:02},Guest{i} Kovács,c{i}@example.com,+3630123{i:04},,UTC,yes,yes,"
        ));
        events.push_str(&format!("\nv{i:02},c{i:02},visit,2026-05-01T10:00:00Z,,"));
    }
    customers.push('\n');
    load(&ws, &customers, &events);
    let all: Vec<String> = (0..CROWD).map(|i| format!("c{i:02}")).collect();
    let (held, contacted): (Vec<&String>, Vec<&String>) = all
        .iter()
        .partition(|c| holdout_bucket("win-back-series", c) < HOLDOUT);
    assert!(!held.is_empty() && contacted.len() >= 6, "{held:?}");
    let [returns, redeems, unsubscribes, bounces, capped, regular] =
        [0, 1, 2, 3, 4, 5].map(|i| contacted[i].as_str());

    // Day 0: step 1 to everyone contacted, a code each; none for the held-out.
    run_at(&ws, "2026-06-01T12:00:00Z");
    run_at(&ws, "2026-06-01T12:00:00Z");
    let store = ws.store().await;
    let ids = store.customer_ids().await.unwrap();
    let mut codes = HashMap::new();
    for c in &contacted {
        let offers = store.customer_offers(c).await.unwrap();
        assert_eq!(offers.len(), 1, "{backend:?} {c}: {offers:?}");
        let o = &offers[0];
        assert!(is_code(&o.code), "{}", o.code);
        assert_eq!(o.percent, Some(10.0));
        assert_eq!(
            o.issued_at,
            Some(crate::rules_support::ts("2026-06-01T12:00:00Z"))
        );
        // Valid 21 days from the send, to the end of that day where the customer lives.
        assert_eq!(o.expires_at, crate::rules_support::ts("2026-06-22T23:59:59Z"));
        codes.insert(c.to_string(), o.code.clone());
    }
    for c in &held {
        assert!(
            store.customer_offers(c).await.unwrap().is_empty(),
            "{c} is held out"
        );
        assert_eq!(steps(&store, &ids, c).await, [(1, "held_out".to_string(), None)]);
    }
    let unique: std::collections::HashSet<&String> = codes.values().collect();
    assert_eq!(unique.len(), codes.len(), "codes are unique");
    // The email carries the code as rendered, with its local expiry date.
    let mails: Vec<String> = std::fs::read_dir(ws.path("outbox/email"))
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .replace("=\r\n", "")
        })
        .collect();
    assert_eq!(
        mails.len(),
        contacted.len(),
        "{backend:?}: one email each, after two runs"
    );
    let regular_code = &codes[regular];
    assert!(
        mails.iter().any(|m| m.contains(&format!(
            "10% off your next visit: {regular_code} (until 2026-06-22)"
        ))),
        "{backend:?}: {}",
        mails[0]
    );

    // Between the steps: one visits, one says no everywhere, one's email bounces.
    let mut later = String::from(EVENTS_HEADER);
    later.push_str(&format!("\nr1,{returns},visit,2026-06-04T10:00:00Z,,\n"));
    later.push_str(&format!("p1,{capped},purchase,2026-06-08T11:00:00Z,12.5,\n"));
    ws.write("later.csv", &later);
    assert_eq!(ws.rekindle(&["import", "events", "later.csv"]).code, 0);
    for ch in [rekindle::rules::Channel::Email, rekindle::rules::Channel::Sms] {
        assert!(store.unsubscribe(unsubscribes, ch, 1).await.unwrap());
    }
    let bounced = store
        .customer_history(ids[bounces], 5)
        .await
        .unwrap()
        .into_iter()
        .find_map(|r| r.message_id)
        .unwrap();
    assert!(
        store
            .record_receipt(bounced, Receipt::Bounced { code: Some("5.1.1") }, 2)
            .await
            .unwrap()
    );

    // Day 7 at the hour: step 2 (SMS) to those still in; the thank-you takes the capped one's
    // only message of the week, so their step 2 waits.
    run_at(&ws, "2026-06-08T11:59:59Z");
    assert_eq!(
        steps(&store, &ids, regular).await,
        sent(&[1]),
        "{backend:?}: not a second early"
    );
    run_at(&ws, "2026-06-08T12:00:00Z");
    run_at(&ws, "2026-06-08T12:00:00Z");
    assert_eq!(steps(&store, &ids, regular).await, sent(&[1, 2]), "{backend:?}");
    assert_eq!(steps(&store, &ids, redeems).await, sent(&[1, 2]), "{backend:?}");
    assert_eq!(
        steps(&store, &ids, returns).await,
        sent(&[1]),
        "{backend:?}: returned"
    );
    assert_eq!(
        steps(&store, &ids, unsubscribes).await,
        sent(&[1]),
        "{backend:?}: said no"
    );
    assert_eq!(
        steps(&store, &ids, bounces).await,
        [(1, "send".to_string(), Some("bounced".to_string()))],
        "{backend:?}: bounced"
    );
    assert_eq!(
        steps(&store, &ids, capped).await,
        sent(&[1]),
        "{backend:?}: deferred"
    );
    let sms = std::fs::read_to_string(ws.path("outbox/sms/sms.jsonl")).unwrap();
    assert!(
        sms.contains(&format!("Your code {regular_code} is still waiting, Guest")),
        "{backend:?}: {sms}"
    );

    // Day 8: the till redeems one code through an event's offer_code; a second time it is
    // refused (CLI), the CSV line says so and its event is still imported.
    let code = &codes[redeems];
    let mut till = String::from("id,customer_id,kind,occurred_at,amount,score,offer_code\n");
    till.push_str(&format!(
        "t1,{redeems},visit,2026-06-09T09:00:00Z,18.5,,{}\n",
        code.to_lowercase()
    ));
    till.push_str(&format!("t2,{redeems},visit,2026-06-09T10:00:00Z,4.0,,{code}\n"));
    till.push_str(&format!(
        "t3,{regular},call,2026-06-09T10:00:00Z,3.0,,BACK-ZZZZZ-ZZZZZ\n"
    ));
    ws.write("till.csv", &till);
    let r = ws.rekindle(&["import", "events", "till.csv"]);
    assert_eq!(r.code, 0, "{backend:?}: warnings do not reject rows: {r:?}");
    assert!(r.stdout.contains("imported 3"), "{r:?}");
    assert!(
        r.stderr
            .contains("till.csv:3: offer_code: already redeemed at 2026-06-09T09:00:00Z"),
        "{backend:?}: {r:?}"
    );
    assert!(
        r.stderr.contains("till.csv:4: offer_code: no such offer code"),
        "{r:?}"
    );
    // Importing the same file again redeems nothing twice and warns only where it did before.
    let again = ws.rekindle(&["import", "events", "till.csv"]);
    assert!(!again.stderr.contains("till.csv:2:"), "{again:?}");
    let r = ws.rekindle(&["offers", "redeem", code]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("already redeemed at 2026-06-09T09:00:00Z"),
        "{r:?}"
    );
    let r = ws.rekindle(&["offers", "show", code, "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(shown["customer"], redeems);
    assert_eq!(shown["redeemed_event"], "t1");
    assert_eq!(shown["redeemed_amount"], 18.5);

    // Day 14: step 3 for who is left; the capped customer's step 2 goes now.
    run_at(&ws, "2026-06-15T12:00:00Z");
    run_at(&ws, "2026-06-15T12:00:00Z");
    assert_eq!(
        steps(&store, &ids, regular).await,
        sent(&[1, 2, 3]),
        "{backend:?}"
    );
    assert_eq!(
        steps(&store, &ids, redeems).await,
        sent(&[1, 2]),
        "{backend:?}: redeemed"
    );
    assert_eq!(
        steps(&store, &ids, capped).await,
        sent(&[1, 2]),
        "{backend:?}: deferred step"
    );
    run_at(&ws, "2026-06-22T12:00:00Z");
    assert_eq!(steps(&store, &ids, capped).await, sent(&[1, 2, 3]), "{backend:?}");
    run_at(&ws, "2026-06-29T12:00:00Z");
    assert_eq!(
        steps(&store, &ids, regular).await,
        sent(&[1, 2, 3]),
        "{backend:?}: three, then let go"
    );

    // After the expiry day the code is refused; a day earlier it was fine.
    let r = ws.rekindle(&["offers", "redeem", &codes[capped], "--at", "2026-06-23T00:00:00Z"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("expired at 2026-06-22T23:59:59Z"), "{r:?}");
    let r = ws.rekindle(&[
        "offers",
        "redeem",
        &codes[regular],
        "--at",
        "2026-06-22T20:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{r:?}");

    // The one who returned lapses again: a new series with a new code.
    run_at(&ws, "2026-07-05T12:00:00Z");
    let theirs = store.customer_offers(returns).await.unwrap();
    assert_eq!(theirs.len(), 2, "{backend:?}: {theirs:?}");
    assert_ne!(theirs[0].code, theirs[1].code);
    assert_ne!(theirs[0].occurrence_key, theirs[1].occurrence_key);

    // The report: steps and offers, and conversions that include the redemption.
    let r = ws.rekindle(&[
        "report",
        "--until",
        "2026-07-05T12:00:00Z",
        "--format",
        "json",
        "--rule",
        "win-back-series",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rule = &report["rules"][0];
    let steps_json = rule["steps"].as_array().expect("steps");
    assert_eq!(steps_json.len(), 3);
    assert_eq!(
        steps_json[0]["sent"].as_i64().unwrap() as usize,
        contacted.len() + 1
    );
    let offers = &rule["offers"];
    assert_eq!(offers["redeemed"], 2, "{offers}");
    assert_eq!(offers["redeemed_revenue"], 18.5);
    store.close().await;
}
