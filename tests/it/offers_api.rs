//! Redeeming offer codes over HTTP against the real `serve`, on both backends: once only (also
//! when two tills ask at the same moment), 404 / 409 / 410 as documented, and an event's
//! `offer_code` redeeming it too. Also what `rules preview` shows before a code exists.

use serde_json::{Value, json};

use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};
use crate::serve::{API_TOKEN, ENV, api, metrics};
use crate::service::{Service, days_ago};

/// A one-message rule with an offer: a birthday-style "here is your code".
const RULE: &str = r#"id = "come-back"
name = "Come back with 5 off"
[trigger]
type = "inactive"
days = 30
[message]
channel = "email"
subject = "5 off for you"
body = "Show {{ offer.code }} at the till: {{ offer.amount }} off until {{ offer.expires_on }}."
[offer]
prefix = "CAFE"
amount = 5.0
valid = "14d"
"#;

fn workspace(backend: crate::helpers::Backend) -> Workspace {
    let mut ws = Workspace::with_config(backend, &crate::serve::config(""));
    ws.env = ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ws.write("rules/come-back.toml", RULE);
    let mut customers = String::from(CUSTOMERS_HEADER);
    let mut events = String::from(EVENTS_HEADER);
    for i in 0..4 {
        customers.push_str(&format!("\nk{i},Kati{i},k{i}@example.com,,,UTC,yes,,"));
        events.push_str(&format!("\nv{i},k{i},visit,{},,", days_ago(40)));
    }
    customers.push('\n');
    load(&ws, &customers, &events);
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_is_redeemed_once_over_http_and_refusals_say_why() {
    for backend in backends() {
        let ws = workspace(backend);
        // Before anything is sent, the preview shows the message with the code's placeholder.
        let r = ws.rekindle(&["rules", "preview", "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let first: Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
        assert_eq!(first["step"], 1);
        assert_eq!(first["subject"], "5 off for you");
        let body = first["body"].as_str().unwrap();
        assert!(
            body.starts_with("Show CAFE-XXXXX-XXXXX at the till: 5 off until "),
            "{body}"
        );

        let r = ws.rekindle(&["run", "--once"]);
        assert_eq!(r.code, 0, "{r:?}");
        let store = ws.store().await;
        let mut codes = Vec::new();
        for i in 0..4 {
            let o = store.customer_offers(&format!("k{i}")).await.unwrap();
            assert_eq!(o.len(), 1, "{backend:?}");
            assert!(o[0].issued_at.is_some());
            assert_eq!((o[0].amount, o[0].currency.as_deref()), (Some(5.0), Some("EUR")));
            codes.push(o[0].code.clone());
        }
        let svc = Service::start(&ws, &ENV);

        // Two tills, the same code, the same moment: one wins.
        let path = format!("/v1/offers/{}/redeem", codes[0].to_lowercase());
        let body = json!({"event_id": "till-1", "amount": 12.5});
        let (a, b) = tokio::join!(
            api(&svc, reqwest::Method::POST, &path, Some(body.clone())),
            api(&svc, reqwest::Method::POST, &path, Some(body.clone()))
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{backend:?}: {a:?} {b:?}");
        let won = if a.0 == 200 { &a.1 } else { &b.1 };
        assert_eq!(won["code"], codes[0].as_str());
        assert_eq!(won["customer"], "k0");
        assert_eq!(won["redeemed_amount"], 12.5);
        let lost = if a.0 == 409 { &a.1 } else { &b.1 };
        assert!(
            lost["error"]
                .as_str()
                .unwrap()
                .starts_with("already redeemed at "),
            "{lost}"
        );
        assert_eq!(lost["field"], "code");

        let (status, body) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/offers/CAFE-ZZZZZ-ZZZZZ/redeem",
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("no such offer code"))
        );
        // Past its expiry: gone (a business may accept that with [offers] accept_expired).
        let late = json!({"at": days_ago(-20)});
        let path = format!("/v1/offers/{}/redeem", codes[1]);
        let (status, body) = api(&svc, reqwest::Method::POST, &path, Some(late)).await;
        assert_eq!(status, 410, "{body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("expired at "),
            "{body}"
        );
        // Bad input names its field.
        let (status, body) = api(
            &svc,
            reqwest::Method::POST,
            &path,
            Some(json!({"at": "yesterday"})),
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("at")), "{body}");
        let (status, body) = api(
            &svc,
            reqwest::Method::POST,
            &path,
            Some(json!({"amount": "lots"})),
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("amount")), "{body}");
        let (status, body) = api(&svc, reqwest::Method::POST, &path, Some(json!({"tip": 1}))).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("tip")), "{body}");
        // Without a token nothing is redeemed.
        let anon = crate::serve::client().post(svc.url(&path)).send().await.unwrap();
        assert_eq!(anon.status(), 401);
        assert_ne!(API_TOKEN, "");

        // An event carrying the code redeems it; a second event with it is stored, with a warning.
        let events = json!([
            {"id": "e1", "customer_id": "k2", "kind": "visit", "occurred_at": days_ago(0), "amount": 9.0, "offer_code": codes[2]},
            {"id": "e2", "customer_id": "k2", "kind": "visit", "occurred_at": days_ago(0), "offer_code": codes[2]},
        ]);
        let (status, body) = api(&svc, reqwest::Method::POST, "/v1/events", Some(events)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"], 2);
        assert_eq!(body["warnings"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body["warnings"][0]["event_id"], "e2");
        let path = format!("/v1/offers/{}/redeem", codes[2]);
        let (status, _) = api(&svc, reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 409);
        let shown = store.offer(&codes[2]).await.unwrap().unwrap();
        assert_eq!(
            (shown.redeemed_event.as_deref(), shown.redeemed_amount),
            (Some("e1"), Some(9.0))
        );

        let m = metrics(&svc).await;
        assert!(
            m.lines()
                .any(|l| l.starts_with("rekindle_offers_redeemed_total{rule=\"come-back\"} 2")),
            "{backend:?}: {m}"
        );

        // Erasure: the code stops working and stops naming anyone; the counts stay.
        let (status, _) = api(&svc, reqwest::Method::DELETE, "/v1/customers/k3", None).await;
        assert_eq!(status, 204);
        let path = format!("/v1/offers/{}/redeem", codes[3]);
        let (status, _) = api(&svc, reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 404);
        assert!(store.offer(&codes[3]).await.unwrap().is_none());
        drop(svc);
        let r = ws.rekindle(&["report", "--format", "json"]);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["rules"][0]["offers"]["issued"], 4, "{backend:?}: {report}");
        assert_eq!(report["rules"][0]["offers"]["redeemed"], 2);
        assert_eq!(report["rules"][0]["offers"]["redeemed_revenue"], 21.5);
        store.close().await;
    }
}

/// A café that starts with birthday codes and loads its till's history afterwards: the first
/// events import goes into an empty table (PostgreSQL's bulk load, where what rows set off waits
/// for the commit), and its `offer_code` still redeems the code and names bad lines.
#[tokio::test]
async fn the_first_events_import_redeems_codes_too() {
    for backend in backends() {
        let mut ws = Workspace::with_config(backend, &crate::serve::config(""));
        ws.env = ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ws.write(
            "rules/birthday.toml",
            &RULE
                .replace("id = \"come-back\"", "id = \"birthday\"")
                .replace("type = \"inactive\"\ndays = 30", "type = \"birthday\""),
        );
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let birthday = format!("1990-{:02}-{:02}", today.month(), today.day());
        let customers = format!("{CUSTOMERS_HEADER}\nb1,Bori,b1@example.com,,{birthday},UTC,yes,,\n");
        ws.write("customers.csv", &customers);
        assert_eq!(ws.rekindle(&["import", "customers", "customers.csv"]).code, 0);
        let r = ws.rekindle(&["run", "--once"]);
        assert_eq!(r.code, 0, "{r:?}");
        let store = ws.store().await;
        let offers = store.customer_offers("b1").await.unwrap();
        assert_eq!(offers.len(), 1, "{backend:?}: {r:?}");
        assert!(offers[0].issued_at.is_some(), "{backend:?}");

        let till = format!(
            "id,customer_id,kind,occurred_at,amount,score,offer_code\n\
             t1,b1,visit,{},12.0,,{}\nt2,b1,visit,{},3.0,,CAFE-ZZZZZ-ZZZZZ\n",
            days_ago(0),
            offers[0].code,
            days_ago(0)
        );
        ws.write("till.csv", &till);
        let r = ws.rekindle(&["import", "events", "till.csv"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        assert_eq!(
            r.stdout.trim(),
            "imported 2, updated 0, rejected 0",
            "{backend:?}"
        );
        assert!(
            r.stderr.contains("till.csv:3: offer_code: no such offer code"),
            "{backend:?}: {r:?}"
        );
        let offers = store.customer_offers("b1").await.unwrap();
        assert_eq!(offers[0].redeemed_event.as_deref(), Some("t1"), "{backend:?}");
        assert_eq!(offers[0].redeemed_amount, Some(12.0), "{backend:?}");
        store.close().await;
    }
}
