//! The delivery ledger: messages, their transitions, and the instances that claim them.

use sqlx::FromRow;

use super::wakes::{Listed, only_clause};
use super::{Store, StoreError, on_pool};

/// A message claimed for sending, with what is needed to send it now.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedMessage {
    pub id: i64,
    pub rule_id: String,
    #[sqlx(try_from = "String")]
    pub channel: crate::domain::Channel,
    pub attempts: i64,
    pub scheduled_at: i64,
    pub subject: Option<String>,
    pub body: String,
    /// JSON array of the URLs to track; `None` on messages recorded before links were
    /// tracked selectively (nothing of theirs is rewritten).
    pub links: Option<String>,
    pub customer_external_id: String,
    /// As read with the claim.
    #[sqlx(flatten)]
    pub contact: Contact,
    /// It carries a series' offer code: its going out issues the code.
    pub carries_offer: bool,
    /// Email: the parts of its decision besides subject and body.
    pub preheader: Option<String>,
    pub button_text: Option<String>,
    pub button_url: Option<String>,
    /// The language its text is written in (`None`: recorded before languages were kept).
    pub language: Option<String>,
}

/// How a customer can be reached on each channel, and whether they may be.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub consent_email: bool,
    pub consent_sms: bool,
    pub unsubscribed_email_at: Option<i64>,
    pub unsubscribed_sms_at: Option<i64>,
    pub email_bounced_at: Option<i64>,
}

/// How a delivery attempt ended, as the ledger records it. Owned, so that it can wait for a
/// group commit (`delivery::group_commit`).
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub status: crate::domain::MessageStatus,
    pub reason: Option<&'static str>,
    pub provider_ref: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub outcome_unknown: bool,
    /// For a retry: when to try again (status stays `queued`).
    pub next_attempt_at: Option<i64>,
}

impl Finish {
    /// An attempt that ends without reaching a provider, or with nothing to add but the status.
    pub fn ended(status: crate::domain::MessageStatus, reason: Option<&'static str>) -> Finish {
        Finish {
            status,
            reason,
            provider_ref: None,
            error_code: None,
            error: None,
            outcome_unknown: false,
            next_attempt_at: None,
        }
    }
}

/// New messages after which PostgreSQL's statistics of the ledger are refreshed at once.
const ANALYZE_AFTER: u64 = 1000;

impl Store {
    /// Creates a queued message for every recorded `send` decision that has none yet; safe to
    /// repeat after a crash at any point. With `since`, only decisions recorded at or after it
    /// (wall-clock seconds) are looked at: a tick's own, found by the partial index
    /// `decisions_sends_recorded`, where the full pass (`None`) reads every send decision
    /// (BENCHMARKS.md, twelfth sitting). Returns how many were created.
    pub async fn materialize_messages(&self, now: i64, since: Option<i64>) -> Result<u64, StoreError> {
        const INSERT: &str = "INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, attempts, \
            scheduled_at, next_attempt_at, created_at, updated_at) \
            SELECT d.id, d.rule_id, d.customer_id, d.channel, 'queued', 0, d.send_at, d.send_at, $1, $1 \
            FROM decisions d \
            WHERE d.decision = 'send' AND d.recorded_at >= $2 \
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = d.id) RETURNING id";
        // Each new message's first history row, in the same transaction: no message is ever
        // without one, so the new ones are named rather than searched for.
        let events = format!(
            "INSERT INTO message_events (message_id, status, at) SELECT id, 'queued', created_at \
             FROM messages WHERE true{}",
            only_clause(self, "id", 1)
        );
        let full = since.is_none();
        let since = since.unwrap_or(i64::MIN);
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if full && matches!(self, Store::Postgres(_)) {
                // With statistics taken while the ledger was empty (a `VACUUM ANALYZE` of a new
                // store), PostgreSQL believes `messages` holds one row and checks each decision
                // by scanning it — a table the statement itself fills: quadratic (the history
                // rows' search, planned the same way, ran for over 15 minutes on a million
                // messages). A full pass reads every send decision anyway: a hash anti-join.
                sqlx::query("SET LOCAL enable_nestloop = off").execute(&mut *tx).await?;
            }
            let ids: Vec<i64> = sqlx::query_scalar(INSERT).bind(now).bind(since).fetch_all(&mut *tx).await?;
            if !ids.is_empty() {
                sqlx::query(sqlx::AssertSqlSafe(events.as_str())).bind(Listed(&ids)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            ids.len() as u64
        });
        // Claims find their messages by id, and PostgreSQL must plan them by primary key. With
        // statistics from before a large enqueue it believes few messages are queued and scans
        // the due index instead — every queued message for every claim (measured with 20k
        // queued: 6 ms a claim instead of 0.1 ms, and PostgreSQL's CPU the limit on delivery).
        // Autovacuum would catch up within a minute or so; the tick's messages are due now.
        if n >= ANALYZE_AFTER
            && let Store::Postgres(pool) = self
        {
            sqlx::query("ANALYZE messages").execute(pool).await?;
        }
        Ok(n)
    }

    /// How many queued messages are due at or before `now`.
    pub async fn count_due(&self, now: i64) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM messages WHERE status = 'queued' AND next_attempt_at <= $1";
        on_pool!(self, pool => Ok(sqlx::query_scalar(SQL).bind(now).fetch_one(pool).await?))
    }

    /// Queued messages not yet due: (id, attempts, next_attempt_at).
    pub async fn future_messages(&self, now: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        const SQL: &str = "SELECT id, attempts, next_attempt_at FROM messages WHERE status = 'queued' \
            AND next_attempt_at > $1 ORDER BY next_attempt_at, id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(now).fetch_all(pool).await?))
    }

    pub async fn register_instance(&self, id: &str, now: i64) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $2) \
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";
        on_pool!(self, pool => { sqlx::query(SQL).bind(id).bind(now).execute(pool).await?; Ok(()) })
    }

    pub async fn instance_ids(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT id FROM instances").fetch_all(pool).await?))
    }

    pub async fn unregister_instance(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("DELETE FROM instances WHERE id = $1").bind(id).execute(pool).await?; Ok(()) })
    }

    /// Messages left `sending` by an instance whose heartbeat is older than `stale_before` (or
    /// that is gone) go back to the queue: their process died mid-send.
    pub async fn recover_orphans(&self, stale_before: i64, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE messages SET status = 'queued', claimed_by = NULL, updated_at = $2, \
            last_detail = 'taken back from a stopped instance' \
            WHERE status = 'sending' AND (claimed_by IS NULL OR claimed_by NOT IN \
            (SELECT id FROM instances WHERE heartbeat_at >= $1))";
        const GONE: &str = "DELETE FROM instances WHERE heartbeat_at < $1";
        on_pool!(self, pool => {
            let n = sqlx::query(SQL).bind(stale_before).bind(now).execute(pool).await?.rows_affected();
            sqlx::query(GONE).bind(stale_before).execute(pool).await?;
            Ok(n)
        })
    }

    /// Takes one queued, due message for sending; see [`Store::claim_messages`].
    pub async fn claim_message(
        &self,
        id: i64,
        instance: &str,
        now: i64,
    ) -> Result<Option<ClaimedMessage>, StoreError> {
        Ok(self.claim_messages(&[id], instance, now).await?.pop())
    }

    /// Takes the queued, due messages among `ids` for sending (attempts + 1) and returns them
    /// in no particular order. A message that is not there to take — already sent, taken by
    /// another worker, not due — is left out, so a duplicate job is harmless. The conditional
    /// UPDATE decides ownership; the rows are read after it, so consent is as fresh as the
    /// claim. Two statements whatever the number of ids (the ids travel as one JSON array):
    /// on SQLite every statement is a hand-off to its worker thread, which is what limited
    /// delivery (BENCHMARKS.md). (On PostgreSQL one statement, the UPDATE's returned rows
    /// joined to what is sent, took more server time than the two and no less wall time.)
    /// The status trigger writes the event rows (migration 0006).
    pub async fn claim_messages(
        &self,
        ids: &[i64],
        instance: &str,
        now: i64,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // `$1` is a JSON array of ids; the two backends unpack it with different functions.
        // `$status` is `+status` on SQLite: the unary plus keeps its planner from walking the
        // (status, next_attempt_at) index through every queued message and testing each
        // against the list — 2 ms a claim with 20k queued, growing with the backlog — where
        // looking the listed ids up takes 0.05 ms.
        macro_rules! claim {
            ($ids:literal, $status:literal) => {
                concat!(
                    "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_by = $2, \
                     updated_at = $3, last_detail = NULL \
                     WHERE id IN (SELECT CAST(j.value AS BIGINT) FROM ",
                    $ids,
                    " AS j) AND ",
                    $status,
                    " = 'queued' AND next_attempt_at <= $3 RETURNING id"
                )
            };
        }
        // What is sent; a message's text is its decision's (migration 0017).
        macro_rules! load {
            ($ids:literal) => {
                concat!(
                    "SELECT m.id, m.rule_id, m.channel, m.attempts, m.scheduled_at, d.subject, \
                     COALESCE(d.body, '') AS body, d.links, \
                     c.external_id AS customer_external_id, c.email, c.phone, c.consent_email, c.consent_sms, \
                     c.unsubscribed_email_at, c.unsubscribed_sms_at, c.email_bounced_at, \
                     EXISTS (SELECT 1 FROM offers o WHERE o.decision_id = m.decision_id) AS carries_offer, \
                     d.preheader, d.button_text, d.button_url, d.language \
                     FROM messages m JOIN customers c ON c.id = m.customer_id \
                     JOIN decisions d ON d.id = m.decision_id \
                     WHERE m.id IN (SELECT CAST(j.value AS BIGINT) FROM ", $ids, " AS j) AND m.claimed_by = $2"
                )
            };
        }
        let (claim, load) = match self {
            Store::Sqlite(_) => (claim!("json_each($1)", "+status"), load!("json_each($1)")),
            Store::Postgres(_) => (
                claim!("json_array_elements_text($1::json)", "status"),
                load!("json_array_elements_text($1::json)"),
            ),
        };
        let ids = serde_json::to_string(ids).expect("ids serialize");
        // On SQLite the claim takes its turn with the other writers (the finishes run on
        // another connection at the same time): waiting in SQLite's busy handler, which naps
        // between looks, cost more than the statements themselves (BENCHMARKS.md).
        let turn = match self {
            Store::Sqlite(pool) => Some(super::write_turns::take_turn(pool).await),
            Store::Postgres(_) => None,
        };
        let taken: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(claim).bind(&ids).bind(instance).bind(now).fetch_all(pool).await?
        });
        drop(turn);
        on_pool!(self, pool => {
            if taken.is_empty() {
                return Ok(Vec::new());
            }
            let taken = serde_json::to_string(&taken).expect("ids serialize");
            Ok(sqlx::query_as(load).bind(taken).bind(instance).fetch_all(pool).await?)
        })
    }

    /// Returns messages this instance claimed but never started (a batch cut short by a
    /// stop) to the queue as they were: `queued`, due as before, and without the attempt
    /// their claim counted, since nothing reached a provider. Only rows still `sending` for
    /// `instance` are touched. Returns how many went back.
    pub async fn release_unstarted(&self, ids: &[i64], instance: &str, now: i64) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        macro_rules! release {
            ($ids:literal) => {
                concat!(
                    "UPDATE messages SET status = 'queued', attempts = attempts - 1, claimed_by = NULL, \
                     updated_at = $3, last_detail = 'not started before the stop' \
                     WHERE id IN (SELECT CAST(j.value AS BIGINT) FROM ",
                    $ids,
                    " AS j) AND status = 'sending' AND claimed_by = $2"
                )
            };
        }
        let sql = match self {
            Store::Sqlite(_) => release!("json_each($1)"),
            Store::Postgres(_) => release!("json_array_elements_text($1::json)"),
        };
        let ids = serde_json::to_string(ids).expect("ids serialize");
        let _turn = match self {
            Store::Sqlite(pool) => Some(super::write_turns::take_turn(pool).await),
            Store::Postgres(_) => None,
        };
        on_pool!(self, pool => Ok(sqlx::query(sql).bind(ids).bind(instance).bind(now).execute(pool).await?.rows_affected()))
    }

    /// The customer's contact details and consent as they are now, for a claimed message
    /// that waited in its batch: an unsubscribe since the claim must still win.
    pub async fn contact_now(&self, message_id: i64) -> Result<Option<Contact>, StoreError> {
        const SQL: &str = "SELECT c.email, c.phone, c.consent_email, c.consent_sms, c.unsubscribed_email_at, \
            c.unsubscribed_sms_at, c.email_bounced_at FROM messages m JOIN customers c ON c.id = m.customer_id \
            WHERE m.id = $1";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(message_id).fetch_optional(pool).await?))
    }

    /// Records the end of one attempt; see [`Store::finish_messages`].
    pub async fn finish_message(&self, id: i64, f: &Finish, now: i64) -> Result<(), StoreError> {
        self.finish_messages(&[(id, f.clone(), now)]).await
    }

    /// Records the ends of attempts, (message id, how it ended, when), in one statement; the
    /// status trigger writes their event rows.
    pub async fn finish_messages(&self, done: &[(i64, Finish, i64)]) -> Result<(), StoreError> {
        if done.is_empty() {
            return Ok(());
        }
        // `$1` is a JSON array of objects, one per finished attempt, read as the rows `f`.
        macro_rules! finish {
            ($f:literal) => {
                concat!(
                    "UPDATE messages SET status = f.status, reason = f.reason, \
                     provider_ref = COALESCE(f.provider_ref, messages.provider_ref), \
                     last_error_code = COALESCE(f.error_code, messages.last_error_code), \
                     last_error = COALESCE(f.error, messages.last_error), \
                     outcome_unknown = (messages.outcome_unknown OR f.unknown = 1), \
                     next_attempt_at = COALESCE(f.next_attempt_at, messages.next_attempt_at), \
                     sent_at = CASE WHEN f.status = 'sent' THEN f.at ELSE messages.sent_at END, \
                     claimed_by = NULL, updated_at = f.at, last_detail = f.detail \
                     FROM ",
                    $f,
                    " WHERE messages.id = f.id"
                )
            };
        }
        // PostgreSQL turns each object into a typed row in one pass; `->>` on `json` would
        // parse an object's text again for every field it takes (`json_lex` was 3 % of the
        // server's time during a delivery, BENCHMARKS.md).
        let sql = match self {
            Store::Sqlite(_) => finish!(
                "(SELECT CAST(j.value ->> 'id' AS BIGINT) AS id, j.value ->> 'status' AS status, \
                 j.value ->> 'reason' AS reason, j.value ->> 'provider_ref' AS provider_ref, \
                 j.value ->> 'error_code' AS error_code, j.value ->> 'error' AS error, \
                 CAST(j.value ->> 'unknown' AS INTEGER) AS unknown, \
                 CAST(j.value ->> 'next_attempt_at' AS BIGINT) AS next_attempt_at, \
                 CAST(j.value ->> 'at' AS BIGINT) AS at, j.value ->> 'detail' AS detail \
                 FROM json_each($1) AS j) AS f"
            ),
            Store::Postgres(_) => finish!(
                "json_to_recordset($1::json) AS f(id BIGINT, status TEXT, reason TEXT, provider_ref TEXT, \
                 error_code TEXT, error TEXT, unknown INTEGER, next_attempt_at BIGINT, at BIGINT, detail TEXT)"
            ),
        };
        let rows: Vec<serde_json::Value> = done
            .iter()
            .map(|(id, f, at)| {
                let detail = match (&f.error_code, &f.error) {
                    (Some(c), Some(e)) => Some(format!("{c} {e}")),
                    (None, Some(e)) => Some(e.clone()),
                    _ => f.reason.map(str::to_string),
                };
                serde_json::json!({
                    "id": id, "status": f.status, "reason": f.reason, "provider_ref": f.provider_ref,
                    "error_code": f.error_code, "error": f.error, "unknown": i32::from(f.outcome_unknown),
                    "next_attempt_at": f.next_attempt_at, "at": at, "detail": detail,
                })
            })
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        match self {
            Store::Sqlite(pool) => {
                let _turn = super::write_turns::take_turn(pool).await;
                sqlx::query(sql).bind(rows).execute(pool).await?;
            }
            Store::Postgres(pool) => {
                sqlx::query(sql).bind(rows).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// A hard bounce: no more email to this customer's address.
    pub async fn mark_email_bounced(&self, message_id: i64, now: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE customers SET email_bounced_at = $2 WHERE id = \
            (SELECT customer_id FROM messages WHERE id = $1) AND email_bounced_at IS NULL";
        on_pool!(self, pool => { sqlx::query(SQL).bind(message_id).bind(now).execute(pool).await?; Ok(()) })
    }

    /// Unsubscribes the recipient of a message from a channel (a provider reported an opt-out).
    pub async fn unsubscribe_by_message(
        &self,
        message_id: i64,
        channel: crate::rules::Channel,
        now: i64,
    ) -> Result<(), StoreError> {
        const EMAIL: &str = "UPDATE customers SET unsubscribed_email_at = COALESCE(unsubscribed_email_at, $2) \
            WHERE id = (SELECT customer_id FROM messages WHERE id = $1)";
        const SMS: &str = "UPDATE customers SET unsubscribed_sms_at = COALESCE(unsubscribed_sms_at, $2) \
            WHERE id = (SELECT customer_id FROM messages WHERE id = $1)";
        // A customer erased since the message went out has no address left, only its hash:
        // the opt-out goes to the suppression list, so re-creating them never resubscribes.
        const SUPPRESS_ERASED_EMAIL: &str = "INSERT INTO suppressions (address_hash, channel, created_at, reason) \
            SELECT erased_email_hash, 'email', $2, 'unsubscribed' FROM customers \
            WHERE id = (SELECT customer_id FROM messages WHERE id = $1) AND erased_email_hash IS NOT NULL \
            ON CONFLICT (address_hash, channel) DO NOTHING";
        const SUPPRESS_ERASED_SMS: &str = "INSERT INTO suppressions (address_hash, channel, created_at, reason) \
            SELECT erased_phone_hash, 'sms', $2, 'unsubscribed' FROM customers \
            WHERE id = (SELECT customer_id FROM messages WHERE id = $1) AND erased_phone_hash IS NOT NULL \
            ON CONFLICT (address_hash, channel) DO NOTHING";
        let (sql, erased) = match channel {
            crate::rules::Channel::Email => (EMAIL, SUPPRESS_ERASED_EMAIL),
            crate::rules::Channel::Sms => (SMS, SUPPRESS_ERASED_SMS),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql).bind(message_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(erased).bind(message_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Message counts per status.
    pub async fn message_status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT status, count(*) FROM messages GROUP BY status ORDER BY status";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).fetch_all(pool).await?))
    }

    /// Attempts so far, and whether an attempt may have arrived without a confirmation.
    pub async fn message_attempts(&self, id: i64) -> Result<(i64, bool), StoreError> {
        const SQL: &str = "SELECT attempts, outcome_unknown FROM messages WHERE id = $1";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(id).fetch_one(pool).await?))
    }

    /// Every transition of one message in the order it happened (`at` may mix a replayed
    /// `--at` instant with wall-clock recoveries): (status, at, detail).
    pub async fn message_history(&self, id: i64) -> Result<Vec<(String, i64, Option<String>)>, StoreError> {
        const SQL: &str = "SELECT status, at, detail FROM message_events WHERE message_id = $1 ORDER BY id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(id).fetch_all(pool).await?))
    }
}
