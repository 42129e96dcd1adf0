//! `run --once`: delivery to the outboxes, re-checks at send time, quiet hours, lateness,
//! conversions and the report, through the real binary on both backends.

use rekindle::domain::MessageStatus;
use serde_json::Value;

use crate::helpers::{
    Backend, CUSTOMERS_HEADER, EVENTS_HEADER, Run, Workspace, backends, load, outbox_emails,
};

const WIN_BACK: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
events = ["visit"]
days = 30
[message]
channel = "email"
fallback = "sms"
subject = "We miss you, {{ customer.first_name }}!"
body = "Hi {{ customer.name }}, come back."
[goal]
events = ["visit"]
within = "14d"
"#;

fn workspace(backend: Backend, rule: &str, config: &str) -> Workspace {
    let ws = Workspace::with_config(backend, config);
    ws.write("rules/win-back.toml", rule);
    let customers = format!(
        "{CUSTOMERS_HEADER}\n\
         anna,<b>Anna</b> & Co,anna@example.com,,,Europe/Budapest,yes,,\n\
         ben,Ben Ito,,+81 90 1234 5678,,Asia/Tokyo,,yes,\n"
    );
    let events = format!(
        "{EVENTS_HEADER}\na1,anna,visit,2026-05-01T10:00:00Z,,\nb1,ben,visit,2026-05-02T10:00:00Z,,\n"
    );
    load(&ws, &customers, &events);
    ws
}

fn run_at(ws: &Workspace, at: &str) -> Run {
    let r = ws.rekindle(&["run", "--once", "--at", at]);
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
    r
}

fn sms_lines(ws: &Workspace) -> Vec<Value> {
    std::fs::read_to_string(ws.path("outbox/sms/sms.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn run_once_delivers_each_message_once_however_often_it_runs() {
    for backend in backends() {
        let ws = workspace(backend, WIN_BACK, "");
        // 13:00 in Tokyo, 06:00 in Budapest: outside every quiet period.
        let r = run_at(&ws, "2026-06-15T04:00:00Z");
        assert!(r.stdout.contains("sent 2"), "{backend:?}: {r:?}");
        run_at(&ws, "2026-06-15T04:00:00Z");
        run_at(&ws, "2026-06-16T04:00:00Z");
        let mails = outbox_emails(&ws);
        assert_eq!(mails.len(), 1, "{backend:?}");
        let sms = sms_lines(&ws);
        assert_eq!(sms.len(), 1, "{backend:?}");
        assert_eq!(sms[0]["to"], "+819012345678");
        assert_eq!(sms[0]["body"], "Hi Ben Ito, come back.");
        let store = ws.store().await;
        assert_eq!(
            store.message_status_counts().await.unwrap(),
            [("sent".to_string(), 2)],
            "{backend:?}"
        );
        store.close().await;
    }
}

#[test]
fn emails_carry_a_stable_message_id_and_escape_customer_data_in_html() {
    let ws = workspace(
        Backend::Sqlite,
        WIN_BACK,
        "[email]\nfrom = \"Café Aroma <hello@cafe.example>\"\n",
    );
    run_at(&ws, "2026-06-15T12:00:00Z");
    let mail = outbox_emails(&ws).pop().expect("one email");
    assert!(
        mail.contains("From: =?utf-8?") || mail.contains("From: \"Café Aroma\""),
        "{mail}"
    );
    assert!(mail.contains("To: anna@example.com"), "{mail}");
    let id = mail
        .lines()
        .find(|l| l.starts_with("Message-ID: "))
        .expect("Message-ID");
    assert!(
        id.starts_with("Message-ID: <rekindle.") && id.ends_with("@cafe.example>"),
        "{id}"
    );
    // Plain part as written, HTML part escaped (quoted-printable may fold lines: unfold first).
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains("Hi <b>Anna</b> & Co, come back."), "{mail}");
    assert!(
        unfolded.contains("Hi &lt;b&gt;Anna&lt;/b&gt; &amp; Co, come back."),
        "{mail}"
    );
    assert!(
        !unfolded.contains("Hi <b>Anna</b> & Co, come back.</p>"),
        "{mail}"
    );
}

#[tokio::test]
async fn an_unsubscribe_after_queueing_wins() {
    for backend in backends() {
        let rule = WIN_BACK.replace("body = ", "send_at = \"10:00\"\nbody = ");
        let ws = workspace(backend, &rule, "");
        // 07:00 in Budapest: Anna's email waits for 10:00 local (08:00 UTC).
        let r = run_at(&ws, "2026-06-15T05:00:00Z");
        assert!(r.stdout.contains("waiting for later: 1"), "{backend:?}: {r:?}");
        let store = ws.store().await;
        assert!(
            store
                .unsubscribe("anna", rekindle::rules::Channel::Email, 1)
                .await
                .unwrap()
        );
        let r = run_at(&ws, "2026-06-15T08:00:00Z");
        assert!(r.stdout.contains("skipped 1"), "{backend:?}: {r:?}");
        assert!(
            outbox_emails(&ws).is_empty(),
            "{backend:?}: nothing may reach an unsubscribed customer"
        );
        let counts = store.message_status_counts().await.unwrap();
        assert!(
            counts.contains(&("skipped".to_string(), 1)),
            "{backend:?}: {counts:?}"
        );
        store.close().await;
    }
}

#[test]
fn sms_waits_out_quiet_hours_and_a_stale_message_expires() {
    let ws = workspace(Backend::Sqlite, WIN_BACK, "[delivery]\nmax_lateness = \"6h\"\n");
    // 22:00 in Tokyo: Ben's SMS is held until 08:00 Tokyo (23:00 UTC).
    let r = run_at(&ws, "2026-06-15T13:00:00Z");
    assert!(r.stdout.contains("waiting for later: 1"), "{r:?}");
    assert!(sms_lines(&ws).is_empty());
    run_at(&ws, "2026-06-15T22:59:59Z");
    assert!(sms_lines(&ws).is_empty(), "still quiet");
    run_at(&ws, "2026-06-15T23:00:00Z");
    assert_eq!(sms_lines(&ws).len(), 1);

    // The same situation, but the service was down until long after the quiet hours ended.
    let ws = workspace(Backend::Sqlite, WIN_BACK, "[delivery]\nmax_lateness = \"6h\"\n");
    run_at(&ws, "2026-06-15T13:00:00Z");
    let r = run_at(&ws, "2026-06-16T06:00:00Z");
    assert!(r.stdout.contains("expired 1"), "{r:?}");
    assert!(sms_lines(&ws).is_empty(), "a stale message is not sent");
}

#[tokio::test]
async fn conversions_are_counted_for_contacted_and_held_out_customers() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, "");
        ws.write(
            "rules/win-back.toml",
            &WIN_BACK.replace("[goal]", "[experiment]\nholdout_percent = 50\n[goal]"),
        );
        crate::helpers::load_lapsed(&ws, 60, |i| format!("c{i}@example.com,,,,yes,"));
        run_at(&ws, "2026-06-15T12:00:00Z");

        // Every third customer comes back within the goal window, c00 and c01 only after it.
        let mut later = String::from(EVENTS_HEADER);
        let (mut contacted, mut held) = ((0, 0), (0, 0));
        for i in 0..60 {
            let id = format!("c{i:02}");
            let held_out = rekindle::rules::pipeline::holdout_bucket("win-back", &id) < 50;
            let converts = i % 3 == 0 && i > 1;
            let group = if held_out { &mut held } else { &mut contacted };
            group.0 += 1;
            group.1 += i64::from(converts);
            if converts {
                later.push_str(&format!("\nr{i:02},{id},visit,2026-06-20T10:00:00Z,,"));
            }
        }
        later.push_str("\nlate0,c00,visit,2026-07-01T10:00:00Z,,\nlate1,c01,visit,2026-06-30T10:00:00Z,,\n");
        ws.write("later.csv", &later);
        assert_eq!(ws.rekindle(&["import", "events", "later.csv"]).code, 0);

        let r = ws.rekindle(&["report", "--format", "json", "--rule", "win-back"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let w = &v["rules"][0];
        assert_eq!(
            (
                w["contacted"].as_i64().unwrap(),
                w["contacted_converted"].as_i64().unwrap()
            ),
            contacted,
            "{backend:?}: {w}"
        );
        assert_eq!(
            (
                w["held_out"].as_i64().unwrap(),
                w["held_out_converted"].as_i64().unwrap()
            ),
            held,
            "{backend:?}: {w}"
        );
        assert_eq!(w["decisions"]["send"].as_i64().unwrap(), contacted.0);
        assert_eq!(w["messages"]["sent"].as_i64().unwrap(), contacted.0);
        assert!(w["uplift"].is_object(), "{w}");
        assert!(
            w["verdict"].as_str().unwrap().starts_with("no clear effect"),
            "{w}"
        );

        let text = ws.rekindle(&["report", "--rule", "win-back"]);
        assert!(
            text.stdout
                .contains(&format!("{}/{} converted", contacted.1, contacted.0)),
            "{text:?}"
        );
    }
}

#[test]
fn with_a_public_url_emails_offer_one_click_unsubscribe() {
    let ws = workspace(
        Backend::Sqlite,
        WIN_BACK,
        "public_url = \"https://engage.example.com\"\n",
    );
    let r = ws.rekindle(&["run", "--once", "--at", "2026-06-15T04:00:00Z"]);
    assert_eq!(r.code, 1, "the link secret is required: {r:?}");
    assert!(r.stderr.contains("REKINDLE_LINK_SECRET"), "{r:?}");

    let r = ws.rekindle_env(
        &["run", "--once", "--at", "2026-06-15T04:00:00Z"],
        &[("REKINDLE_LINK_SECRET", crate::helpers::TEST_LINK_SECRET)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mail = outbox_emails(&ws)
        .pop()
        .expect("one email")
        .replace("=\r\n", "")
        .replace("=\n", "");
    let header = mail
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe: "))
        .expect("List-Unsubscribe");
    let url = header
        .trim_start_matches("List-Unsubscribe: <")
        .trim_end_matches('>');
    assert!(url.starts_with("https://engage.example.com/u/"), "{header}");
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("Unsubscribe: {url}")),
        "plain-text footer: {mail}"
    );
    // The token is genuine for this message under the secret, and for nothing else.
    let token = url.rsplit('/').next().unwrap();
    let signer = rekindle::links::LinkSigner::new(
        "https://engage.example.com",
        crate::helpers::TEST_LINK_SECRET.as_bytes(),
    );
    let id = signer
        .verify(rekindle::links::LinkKind::Unsubscribe, token)
        .expect("a valid token");
    assert!(mail.contains(&format!("Message-ID: <rekindle.{id}@")), "{mail}");
    let forged = rekindle::links::LinkSigner::new("https://engage.example.com", b"guess");
    assert_eq!(forged.verify(rekindle::links::LinkKind::Unsubscribe, token), None);
}

#[test]
fn dkim_signatures_verify_and_cover_message_id_and_list_unsubscribe() {
    // dkimpy: an independent DKIM verifier (installed by `.ci/run`).
    if !crate::helpers::python_module("dkim") {
        return;
    }
    let ws = workspace(
        Backend::Sqlite,
        WIN_BACK,
        "public_url = \"https://engage.example.com\"\n[email]\nfrom = \"Café <hello@cafe.example>\"\n\
         [email.dkim]\nselector = \"rk\"\ndomain = \"cafe.example\"\nkey_file = \"dkim.pem\"\n",
    );
    let key = ws.path("dkim.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl rsa -in {} -pubout -outform DER 2>/dev/null | base64 -w0",
            key.display()
        ))
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap();
    let r = ws.rekindle_env(
        &["run", "--once", "--at", "2026-06-15T04:00:00Z"],
        &[("REKINDLE_LINK_SECRET", crate::helpers::TEST_LINK_SECRET)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let dir = ws.path("outbox/email");
    let eml = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let script = format!(
        "import dkim,sys\nmsg=open(sys.argv[1],'rb').read()\n\
         txt=b'v=DKIM1; k=rsa; p={public}'\n\
         print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt))"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .arg(&eml)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "True",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mail = std::fs::read_to_string(&eml)
        .unwrap()
        .to_ascii_lowercase()
        .replace("\r\n ", " ");
    let signature = mail
        .lines()
        .find(|l| l.starts_with("dkim-signature:"))
        .expect("a DKIM-Signature header");
    for header in [
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "from",
        "subject",
    ] {
        assert!(signature.contains(header), "{header} not signed: {signature}");
    }
}

/// A job claims its batch in one statement and the ledger writes finishes of many messages
/// at once (group commit); each message must still be taken by exactly one worker, and each
/// finish land on its own message.
#[tokio::test(flavor = "multi_thread")]
async fn batched_claims_take_each_message_once_and_finishes_land_on_their_own_message() {
    use rekindle::delivery::group_commit::Ledger;
    use rekindle::store::Finish;
    for backend in backends() {
        let ws = Workspace::with_config(backend, "[policy]\nmax_messages = 9\n");
        let store = crate::helpers::queued_win_back_emails(&ws, 4).await;
        let now = jiff::Timestamp::now().as_second();

        // Forty concurrent batches over messages 1..=4 (overlapping, in different orders) and
        // one that does not exist: each message is taken once, by one of them.
        let jobs: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                let mut ids = vec![1 + i % 4, 1 + (i + 1) % 4, 99];
                if i % 2 == 0 {
                    ids.reverse();
                }
                let worker = format!("worker-{i}");
                tokio::spawn(async move {
                    let taken = store.claim_messages(&ids, &worker, now).await.unwrap();
                    taken.into_iter().map(|m| m.id).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut won = Vec::new();
        for job in jobs {
            won.extend(job.await.unwrap());
        }
        won.sort();
        assert_eq!(won, vec![1, 2, 3, 4], "{backend:?}");
        let other = store
            .claim_messages(&[1, 2, 3, 4], "worker-b", now)
            .await
            .unwrap();
        assert!(
            other.is_empty(),
            "{backend:?}: taken messages cannot be taken again"
        );
        let ledger = std::sync::Arc::new(Ledger::start(store.clone()));

        // Three different endings written together.
        let end = |status| Finish::ended(status, None);
        let sent = Finish {
            provider_ref: Some("<m1@example.com>".into()),
            ..end(MessageStatus::Sent)
        };
        let retry = Finish {
            error_code: Some("451".into()),
            error: Some("try later".into()),
            outcome_unknown: true,
            next_attempt_at: Some(now + 60),
            ..end(MessageStatus::Queued)
        };
        let bounced = Finish {
            reason: Some("hard_bounce"),
            error_code: Some("550".into()),
            error: Some("no such user".into()),
            ..end(MessageStatus::Bounced)
        };
        let writes = [(1, sent), (2, retry), (3, bounced)].map(|(id, f)| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.finish(id, f, now).await })
        });
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let last = |id| {
            let store = store.clone();
            async move { store.message_history(id).await.unwrap().pop().unwrap() }
        };
        assert_eq!(last(1).await.0, "sent", "{backend:?}");
        // Each change is in the history once, in order, though a claim and a finish each
        // wrote several messages in one statement.
        let statuses: Vec<String> = store
            .message_history(1)
            .await
            .unwrap()
            .into_iter()
            .map(|(status, _, _)| status)
            .collect();
        assert_eq!(statuses, ["queued", "sending", "sent"], "{backend:?}");
        assert_eq!(
            last(2).await,
            ("queued".into(), now, Some("451 try later".into()))
        );
        assert_eq!(last(3).await.0, "bounced");
        assert_eq!(last(4).await.0, "sending");
        assert_eq!(store.message_attempts(2).await.unwrap(), (1, true));
        // The retry is due a minute later, not now; then it is attempt 2.
        let claim = |at| {
            let store = store.clone();
            async move { store.claim_messages(&[2], "worker-c", at).await.unwrap().pop() }
        };
        assert!(claim(now).await.is_none());
        let again = claim(now + 60).await.expect("due again");
        assert_eq!(again.attempts, 2);
        assert!(
            again.contact.email.is_some(),
            "the customer is read with the claim"
        );
        // A stop before it started gives it back as it was, and only its own claimer can.
        assert_eq!(store.release_unstarted(&[2], "worker-x", now).await.unwrap(), 0);
        assert_eq!(store.release_unstarted(&[2], "worker-c", now).await.unwrap(), 1);
        assert_eq!(store.message_attempts(2).await.unwrap(), (1, true));
        assert_eq!(claim(now + 60).await.expect("queued again").attempts, 2);
    }
}

/// Several instances each feed their share of the due messages: between them they see every
/// due message once, each its own share oldest first, whatever the order the database reads.
#[tokio::test]
async fn instances_share_the_due_messages_without_overlap_or_gaps() {
    use rekindle::store::Share;
    for backend in backends() {
        let ws = Workspace::with_config(backend, "[policy]\nmax_messages = 9\n");
        let store = crate::helpers::queued_win_back_emails(&ws, 30).await;
        let now = jiff::Timestamp::now().as_second();
        let all = store.due_messages(now, 100, Share::ALL).await.unwrap();
        assert_eq!(
            all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            (1..=30).collect::<Vec<i64>>(),
            "{backend:?}: one instance sees every due message, oldest first"
        );
        let mut seen = Vec::new();
        for index in 0..3 {
            let mine = store
                .due_messages(now, 100, Share { of: 3, index })
                .await
                .unwrap();
            let ids: Vec<i64> = mine.iter().map(|(id, _)| *id).collect();
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]) && ids.iter().all(|id| id % 3 == index),
                "{backend:?}: share {index} gets its own messages in order: {ids:?}"
            );
            seen.extend(ids);
        }
        seen.sort();
        assert_eq!(seen, (1..=30).collect::<Vec<i64>>(), "{backend:?}");
        // A limit bounds what each share reads, oldest first.
        let first = store
            .due_messages(now, 4, Share { of: 3, index: 1 })
            .await
            .unwrap();
        assert_eq!(
            first.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 4, 7, 10],
            "{backend:?}"
        );
    }
}

/// apalis acknowledges jobs with a join the SQLite planner would run by walking every job the
/// worker ever locked, re-parsing the acknowledgement's JSON for each (a third of delivery's
/// CPU). Migration 0007 gives the planner the statistic that makes it look the jobs up by id;
/// apalis's own start-up (`PRAGMA optimize`) must leave it in place.
#[tokio::test]
async fn the_job_queue_acknowledges_by_primary_key_on_sqlite() {
    let ws = workspace(Backend::Sqlite, WIN_BACK, "");
    assert_eq!(run_at(&ws, "2026-06-15T04:00:00Z").code, 0);
    assert_eq!(run_at(&ws, "2026-06-15T05:00:00Z").code, 0, "a second start");
    let rekindle::store::Store::Sqlite(pool) = ws.store().await else {
        unreachable!()
    };
    let rows = sqlx::query(
        "EXPLAIN QUERY PLAN WITH j AS (SELECT value ->> 'task_id' AS task_id, \
         value ->> 'status' AS status FROM json_each('[]')) UPDATE Jobs SET status = j.status FROM j \
         WHERE Jobs.id = j.task_id AND Jobs.lock_by = 'w'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
        .collect();
    assert_eq!(plan.len(), 2, "{plan:?}");
    assert!(plan[0].starts_with("SCAN json_each"), "{plan:?}");
    assert!(plan[1].contains("Jobs") && plan[1].contains("(id=?)"), "{plan:?}");
}
