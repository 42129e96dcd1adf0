use crate::helpers::{CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends};

const CUSTOMERS: &str = "\
id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,city,tier
c1,Anna Kovács,anna@example.com,+36 30 123-4567,1990-05-14,Europe/Budapest,yes,no,brunch; regular,Budapest,gold
c2,Ben Ito,,+81 90 1234 5678,--02-29,Asia/Tokyo,0,TRUE,,,
c3,Cleo,cleo@example.org,,,,,,,Győr,
";

const EVENTS: &str = "\
id,customer_id,kind,occurred_at,amount,score,staff
e1,c1,visit,2026-05-01T10:00:00+02:00,12.50,,Eva
e2,c1,Visit,2026-05-08T10:00:00.750+02:00,,,
e3,c1,feedback,2026-05-08T12:00:00Z,,9,
e4,c2,booking,2026-05-09T09:30:00+09:00,-3,,
";

#[tokio::test]
async fn customers_and_events_round_trip() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        ws.write("customers.csv", CUSTOMERS);
        ws.write("events.csv", EVENTS);
        let r = ws.rekindle(&["import", "customers", "customers.csv"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        assert_eq!(
            r.stdout.trim(),
            "imported 3, updated 0, rejected 0",
            "{backend:?}"
        );
        let r = ws.rekindle(&["import", "events", "events.csv"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        assert_eq!(
            r.stdout.trim(),
            "imported 4, updated 0, rejected 0",
            "{backend:?}"
        );

        let store = ws.store().await;
        let anna = store
            .customer_by_external_id("c1")
            .await
            .unwrap()
            .expect("c1 stored");
        assert_eq!(anna.name.as_deref(), Some("Anna Kovács"));
        assert_eq!(anna.email.as_deref(), Some("anna@example.com"));
        assert_eq!(anna.phone.as_deref(), Some("+36301234567"), "separators dropped");
        assert_eq!(anna.birthday.as_deref(), Some("1990-05-14"));
        assert_eq!(anna.timezone.as_deref(), Some("Europe/Budapest"));
        assert!(anna.consent_email && !anna.consent_sms);
        assert_eq!(anna.tags, r#"["brunch","regular"]"#);
        assert_eq!(anna.attributes, r#"{"city":"Budapest","tier":"gold"}"#);

        let ben = store.customer_by_external_id("c2").await.unwrap().unwrap();
        assert_eq!(ben.email, None, "empty email means no email");
        assert_eq!(
            ben.birthday.as_deref(),
            Some("--02-29"),
            "year-less birthday kept"
        );
        assert!(!ben.consent_email && ben.consent_sms);
        assert_eq!(ben.attributes, "{}", "empty extra cells are not attributes");
        let cleo = store.customer_by_external_id("c3").await.unwrap().unwrap();
        assert_eq!(
            cleo.timezone, None,
            "empty time zone means the configured default"
        );

        let events = store.events_of_customer(anna.id, i64::MAX).await.unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["visit", "visit", "feedback"], "kinds are lower-cased");
        // 10:00+02:00 is 08:00 UTC; fractions of a second are dropped.
        assert_eq!(events[0].occurred_at, 1_777_622_400);
        assert_eq!(events[1].occurred_at, 1_777_622_400 + 7 * 86_400);
        assert_eq!(events[0].amount, Some(12.5));
        assert_eq!(events[0].properties, r#"{"staff":"Eva"}"#);
        assert_eq!(events[2].score, Some(9.0));
        let ben_events = store.events_of_customer(ben.id, i64::MAX).await.unwrap();
        assert_eq!(ben_events[0].amount, Some(-3.0), "refunds keep their sign");
        store.close().await;
    }
}

#[tokio::test]
async fn reimporting_the_same_files_changes_nothing_and_edits_are_updates() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        crate::helpers::load(&ws, CUSTOMERS, EVENTS);
        for file in ["customers", "events"] {
            let r = ws.rekindle(&["import", file, &format!("{file}.csv")]);
            assert_eq!(r.code, 0, "{backend:?}: {r:?}");
            assert_eq!(
                r.stdout.trim(),
                "imported 0, updated 0, rejected 0",
                "{backend:?} {file}"
            );
        }
        let store = ws.store().await;
        assert_eq!(store.count_customers().await.unwrap(), 3);
        assert_eq!(store.count_events().await.unwrap(), 4);

        // One changed row, one new row: an update and an insert.
        ws.write(
            "customers.csv",
            &CUSTOMERS
                .replace("Cleo,cleo@", "Cleo Park,cleo@")
                .replace("c3,", "c4,Dora,,,,,,,,,\nc3,"),
        );
        let r = ws.rekindle(&["import", "customers", "customers.csv"]);
        assert_eq!(
            r.stdout.trim(),
            "imported 1, updated 1, rejected 0",
            "{backend:?}: {r:?}"
        );
        let cleo = store.customer_by_external_id("c3").await.unwrap().unwrap();
        assert_eq!(cleo.name.as_deref(), Some("Cleo Park"));
        store.close().await;
    }
}

#[test]
fn every_kind_of_bad_row_is_named_with_its_line_and_the_rest_imports() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        let customers = format!(
            "{CUSTOMERS_HEADER}\n\
             ok1,Good,good@example.com,,,,,,\n\
             bad-email,X,not-an-email,,,,,,\n\
             bad-phone,X,,12345,,,,,\n\
             bad-tz,X,,,,Europe/Atlantis,,,\n\
             bad-birthday,X,,,1990-02-30,,,,\n\
             bad-consent,X,,,,,maybe,,\n\
             ,no id,,,,,,,\n\
             short,X\n\
             ok2,Also good,,+15550001111,--12-24,America/New_York,,yes,\n"
        );
        ws.write("customers.csv", &customers);
        let r = ws.rekindle(&["import", "customers", "customers.csv"]);
        assert_eq!(r.code, 3, "{backend:?}: rows were rejected: {r:?}");
        assert_eq!(r.stdout.trim(), "imported 2, updated 0, rejected 7", "{r:?}");
        for expected in [
            "customers.csv:3: email: invalid email address \"not-an-email\"",
            "customers.csv:4: phone: invalid phone number \"12345\"",
            "customers.csv:5: timezone: unknown time zone \"Europe/Atlantis\"",
            "customers.csv:6: birthday: invalid birthday \"1990-02-30\"",
            "customers.csv:7: consent_email: invalid yes/no value \"maybe\"",
            "customers.csv:8: missing id",
            "customers.csv:9: expected 9 fields as in the header, found 2",
        ] {
            assert!(
                r.stderr.contains(expected),
                "{backend:?}: missing {expected:?} in {r:?}"
            );
        }

        let events = format!(
            "{EVENTS_HEADER}\n\
             e1,ok1,visit,2026-03-01T10:00:00Z,,\n\
             e2,nobody,visit,2026-03-01T10:00:00Z,,\n\
             e3,ok1,visit,2026-03-01 10:00,,\n\
             e4,ok1,visit,2027-02-29T10:00:00Z,,\n\
             e5,ok1,feedback,2026-03-01T10:00:00Z,,11\n\
             e6,ok1,feedback,2026-03-01T10:00:00Z,,-1\n\
             e7,ok1,purchase,2026-03-01T10:00:00Z,ten,\n\
             e8,ok1,my visit!,2026-03-01T10:00:00Z,,\n\
             e9,ok2,visit,2026-03-02T10:00:00-05:00,,\n"
        );
        ws.write("events.csv", &events);
        let r = ws.rekindle(&["import", "events", "events.csv"]);
        assert_eq!(r.code, 3, "{backend:?}: {r:?}");
        assert_eq!(r.stdout.trim(), "imported 2, updated 0, rejected 7", "{r:?}");
        for expected in [
            "events.csv:3: customer_id: unknown customer \"nobody\"",
            "events.csv:4: occurred_at: invalid timestamp \"2026-03-01 10:00\"",
            "events.csv:5: occurred_at: invalid timestamp \"2027-02-29T10:00:00Z\"",
            "events.csv:6: score: 11 is out of range 0-10",
            "events.csv:7: score: -1 is out of range 0-10",
            "events.csv:8: amount: invalid number \"ten\"",
            "events.csv:9: kind: invalid event kind \"my visit!\"",
        ] {
            assert!(
                r.stderr.contains(expected),
                "{backend:?}: missing {expected:?} in {r:?}"
            );
        }
    }
}

#[test]
fn a_quoted_multiline_cell_does_not_shift_line_numbers() {
    let ws = Workspace::new(crate::helpers::Backend::Sqlite);
    let customers =
        format!("{CUSTOMERS_HEADER},note\nc1,\"Anna\nKovács\",,,,,,,,\"two\nlines\"\nc2,X,bad,,,,,,,\n");
    ws.write("customers.csv", &customers);
    let r = ws.rekindle(&["import", "customers", "customers.csv"]);
    assert!(r.stderr.contains("customers.csv:5: email"), "{r:?}");
}

#[test]
fn a_file_without_a_required_column_is_refused_before_any_row() {
    let ws = Workspace::new(crate::helpers::Backend::Sqlite);
    ws.write(
        "events.csv",
        "id,customer_id,occurred_at\ne1,c1,2026-01-01T00:00:00Z\n",
    );
    let r = ws.rekindle(&["import", "events", "events.csv"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("events.csv:1: missing required column \"kind\""),
        "{r:?}"
    );

    let r = ws.rekindle(&["import", "customers", "missing.csv"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("missing.csv"), "{r:?}");
}

#[tokio::test]
async fn a_duplicate_id_within_one_file_keeps_the_later_line() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        let customers = format!("{CUSTOMERS_HEADER}\nc1,First,,,,,,,\nc1,Second,,,,,,,\n");
        ws.write("customers.csv", &customers);
        let r = ws.rekindle(&["import", "customers", "customers.csv"]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        let store = ws.store().await;
        let c = store.customer_by_external_id("c1").await.unwrap().unwrap();
        assert_eq!(c.name.as_deref(), Some("Second"), "{backend:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn large_files_import_across_many_transactions() {
    // More rows than one transaction takes, so batching and counting across batches are used.
    for backend in backends() {
        let ws = Workspace::new(backend);
        let mut customers = String::from(CUSTOMERS_HEADER);
        let mut events = String::from(EVENTS_HEADER);
        for i in 0..500 {
            customers.push_str(&format!("\nc{i},Customer {i},c{i}@example.com,,,,yes,,"));
        }
        for i in 0..45_000 {
            events.push_str(&format!("\ne{i},c{},visit,2026-01-01T00:00:00Z,,", i % 500));
        }
        // A line repeated two batches later replaces the first, even in a first bulk load.
        events.push_str("\ne5,c5,booking,2026-01-02T00:00:00Z,,\n");
        ws.write("customers.csv", &customers);
        ws.write("events.csv", &events);
        assert_eq!(ws.rekindle(&["import", "customers", "customers.csv"]).code, 0);
        let r = ws.rekindle(&["import", "events", "events.csv"]);
        assert_eq!(
            r.stdout.trim(),
            "imported 45000, updated 1, rejected 0",
            "{backend:?}: {r:?}"
        );
        let store = ws.store().await;
        assert_eq!(store.count_events().await.unwrap(), 45_000);
        let c5 = store.customer_by_external_id("c5").await.unwrap().unwrap();
        let c5_events = store.events_of_customer(c5.id, i64::MAX).await.unwrap();
        let e5: Vec<_> = c5_events.iter().filter(|e| e.external_id == "e5").collect();
        assert_eq!(e5.len(), 1, "{backend:?}");
        assert_eq!(e5[0].kind, "booking", "{backend:?}: the later line wins");

        // A later export: each batch starts with new rows and then meets rows already stored
        // (one of them changed), so the new rows copied so far must not count or stay twice.
        let mut later = String::from(EVENTS_HEADER);
        for i in 0..30_000 {
            if i % 10_000 == 9_000 {
                later.push_str(&format!("\ne{i},c{},booking,2026-01-01T00:00:00Z,,", i % 500));
            } else if i % 10_000 > 9_000 {
                later.push_str(&format!("\ne{i},c{},visit,2026-01-01T00:00:00Z,,", i % 500));
            } else {
                later.push_str(&format!("\nn{i},c{},visit,2026-02-01T00:00:00Z,,", i % 500));
            }
        }
        later.push('\n');
        ws.write("later.csv", &later);
        let r = ws.rekindle(&["import", "events", "later.csv"]);
        assert_eq!(
            r.stdout.trim(),
            "imported 27000, updated 3, rejected 0",
            "{backend:?}: {r:?}"
        );
        assert_eq!(store.count_events().await.unwrap(), 72_000);
        let c0 = store.customer_by_external_id("c0").await.unwrap().unwrap();
        let events = store.events_of_customer(c0.id, i64::MAX).await.unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == "booking").count(),
            3,
            "{backend:?}: the changed rows are updated in place"
        );
        store.close().await;
    }
}

/// An import on SQLite leaves the query planner's statistics current, so the next command to
/// open the store does not stop to analyse what was imported (after a million customers the
/// first command paid 0.8 s and 250 MiB for it), and the job queue's statistic of migration
/// 0007 survives the analysis (without it its acknowledgements scan every locked job).
#[tokio::test]
async fn an_import_on_sqlite_leaves_the_planner_statistics_current() {
    let ws = Workspace::new(crate::helpers::Backend::Sqlite);
    let events: String = (0..300)
        .map(|i| format!("e{i},c{},visit,2026-05-01T10:00:00Z,,\n", i % 3 + 1))
        .collect();
    crate::helpers::load(&ws, CUSTOMERS, &format!("{EVENTS_HEADER}\n{events}"));
    // A bare connection: opening the store would analyse on its own.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", ws.path("rekindle.db").display()))
        .await
        .unwrap();
    let stat = |tbl: &'static str, idx: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT stat FROM sqlite_stat1 WHERE tbl = $1 AND idx = $2")
                .bind(tbl)
                .bind(idx)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    };
    let events_stat = stat("events", "events_customer_kind_time").await;
    assert!(
        events_stat.as_deref().is_some_and(|s| s.starts_with("300 ")),
        "statistics of the imported events: {events_stat:?}"
    );
    assert_eq!(stat("Jobs", "LIdx").await.as_deref(), Some("100000 100000"));
}
