//! What happens after a message leaves: provider receipts (delivered, failed), bounces
//! reported later, clicks and opens. Receipts only move a message forward: a duplicate or
//! late callback changes nothing and is not counted twice.

use sqlx::FromRow;

use super::{Store, StoreError, on_pool};

/// A sent message as a receipt finds it.
#[derive(Debug, Clone, FromRow)]
pub struct SentMessage {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub channel: crate::domain::Channel,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::MessageStatus,
    pub rule_id: String,
    pub customer_external_id: String,
    /// The language the customer reads, for the pages they see.
    pub customer_language: Option<String>,
}

/// What a receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt<'a> {
    Delivered,
    /// The provider gave up (Twilio `undelivered`/`failed`, a gateway failure).
    Failed {
        reason: &'a str,
        code: Option<&'a str>,
    },
    /// A hard bounce reported after the SMTP server had accepted the message.
    Bounced {
        code: Option<&'a str>,
    },
}

impl Store {
    pub async fn message_by_provider_ref(&self, reference: &str) -> Result<Option<SentMessage>, StoreError> {
        const SQL: &str = "SELECT m.id, m.channel, m.status, m.rule_id, c.external_id AS customer_external_id, \
            c.language AS customer_language FROM messages m JOIN customers c ON c.id = m.customer_id WHERE m.provider_ref = $1";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(reference).fetch_optional(pool).await?))
    }

    pub async fn sent_message(&self, id: i64) -> Result<Option<SentMessage>, StoreError> {
        const SQL: &str = "SELECT m.id, m.channel, m.status, m.rule_id, c.external_id AS customer_external_id, \
            c.language AS customer_language FROM messages m JOIN customers c ON c.id = m.customer_id WHERE m.id = $1";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
    }

    /// Applies a receipt if it moves the message forward; returns whether it did. `sent` may
    /// become delivered, failed or bounced; `delivered` may still become bounced (a bounce
    /// report can follow a relay's acceptance); nothing else moves.
    pub async fn record_receipt(&self, id: i64, receipt: Receipt<'_>, now: i64) -> Result<bool, StoreError> {
        // The status trigger writes the event row, with `last_detail`.
        const DELIVERED: &str = "UPDATE messages SET status = 'delivered', delivered_at = $2, updated_at = $2, \
            last_detail = NULL WHERE id = $1 AND status = 'sent'";
        const FAILED: &str = "UPDATE messages SET status = 'failed', reason = $3, \
            last_error_code = COALESCE($4, last_error_code), updated_at = $2, last_detail = $5 \
            WHERE id = $1 AND status = 'sent'";
        const BOUNCED: &str = "UPDATE messages SET status = 'bounced', reason = 'hard_bounce', \
            last_error_code = COALESCE($3, last_error_code), updated_at = $2, last_detail = $4 \
            WHERE id = $1 AND status IN ('sent', 'delivered')";
        let (reason, code) = match receipt {
            Receipt::Delivered => (None, None),
            Receipt::Failed { reason, code } => (Some(reason), code),
            Receipt::Bounced { code } => (Some("hard_bounce"), code),
        };
        let detail = match (reason, code) {
            (Some(r), Some(c)) => Some(format!("{r} {c}")),
            (Some(r), None) => Some(r.to_string()),
            _ => None,
        };
        on_pool!(self, pool => {
            let q = match receipt {
                Receipt::Delivered => sqlx::query(DELIVERED).bind(id).bind(now),
                Receipt::Failed { reason, code } => {
                    sqlx::query(FAILED).bind(id).bind(now).bind(reason).bind(code).bind(detail)
                }
                Receipt::Bounced { code } => sqlx::query(BOUNCED).bind(id).bind(now).bind(code).bind(detail),
            };
            Ok(q.execute(pool).await?.rows_affected() == 1)
        })
    }

    /// The first click on a link of a message counts; later ones only return the message.
    pub async fn record_click(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        self.engagement(id, "clicked", now).await
    }

    pub async fn record_open(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        self.engagement(id, "opened", now).await
    }

    async fn engagement(&self, id: i64, what: &'static str, now: i64) -> Result<bool, StoreError> {
        const CLICK: &str = "UPDATE messages SET clicked_at = $2 WHERE id = $1 AND clicked_at IS NULL";
        const OPEN: &str = "UPDATE messages SET opened_at = $2 WHERE id = $1 AND opened_at IS NULL";
        const EVENT: &str = "INSERT INTO message_events (message_id, status, at) VALUES ($1, $2, $3)";
        let sql = if what == "clicked" { CLICK } else { OPEN };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query(sql).bind(id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if first {
                sqlx::query(EVENT).bind(id).bind(what).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(first)
        })
    }

    /// A message's body and its tracked URLs (a JSON array; `None` on older messages), from
    /// its decision, which holds the text.
    pub async fn message_links(&self, id: i64) -> Result<Option<(String, Option<String>)>, StoreError> {
        const SQL: &str = "SELECT COALESCE(d.body, ''), d.links FROM messages m \
            JOIN decisions d ON d.id = m.decision_id WHERE m.id = $1";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
    }

    /// SMS opt-out or opt-in by phone number (a reply to any message). Returns how many
    /// customers carry that number.
    pub async fn set_sms_subscription(
        &self,
        phone: &str,
        subscribed: bool,
        now: i64,
    ) -> Result<u64, StoreError> {
        const OUT: &str = "UPDATE customers SET unsubscribed_sms_at = COALESCE(unsubscribed_sms_at, $2), updated_at = $2 \
            WHERE phone = $1 AND erased_at IS NULL";
        const IN: &str = "UPDATE customers SET unsubscribed_sms_at = NULL, updated_at = $2 \
            WHERE phone = $1 AND erased_at IS NULL";
        let sql = if subscribed { IN } else { OUT };
        on_pool!(self, pool => Ok(sqlx::query(sql).bind(phone).bind(now).execute(pool).await?.rows_affected()))
    }
}
