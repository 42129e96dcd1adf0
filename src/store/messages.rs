//! The delivery ledger: messages, their transitions, and the instances that claim them.

use sqlx::FromRow;

use super::{Store, StoreError, on_pool};

/// A message claimed for sending, with what is needed to send it now.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedMessage {
    pub id: i64,
    pub rule_id: String,
    pub channel: String,
    pub attempts: i64,
    pub scheduled_at: i64,
    pub subject: Option<String>,
    pub body: String,
    pub customer_external_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub consent_email: bool,
    pub consent_sms: bool,
    pub unsubscribed_email_at: Option<i64>,
    pub unsubscribed_sms_at: Option<i64>,
    pub email_bounced_at: Option<i64>,
}

/// How a delivery attempt ended, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub provider_ref: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub outcome_unknown: bool,
    /// For a retry: when to try again (status stays `queued`).
    pub next_attempt_at: Option<i64>,
}

impl Store {
    /// Creates a queued message for every recorded `send` decision that has none yet; safe to
    /// repeat after a crash at any point. Returns how many were created.
    pub async fn materialize_messages(&self, now: i64) -> Result<u64, StoreError> {
        const INSERT: &str = "INSERT INTO messages (decision_id, rule_id, customer_id, channel, status, attempts, \
            scheduled_at, next_attempt_at, subject, body, created_at, updated_at) \
            SELECT d.id, d.rule_id, d.customer_id, d.channel, 'queued', 0, d.send_at, d.send_at, d.subject, \
            COALESCE(d.body, ''), $1, $1 FROM decisions d \
            WHERE d.decision = 'send' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = d.id)";
        const EVENTS: &str = "INSERT INTO message_events (message_id, status, at) \
            SELECT m.id, 'queued', m.created_at FROM messages m \
            WHERE NOT EXISTS (SELECT 1 FROM message_events e WHERE e.message_id = m.id)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(INSERT).bind(now).execute(&mut *tx).await?.rows_affected();
            sqlx::query(EVENTS).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        })
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

    /// Takes a queued, due message for sending (attempts + 1). `None` when it is not there to
    /// take: already sent, taken by another worker, or not due — so a duplicate job is harmless.
    /// The message is read first and then taken with one conditional UPDATE, which is what
    /// decides ownership; its event row is written by the status trigger (migration 0006).
    pub async fn claim_message(
        &self,
        id: i64,
        instance: &str,
        now: i64,
    ) -> Result<Option<ClaimedMessage>, StoreError> {
        const LOAD: &str = "SELECT m.id, m.rule_id, m.channel, m.attempts + 1 AS attempts, m.scheduled_at, \
            m.subject, m.body, c.external_id AS customer_external_id, c.email, c.phone, c.consent_email, \
            c.consent_sms, c.unsubscribed_email_at, c.unsubscribed_sms_at, c.email_bounced_at \
            FROM messages m JOIN customers c ON c.id = m.customer_id \
            WHERE m.id = $1 AND m.status = 'queued' AND m.next_attempt_at <= $2";
        const CLAIM: &str = "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_by = $2, \
            updated_at = $3, last_detail = NULL \
            WHERE id = $1 AND status = 'queued' AND next_attempt_at <= $3 AND attempts = $4";
        on_pool!(self, pool => {
            let Some(m): Option<ClaimedMessage> = sqlx::query_as(LOAD).bind(id).bind(now).fetch_optional(pool).await? else {
                return Ok(None);
            };
            // `attempts` in the condition: the row read is the row taken.
            let taken = sqlx::query(CLAIM).bind(id).bind(instance).bind(now).bind(m.attempts - 1)
                .execute(pool).await?.rows_affected();
            Ok((taken == 1).then_some(m))
        })
    }

    /// Records the end of an attempt; the status trigger writes its event row in the same
    /// statement.
    pub async fn finish_message(&self, id: i64, f: &Finish<'_>, now: i64) -> Result<(), StoreError> {
        const UPDATE: &str = "UPDATE messages SET status = $2, reason = $3, provider_ref = COALESCE($4, provider_ref), \
            last_error_code = COALESCE($5, last_error_code), last_error = COALESCE($6, last_error), \
            outcome_unknown = (outcome_unknown OR $7), next_attempt_at = COALESCE($8, next_attempt_at), \
            sent_at = CASE WHEN $2 = 'sent' THEN $9 ELSE sent_at END, claimed_by = NULL, updated_at = $9, \
            last_detail = $10 WHERE id = $1";
        let detail = match (f.error_code, f.error) {
            (Some(c), Some(e)) => Some(format!("{c} {e}")),
            (None, Some(e)) => Some(e.to_string()),
            _ => f.reason.map(str::to_string),
        };
        on_pool!(self, pool => {
            sqlx::query(UPDATE)
                .bind(id).bind(f.status).bind(f.reason).bind(f.provider_ref).bind(f.error_code).bind(f.error)
                .bind(f.outcome_unknown).bind(f.next_attempt_at).bind(now).bind(detail)
                .execute(pool).await?;
            Ok(())
        })
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
        let sql = match channel {
            crate::rules::Channel::Email => EMAIL,
            crate::rules::Channel::Sms => SMS,
        };
        on_pool!(self, pool => { sqlx::query(sql).bind(message_id).bind(now).execute(pool).await?; Ok(()) })
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
