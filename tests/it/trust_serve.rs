//! The service's side of the issue "Trust": erasure that holds, receipts that stay in their
//! channel, input bounds at the API, and connections that cannot be held open forever.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, Workspace, backends};
use crate::serve::{
    API_TOKEN, ENV, LINK_SECRET, PUBLIC_URL, api, client, config, lapsed_visit, outbox_emails, rule,
};
use crate::service::{Service, eventually};

/// How long until the server closes a connection that sends `sent` and then nothing.
fn closed_after(svc: &Service, sent: &[u8]) -> Duration {
    let addr = svc.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(sent).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // Reads whatever the server answers (a complete request gets its response) until it
    // hangs up; a read timeout here means it never did.
    s.read_to_end(&mut buf).expect("the server closed the connection");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_half_sent_connections_are_closed() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &config("").replace(
            "listen = \"127.0.0.1:0\"\n",
            "listen = \"127.0.0.1:0\"\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"\n",
        ),
    );
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    let svc = Service::start(&ws, &ENV);
    for sent in [
        &b""[..],
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        // A complete request on a keep-alive connection, which then stays idle.
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        // Headers promising a body that never comes.
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    ] {
        let t = closed_after(&svc, sent);
        assert!(
            t < Duration::from_secs(5),
            "{:?}: open for {t:?}",
            String::from_utf8_lossy(sent)
        );
    }
    let r = client().get(svc.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_cannot_be_blocked_or_undone_by_ids_and_leaves_no_trace() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, &config(""));
        ws.write("rules/win-back.toml", &rule("email", "Hello {{ customer.name }}"));
        let svc = Service::start(&ws, &ENV);
        let put = |id: &'static str, body: Value| api(&svc, reqwest::Method::PUT, id, Some(body));
        let (status, _) = put(
            "/v1/customers/ann",
            json!({"name": "Annabel Leefolk", "email": "annabel.leefolk@example.com", "consent_email": true}),
        )
        .await;
        assert_eq!(status, 201);
        // An id that looks like an erased row's id used to block erasing internal customer 1.
        let (status, _) = put("/v1/customers/erased:1", json!({"name": "Mallory"})).await;
        assert_eq!(status, 201);
        lapsed_visit(&svc, "visit-ann-1", "ann").await;
        eventually(Duration::from_secs(30), "the email", || async {
            outbox_emails(&ws).pop()
        })
        .await;

        if let rekindle::store::Store::Sqlite(pool) = &ws.store().await {
            // What a running service does now and then: the customer's rows reach the file.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
                .unwrap();
            let bytes = std::fs::read(ws.path("rekindle.db")).unwrap();
            assert!(String::from_utf8_lossy(&bytes).contains("annabel.leefolk@example.com"));
        }
        let (status, body) = api(&svc, reqwest::Method::DELETE, "/v1/customers/ann", None).await;
        assert_eq!(status, 204, "{backend:?}: {body}");
        let (status, body) = api(&svc, reqwest::Method::GET, "/v1/customers/erased:1", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["customer"]["name"], "Mallory",
            "the other customer is untouched"
        );
        // The anonymised row cannot be named, so it cannot be written into.
        let (status, body) = put("/v1/customers/%01erased%201", json!({"name": "X"})).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            outbox_emails(&ws).is_empty(),
            "the erased customer's email left the outbox"
        );

        // Unsubscribing through the link of a message sent before the erasure still counts:
        // the customer, created again with the same address, starts unsubscribed.
        let token = rekindle::links::LinkSigner::new(PUBLIC_URL, LINK_SECRET.as_bytes())
            .token(rekindle::links::LinkKind::Unsubscribe, 1);
        let r = client()
            .post(svc.url(&format!("/u/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (status, body) = put(
            "/v1/customers/ann2",
            json!({"email": "Annabel.Leefolk@example.com", "consent_email": true}),
        )
        .await;
        assert_eq!(status, 201);
        assert!(body["unsubscribed_email_at"].is_string(), "{backend:?}: {body}");
        assert_eq!(svc.stop(Duration::from_secs(20)), 0);

        let store = ws.store().await;
        let keys: Vec<String> = match &store {
            rekindle::store::Store::Sqlite(p) => sqlx::query_scalar("SELECT occurrence_key FROM decisions")
                .fetch_all(p)
                .await
                .unwrap(),
            rekindle::store::Store::Postgres(p) => sqlx::query_scalar("SELECT occurrence_key FROM decisions")
                .fetch_all(p)
                .await
                .unwrap(),
        };
        assert!(keys.iter().all(|k| !k.contains("visit-ann")), "{keys:?}");
        store.close().await;
        if backend == Backend::Sqlite {
            for file in ["rekindle.db", "rekindle.db-wal"] {
                let bytes = std::fs::read(ws.path(file)).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                for secret in ["Annabel Leefolk", "annabel.leefolk@example.com", "Hello Annabel"] {
                    assert!(!text.contains(secret), "{file} still holds {secret:?}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_receipt_cannot_move_an_email() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    let secret = "gateway-secret";
    let mut env = ENV.to_vec();
    env.push(("REKINDLE_SMS_WEBHOOK_SECRET", secret));
    let svc = Service::start(&ws, &env);
    let (status, _) = api(
        &svc,
        reqwest::Method::PUT,
        "/v1/customers/ann",
        Some(json!({"email": "ann@example.com", "consent_email": true})),
    )
    .await;
    assert_eq!(status, 201);
    lapsed_visit(&svc, "v1", "ann").await;
    let mail = eventually(Duration::from_secs(30), "the email", || async {
        outbox_emails(&ws).pop()
    })
    .await;
    let message_id = mail
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_string();
    let body = json!({"id": message_id, "status": "failed"}).to_string();
    let r = client()
        .post(svc.url("/webhooks/gateway"))
        .header(
            rekindle::delivery::sms::webhook::SIGNATURE_HEADER,
            rekindle::delivery::sms::webhook::signature(secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    let store = ws.store().await;
    assert_eq!(
        store.message_status_counts().await.unwrap(),
        [("sent".to_string(), 1)]
    );
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_refuses_what_a_store_cannot_keep_the_same_way_on_both_backends() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, &config(""));
        ws.write("rules/win-back.toml", &rule("email", "Hi"));
        let svc = Service::start(&ws, &ENV);
        let put = |path: &'static str, body: Value| api(&svc, reqwest::Method::PUT, path, Some(body));
        let (status, body) = put("/v1/customers/nul", json!({"name": "Bad\u{0}Name"})).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("name")),
            "{backend:?}: {body}"
        );
        let (status, body) = put("/v1/customers/long", json!({"name": "x".repeat(1001)})).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("name")), "{body}");
        // A trailing space is trimmed, as CSV cells are: one customer, found by either spelling.
        let (status, body) = put("/v1/customers/abc%20", json!({"name": "Abc"})).await;
        assert_eq!((status, body["id"].as_str()), (201, Some("abc")), "{body}");
        assert_eq!(
            api(&svc, reqwest::Method::GET, "/v1/customers/abc", None).await.0,
            200
        );
        assert_eq!(
            api(&svc, reqwest::Method::GET, "/v1/customers/abc%20", None)
                .await
                .0,
            200
        );

        let event = |amount: Value, at: &str| json!([{"id": format!("e-{at}-{amount}"), "customer_id": "abc", "kind": "purchase", "occurred_at": at, "amount": amount}]);
        for (amount, at, field) in [
            (json!(1e308), "2026-05-01T10:00:00Z", "amount"),
            (json!(12.5), "2026-05-01T10:00:00+25:00", "occurred_at"),
        ] {
            let (status, body) =
                api(&svc, reqwest::Method::POST, "/v1/events", Some(event(amount, at))).await;
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["rejected"][0]["field"], field, "{body}");
        }
        // Two large but valid amounts: every evaluation keeps working.
        let (status, _) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/events",
            Some(event(json!(9.9e11), "2026-05-01T10:00:00Z")),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = api(
            &svc,
            reqwest::Method::POST,
            "/v1/events",
            Some(event(json!(9.8e11), "2026-05-02T10:00:00Z")),
        )
        .await;
        assert_eq!(status, 200);
        let r = ws.rekindle(&["rules", "preview", "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");

        // A huge invalid value is not echoed back whole.
        let huge = "9".repeat(900_000);
        let r = client()
            .post(svc.url("/v1/events"))
            .bearer_auth(API_TOKEN)
            .json(&json!([{"id": "h", "customer_id": "abc", "kind": "visit", "occurred_at": huge}]))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(text.len() < 2_000, "an error of {} bytes", text.len());
        // The scheme of Authorization is case-insensitive (RFC 7235).
        let r = client()
            .get(svc.url("/v1/customers/abc"))
            .header("Authorization", format!("bearer {API_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(svc.stop(Duration::from_secs(20)), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_urls_the_marketer_wrote_become_tracked_links() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write(
        "rules/win-back.toml",
        &rule(
            "email",
            "Hi {{ customer.name }}, book at https://cafe.example/book?for={{ customer.attributes.code }} today, menu at https://cafe.example/menu",
        ),
    );
    let svc = Service::start(&ws, &ENV);
    let (status, body) = api(
        &svc,
        reqwest::Method::PUT,
        "/v1/customers/bob",
        Some(json!({"name": "Bob https://evil.example/phish", "email": "bob@example.com", "consent_email": true,
                    "attributes": {"code": "b\u{7}ob"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    lapsed_visit(&svc, "v1", "bob").await;
    let mail = eventually(Duration::from_secs(30), "the email", || async {
        outbox_emails(&ws).pop()
    })
    .await;
    assert!(
        mail.contains("Bob https://evil.example/phish"),
        "the name is printed as text: {mail}"
    );
    assert!(!mail.contains("href=\"https://evil.example"), "{mail}");
    // Every click link of the message leads to the café or nowhere, and never errors.
    let signer = rekindle::links::LinkSigner::new(PUBLIC_URL, LINK_SECRET.as_bytes());
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut targets = Vec::new();
    for n in 0..4 {
        let url = signer.click_url(1, n).replace(PUBLIC_URL, &svc.base);
        let r = no_redirects.get(url).send().await.unwrap();
        match r.status().as_u16() {
            303 => targets.push(r.headers()["location"].to_str().unwrap().to_string()),
            404 => {}
            other => panic!("link {n}: {other}"),
        }
    }
    // The booking link carries a control character from the data: it stays untracked text
    // (a Location header cannot hold it); the menu link is the one tracked link.
    assert_eq!(targets, ["https://cafe.example/menu"]);
    assert!(mail.contains(&signer.click_url(1, 0)), "{mail}");
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

/// `/readyz`'s status and body.
async fn readyz(svc: &Service) -> (u16, Value) {
    let r = client().get(svc.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json::<Value>().await.unwrap())
}

/// The body of `/readyz` once it answers 503.
async fn unready(svc: &Service) -> Value {
    eventually(Duration::from_secs(30), "readyz to fail", || async {
        let (status, body) = readyz(svc).await;
        (status == 503).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_says_when_scheduled_evaluations_keep_failing() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    let svc = Service::start(&ws, &ENV);
    assert_eq!(readyz(&svc).await.0, 200);
    let rekindle::store::Store::Sqlite(pool) = ws.store().await else {
        unreachable!()
    };
    // Something breaks every evaluation (here: a table goes missing).
    sqlx::query("ALTER TABLE events RENAME TO events_away")
        .execute(&pool)
        .await
        .unwrap();
    let body = unready(&svc).await;
    let why = body["evaluations"].as_str().unwrap();
    assert!(
        why.starts_with("the last 3 scheduled evaluations failed"),
        "{body}"
    );
    let metrics = crate::serve::metrics(&svc).await;
    assert!(
        metrics.contains("rekindle_evaluation_failures_in_a_row"),
        "{metrics}"
    );
    sqlx::query("ALTER TABLE events_away RENAME TO events")
        .execute(&pool)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "readyz to recover", || async {
        (readyz(&svc).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

/// Decisions that cannot become messages fail the tick as surely as a failed evaluation:
/// readiness names the cause, and the messages go out once it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_says_when_decisions_cannot_be_queued() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    crate::helpers::load_lapsed(&ws, 1, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let rekindle::store::Store::Sqlite(pool) = ws.store().await else {
        unreachable!()
    };
    // Something breaks queueing only (here: the ledger refuses new messages).
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'the ledger is closed'); END")
        .execute(&pool)
        .await
        .unwrap();
    let svc = Service::start(&ws, &ENV);
    let body = unready(&svc).await;
    let why = body["evaluations"].as_str().unwrap();
    assert!(
        why.contains("queueing messages failed") && why.contains("the ledger is closed"),
        "{body}"
    );
    sqlx::query("DROP TRIGGER refuse").execute(&pool).await.unwrap();
    eventually(Duration::from_secs(30), "the email", || async {
        (outbox_emails(&ws).len() == 1).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "readyz to recover", || async {
        (readyz(&svc).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}

/// Conversions that cannot be marked fail the tick too: the report would lag without a
/// visible cause. Readiness names it, and the conversion is marked once the cause is gone.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_says_when_conversions_cannot_be_marked() {
    let ws = Workspace::with_config(Backend::Sqlite, &config(""));
    ws.write("rules/win-back.toml", &rule("email", "Hi"));
    crate::helpers::load_lapsed(&ws, 1, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let store = ws.store().await;
    let rekindle::store::Store::Sqlite(pool) = &store else {
        unreachable!()
    };
    let svc = Service::start(&ws, &ENV);
    eventually(Duration::from_secs(30), "the email", || async {
        (outbox_emails(&ws).len() == 1).then_some(())
    })
    .await;
    // Something breaks marking conversions only, then the customer comes back.
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE UPDATE OF converted_at ON decisions \
         BEGIN SELECT RAISE(ABORT, 'the report is closed'); END",
    )
    .execute(pool)
    .await
    .unwrap();
    let id = store.customer_ids_for(&["c00"]).await.unwrap()["c00"];
    let now = jiff::Timestamp::now().as_second();
    let visit = rekindle::store::NewEvent {
        external_id: "back".into(),
        customer_id: id,
        kind: "visit".into(),
        occurred_at: now + 1,
        amount: None,
        score: None,
        properties: "{}".into(),
    };
    store.upsert_events(&[visit], now).await.unwrap();
    let body = unready(&svc).await;
    let why = body["evaluations"].as_str().unwrap();
    assert!(
        why.contains("marking conversions failed") && why.contains("the report is closed"),
        "{body}"
    );
    sqlx::query("DROP TRIGGER refuse").execute(pool).await.unwrap();
    let converted: Option<i64> = eventually(Duration::from_secs(30), "the conversion", || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT converted_at FROM decisions")
            .fetch_one(pool)
            .await
            .unwrap()
            .map(Some)
    })
    .await;
    assert_eq!(converted, Some(now + 1), "the visit converts the win-back");
    eventually(Duration::from_secs(30), "readyz to recover", || async {
        (readyz(&svc).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}
