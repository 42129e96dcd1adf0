//! Email over real SMTP to a scripted server: retries, permanent failures, hard bounces,
//! dropped connections and stalls each end in the documented state.

use crate::helpers::{Backend, CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, load};
use crate::smtp_server::{AfterData, SmtpServer};

const RULE: &str = crate::helpers::WIN_BACK_EMAIL;

fn workspace(port: u16) -> Workspace {
    let mut ws = Workspace::with_config(
        Backend::Sqlite,
        &format!(
            "[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\nfrom = \"Café <hello@cafe.example>\"\n\
             unsubscribe_mailto = \"unsubscribe@cafe.example\"\n\
             [email.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout = \"2s\"\n"
        ),
    );
    ws.env.push((
        "REKINDLE_LINK_SECRET".into(),
        crate::helpers::TEST_LINK_SECRET.into(),
    ));
    ws.write("rules/win-back.toml", RULE);
    let customers = format!("{CUSTOMERS_HEADER}\nanna,Anna,anna@example.com,,,,yes,,\n");
    let events = format!("{EVENTS_HEADER}\na1,anna,visit,2026-05-01T10:00:00Z,,\n");
    load(&ws, &customers, &events);
    ws
}

const T: &str = "2026-06-15T12:00:00Z";
/// Later than any first-retry backoff (at most 144 s).
const T_RETRY: &str = "2026-06-15T12:10:00Z";

fn message_id(payload: &str) -> String {
    payload
        .lines()
        .find(|l| l.starts_with("Message-ID:"))
        .expect("Message-ID header")
        .to_string()
}

async fn status_and_error(ws: &Workspace) -> (String, Option<String>) {
    let store = ws.store().await;
    let counts = store.message_status_counts().await.unwrap();
    let history = store.message_history(1).await.unwrap();
    store.close().await;
    (
        counts[0].0.clone(),
        history.iter().rev().find_map(|h| h.2.clone()),
    )
}

#[tokio::test]
async fn a_451_is_retried_later_with_the_same_message_id() {
    let server = SmtpServer::start();
    server.script([AfterData::Reply("451 4.3.0 try again later")]);
    let ws = workspace(server.port());
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("retry later 1"), "{r:?}");
    let (status, error) = status_and_error(&ws).await;
    assert_eq!(status, "queued");
    assert!(error.unwrap().starts_with("451"), "the last error is kept");
    // Not due yet: nothing is tried again at the same instant.
    ws.rekindle(&["run", "--once", "--at", T]);
    assert_eq!(server.state.lock().unwrap().received.len(), 1);

    let r = ws.rekindle(&["run", "--once", "--at", T_RETRY]);
    assert!(r.stdout.contains("sent 1"), "{r:?}");
    let s = server.state.lock().unwrap();
    assert_eq!((s.received.len(), s.accepted.len()), (2, 1));
    assert_eq!(
        message_id(&s.received[0]),
        message_id(&s.received[1]),
        "a retry is recognisably the same message"
    );
    assert!(s.accepted[0].contains("Come back, Anna."));
}

#[tokio::test]
async fn a_550_on_the_recipient_is_a_hard_bounce_and_never_retried() {
    let server = SmtpServer::start();
    server
        .state
        .lock()
        .unwrap()
        .reject_rcpt
        .insert("anna@example.com".into(), "550 5.1.1 no such user");
    let ws = workspace(server.port());
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("bounced 1"), "{r:?}");
    ws.rekindle(&["run", "--once", "--at", T_RETRY]);
    let (status, error) = status_and_error(&ws).await;
    assert_eq!(status, "bounced");
    assert!(error.unwrap().starts_with("550"));
    // The address is suppressed: the next occurrence finds no usable email.
    let store = ws.store().await;
    let anna = store.customer_by_external_id("anna").await.unwrap().unwrap();
    assert!(anna.email_bounced_at.is_some());
    store.close().await;
    // Anna comes back in July and lapses again: the new occurrence cannot use her address.
    ws.write(
        "more.csv",
        &format!("{EVENTS_HEADER}\na2,anna,visit,2026-07-01T10:00:00Z,,\n"),
    );
    assert_eq!(ws.rekindle(&["import", "events", "more.csv"]).code, 0);
    let r = ws.rekindle(&[
        "rules",
        "preview",
        "--at",
        "2026-09-15T12:00:00Z",
        "--format",
        "json",
    ]);
    let d: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(
        (d["decision"].as_str(), d["reason"].as_str()),
        (Some("skipped"), Some("no_contact")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_permanent_data_rejection_fails_without_retry() {
    let server = SmtpServer::start();
    server.script([AfterData::Reply("554 5.7.1 message refused")]);
    let ws = workspace(server.port());
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("failed 1"), "{r:?}");
    ws.rekindle(&["run", "--once", "--at", T_RETRY]);
    assert_eq!(server.state.lock().unwrap().received.len(), 1, "never retried");
    assert_eq!(status_and_error(&ws).await.0, "failed");
}

#[tokio::test]
async fn dropped_connections_stalls_and_refusals_are_transient() {
    for (what, step) in [
        ("dropped mid-DATA", Some(AfterData::Drop)),
        (
            "421 closing",
            Some(AfterData::Reply("421 4.4.2 closing connection")),
        ),
        ("stall", Some(AfterData::Stall(std::time::Duration::from_secs(8)))),
    ] {
        let server = SmtpServer::start();
        server.script(step);
        let ws = workspace(server.port());
        let r = ws.rekindle(&["run", "--once", "--at", T]);
        assert!(r.stdout.contains("retry later 1"), "{what}: {r:?}");
        let store = ws.store().await;
        let (_, unknown) = store.message_attempts(1).await.unwrap();
        store.close().await;
        assert_eq!(
            unknown,
            what == "stall",
            "{what}: only a silence leaves the outcome unknown"
        );
        let r = ws.rekindle(&["run", "--once", "--at", T_RETRY]);
        assert!(r.stdout.contains("sent 1"), "{what}: {r:?}");
        assert_eq!(server.state.lock().unwrap().accepted.len(), 1, "{what}");
    }
    // Nothing listening at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = workspace(port);
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("retry later 1"), "{r:?}");
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn interoperates_with_aiosmtpd() {
    // aiosmtpd: a real, independent SMTP implementation (installed by `.ci/run`).
    if !crate::helpers::python_module("aiosmtpd") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir(maildir.path().join(sub)).unwrap();
    }
    let _server = Child(
        std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let ws = workspace(port);
    // A non-ASCII name exercises the body encoding negotiation.
    ws.write(
        "c2.csv",
        &format!("{CUSTOMERS_HEADER}\nanna,Anna Kovács-Győri,anna@example.com,,,,yes,,\n"),
    );
    assert_eq!(ws.rekindle(&["import", "customers", "c2.csv"]).code, 0);
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    let history = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = ws.store().await;
        store.message_history(1).await.unwrap()
    });
    assert!(r.stdout.contains("sent 1"), "{r:?} {history:?}");
    let new = maildir.path().join("new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one message in the maildir");
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(mail.contains("Subject: We miss you"), "{mail}");
    assert!(mail.contains("Message-ID: <rekindle.1@cafe.example>"), "{mail}");
}

#[tokio::test]
async fn a_run_killed_mid_delivery_loses_nothing_when_restarted() {
    let server = SmtpServer::start();
    // Every message takes a while to be accepted, so the kill lands mid-delivery.
    let slow: Vec<AfterData> = (0..200)
        .map(|_| AfterData::Slow(std::time::Duration::from_millis(150)))
        .collect();
    server.script(slow);
    let mut ws = Workspace::with_config(
        Backend::Sqlite,
        &format!(
            "[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\nfrom = \"Café <hello@cafe.example>\"\n\
             unsubscribe_mailto = \"unsubscribe@cafe.example\"\n\
             [email.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"5s\"\npool_size = 4\n\
             [delivery]\nconcurrency = 4\n[policy]\nmax_messages = 5\n",
            server.port()
        ),
    );
    ws.env.push((
        "REKINDLE_LINK_SECRET".into(),
        crate::helpers::TEST_LINK_SECRET.into(),
    ));
    ws.write("rules/win-back.toml", RULE);
    crate::helpers::load_lapsed(&ws, 60, |i| format!("c{i}@example.com,,,,yes,"));

    let mut child = crate::helpers::command_in(ws.dir.path(), &["run", "--once", "--at", T])
        .envs(ws.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some messages went through, then kill without warning.
    for _ in 0..200 {
        if server.state.lock().unwrap().accepted.len() >= 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = server.state.lock().unwrap().received.len();
    assert!(
        at_kill < 60,
        "the kill came too late to test anything ({at_kill} received)"
    );

    let started = std::time::Instant::now();
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "orphans resumed promptly"
    );
    let accepted = server.state.lock().unwrap().accepted.clone();
    let mut ids: Vec<String> = accepted.iter().map(|p| message_id(p)).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "every message delivered: {r:?}");
    // Only messages in flight at the kill (at most the concurrency) can arrive twice.
    assert!(total - ids.len() <= 4, "{} duplicates", total - ids.len());
    let store = ws.store().await;
    assert_eq!(
        store.message_status_counts().await.unwrap(),
        [("sent".to_string(), 60)]
    );
    store.close().await;
}

#[tokio::test]
async fn an_orphan_that_used_up_its_attempts_is_never_sent_again() {
    let server = SmtpServer::start();
    server.script([AfterData::Reply("451 4.3.0 try again later")]);
    let ws = workspace(server.port());
    std::fs::write(
        ws.path("rekindle.toml"),
        std::fs::read_to_string(ws.path("rekindle.toml")).unwrap() + "\n[delivery]\nmax_attempts = 2\n",
    )
    .unwrap();
    ws.rekindle(&["run", "--once", "--at", T]);
    // Attempt 2 is taken by a process that then dies (it never registered a heartbeat).
    let store = ws.store().await;
    let claimed = store
        .claim_message(1, "gone-host-1-0", ts(T_RETRY))
        .await
        .unwrap();
    assert_eq!(claimed.map(|m| m.attempts), Some(2));
    let r = ws.rekindle(&["run", "--once", "--at", T_RETRY]);
    assert!(r.stdout.contains("failed 1"), "{r:?}");
    assert_eq!(
        server.state.lock().unwrap().received.len(),
        1,
        "the exhausted message was not sent again"
    );
    let history = store.message_history(1).await.unwrap();
    assert_eq!(
        history.last().map(|h| h.0.as_str()),
        Some("failed"),
        "{history:?}"
    );
    store.close().await;
}

fn ts(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}
