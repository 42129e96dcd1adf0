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

#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_repeatedly_delivers_everything_with_duplicates_only_in_flight() {
    let smtp = SmtpServer::start();
    smtp.script(std::iter::repeat_n(
        AfterData::Slow(Duration::from_millis(40)),
        5000,
    ));
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &format!(
            "public_url = \"https://rekindle.example\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [quiet_hours]\nemail = \"\"\n[email]\ntransport = \"smtp\"\nfrom = \"Café <hello@cafe.example>\"\n\
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
    crate::helpers::load_lapsed(&ws, CUSTOMERS, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let env = [("REKINDLE_LINK_SECRET", "s")];
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

/// Rule text never becomes SQL: attribute names, tags, event kinds and ids with quotes and
/// statements in them are data, compared in Rust or bound as parameters.
#[tokio::test]
async fn rule_text_cannot_inject_sql() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write(
        "rules/evil.toml",
        "id = \"evil\"\nname = \"x'); DROP TABLE customers; --\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         events = [\"visit') OR 1=1; DROP TABLE events; --\"]\n\
         [audience]\ntags = [\"'; DELETE FROM customers; --\"]\n\
         attributes = { \"tier'; DROP TABLE decisions; --\" = \"gold\" }\n\
         [message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
         [goal]\nevents = [\"visit'); DELETE FROM events; --\"]\nwithin = \"14d\"\n",
    );
    crate::helpers::load_lapsed(&ws, 5, |i| format!("c{i}@example.com,,,UTC,yes,"));
    let r = ws.rekindle(&["rules", "check"]);
    if r.code != 0 {
        // Rejected by the checker is fine too; it must say where.
        assert!(r.stdout.contains("evil.toml:"), "{r:?}");
    } else {
        for args in [
            vec!["evaluate", "--at", "2026-06-15T12:00:00Z"],
            vec!["run", "--once", "--at", "2026-06-15T12:00:00Z"],
            vec!["report"],
        ] {
            let r = ws.rekindle(&args);
            assert_eq!(r.code, 0, "{args:?}: {r:?}");
        }
    }
    let store = ws.store().await;
    assert_eq!(store.count_customers().await.unwrap(), 5, "customers intact");
    assert_eq!(store.count_events().await.unwrap(), 5, "events intact");
}
