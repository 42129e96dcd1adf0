//! Quiet failures a new user met (issue "Trust"): each test failed before its fix.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::helpers::{
    Backend, CUSTOMERS_HEADER, EVENTS_HEADER, TEST_LINK_SECRET, Workspace, backends, command_in, load,
    load_lapsed, rekindle_in,
};
use crate::smtp_server::SmtpServer;

const WIN_BACK: &str = crate::helpers::WIN_BACK_EMAIL;

const T: &str = "2026-06-15T12:00:00Z";

#[test]
fn read_only_commands_never_create_a_database_and_say_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["report"][..],
        &["customers", "show", "c1"],
        &["messages", "list"],
    ] {
        let r = rekindle_in(dir.path(), args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("no rekindle database at sqlite://rekindle.db")
                && r.stderr.contains("rekindle migrate"),
            "{args:?}: {r:?}"
        );
        assert!(
            !r.stderr.contains("rules:1:1"),
            "the rules are not the problem: {r:?}"
        );
    }
    assert!(
        !dir.path().join("rekindle.db").exists(),
        "a read-only command created a database"
    );
    assert_eq!(rekindle_in(dir.path(), &["migrate"]).code, 0);
    assert!(dir.path().join("rekindle.db").exists());
}

#[test]
fn the_report_works_while_a_rule_file_is_broken_and_names_retired_rules() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write("rules/win-back.toml", WIN_BACK);
    load_lapsed(&ws, 3, |i| format!("c{i}@example.com,,,UTC,yes,"));
    assert_eq!(ws.rekindle(&["run", "--once", "--at", T]).code, 0);
    // The marketer is half-way through an edit.
    ws.write(
        "rules/win-back.toml",
        &WIN_BACK.replace("days = 30", "days = = 30"),
    );
    let r = ws.rekindle(&["report"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("win-back") && r.stdout.contains("send 3"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("rules/win-back.toml:5:8"),
        "the problem is still named: {r:?}"
    );
    // The rule is retired (its file removed): its history stays, and the report says so.
    std::fs::remove_file(ws.path("rules/win-back.toml")).unwrap();
    let r = ws.rekindle(&["report"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("win-back  (no longer in the rules directory)"),
        "{r:?}"
    );
}

#[test]
fn an_unreadable_file_is_named_once_without_repeating_the_cause() {
    let ws = Workspace::new(Backend::Sqlite);
    let r = ws.rekindle(&["import", "customers", "nosuchfile.csv"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr.matches("No such file or directory").count(), 1, "{r:?}");
    assert!(r.stderr.contains("nosuchfile.csv"), "{r:?}");
}

#[test]
fn instants_may_be_dates_in_the_business_zone_and_absurd_offsets_are_refused() {
    let ws = Workspace::with_config(Backend::Sqlite, "default_timezone = \"Europe/Budapest\"");
    ws.write("rules/win-back.toml", WIN_BACK);
    load_lapsed(&ws, 1, |_| "c@example.com,,,,yes,".to_string());
    let r = ws.rekindle(&["evaluate", "--at", "2026-06-15"]);
    assert_eq!(r.code, 0, "{r:?}");
    // Midnight in Budapest (UTC+2 in June) is 22:00 UTC the day before.
    assert!(r.stdout.contains("at 2026-06-14T22:00:00Z"), "{r:?}");
    let r = ws.rekindle(&["evaluate", "--at", "2026-06-15T12:00:00+25:00"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("expected a date such as 2026-11-01"), "{r:?}");
    let r = ws.rekindle(&["report", "--since", "2026-06-01", "--until", "2026-07-01"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("since 2026-05-31T22:00:00Z"), "{r:?}");
}

#[test]
fn a_closed_pipe_ends_a_streaming_command_quietly() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write("rules/win-back.toml", WIN_BACK);
    // Enough decisions that the output overflows the pipe's buffer.
    load_lapsed(&ws, 1500, |i| format!("c{i}@example.com,,,UTC,yes,"));
    for args in [
        &["rules", "preview", "--at", T, "--format", "json"][..],
        &["messages", "list", "--format", "json"],
    ] {
        if args[0] == "messages" {
            assert_eq!(ws.rekindle(&["run", "--once", "--at", T]).code, 0);
        }
        let mut child = command_in(ws.dir.path(), args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with('{'), "{first}");
        // The reader goes away, as `| head -1` does.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{stderr}"
        );
    }
}

#[test]
fn a_template_that_fails_for_one_customer_is_recorded_as_a_skip_not_dropped() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        // Passes the check (the sample customer has no `visits`), fails for a customer with 0.
        ws.write(
            "rules/win-back.toml",
            &WIN_BACK.replace(
                "Come back, {{ customer.first_name }}.",
                "You came {{ 100 // (customer.attributes.visits | int(1)) }} times.",
            ),
        );
        assert_eq!(ws.rekindle(&["rules", "check"]).code, 0);
        let customers = format!(
            "{CUSTOMERS_HEADER},visits\nok,Ok,ok@example.com,,,UTC,yes,,,4\nzero,Zero,zero@example.com,,,UTC,yes,,,0\n"
        );
        let events = format!(
            "{EVENTS_HEADER}\nv1,ok,visit,2026-05-01T10:00:00Z,,\nv2,zero,visit,2026-05-01T10:00:00Z,,\n"
        );
        load(&ws, &customers, &events);
        let r = ws.rekindle(&["run", "--once", "--at", T]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("sent 1"), "{r:?}");
        assert!(
            r.stdout.contains("templates failed to render for 1 decision"),
            "{r:?}"
        );
        let r = ws.rekindle(&["report", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            report["rules"][0]["decisions"]["skipped/template_error"], 1,
            "{r:?}"
        );
        let r = ws.rekindle(&["customers", "show", "zero"]);
        assert!(
            r.stdout.contains("win-back") && r.stdout.contains("skipped (template_error)"),
            "{r:?}"
        );
        // A preview shows the same before anything is recorded.
        let fresh = Workspace::new(backend);
        fresh.write(
            "rules/win-back.toml",
            &std::fs::read_to_string(ws.path("rules/win-back.toml")).unwrap(),
        );
        load(&fresh, &customers, &events);
        let r = fresh.rekindle(&["rules", "preview", "--at", T, "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let zero = r
            .stdout
            .lines()
            .find(|l| l.contains("\"zero\""))
            .unwrap_or_else(|| panic!("{r:?}"));
        assert!(zero.contains("\"reason\":\"template_error\""), "{zero}");
    }
}

#[test]
fn a_short_link_secret_is_refused_and_says_how_to_make_one() {
    let ws = Workspace::with_config(Backend::Sqlite, "public_url = \"https://r.example\"");
    ws.write("rules/win-back.toml", WIN_BACK);
    let r = ws.rekindle_env(&["run", "--once", "--at", T], &[("REKINDLE_LINK_SECRET", "a")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("at least 32") && r.stderr.contains("openssl rand -hex 32"),
        "{r:?}"
    );
}

fn smtp_workspace(port: u16, extra: &str) -> Workspace {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        &format!(
            "[business]\naddress = \"Baross tér 3, 9021 Győr\"\n[email]\ntransport = \"smtp\"\nfrom = \"Café <hello@cafe.example>\"\n{extra}\
             [email.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout = \"2s\"\n"
        ),
    );
    ws.write("rules/win-back.toml", WIN_BACK);
    ws
}

#[test]
fn smtp_without_a_way_to_unsubscribe_refuses_to_start() {
    let server = SmtpServer::start();
    let ws = smtp_workspace(server.port(), "");
    load_lapsed(&ws, 1, |_| "c@example.com,,,UTC,yes,".to_string());
    for args in [&["run", "--once", "--at", T][..], &["serve"]] {
        let r = ws.rekindle(args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("public_url") && r.stderr.contains("unsubscribe_mailto"),
            "both ways are named: {r:?}"
        );
    }
    assert!(
        server.state.lock().unwrap().received.is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_mailto_unsubscribe_goes_out_and_its_token_is_applied() {
    let server = SmtpServer::start();
    let mut ws = smtp_workspace(
        server.port(),
        "unsubscribe_mailto = \"unsubscribe@cafe.example\"\n",
    );
    ws.env
        .push(("REKINDLE_LINK_SECRET".into(), TEST_LINK_SECRET.into()));
    load_lapsed(&ws, 1, |_| "c@example.com,,,UTC,yes,".to_string());
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("sent 1"), "{r:?}");
    assert!(
        r.stdout.contains("email: sent over SMTP to 127.0.0.1"),
        "the summary says what happened: {r:?}"
    );
    let payload = server.state.lock().unwrap().accepted.pop().unwrap();
    let header = payload
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .unwrap_or_else(|| panic!("no List-Unsubscribe in {payload}"));
    assert!(
        header.contains("<mailto:unsubscribe@cafe.example?subject=unsubscribe-"),
        "{header}"
    );
    assert!(
        !payload.contains("List-Unsubscribe-Post"),
        "one-click needs an https link"
    );
    assert!(
        payload.contains("To unsubscribe, reply to unsubscribe@cafe.example"),
        "{payload}"
    );
    let subject = header
        .split("subject=")
        .nth(1)
        .unwrap()
        .trim_end_matches('>')
        .to_string();
    // A forged token changes nothing.
    let r = ws.rekindle(&["unsubscribe", "--token", "unsubscribe-1.0000"]);
    assert_eq!(r.code, 1, "{r:?}");
    let r = ws.rekindle(&["unsubscribe", "--token", &format!("Re: {subject}")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("unsubscribed customer c00 from email"), "{r:?}");
    let store = ws.store().await;
    let c = store.customer_by_external_id("c00").await.unwrap().unwrap();
    assert!(c.unsubscribed_email_at.is_some());
}

#[tokio::test]
async fn why_messages_failed_is_visible_and_failed_ones_can_be_retried() {
    let server = SmtpServer::start();
    {
        let mut s = server.state.lock().unwrap();
        s.reject_rcpt.insert(
            "c00@example.com".into(),
            "550 5.1.1 <c00@example.com>: user unknown",
        );
        s.reject_rcpt
            .insert("c01@example.com".into(), "451 4.7.1 greylisted (example.test)");
    }
    let mut ws = smtp_workspace(
        server.port(),
        "unsubscribe_mailto = \"unsubscribe@cafe.example\"\n",
    );
    ws.env
        .push(("REKINDLE_LINK_SECRET".into(), TEST_LINK_SECRET.into()));
    load_lapsed(&ws, 3, |i| format!("c{i:02}@example.com,,,UTC,yes,"));
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("1 waiting to retry: transient error (451): 4.7.1 greylisted (example.test)"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("1 bounced: permanent error (550): 5.1.1 <…@example.com>: user unknown"),
        "{r:?}"
    );
    assert!(
        !r.stdout.contains("c00@example.com"),
        "no address in the summary: {r:?}"
    );

    let r = ws.rekindle(&["messages", "list", "--status", "queued"]);
    assert!(
        r.stdout.contains("c01") && r.stdout.contains("greylisted"),
        "{r:?}"
    );
    let r = ws.rekindle(&["messages", "list", "--customer", "c00", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["status"].as_str(), row["attempts"].as_i64()),
        (Some("bounced"), Some(1))
    );

    // A permanent failure that the business fixed on its side (the mailbox exists again).
    let store = ws.store().await;
    let failed = store
        .list_messages(&rekindle::store::MessageFilter {
            customer: Some("c01".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await;
    server
        .state
        .lock()
        .unwrap()
        .reject_rcpt
        .insert("c01@example.com".into(), "554 5.7.1 rejected");
    let r = ws.rekindle(&["run", "--once", "--at", "2026-06-15T12:10:00Z"]);
    assert!(
        r.stdout
            .contains("1 failed: permanent error (554): 5.7.1 rejected"),
        "{r:?}"
    );
    let r = ws.rekindle(&["messages", "retry", "--status", "failed"]);
    assert!(r.stdout.contains("requeued 1 message"), "{r:?}");
    server.state.lock().unwrap().reject_rcpt.clear();
    // Requeued for now (the wall clock), so the next run without a replay instant sends it.
    let r = ws.rekindle(&["run", "--once"]);
    assert!(r.stdout.contains("sent 1"), "{r:?}");
    let r = ws.rekindle(&["messages", "list", "--customer", "c01", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        row["id"].as_i64(),
        Some(failed[0].id),
        "the same message went out"
    );
    assert_eq!(row["status"].as_str(), Some("sent"));
    // Retrying a sent message does nothing.
    let r = ws.rekindle(&["messages", "retry", &failed[0].id.to_string()]);
    assert!(
        r.stdout.contains("requeued 0") && r.stderr.contains("not requeued"),
        "{r:?}"
    );
    // Support sees why the customer got what they got.
    let r = ws.rekindle(&["customers", "show", "c00"]);
    assert!(
        r.stdout.contains("win-back") && r.stdout.contains("bounced"),
        "{r:?}"
    );
}

#[tokio::test]
async fn bad_cells_are_rejected_by_line_on_both_backends_and_the_rest_imports() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        let long = "x".repeat(1001);
        ws.write(
            "customers.csv",
            &format!("{CUSTOMERS_HEADER}\nok,Ok,,,,,,,\nnul,Bad\0Name,,,,,,,\nlong,{long},,,,,,,\n"),
        );
        let r = ws.rekindle(&["import", "customers", "customers.csv"]);
        assert_eq!(r.code, 3, "{backend:?}: {r:?}");
        assert!(
            r.stdout.contains("imported 1, updated 0, rejected 2"),
            "{backend:?}: {r:?}"
        );
        assert!(
            r.stderr
                .contains("customers.csv:3: name: contains a NUL character"),
            "{r:?}"
        );
        assert!(
            r.stderr
                .contains("customers.csv:4: name: longer than 1000 characters"),
            "{r:?}"
        );
        ws.write(
            "events.csv",
            &format!(
                "{EVENTS_HEADER}\ne1,ok,visit,2026-05-01T10:00:00Z,12.5,\ne2,ok,purchase,2026-05-01T10:00:00Z,1e308,\n\
                 e3,ok,purchase,2026-05-01T10:00:00Z,-1e12,\ne4,ok,visit,2026-05-01T10:00:00+25:00,,\n"
            ),
        );
        let r = ws.rekindle(&["import", "events", "events.csv"]);
        assert!(
            r.stdout.contains("imported 1, updated 0, rejected 3"),
            "{backend:?}: {r:?}"
        );
        assert!(
            r.stderr.contains("events.csv:3: amount: 1e308 is out of range"),
            "{r:?}"
        );
        assert!(
            r.stderr.contains("events.csv:5: occurred_at: invalid timestamp"),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn instances_starting_together_on_a_fresh_database_all_get_the_whole_schema() {
    for backend in backends() {
        for _ in 0..5 {
            let ws = Workspace::new(backend);
            let children: Vec<_> = (0..3)
                .map(|_| {
                    command_in(ws.dir.path(), &["migrate"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for child in children {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{backend:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // `migrate` creates the job queue's tables as well as rekindle's.
            let store = ws.store().await;
            let jobs: i64 = match &store {
                rekindle::store::Store::Sqlite(pool) => {
                    sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Jobs'")
                        .fetch_one(pool)
                        .await
                        .unwrap()
                }
                rekindle::store::Store::Postgres(pool) => {
                    sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'apalis' AND table_name = 'jobs'")
                        .fetch_one(pool)
                        .await
                        .unwrap()
                }
            };
            assert_eq!(jobs, 1, "{backend:?}: the queue's table exists");
            store.close().await;
        }
    }
}

#[tokio::test]
async fn moving_to_postgresql_with_store_copy_keeps_every_opt_out() {
    if !backends().contains(&Backend::Postgres) {
        return; // `backends()` said loudly that PostgreSQL is not tested.
    }
    let ws = Workspace::new(Backend::Sqlite);
    ws.write("rules/win-back.toml", WIN_BACK);
    load_lapsed(&ws, 3, |i| {
        format!("c{i:02}@example.com,+3630123450{i},,UTC,yes,yes")
    });
    assert_eq!(ws.rekindle(&["run", "--once", "--at", T]).code, 0);
    // The previous tool's opt-out list: c01 said no; a hashed entry stands for someone erased.
    ws.write(
        "optout.csv",
        &format!(
            "channel,address,sha256,reason\nemail,C01@example.com,,asked by phone\nemail,,{},erased\nfax,x,,\n",
            rekindle::store::address_hash("email", "ghost@example.com")
        ),
    );
    let r = ws.rekindle(&["import", "suppressions", "optout.csv"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("2 new to the suppression list, 1 current customer(s) unsubscribed, rejected 1"),
        "{r:?}"
    );
    assert!(r.stderr.contains("optout.csv:4: channel"), "{r:?}");

    let pg = Workspace::new(Backend::Postgres);
    let r = ws.rekindle(&["store", "copy", "--to", &pg.db_url]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("customers") && r.stdout.contains("every table's row count matches"),
        "{r:?}"
    );
    // A second copy would mix two histories: refused unless asked for.
    let r = ws.rekindle(&["store", "copy", "--to", &pg.db_url]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("already holds data") && r.stderr.contains("--force"),
        "{r:?}"
    );
    assert_eq!(
        ws.rekindle(&["store", "copy", "--to", &pg.db_url, "--force"])
            .code,
        0
    );

    // An interrupted copy resumes: the target lost its last rows and its copy is unfinished.
    let target = pg.store().await;
    if let rekindle::store::Store::Postgres(pool) = &target {
        sqlx::query("DELETE FROM message_events")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE store_copies SET finished_at = NULL")
            .execute(pool)
            .await
            .unwrap();
    }
    let r = ws.rekindle(&["store", "copy", "--to", &pg.db_url]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("resumed an interrupted copy"), "{r:?}");

    // The service now runs on PostgreSQL (the same rules beside the new configuration).
    pg.write("rules/win-back.toml", WIN_BACK);
    let c01 = target.customer_by_external_id("c01").await.unwrap().unwrap();
    assert!(c01.unsubscribed_email_at.is_some(), "the opt-out moved");
    // Re-importing the old CSV (what the guide used to say) resubscribes nobody.
    std::fs::copy(ws.path("customers.csv"), pg.path("customers.csv")).unwrap();
    assert_eq!(pg.rekindle(&["import", "customers", "customers.csv"]).code, 0);
    pg.write(
        "ghost.csv",
        &format!("{CUSTOMERS_HEADER}\nghost,G,ghost@example.com,,,UTC,yes,,\n"),
    );
    assert_eq!(pg.rekindle(&["import", "customers", "ghost.csv"]).code, 0);
    for id in ["c01", "ghost"] {
        let c = target.customer_by_external_id(id).await.unwrap().unwrap();
        assert!(c.unsubscribed_email_at.is_some(), "{id} must stay unsubscribed");
    }
    // The history came along: the report counts the same sends, and new rows get new ids.
    let r = pg.rekindle(&["report", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(report["rules"][0]["decisions"]["send"], 3, "{r:?}");
    pg.write(
        "later.csv",
        &format!("{EVENTS_HEADER}\nlater,c00,visit,2026-07-01T10:00:00Z,,\n"),
    );
    assert_eq!(pg.rekindle(&["import", "events", "later.csv"]).code, 0);
    let r = pg.rekindle(&["run", "--once", "--at", "2026-08-15T12:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("sent 1"),
        "c00 lapsed again and is written to: {r:?}"
    );
    target.close().await;

    // The list can leave again, hashes included.
    let r = ws.rekindle(&["export", "suppressions", "-"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with("channel,address,sha256,reason,since\n"),
        "{r:?}"
    );
    assert!(r.stdout.contains("email,c01@example.com,"), "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            ",{},erased,",
            rekindle::store::address_hash("email", "ghost@example.com")
        )),
        "{r:?}"
    );
}
