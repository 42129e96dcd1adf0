//! What support and operations look at: messages by status, rule or customer, why they
//! failed, a customer's recent decisions, and requeueing chosen failed messages.

use serde::Serialize;
use sqlx::FromRow;

use super::{Store, StoreError, on_pool};

/// One message as `messages list` shows it.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub customer: String,
    pub rule: String,
    #[sqlx(try_from = "String")]
    pub channel: crate::domain::Channel,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::MessageStatus,
    pub attempts: i64,
    /// For a queued message: when it is tried (again).
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// Which messages to list or requeue; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<crate::domain::MessageStatus>,
    pub rule: Option<String>,
    pub customer: Option<String>,
    /// Only messages whose last change was at or after this instant.
    pub since: Option<i64>,
    pub limit: i64,
}

/// How many messages ended (or wait) with the same status and error.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct FailureCount {
    #[sqlx(try_from = "String")]
    pub status: crate::domain::MessageStatus,
    pub error: String,
    pub count: i64,
}

/// One of a customer's decisions with what became of its message.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct HistoryRow {
    pub rule: String,
    /// 1, or the step of a series.
    pub step: i64,
    pub decided_at: i64,
    pub decision: String,
    pub reason: Option<String>,
    pub channel: Option<String>,
    pub message_id: Option<i64>,
    pub message_status: Option<String>,
    pub attempts: Option<i64>,
    pub last_error: Option<String>,
}

impl Store {
    pub async fn list_messages(&self, f: &MessageFilter) -> Result<Vec<MessageRow>, StoreError> {
        const SQL: &str = "SELECT m.id, c.external_id AS customer, m.rule_id AS rule, m.channel, m.status, m.attempts, \
            CASE WHEN m.status = 'queued' THEN m.next_attempt_at END AS next_attempt_at, m.last_error, m.updated_at \
            FROM messages m JOIN customers c ON c.id = m.customer_id \
            WHERE ($1 IS NULL OR m.status = $1) AND ($2 IS NULL OR m.rule_id = $2) \
            AND ($3 IS NULL OR (c.external_id = $3 AND c.erased_at IS NULL)) AND m.updated_at >= $4 \
            ORDER BY m.updated_at DESC, m.id DESC LIMIT $5";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL)
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.rule.as_deref())
            .bind(f.customer.as_deref())
            .bind(f.since.unwrap_or(i64::MIN))
            .bind(f.limit)
            .fetch_all(pool)
            .await?))
    }

    /// Puts chosen failed or expired messages back in the queue, due at `now`, with a fresh
    /// set of attempts. The same message (same Message-ID): consent, unsubscribes and quiet
    /// hours are checked again when it is sent. Returns the ids that were requeued.
    pub async fn retry_messages(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        const SQL: &str = "UPDATE messages SET status = 'queued', reason = NULL, attempts = 0, \
            next_attempt_at = $2, scheduled_at = $2, claimed_by = NULL, updated_at = $2 \
            WHERE id = $1 AND status IN ('failed', 'expired') RETURNING id";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut done = Vec::new();
            for id in ids {
                if let Some(id) = sqlx::query_scalar::<_, i64>(SQL).bind(id).bind(now).fetch_optional(&mut *tx).await? {
                    done.push(id);
                }
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Messages that failed, bounced, or wait for a retry after an error, changed at or after
    /// `since`, counted by status and error text.
    pub async fn failure_counts(&self, since: i64) -> Result<Vec<FailureCount>, StoreError> {
        const SQL: &str = "SELECT status, COALESCE(last_error, reason, 'no reason recorded') AS error, count(*) AS count \
            FROM messages WHERE updated_at >= $1 AND (status IN ('failed', 'bounced') \
            OR (status = 'queued' AND attempts > 0)) \
            GROUP BY status, COALESCE(last_error, reason, 'no reason recorded') ORDER BY count DESC, status";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }

    /// A customer's most recent decisions (newest first) with their messages' outcome.
    pub async fn customer_history(
        &self,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        const SQL: &str = "SELECT d.rule_id AS rule, d.step, d.decided_at, d.decision, d.reason, d.channel, \
            m.id AS message_id, m.status AS message_status, m.attempts, m.last_error \
            FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id \
            WHERE d.customer_id = $1 ORDER BY d.decided_at DESC, d.id DESC LIMIT $2";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(customer_id).bind(limit).fetch_all(pool).await?))
    }
}
