//! Faults that operations meet: the service killed without warning, again and again, while it
//! delivers to a slow SMTP server. Nothing may be lost, only messages in flight at a kill may
//! arrive twice, and a restart resumes at once.

use std::time::{Duration, Instant};

use crate::helpers::{Backend, Workspace};
use crate::service::{Service, eventually};
use crate::smtp_server::{AfterData, SmtpServer};

const CUSTOMERS: usize = 300;
const CONCURRENCY: usize = 4;

fn message_id(payload: &str) -> String {
    payload
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| l.trim().to_string())
        .expect("a Message-ID header")
}

fn recipient(payload: &str) -> String {
    payload
        .lines()
        .find(|l| l.starts_with("To: "))
        .map(|l| l.trim().to_string())
        .expect("a To header")
}

/// A service that sends a win-back email every two seconds to lapsed customers, through the
/// test SMTP server, `CONCURRENCY` at a time.
fn win_back_over_smtp(backend: Backend, smtp: &SmtpServer) -> Workspace {
    let ws = Workspace::with_config(
        backend,
        &format!(
            "public_url = \"https://rekindle.example\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [quiet_hours]\nemail = \"\"\n[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\nfrom = \"Café <hello@cafe.example>\"\n\
             [email.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"5s\"\npool_size = {CONCURRENCY}\n\
             [delivery]\nconcurrency = {CONCURRENCY}\n[policy]\nmax_messages = 5\n",
            smtp.port()
        ),
    );
    ws.write(
        "rules/win-back.toml",
        "id = \"win-back\"\nname = \"Win back\"\nschedule = \"*/2 * * * * *\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [message]\nchannel = \"email\"\nsubject = \"We miss you\"\nbody = \"Hello\"\n",
    );
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_repeatedly_delivers_everything_with_duplicates_only_in_flight() {
    let smtp = SmtpServer::start();
    smtp.script(std::iter::repeat_n(
        AfterData::Slow(Duration::from_millis(40)),
        5000,
    ));
    let ws = win_back_over_smtp(Backend::Sqlite, &smtp);
    crate::helpers::load_lapsed(&ws, CUSTOMERS, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let env = [("REKINDLE_LINK_SECRET", crate::helpers::TEST_LINK_SECRET)];
    let accepted = || smtp.state.lock().unwrap().accepted.len();

    let mut rng = fastrand::Rng::with_seed(7);
    let mut kills = 0;
    for round in 0..4 {
        let svc = Service::start(&ws, &env);
        let before = accepted();
        // Wait for some progress in this round, then a random moment more, then SIGKILL.
        eventually(Duration::from_secs(60), "progress after a restart", || async {
            (accepted() > before + 5 || accepted() >= CUSTOMERS).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.u64(50..600))).await;
        if accepted() >= CUSTOMERS {
            break;
        }
        svc.signal("KILL");
        drop(svc);
        kills += 1;
        eprintln!("round {round}: killed after {} accepted", accepted());
    }
    assert!(kills >= 2, "the kills came too late to test anything");

    // The last start resumes what the dead processes held, promptly.
    let started = Instant::now();
    let last = Service::start(&ws, &env);
    let store = ws.store().await;
    eventually(Duration::from_secs(60), "every message sent", || async {
        let c = store.message_status_counts().await.unwrap();
        (c == [("sent".to_string(), CUSTOMERS as i64)]).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "resumed at once, not after a heartbeat timeout"
    );
    assert_eq!(last.stop(Duration::from_secs(20)), 0);

    let payloads = smtp.state.lock().unwrap().accepted.clone();
    let mut per_recipient: std::collections::HashMap<String, Vec<String>> = Default::default();
    for p in &payloads {
        per_recipient.entry(recipient(p)).or_default().push(message_id(p));
    }
    assert_eq!(per_recipient.len(), CUSTOMERS, "every customer got their message");
    for (to, ids) in &per_recipient {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{to}: a copy carries another Message-ID: {ids:?}"
        );
    }
    let duplicates = payloads.len() - CUSTOMERS;
    assert!(
        duplicates <= kills * CONCURRENCY,
        "{duplicates} duplicates after {kills} kills: only messages in flight may repeat"
    );
}

/// One queue job carries many messages, claimed together. A SIGKILL in the middle of such a
/// batch loses none of its messages: the next start takes back what the dead process held and
/// sends it, repeating at most the ones being sent at the kill (the delivery concurrency), on
/// either store.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_in_the_middle_of_a_batch_loses_nothing() {
    const MESSAGES: usize = 48;
    const { assert!(MESSAGES <= rekindle::delivery::queue::BATCH, "one batch") };
    for backend in crate::helpers::backends() {
        let smtp = SmtpServer::start();
        smtp.script(std::iter::repeat_n(
            AfterData::Slow(Duration::from_millis(150)),
            500,
        ));
        let ws = win_back_over_smtp(backend, &smtp);
        crate::helpers::load_lapsed(&ws, MESSAGES, |i| format!("c{i}@example.com,,,UTC,yes,"));
        let env = [("REKINDLE_LINK_SECRET", crate::helpers::TEST_LINK_SECRET)];
        let accepted = || smtp.state.lock().unwrap().accepted.len();
        let store = ws.store().await;

        let svc = Service::start(&ws, &env);
        eventually(Duration::from_secs(60), "the batch under way", || async {
            (accepted() >= 8).then_some(())
        })
        .await;
        svc.signal("KILL");
        drop(svc);
        let at_kill = accepted();
        assert!(
            at_kill < MESSAGES,
            "{backend:?}: killed mid-batch ({at_kill} accepted)"
        );
        let counts = store.message_status_counts().await.unwrap();
        let count = |status: &str| {
            counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n as usize)
        };
        // The batch was claimed whole: what was not sent is held by the dead process, none
        // of it given up on, and nothing is recorded sent that the server did not accept.
        assert!(
            counts
                .iter()
                .all(|(s, _)| ["sending", "queued", "sent"].contains(&s.as_str())),
            "{backend:?}: nothing given up on: {counts:?}"
        );
        assert!(
            count("sent") <= at_kill && count("sending") > CONCURRENCY,
            "{backend:?}: killed with the batch claimed and part sent: {counts:?}"
        );

        let last = Service::start(&ws, &env);
        eventually(Duration::from_secs(60), "every message sent", || async {
            let c = store.message_status_counts().await.unwrap();
            (c == [("sent".to_string(), MESSAGES as i64)]).then_some(())
        })
        .await;
        assert_eq!(last.stop(Duration::from_secs(20)), 0);

        let payloads = smtp.state.lock().unwrap().accepted.clone();
        let mut per_recipient: std::collections::HashMap<String, Vec<String>> = Default::default();
        for p in &payloads {
            per_recipient.entry(recipient(p)).or_default().push(message_id(p));
        }
        assert_eq!(
            per_recipient.len(),
            MESSAGES,
            "{backend:?}: every customer got their message"
        );
        assert!(
            per_recipient
                .values()
                .all(|ids| ids.iter().all(|id| id == &ids[0])),
            "{backend:?}: a copy is the same message (one Message-ID)"
        );
        let duplicates = payloads.len() - MESSAGES;
        assert!(
            duplicates <= CONCURRENCY,
            "{backend:?}: {duplicates} duplicates: only the batch's in-flight messages may repeat"
        );
    }
}

/// Rule text never becomes SQL: names, tags and attribute names with quotes and statements in
/// them are data (compared in Rust, or bound as parameters), and event kinds, which do reach
/// SQL as bound values, are restricted to plain words by the checker.
#[tokio::test]
async fn rule_text_cannot_inject_sql() {
    let ws = Workspace::new(Backend::Sqlite);
    let evil = "id = \"evil\"\nname = \"x'); DROP TABLE customers; --\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [audience]\ntags = [\"'; DELETE FROM customers; --\"]\n\
         attributes = { \"tier'; DROP TABLE decisions; --\" = \"gold\" }\n\
         [message]\nchannel = \"email\"\nsubject = \"{{ rule.name }}\"\nbody = \"b\"\n\
         [goal]\nevents = [\"visit\"]\nwithin = \"14d\"\n";
    ws.write("rules/evil.toml", evil);
    crate::helpers::load_lapsed(&ws, 5, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    for args in [
        vec!["rules", "preview", "--at", "2026-06-15T12:00:00Z"],
        vec!["evaluate", "--at", "2026-06-15T12:00:00Z"],
        vec!["run", "--once", "--at", "2026-06-15T12:00:00Z"],
        vec!["report"],
    ] {
        let r = ws.rekindle(&args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
    }
    let store = ws.store().await;
    assert_eq!(store.count_customers().await.unwrap(), 5, "customers intact");
    assert_eq!(store.count_events().await.unwrap(), 5, "events intact");

    ws.write(
        "rules/evil.toml",
        &evil.replace(
            "[goal]\nevents = [\"visit\"]",
            "[goal]\nevents = [\"visit'); DELETE FROM events; --\"]",
        ),
    );
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("evil.toml:14:10: invalid event kind"), "{r:?}");
}

/// Who gets a message back after its sender stopped: the rescue table.
#[tokio::test]
async fn orphaned_claims_are_resumed_discarded_or_left_alone_as_they_should() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[delivery]\nmax_attempts = 3\nmax_lateness = \"3650d\"\n[policy]\nmax_messages = 9\n",
    );
    let store = crate::helpers::queued_win_back_emails(&ws, 5).await;
    let now = jiff::Timestamp::now().as_second();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let dead_here = format!("{host}-{}-00000001", u32::MAX - 7);
    let alive_elsewhere = "other-host-10-00000002".to_string();
    let silent_elsewhere = "other-host-11-00000003".to_string();
    store.register_instance(&dead_here, now).await.unwrap();
    store.register_instance(&alive_elsewhere, now).await.unwrap();
    store
        .register_instance(&silent_elsewhere, now - 60)
        .await
        .unwrap();
    // (message, claimed by): 1 by a dead process on this host, 2 by a live one elsewhere,
    // 3 by one elsewhere silent for a minute, 4 by the dead one after its last allowed attempt.
    let retry = rekindle::store::Finish {
        status: rekindle::domain::MessageStatus::Queued,
        reason: None,
        provider_ref: None,
        error_code: Some("451".into()),
        error: Some("try later".into()),
        outcome_unknown: false,
        next_attempt_at: Some(now),
    };
    // Message 4: two attempts failed and were retried, the third is in flight.
    for _ in 0..2 {
        assert!(store.claim_message(4, &dead_here, now).await.unwrap().is_some());
        store.finish_message(4, &retry, now).await.unwrap();
    }
    for (id, by) in [
        (1, &dead_here),
        (2, &alive_elsewhere),
        (3, &silent_elsewhere),
        (4, &dead_here),
    ] {
        assert!(
            store.claim_message(id, by, now).await.unwrap().is_some(),
            "claim {id}"
        );
    }
    let recovered = rekindle::instance::recover(&store, now - 15).await.unwrap();
    assert_eq!(
        recovered, 3,
        "the dead and the silent instance's claims come back"
    );
    let status = |id: i64| {
        let store = store.clone();
        async move { store.message_history(id).await.unwrap().last().unwrap().0.clone() }
    };
    assert_eq!(
        status(1).await,
        "queued",
        "dead process on this host: resumed at once"
    );
    assert_eq!(status(2).await, "sending", "live instance elsewhere: left alone");
    assert_eq!(status(3).await, "queued", "silent for a minute: resumed");
    assert_eq!(status(4).await, "queued");
    // Message 4 has used its 3 attempts: the next run fails it instead of sending a 4th time.
    let r = ws.rekindle(&["run", "--once"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(status(4).await, "failed");
    assert_eq!(status(1).await, "sent");
    assert_eq!(status(3).await, "sent");
    assert_eq!(status(2).await, "sending", "still the live instance's");
}

/// Another process holding the SQLite write lock for a moment (a backup, a migration) makes
/// ingest wait, not fail: the request answers 200 once the lock is gone, and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn ingest_waits_out_a_briefly_locked_database() {
    use sqlx::Connection;
    let ws = Workspace::with_config(Backend::Sqlite, "[http]\nlisten = \"127.0.0.1:0\"\n");
    ws.write(
        "rules/win-back.toml",
        "id = \"win-back\"\nname = \"W\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [message]\nchannel = \"sms\"\nbody = \"b\"\n",
    );
    let svc = Service::start(&ws, &[("REKINDLE_API_TOKENS", "t")]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let put = client
        .put(svc.url("/v1/customers/ann"))
        .bearer_auth("t")
        .json(&serde_json::json!({"phone": "+15550100001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);

    let mut locker = sqlx::SqliteConnection::connect(&ws.db_url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let started = Instant::now();
    let request = client
        .post(svc.url("/v1/events"))
        .bearer_auth("t")
        .json(&serde_json::json!([{"id": "e1", "customer_id": "ann", "kind": "visit", "occurred_at": "2026-10-01T10:00:00Z"}]))
        .send();
    let release = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    };
    let (response, ()) = tokio::join!(request, release);
    let response = response.unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the write really waited for the lock"
    );
    let store = ws.store().await;
    assert_eq!(store.count_events().await.unwrap(), 1);
    assert_eq!(svc.stop(Duration::from_secs(20)), 0);
}
