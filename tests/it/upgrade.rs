//! A store written by an earlier version keeps working after the upgrade: what it had queued
//! goes out, with the text it was decided with.

use crate::helpers::{Backend, Workspace, backends, outbox_emails};

/// The instant the messages were decided and queued under the earlier version.
const DECIDED: i64 = 1_781_517_600; // 2026-06-15T10:00:00Z

/// A customer, a send decision and its queued message as the schema before migration 0017
/// held them (`$1`: [`DECIDED`]): the message carried its own copy of the decision's text.
const QUEUED_BEFORE_0017: [&str; 4] = [
    "INSERT INTO customers (external_id, name, email, timezone, consent_email, created_at, updated_at) \
     VALUES ('c1', 'Anna', 'anna@example.com', 'UTC', TRUE, $1, $1)",
    "INSERT INTO decisions (rule_id, customer_id, occurrence_key, decision, channel, send_at, decided_at, \
     recorded_at, subject, body) SELECT 'win-back', id, 'lapsed-2026-05-01', 'send', 'email', $1, $1, $1, \
     'We miss you, Anna', 'Your usual table is waiting.' FROM customers",
    "INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, attempts, scheduled_at, \
     next_attempt_at, subject, body, created_at, updated_at) SELECT id, rule_id, customer_id, channel, \
     'queued', 0, send_at, send_at, subject, body, $1, $1 FROM decisions",
    "INSERT INTO message_events (message_id, status, at) SELECT id, 'queued', $1 FROM messages",
];

/// Migrates a fresh store of `ws` up to 0016 only, and queues the message there.
async fn write_earlier_store(ws: &Workspace) {
    macro_rules! earlier {
        ($migrations:literal, $pool:expr) => {{
            let pool = $pool;
            let mut migrator = sqlx::migrate!($migrations);
            migrator.dangerous_set_table_name(rekindle::store::MIGRATIONS_TABLE);
            migrator.run_to(16, &pool).await.unwrap();
            for sql in QUEUED_BEFORE_0017 {
                sqlx::query(sql).bind(DECIDED).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }};
    }
    match ws.backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = ws.db_url.parse().unwrap();
            earlier!(
                "migrations/sqlite",
                sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                    .await
                    .unwrap()
            )
        }
        Backend::Postgres => earlier!(
            "migrations/postgres",
            sqlx::PgPool::connect(&ws.db_url).await.unwrap()
        ),
    }
}

#[tokio::test]
async fn a_message_queued_before_the_upgrade_goes_out_with_its_text() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        write_earlier_store(&ws).await;
        std::fs::create_dir_all(ws.path("rules")).unwrap();
        let at = jiff::Timestamp::from_second(DECIDED + 60).unwrap().to_string();
        let r = ws.rekindle(&["run", "--once", "--at", &at]);
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");
        let sent = outbox_emails(&ws);
        assert_eq!(sent.len(), 1, "{backend:?}: {r:?}");
        assert!(
            sent[0].contains("Subject: We miss you, Anna")
                && sent[0].contains("Your usual table is waiting."),
            "{backend:?}: {}",
            sent[0]
        );
        let r = ws.rekindle(&["messages", "list"]);
        assert!(r.stdout.contains("sent"), "{backend:?}: {r:?}");
    }
}
