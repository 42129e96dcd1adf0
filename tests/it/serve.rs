//! `rekindle serve` as operations run it: the real binary on a free port, driven over HTTP.

use std::time::Duration;

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{Backend, Workspace, backends};
use crate::http_server::{Answer, HttpServer};
use crate::service::{Service, days_ago, eventually};

pub(crate) const API_TOKEN: &str = "test-api-token";
const TWILIO_TOKEN: &str = "twilio-auth-token";
pub(crate) const LINK_SECRET: &str = crate::helpers::TEST_LINK_SECRET;
pub(crate) const PUBLIC_URL: &str = "https://rekindle.example";

pub(crate) const ENV: [(&str, &str); 3] = [
    ("REKINDLE_API_TOKENS", API_TOKEN),
    ("REKINDLE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
    ("REKINDLE_LINK_SECRET", LINK_SECRET),
];

/// A win-back rule evaluated every two seconds, so tests do not wait for a real schedule.
pub(crate) fn rule(channel: &str, body: &str) -> String {
    let subject = if channel == "email" {
        "subject = \"We miss you\"\n"
    } else {
        ""
    };
    format!(
        r#"id = "win-back"
name = "Win back"
schedule = "*/2 * * * * *"
[trigger]
type = "inactive"
days = 30
[message]
channel = "{channel}"
{subject}body = "{body}"
[goal]
events = ["visit"]
within = "14d"
"#
    )
}

/// Quiet hours off (tests run at any hour) and a free port.
pub(crate) fn config(extra: &str) -> String {
    format!(
        "public_url = \"{PUBLIC_URL}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[quiet_hours]\nsms = \"\"\nemail = \"\"\n\
         [serve]\nreload_poll = \"1s\"\nshutdown_grace = \"3s\"\n{extra}"
    )
}

fn twilio_config(server: &HttpServer) -> String {
    format!(
        "[sms]\nprovider = \"twilio\"\n[sms.twilio]\nbase_url = \"{}\"\naccount_sid = \"AC1\"\nfrom = \"+15550001111\"\n",
        server.url()
    )
}

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn twilio_created() -> Answer {
    (201, vec![], r#"{"sid": "SM42", "status": "queued"}"#.into())
}

/// Twilio's signature, computed here independently of the service's own code.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by_key(|(k, _)| *k);
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn twilio_post(svc: &Service, params: &[(&str, &str)], signature: Option<String>) -> u16 {
    let signature =
        signature.unwrap_or_else(|| twilio_signature(&format!("{PUBLIC_URL}/webhooks/twilio"), params));
    client()
        .post(svc.url("/webhooks/twilio"))
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn api(
    svc: &Service,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, svc.url(path)).bearer_auth(API_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The service's Prometheus text.
pub(crate) async fn metrics(svc: &Service) -> String {
    client()
        .get(svc.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Records a visit 40 days ago: the customer has lapsed for a 30-day win-back rule.
pub(crate) async fn lapsed_visit(svc: &Service, event_id: impl std::fmt::Display, customer: &str) {
    let event = json!([{"id": event_id.to_string(), "customer_id": customer, "kind": "visit", "occurred_at": days_ago(40)}]);
    let (status, body) = api(svc, reqwest::Method::POST, "/v1/events", Some(event)).await;
    assert_eq!(status, 200, "{body}");
}

pub(crate) async fn status_counts(store: &rekindle::store::Store) -> Vec<(String, i64)> {
    store.message_status_counts().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_evaluate_deliver_receipt_report() {
    for backend in backends() {
        let twilio = HttpServer::start(twilio_created());
        let ws = Workspace::with_config(backend, &config(&twilio_config(&twilio)));
        ws.write(
            "rules/win-back.toml",
            &rule("sms", "Come back, {{ customer.first_name }}!"),
        );
        let svc = Service::start(&ws, &ENV);

        let (status, body) = api(
            &svc,
            reqwest::Method::PUT,
            "/v1/customers/ben",
            Some(json!({"name": "Ben Ito", "phone": "+1 555 010 9999", "consent_sms": true})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["phone"], "+15550109999", "stored normalised");
        let (status, body) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/events",
            Some(json!({"events": [{"id": "v1", "customer_id": "ben", "kind": "visit", "occurred_at": days_ago(40)}]})),
        )
        .await;
        assert_eq!((status, body["accepted"].as_i64()), (200, Some(1)), "{body}");

        // The rule's next tick finds Ben lapsed; the worker sends the SMS.
        let store = ws.store().await;
        let sent = eventually(Duration::from_secs(30), "the SMS to be sent", || async {
            status_counts(&store).await.into_iter().find(|(s, _)| s == "sent")
        })
        .await;
        assert_eq!(sent.1, 1);
        let requests = twilio.requests();
        assert_eq!(requests.len(), 1, "{:?}", backend);
        assert!(
            requests[0].body.contains("Come+back%2C+Ben"),
            "{}",
            requests[0].body
        );

        // A forged callback is refused and changes nothing.
        let delivered = [("MessageSid", "SM42"), ("MessageStatus", "delivered")];
        assert_eq!(twilio_post(&svc, &delivered, Some("Zm9yZ2Vk".into())).await, 403);
        assert_eq!(status_counts(&store).await, [("sent".to_string(), 1)]);
        // The genuine one moves it to delivered; a duplicate and a late "sent" change nothing.
        assert_eq!(twilio_post(&svc, &delivered, None).await, 200);
        assert_eq!(twilio_post(&svc, &delivered, None).await, 200);
        assert_eq!(
            twilio_post(&svc, &[("MessageSid", "SM42"), ("MessageStatus", "sent")], None).await,
            200
        );
        assert_eq!(status_counts(&store).await, [("delivered".to_string(), 1)]);
        let m = store.message_by_provider_ref("SM42").await.unwrap().unwrap();
        let history = store.message_history(m.id).await.unwrap();
        let deliveries = history.iter().filter(|(s, _, _)| s == "delivered").count();
        assert_eq!(deliveries, 1, "{history:?}");

        // Ben comes back (a visit in the same second as the send would not count): the next
        // tick marks the conversion, and no second SMS goes out.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, _) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/events",
            Some(json!([{"id": "v2", "customer_id": "ben", "kind": "visit", "occurred_at": days_ago(0)}])),
        )
        .await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(twilio.requests().len(), 1, "one occurrence, one message");
        let metrics = metrics(&svc).await;
        assert!(
            metrics.contains("rekindle_deliveries_total{channel=\"sms\",status=\"sent\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("rekindle_receipts_total{channel=\"sms\",status=\"delivered\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("rekindle_evaluations_total{rule=\"win-back\""),
            "{metrics}"
        );

        let log = svc.log();
        assert_eq!(svc.stop(Duration::from_secs(20)), 0);
        assert!(
            !log.contains("+15550109999") && !log.contains("Come back"),
            "no phone or body in the log:\n{log}"
        );
        let r = ws.rekindle(&["report", "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        let wb = report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "win-back")
            .unwrap();
        assert_eq!(
            (wb["contacted"].as_i64(), wb["contacted_converted"].as_i64()),
            (Some(1), Some(1)),
            "{wb}"
        );
        assert_eq!(wb["messages"]["delivered"], 1, "{wb}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_needs_a_token_and_names_what_is_wrong() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 4096\n",
    );
    ws.write("rules/win-back.toml", &rule("sms", "Hi"));

    // No token configured: the API refuses everything, even a plausible token.
    let open = Service::start(&ws, &[]);
    let r = client()
        .get(open.url("/v1/customers/x"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("REKINDLE_API_TOKENS"));
    assert_eq!(open.stop(Duration::from_secs(20)), 0);

    let svc = Service::start(&ws, &[("REKINDLE_API_TOKENS", "one,two")]);
    let get = |token: Option<&'static str>| {
        let mut req = client().get(svc.url("/v1/customers/x"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("three")).await, 401);
    assert_eq!(get(Some("on")).await, 401);
    assert_eq!(get(Some("two")).await, 404, "a valid token reaches the handler");

    let send = |method: reqwest::Method, path: &'static str, body: String| {
        let req = client()
            .request(method, svc.url(path))
            .bearer_auth("one")
            .header("content-type", "application/json")
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, body) = send(reqwest::Method::POST, "/v1/events", "{\"events\": [".into()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("malformed JSON"),
        "{body}"
    );
    let (status, body) = send(
        reqwest::Method::POST,
        "/v1/events",
        format!("[\"{}\"]", "x".repeat(5000)),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string(), "a JSON error: {body}");
    let (status, body) = send(
        reqwest::Method::PUT,
        "/v1/customers/ann",
        json!({"email": "not an address", "consent_email": true}).to_string(),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("email")), "{body}");
    let (status, body) = send(
        reqwest::Method::PUT,
        "/v1/customers/ann",
        json!({"email": "ann@example.com", "consent_email": "maybe"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("consent_email")),
        "{body}"
    );
    let store = ws.store().await;
    assert!(
        store.customer_by_external_id("ann").await.unwrap().is_none(),
        "nothing half-written"
    );

    let (status, _) = send(
        reqwest::Method::PUT,
        "/v1/customers/ann",
        json!({"email": "ann@example.com"}).to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(
        reqwest::Method::POST,
        "/v1/events",
        json!({"events": [
            {"id": "e1", "customer_id": "ann", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z"},
            {"id": "e2", "customer_id": "ann", "kind": "visit", "occurred_at": "yesterday"},
            {"id": "e3", "customer_id": "bob", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z"},
            {"id": "e4", "customer_id": "ann", "occurred_at": "2026-05-01T10:00:00Z"}
        ]})
        .to_string(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["accepted"], 1);
    let rejected: Vec<(i64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_i64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(1, "occurred_at"), (2, "customer_id"), (3, "kind")]);
    // The same batch again stores nothing twice (idempotent by event id).
    let (status, _) = send(
        reqwest::Method::POST,
        "/v1/events",
        json!([{"id": "e1", "customer_id": "ann", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z"}])
            .to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(store.count_events().await.unwrap(), 1);
    let r = client().get(svc.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

/// Reads the `.eml` files of the email outbox, with quoted-printable soft breaks undone.
pub(crate) fn outbox_emails(ws: &Workspace) -> Vec<String> {
    let dir = ws.path("outbox/email");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .replace("=\r\n", "")
                .replace("=3D", "=")
                .replace("&#x2f;", "/")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unsubscribe_click_and_open_links_are_signed_and_work() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &config("[business]\nname = \"Café <Aroma> & Co\"\naddress = \"Baross út 1, 9021 Győr\"\n"),
    );
    ws.write(
        "rules/win-back.toml",
        &rule(
            "email",
            "Book your table at https://cafe.example/book?via=mail, see you!",
        ),
    );
    let svc = Service::start(&ws, &ENV);
    let (status, _) = api(
        &svc,
        reqwest::Method::PUT,
        "/v1/customers/ann",
        Some(json!({"name": "Ann <b>Lee</b>", "email": "ann@example.com", "consent_email": true, "language": "hu"})),
    )
    .await;
    assert_eq!(status, 201);
    lapsed_visit(&svc, "v1", "ann").await;
    let email = eventually(Duration::from_secs(30), "the email", || async {
        outbox_emails(&ws).pop()
    })
    .await;

    let signer = rekindle::links::LinkSigner::new(PUBLIC_URL, LINK_SECRET.as_bytes());
    let store = ws.store().await;
    eventually(Duration::from_secs(10), "the ledger to say sent", || async {
        store
            .message_status_counts()
            .await
            .unwrap()
            .iter()
            .any(|(s, _)| s == "sent")
            .then_some(())
    })
    .await;
    let id = 1;
    let unsubscribe = signer.url(rekindle::links::LinkKind::Unsubscribe, id);
    let click = signer.click_url(id, 0);
    let open = signer.url(rekindle::links::LinkKind::Open, id);
    assert!(
        email.contains(&format!("List-Unsubscribe: <{unsubscribe}>")),
        "{email}"
    );
    assert!(
        email.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{email}"
    );
    assert!(email.contains(&click), "the link is tracked: {email}");
    assert!(
        !email.contains("href=\"https://cafe.example"),
        "links go through tracking: {email}"
    );
    assert!(
        email.contains("Book your table at https://rekindle.example/c/"),
        "{email}"
    );
    assert!(email.contains(&open), "{email}");
    // Who sent it, under every email (bulk-mail rules expect the postal address).
    // (quoted-printable: é is =C3=A9), as text and escaped in the HTML part.
    let unfolded = email.replace("=\r\n", "").replace("=\n", "");
    assert!(
        unfolded.contains("Caf=C3=A9 <Aroma> & Co\r\nBaross =C3=BAt 1, 9021 Gy=C5=91r")
            || unfolded.contains("Caf=C3=A9 <Aroma> & Co\nBaross =C3=BAt 1, 9021 Gy=C5=91r"),
        "{email}"
    );
    assert!(
        unfolded.contains("Caf=C3=A9 &lt;Aroma&gt; &amp; Co</strong><br>Baross"),
        "{email}"
    );
    let local = |url: &str| svc.url(url.strip_prefix(PUBLIC_URL).unwrap());
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The click goes to the URL that was in the message, and only there.
    let r = no_redirects.get(local(&click)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "https://cafe.example/book?via=mail");
    let forged = local(&click).replace("/c/1-0.", "/c/1-1.");
    assert_eq!(
        no_redirects.get(forged).send().await.unwrap().status().as_u16(),
        404
    );
    let r = client().get(local(&open)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/gif");

    // A GET shows a page and unsubscribes no one; a tampered token is refused.
    let page = client().get(local(&unsubscribe)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    // In the customer's language, naming the business (escaped).
    let html = page.text().await.unwrap();
    assert!(html.contains("method=\"post\""), "{html}");
    assert!(
        html.contains("<html lang=\"hu\">") && html.contains(">Leiratkozom</button>"),
        "{html}"
    );
    assert!(
        html.contains("Café &lt;Aroma&gt; &amp; Co") && html.contains("Baross út 1"),
        "{html}"
    );
    assert!(
        store
            .customer_by_external_id("ann")
            .await
            .unwrap()
            .unwrap()
            .unsubscribed_email_at
            .is_none()
    );
    let tampered = local(&unsubscribe).replace("/u/1.", "/u/2.");
    let r = client()
        .post(tampered)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(
        store
            .customer_by_external_id("ann")
            .await
            .unwrap()
            .unwrap()
            .unsubscribed_email_at
            .is_none()
    );
    // RFC 8058: the POST, without cookies or auth, takes effect at once with a 200.
    let r = no_redirects
        .post(local(&unsubscribe))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Sikeresen leiratkozott"));
    let ann = store.customer_by_external_id("ann").await.unwrap().unwrap();
    assert!(ann.unsubscribed_email_at.is_some() && ann.unsubscribed_sms_at.is_none());
    let history = store.message_history(id).await.unwrap();
    let clicks = history.iter().filter(|(s, _, _)| s == "clicked").count();
    assert_eq!(clicks, 1, "{history:?}");
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_forgets_the_person_but_keeps_counts_and_the_opt_out() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, &config(""));
        ws.write(
            "rules/win-back.toml",
            &rule("email", "Hello {{ customer.first_name }}"),
        );
        let svc = Service::start(&ws, &ENV);
        let put = |body: Value| api(&svc, reqwest::Method::PUT, "/v1/customers/ann", Some(body));
        assert_eq!(
            put(json!({"name": "Ann Lee", "email": "Ann@Example.com", "consent_email": true}))
                .await
                .0,
            201
        );
        lapsed_visit(&svc, "v1", "ann").await;
        eventually(Duration::from_secs(30), "the email", || async {
            outbox_emails(&ws).pop()
        })
        .await;
        let (status, body) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/customers/ann/unsubscribe",
            Some(json!({"channel": "email"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["unsubscribed_email_at"].is_string() && body["unsubscribed_sms_at"].is_null());

        let (status, _) = api(&svc, reqwest::Method::DELETE, "/v1/customers/ann", None).await;
        assert_eq!(status, 204);
        assert_eq!(
            api(&svc, reqwest::Method::GET, "/v1/customers/ann", None).await.0,
            404
        );
        assert_eq!(
            api(&svc, reqwest::Method::DELETE, "/v1/customers/ann", None)
                .await
                .0,
            404
        );
        let store = ws.store().await;
        assert_eq!(store.count_events().await.unwrap(), 0, "events are gone");
        let counts = store.message_status_counts().await.unwrap();
        assert_eq!(counts, [("sent".to_string(), 1)], "the outcome still counts");
        let (body, _) = store.message_links(1).await.unwrap().unwrap();
        assert_eq!(body, "", "no rendered text is kept");
        // Sent just now: the send still counts, inside its goal window until that closes.
        let r = ws.rekindle(&["report", "--format", "json"]);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        let rule = &report["rules"][0];
        assert_eq!(rule["decisions"]["send"], 1, "{r:?}");
        assert_eq!(rule["open_window"], 1, "{r:?}");
        let r = ws.rekindle(&["report", "--format", "json", "--until", "2100-01-01"]);
        assert!(r.stdout.contains("\"contacted\": 1"), "{r:?}");

        // Re-created with the same address (in another case): still unsubscribed.
        let (status, body) =
            put(json!({"name": "Ann", "email": "ann@example.com", "consent_email": true})).await;
        assert_eq!(status, 201, "{body}");
        assert!(body["unsubscribed_email_at"].is_string(), "{body}");
        assert_eq!(svc.stop(Duration::from_secs(20)), 0);
        // And through the CSV import as well.
        ws.write(
            "c.csv",
            "id,email,consent_email\nann2,ann@example.com,yes\nbob,bob@example.com,yes\n",
        );
        assert_eq!(ws.rekindle(&["import", "customers", "c.csv"]).code, 0);
        let ann2 = store.customer_by_external_id("ann2").await.unwrap().unwrap();
        let bob = store.customer_by_external_id("bob").await.unwrap().unwrap();
        assert!(ann2.unsubscribed_email_at.is_some() && bob.unsubscribed_email_at.is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_replies_receipts_and_bounces_change_the_right_things() {
    let twilio = HttpServer::start(twilio_created());
    let gateway_secret = "gateway-secret";
    let ws = Workspace::with_config(Backend::Sqlite, &config(&twilio_config(&twilio)));
    ws.write("rules/win-back.toml", &rule("sms", "Hi"));
    let mut env = ENV.to_vec();
    env.push(("REKINDLE_SMS_WEBHOOK_SECRET", gateway_secret));
    let svc = Service::start(&ws, &env);
    for (id, phone) in [("ann", "+15550100001"), ("bob", "+15550100002")] {
        let (status, _) = api(
            &svc,
            reqwest::Method::PUT,
            &format!("/v1/customers/{id}"),
            Some(json!({"phone": phone, "consent_sms": true, "email": format!("{id}@example.com"), "consent_email": true})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let store = ws.store().await;
    let sms_unsubscribed = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .customer_by_external_id(id)
                .await
                .unwrap()
                .unwrap()
                .unsubscribed_sms_at
                .is_some()
        }
    };
    let svc_ref = &svc;
    let inbound = |from: &'static str, body: &'static str| async move {
        twilio_post(
            svc_ref,
            &[("From", from), ("To", "+15550001111"), ("Body", body)],
            None,
        )
        .await
    };
    assert_eq!(inbound("+15550100001", "  stop ").await, 200);
    assert!(sms_unsubscribed("ann").await && !sms_unsubscribed("bob").await);
    assert_eq!(inbound("+15550100001", "HELP").await, 200);
    assert!(sms_unsubscribed("ann").await, "HELP changes nothing");
    assert_eq!(inbound("+15550100001", "Start").await, 200);
    assert!(!sms_unsubscribed("ann").await);
    // Spaces are ignored, as the README says: phones and people insert them.
    assert_eq!(inbound("+15550100001", " s t o p ").await, 200);
    assert!(sms_unsubscribed("ann").await);
    assert_eq!(inbound("+15550100001", "START").await, 200);
    assert!(!sms_unsubscribed("ann").await);
    // Twilio's own classification wins over the words.
    let params = [
        ("From", "+15550100002"),
        ("Body", "arrêtez"),
        ("OptOutType", "STOP"),
    ];
    assert_eq!(twilio_post(&svc, &params, None).await, 200);
    assert!(sms_unsubscribed("bob").await);
    // A forged opt-in is refused.
    let forged = [("From", "+15550100002"), ("Body", "START")];
    assert_eq!(
        twilio_post(&svc, &forged, Some(twilio_signature(PUBLIC_URL, &forged))).await,
        403
    );
    assert!(sms_unsubscribed("bob").await);

    // Ann lapses and gets an SMS; a gateway-style receipt needs its signature.
    lapsed_visit(&svc, "a1", "ann").await;
    eventually(Duration::from_secs(30), "the SMS", || async {
        store
            .message_status_counts()
            .await
            .unwrap()
            .iter()
            .any(|(s, _)| s == "sent")
            .then_some(())
    })
    .await;
    // An undelivered callback with Twilio's "unsubscribed" error fails it and opts Ann out.
    let undelivered = [
        ("MessageSid", "SM42"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "21610"),
    ];
    assert_eq!(twilio_post(&svc, &undelivered, None).await, 200);
    assert_eq!(
        store.message_status_counts().await.unwrap(),
        [("failed".to_string(), 1)]
    );
    assert!(sms_unsubscribed("ann").await);
    let delivered_late = [("MessageSid", "SM42"), ("MessageStatus", "delivered")];
    assert_eq!(twilio_post(&svc, &delivered_late, None).await, 200);
    assert_eq!(
        store.message_status_counts().await.unwrap(),
        [("failed".to_string(), 1)],
        "a late callback never moves a status backwards"
    );

    let receipt = json!({"id": "rekindle-1", "status": "delivered"}).to_string();
    let post_gateway = |signature: String| {
        let req = client()
            .post(svc.url("/webhooks/gateway"))
            .header("X-Rekindle-Signature", signature)
            .body(receipt.clone());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post_gateway("sha256=00".into()).await, 403);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(gateway_secret.as_bytes()).unwrap();
    mac.update(receipt.as_bytes());
    let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    // Signed but about a message that is the Twilio one: found by reference, or 404.
    assert_eq!(post_gateway(good).await, 404);

    // A bounce report needs the API token, and names the Message-ID it did not find.
    let bounce = json!({"message_id": "<rekindle.99@localhost>", "type": "hard"});
    let r = client()
        .post(svc.url("/webhooks/bounce"))
        .json(&bounce)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, body) = api(&svc, reqwest::Method::POST, "/webhooks/bounce", Some(bounce)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("message_id")),
        "{body}"
    );
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_rule_file_is_refused_and_the_running_rules_keep_going() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Version one"));
    let svc = Service::start(&ws, &ENV);
    let typo = rule("email", "Version zero").replace("type = \"inactive\"", "type = \"inactve\"");
    ws.write("rules/win-back.toml", &typo);
    eventually(
        Duration::from_secs(15),
        "the rejected reload in the log",
        || async { svc.log().contains("the rules were NOT reloaded").then_some(()) },
    )
    .await;
    let log = svc.log();
    assert!(
        log.contains("win-back.toml:5:8"),
        "FILE:LINE:COL in the log:\n{log}"
    );
    let text = metrics(&svc).await;
    assert!(
        text.contains("rekindle_rule_reloads_total{result=\"rejected\"} 1"),
        "{text}"
    );
    let ready = client().get(svc.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200, "still ready: the old rules run");

    // The old rule still evaluates and sends.
    let svc_ref = &svc;
    let customer = |id: &'static str| async move {
        api(
            svc_ref,
            reqwest::Method::PUT,
            &format!("/v1/customers/{id}"),
            Some(json!({"email": format!("{id}@example.com"), "consent_email": true})),
        )
        .await;
        lapsed_visit(svc_ref, format!("{id}-v"), id).await;
    };
    customer("ann").await;
    eventually(Duration::from_secs(30), "the first email", || async {
        outbox_emails(&ws)
            .iter()
            .any(|e| e.contains("Version one"))
            .then_some(())
    })
    .await;

    // A fixed file is picked up on SIGHUP and the new text goes out from then on.
    ws.write("rules/win-back.toml", &rule("email", "Version two"));
    svc.signal("HUP");
    eventually(Duration::from_secs(15), "the reload", || async {
        let metrics = metrics(&svc).await;
        metrics
            .contains("rekindle_rule_reloads_total{result=\"ok\"}")
            .then_some(())
    })
    .await;
    customer("bob").await;
    eventually(Duration::from_secs(30), "the second email", || async {
        outbox_emails(&ws)
            .iter()
            .any(|e| e.contains("Version two") && e.contains("bob@example.com"))
            .then_some(())
    })
    .await;
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_tick_runs_once_at_start_up() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    // Yearly on 1 January: never due during the test unless it was missed.
    let yearly = rule("email", "Happy new year").replace("*/2 * * * * *", "0 9 1 1 *");
    ws.write("rules/win-back.toml", &yearly);
    let store = ws.store().await;
    let first = Service::start(&ws, &ENV);
    api(
        &first,
        reqwest::Method::PUT,
        "/v1/customers/ann",
        Some(json!({"email": "ann@example.com", "consent_email": true})),
    )
    .await;
    lapsed_visit(&first, "v", "ann").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(first.stop(Duration::from_secs(20)), 0);
    assert!(
        outbox_emails(&ws).is_empty(),
        "a first start has nothing to catch up"
    );

    // The service last ran the rule two years ago: the ticks since then were missed.
    let two_years_ago = jiff::Timestamp::now().as_second() - 2 * 366 * 86_400;
    assert!(
        store
            .claim_tick("win-back", two_years_ago, "old", two_years_ago)
            .await
            .unwrap()
    );
    let second = Service::start(&ws, &ENV);
    eventually(Duration::from_secs(30), "the catch-up email", || async {
        outbox_emails(&ws).pop()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(second.stop(Duration::from_secs(20)), 0);
    let ticks = store.last_ticks().await.unwrap();
    let latest = ticks["win-back"];
    assert!(latest > two_years_ago && latest < jiff::Timestamp::now().as_second());
    assert_eq!(
        outbox_emails(&ws).len(),
        1,
        "one catch-up, not one per missed tick"
    );
}

/// A tick creates the messages of only the decisions it recorded itself; one that died between
/// recording its decisions and creating their messages left sends behind that no later tick
/// records again. The next start looks at the whole ledger and sends them.
#[tokio::test(flavor = "multi_thread")]
async fn a_send_decision_left_without_its_message_goes_out_after_the_next_start() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, &config(""));
        ws.write("rules/win-back.toml", &rule("email", "Your table is waiting"));
        crate::helpers::load_lapsed(&ws, 2, |i| format!("c{i}@example.com,,,UTC,yes,"));
        // The decisions, recorded two hours ago by a tick that died before queueing them.
        let r = ws.rekindle(&["evaluate"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        let store = ws.store().await;
        let backdate = "UPDATE decisions SET recorded_at = recorded_at - 7200";
        let backdated = match &store {
            rekindle::store::Store::Sqlite(p) => {
                sqlx::query(backdate).execute(p).await.unwrap().rows_affected()
            }
            rekindle::store::Store::Postgres(p) => {
                sqlx::query(backdate).execute(p).await.unwrap().rows_affected()
            }
        };
        assert_eq!(backdated, 2, "{backend:?}: two send decisions");
        assert_eq!(store.message_status_counts().await.unwrap(), []);

        let svc = Service::start(&ws, &ENV);
        eventually(Duration::from_secs(30), "both emails", || async {
            (outbox_emails(&ws).len() == 2).then_some(())
        })
        .await;
        assert_eq!(svc.stop(Duration::from_secs(20)), 0);
        assert_eq!(
            store.message_status_counts().await.unwrap(),
            [("sent".to_string(), 2)],
            "{backend:?}"
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_deliveries_finish_and_loses_nothing() {
    use crate::smtp_server::{AfterData, SmtpServer};
    let smtp = SmtpServer::start();
    // The first message stalls past the grace period; the others take a moment each.
    smtp.script([AfterData::Stall(Duration::from_secs(20))]);
    smtp.script(std::iter::repeat_n(
        AfterData::Slow(Duration::from_millis(300)),
        40,
    ));
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &config(&format!(
            "[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\n[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             timeout = \"30s\"\n[delivery]\nconcurrency = 2\n[policy]\nmax_messages = 5\n",
            smtp.port()
        )),
    );
    ws.write("rules/win-back.toml", &rule("email", "Hello"));
    crate::helpers::load_lapsed(&ws, 20, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let accepted = || smtp.state.lock().unwrap().accepted.len();

    let svc = Service::start(&ws, &ENV);
    let store = ws.store().await;
    eventually(Duration::from_secs(60), "a few deliveries", || async {
        (accepted() >= 3).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(svc.stop(Duration::from_secs(20)), 0, "a clean stop exits 0");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the grace period"
    );
    let counts = store.message_status_counts().await.unwrap();
    assert!(
        !counts.iter().any(|(s, _)| s == "sending"),
        "nothing left claimed: {counts:?}"
    );
    let sent: i64 = counts.iter().filter(|(s, _)| s == "sent").map(|(_, n)| n).sum();
    assert_eq!(
        sent as usize,
        accepted(),
        "every accepted message is recorded as sent"
    );
    assert!(sent < 20, "the stop came mid-way: {counts:?}");
    // The batch was claimed whole; what the stop kept from starting goes back uncounted,
    // and only the message cut off mid-send is marked as perhaps sent.
    let mut never_started = 0;
    for id in 1..=20 {
        match store.message_attempts(id).await.unwrap() {
            (0, false) => never_started += 1,
            (1, _) => {}
            other => panic!("message {id}: attempts and outcome_unknown {other:?}"),
        }
    }
    assert_eq!(
        never_started as i64,
        20 - sent - 1,
        "all but the sent and the cut-off one were never attempted"
    );

    // The next start delivers the rest, the cut-off one included, each accepted once.
    let again = Service::start(&ws, &ENV);
    eventually(Duration::from_secs(60), "every message", || async {
        let c = store.message_status_counts().await.unwrap();
        (c == [("sent".to_string(), 20)]).then_some(())
    })
    .await;
    assert_eq!(again.stop(Duration::from_secs(20)), 0);
    let state = smtp.state.lock().unwrap();
    let mut recipients: Vec<String> = state
        .accepted
        .iter()
        .filter_map(|m| m.lines().find(|l| l.starts_with("To: ")).map(str::to_string))
        .collect();
    assert_eq!(recipients.len(), 20);
    recipients.sort();
    recipients.dedup();
    assert_eq!(
        recipients.len(),
        20,
        "each customer's message accepted exactly once"
    );
}

/// A stop does not wait for a tick: a first pass over a large book outlasts the grace period
/// and systemd's stop timeout. The abandoned tick is given back, and the next start runs it
/// as a missed tick. (PostgreSQL: a table lock held by the test stalls the tick for as long
/// as it needs.)
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_in_the_middle_of_a_tick_exits_at_once_and_the_next_start_runs_it() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let ws = Workspace::with_config(Backend::Postgres, &config(""));
    let hourly = rule("email", "Hello").replace("*/2 * * * * *", "0 * * * *");
    ws.write("rules/win-back.toml", &hourly);
    crate::helpers::load_lapsed(&ws, 2, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let store = ws.store().await;
    let rekindle::store::Store::Postgres(pool) = &store else {
        unreachable!("a PostgreSQL workspace")
    };
    // The rule last ran two hours ago, so the start has the past hour's tick to catch up.
    let hour = jiff::Timestamp::now().as_second() / 3600 * 3600;
    sqlx::query(
        "INSERT INTO rule_runs (rule_id, tick_at, instance, started_at, finished_at) \
         VALUES ('win-back', $1, 'gone', $1, $1)",
    )
    .bind(hour - 3600)
    .execute(pool)
    .await
    .unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE customer_wakes IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let svc = Service::start(&ws, &ENV);
    eventually(
        Duration::from_secs(60),
        "the catch-up tick waiting on the lock",
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE relation = 'customer_wakes'::regclass AND NOT granted",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        },
    )
    .await;
    let started = std::time::Instant::now();
    let (code, log) = svc.stop_with_log(Duration::from_secs(20));
    assert_eq!(code, 0, "a clean stop exits 0: {log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stop did not wait for the tick: {:?}",
        started.elapsed()
    );
    assert!(log.contains("left for the next start"), "{log}");
    lock.rollback().await.unwrap();
    assert!(outbox_emails(&ws).is_empty(), "nothing went out before the stop");

    // The next start catches the abandoned tick up at once (the next one is up to an hour
    // away) and sends both messages.
    let again = Service::start(&ws, &ENV);
    eventually(Duration::from_secs(60), "both emails", || async {
        (outbox_emails(&ws).len() == 2).then_some(())
    })
    .await;
    assert_eq!(again.stop(Duration::from_secs(20)), 0);
    let ticks: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT tick_at, finished_at FROM rule_runs WHERE rule_id = 'win-back' ORDER BY tick_at",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    // (A test straddling the hour may also have run the next hour's tick.)
    assert!(
        ticks.iter().any(|(t, finished)| *t == hour && finished.is_some()),
        "the past hour's tick ran and finished: {ticks:?}"
    );
    assert!(ticks.iter().all(|(_, finished)| finished.is_some()), "{ticks:?}");
    store.close().await;
}

/// A queue job claims its whole batch at once, and with a rate limit its last messages wait
/// seconds for their turn: a customer who unsubscribes in that time still gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribe_while_the_batch_waits_for_its_rate_wins() {
    use crate::smtp_server::SmtpServer;
    let smtp = SmtpServer::start();
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &config(&format!(
            "[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\n[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             [delivery.email]\nrate_per_second = 2\n[policy]\nmax_messages = 5\n",
            smtp.port()
        )),
    );
    ws.write("rules/win-back.toml", &rule("email", "Hello"));
    crate::helpers::load_lapsed(&ws, 8, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let accepted = || smtp.state.lock().unwrap().accepted.clone();

    let svc = Service::start(&ws, &ENV);
    let store = ws.store().await;
    eventually(Duration::from_secs(60), "the first message out", || async {
        (!accepted().is_empty()).then_some(())
    })
    .await;
    // The batch is claimed by now; the last customer's message is seconds away.
    let claimed = store.message_status_counts().await.unwrap();
    assert!(
        claimed.iter().any(|(s, n)| s == "sending" && *n > 1),
        "the batch is claimed ahead: {claimed:?}"
    );
    assert!(
        store
            .unsubscribe("c07", rekindle::rules::Channel::Email, 1)
            .await
            .unwrap()
    );
    eventually(Duration::from_secs(60), "the batch done", || async {
        let c = store.message_status_counts().await.unwrap();
        (c == [("sent".to_string(), 7), ("skipped".to_string(), 1)]).then_some(())
    })
    .await;
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
    let sent = accepted();
    assert_eq!(sent.len(), 7);
    assert!(
        !sent.iter().any(|m| m.contains("To: c7@example.com")),
        "nothing reaches the customer who said no"
    );
}

/// Several `serve` processes on one PostgreSQL database behave as one.
#[tokio::test(flavor = "multi_thread")]
async fn three_instances_on_postgres_send_each_message_once() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    const CUSTOMERS: usize = 2000;
    let ws = Workspace::with_config(
        Backend::Postgres,
        &config("[policy]\nmax_messages = 5\n[delivery]\nconcurrency = 8\n"),
    );
    ws.write(
        "rules/win-back.toml",
        &rule("email", "Hello {{ customer.first_name }}"),
    );
    let instances: Vec<Service> = (0..3).map(|_| Service::start(&ws, &ENV)).collect();
    // The book arrives once all three know of each other and feed their shares.
    eventually(Duration::from_secs(60), "three instances sharing", || async {
        let sharing = instances
            .iter()
            .filter(|svc| svc.log().contains("feeding a share of the due messages of=3"))
            .count();
        (sharing == 3).then_some(())
    })
    .await;
    crate::helpers::load_lapsed(&ws, CUSTOMERS, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let store = ws.store().await;
    eventually(Duration::from_secs(180), "every message sent", || async {
        let c = store.message_status_counts().await.unwrap();
        (c == [("sent".to_string(), CUSTOMERS as i64)]).then_some(())
    })
    .await;
    // A few more ticks go by: nothing new is decided or sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The logs are read once every instance has stopped: a tick claimed while they were read
    // would otherwise be counted without its evaluation's log line (seen once in CI).
    let mut logs: Vec<String> = Vec::new();
    for svc in instances {
        let (code, log) = svc.stop_with_log(Duration::from_secs(30));
        assert_eq!(code, 0);
        logs.push(log);
    }
    assert_eq!(
        outbox_emails(&ws).len(),
        CUSTOMERS,
        "one email per customer in the outbox"
    );
    let pool = sqlx::PgPool::connect(&ws.db_url).await.unwrap();
    let (decisions, sent_events, ticks): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM decisions), \
         (SELECT count(*) FROM message_events WHERE status = 'sent'), \
         (SELECT count(*) FROM rule_runs WHERE rule_id = 'win-back' AND finished_at IS NOT NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((decisions, sent_events), (CUSTOMERS as i64, CUSTOMERS as i64));
    // Each tick was evaluated by exactly one of the three.
    let evaluations: usize = logs
        .iter()
        .map(|l| l.matches("evaluated rules=[\"win-back\"]").count())
        .sum();
    assert_eq!(
        evaluations as i64, ticks,
        "one evaluation per tick across instances"
    );
    let per_instance: Vec<usize> = logs.iter().map(|l| l.matches("outcome=Sent").count()).collect();
    assert_eq!(per_instance.iter().sum::<usize>(), CUSTOMERS, "{per_instance:?}");
    // Each instance feeds its share of the due messages, but any instance's workers may take
    // any job from the shared queue, so who sends how many is up to timing (a loaded CI
    // machine once saw [0, 0, 2000]); only the totals above are promised.
    eprintln!("messages sent per instance: {per_instance:?}, ticks: {ticks}");
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_watchdog_and_stopping() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    let socket_path = ws.path("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let socket_str = socket_path.to_str().unwrap().to_string();
    // A 2 s watchdog: pings are due every second.
    let svc = Service::start(
        &ws,
        &[
            ("NOTIFY_SOCKET", socket_str.as_str()),
            ("WATCHDOG_USEC", "2000000"),
            ENV[2],
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !(seen.iter().any(|m: &String| m.contains("READY=1"))
        && seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        let n = socket.recv(&mut buf).expect("a notification");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = seen.iter().position(|m| m.contains("READY=1")).unwrap();
    let first_ping = seen.iter().position(|m| m.contains("WATCHDOG=1")).unwrap();
    assert!(
        ready < first_ping,
        "READY before the first watchdog ping: {seen:?}"
    );
    // READY came after the port was bound: the health endpoint answers.
    let r = client().get(svc.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    svc.signal("TERM");
    loop {
        let n = socket.recv(&mut buf).expect("STOPPING");
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    assert_eq!(svc.wait(Duration::from_secs(20)), 0);
}
