//! SMS through reqwest to local servers playing Twilio and a webhook gateway.

use crate::helpers::{Backend, CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, load};
use crate::http_server::{Answer, HttpServer};

const RULE: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
days = 30
[message]
channel = "sms"
body = "Come back, {{ customer.first_name }}!"
"#;

const T: &str = "2026-06-15T12:00:00Z";
const TOKEN: (&str, &str) = ("REKINDLE_TWILIO_AUTH_TOKEN", "secret-token");
const SECRET: (&str, &str) = ("REKINDLE_SMS_WEBHOOK_SECRET", "gateway-secret");
/// `public_url` is set (for Twilio's status callback), so links need their secret too.
const LINK_SECRET: (&str, &str) = ("REKINDLE_LINK_SECRET", crate::helpers::TEST_LINK_SECRET);

fn created() -> Answer {
    (
        201,
        vec![],
        r#"{"sid": "SM0123456789abcdef", "status": "queued"}"#.into(),
    )
}

fn twilio_error(status: u16, code: i64) -> Answer {
    (
        status,
        vec![],
        format!(r#"{{"code": {code}, "message": "error {code}", "status": {status}}}"#),
    )
}

fn workspace(sms_config: &str) -> Workspace {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &format!("public_url = \"https://engage.example.com\"\n{sms_config}"),
    );
    ws.write("rules/win-back.toml", RULE);
    let customers = format!("{CUSTOMERS_HEADER}\nben,Ben Ito,,+1 555 010 9999,,UTC,,yes,\n");
    let events = format!("{EVENTS_HEADER}\nb1,ben,visit,2026-05-01T10:00:00Z,,\n");
    load(&ws, &customers, &events);
    ws
}

fn twilio(server: &HttpServer) -> Workspace {
    workspace(&format!(
        "[sms]\nprovider = \"twilio\"\n[sms.twilio]\nbase_url = \"{}\"\naccount_sid = \"AC123\"\nfrom = \"+15550001111\"\n",
        server.url()
    ))
}

fn run(ws: &Workspace, at: &str, env: (&str, &str)) -> String {
    let r = ws.rekindle_env(&["run", "--once", "--at", at], &[env, LINK_SECRET]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
}

fn form_field(body: &str, key: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).expect("a form body");
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[test]
fn twilio_gets_a_signed_in_form_post_with_a_status_callback() {
    let server = HttpServer::start(created());
    let ws = twilio(&server);
    assert!(run(&ws, T, TOKEN).contains("sent 1"));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.path, "/2010-04-01/Accounts/AC123/Messages.json");
    // Basic auth: AC123:secret-token.
    assert_eq!(req.headers["authorization"], "Basic QUMxMjM6c2VjcmV0LXRva2Vu");
    assert_eq!(form_field(&req.body, "To").as_deref(), Some("+15550109999"));
    assert_eq!(form_field(&req.body, "From").as_deref(), Some("+15550001111"));
    assert_eq!(form_field(&req.body, "Body").as_deref(), Some("Come back, Ben!"));
    assert_eq!(
        form_field(&req.body, "StatusCallback").as_deref(),
        Some("https://engage.example.com/webhooks/twilio")
    );
}

#[test]
fn a_missing_auth_token_is_named() {
    let server = HttpServer::start(created());
    let ws = twilio(&server);
    let r = ws.rekindle_env(&["run", "--once", "--at", T], &[LINK_SECRET]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("REKINDLE_TWILIO_AUTH_TOKEN"), "{r:?}");
}

#[tokio::test]
async fn server_errors_retry_and_retry_after_is_honoured() {
    let server = HttpServer::start(created());
    server.script([
        (500, vec![], "{}".into()),
        (429, vec![("retry-after", "600".into())], "{}".into()),
    ]);
    let ws = twilio(&server);
    assert!(run(&ws, T, TOKEN).contains("retry later 1"), "500 is transient");
    assert!(
        run(&ws, "2026-06-15T12:05:00Z", TOKEN).contains("retry later 1"),
        "429 is transient"
    );
    // Retry-After: 600 means not before 12:15.
    assert!(run(&ws, "2026-06-15T12:14:59Z", TOKEN).contains("sent 0"));
    assert!(run(&ws, "2026-06-15T12:15:00Z", TOKEN).contains("sent 1"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn invalid_numbers_fail_at_once_and_stop_unsubscribes() {
    for (code, unsubscribed) in [(21211, false), (21610, true)] {
        let server = HttpServer::start(twilio_error(400, code));
        let ws = twilio(&server);
        assert!(run(&ws, T, TOKEN).contains("failed 1"), "{code}");
        run(&ws, "2026-06-16T12:00:00Z", TOKEN);
        assert_eq!(server.requests().len(), 1, "{code}: never retried");
        let store = ws.store().await;
        let ben = store.customer_by_external_id("ben").await.unwrap().unwrap();
        assert_eq!(ben.unsubscribed_sms_at.is_some(), unsubscribed, "{code}");
        let history = store.message_history(1).await.unwrap();
        assert!(
            history
                .last()
                .unwrap()
                .2
                .as_deref()
                .unwrap()
                .starts_with(&code.to_string()),
            "{history:?}"
        );
        store.close().await;
    }
}

#[test]
fn an_unreachable_handset_gets_a_bounded_retry() {
    let server = HttpServer::start(twilio_error(400, 30003));
    let ws = twilio(&server);
    let mut at = jiff::Timestamp::from_second(1_781_524_800).unwrap(); // 2026-06-15T12:00:00Z
    for _ in 0..6 {
        run(&ws, &at.to_string(), TOKEN);
        at = at.checked_add(jiff::Span::new().hours(12)).unwrap();
    }
    assert_eq!(
        server.requests().len(),
        3,
        "three attempts, not the default eight"
    );
}

#[test]
fn the_webhook_gateway_gets_signed_json() {
    let server = HttpServer::start((200, vec![], "{}".into()));
    server.script([(503, vec![], "busy".into())]);
    let ws = workspace(&format!(
        "[sms]\nprovider = \"webhook\"\n[sms.webhook]\nurl = \"{}/sms\"\n",
        server.url()
    ));
    assert!(run(&ws, T, SECRET).contains("retry later 1"));
    assert!(run(&ws, "2026-06-15T13:00:00Z", SECRET).contains("sent 1"));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let body: serde_json::Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(body["to"], "+15550109999");
    assert_eq!(body["body"], "Come back, Ben!");
    assert_eq!(reqs[0].body, reqs[1].body, "a retry sends the same message id");
    // The receiver can verify the signature with the shared secret.
    let expected = rekindle::delivery::sms::signature("gateway-secret", reqs[1].body.as_bytes());
    assert_eq!(reqs[1].headers["x-rekindle-signature"], expected.as_str());
    assert_ne!(
        expected,
        rekindle::delivery::sms::signature("other-secret", reqs[1].body.as_bytes())
    );
}

#[test]
fn the_sms_rate_limit_spaces_requests() {
    let server = HttpServer::start((200, vec![], "{}".into()));
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &format!(
            "[sms]\nprovider = \"webhook\"\n[sms.webhook]\nurl = \"{}/sms\"\n[delivery.sms]\nrate_per_second = 10\nconcurrency = 4\n",
            server.url()
        ),
    );
    ws.write("rules/win-back.toml", RULE);
    crate::helpers::load_lapsed(&ws, 8, |i| format!(",+1555010{i:04},,UTC,,yes"));
    assert!(run(&ws, T, SECRET).contains("sent 8"));
    let times = server.state.lock().unwrap().arrivals.clone();
    assert_eq!(times.len(), 8);
    let span = times[7].duration_since(times[0]);
    // Seven gaps of 100 ms at 10 per second.
    assert!(
        span >= std::time::Duration::from_millis(650),
        "requests came too fast: {span:?}"
    );
}
