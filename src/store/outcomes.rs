//! Outcome tracking: conversions and the per-rule counts the report is made of.

use sqlx::FromRow;

use super::{Store, StoreError, on_pool};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CountRow {
    pub rule_id: String,
    pub label: String,
    pub reason: Option<String>,
    pub n: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct GroupRow {
    pub rule_id: String,
    /// `send` (messages that went out) or `held_out`.
    pub grp: String,
    pub n: i64,
    pub converted: i64,
}

impl Store {
    /// Marks sends and held-out decisions of `rule_id` converted when a goal event followed within
    /// `within` seconds of the send (or of the decision, for the held-out group) and at or before
    /// `until`. The first goal event counts; a decision converts once. Returns how many converted.
    pub async fn mark_conversions(
        &self,
        rule_id: &str,
        goal_kinds: &[String],
        within: i64,
        until: i64,
    ) -> Result<u64, StoreError> {
        if goal_kinds.is_empty() {
            return Ok(0);
        }
        // Only placeholders go into the text; every value is bound.
        let kinds: Vec<String> = (0..goal_kinds.len()).map(|i| format!("${}", i + 4)).collect();
        let base = "(CASE WHEN decisions.decision = 'held_out' THEN decisions.decided_at \
            ELSE (SELECT m.sent_at FROM messages m WHERE m.decision_id = decisions.id) END)";
        let sql = format!(
            "UPDATE decisions SET converted_at = (SELECT min(e.occurred_at) FROM events e \
             WHERE e.customer_id = decisions.customer_id AND e.kind IN ({k}) \
             AND e.occurred_at > {base} AND e.occurred_at <= {base} + $2 AND e.occurred_at <= $3) \
             WHERE rule_id = $1 AND converted_at IS NULL AND (decision = 'held_out' OR (decision = 'send' AND \
             EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = decisions.id AND m.sent_at IS NOT NULL))) \
             AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = decisions.customer_id AND e.kind IN ({k}) \
             AND e.occurred_at > {base} AND e.occurred_at <= {base} + $2 AND e.occurred_at <= $3)",
            k = kinds.join(", ")
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rule_id).bind(within).bind(until);
            for k in goal_kinds {
                q = q.bind(k.as_str());
            }
            Ok(q.execute(pool).await?.rows_affected())
        })
    }

    /// Decisions per (rule, decision, reason) decided at or after `since`.
    pub async fn decision_breakdown(&self, since: i64) -> Result<Vec<CountRow>, StoreError> {
        const SQL: &str = "SELECT rule_id, decision AS label, reason, count(*) AS n FROM decisions \
            WHERE decided_at >= $1 GROUP BY rule_id, decision, reason ORDER BY rule_id, decision, reason";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }

    /// Messages per (rule, status) for decisions at or after `since`.
    pub async fn message_breakdown(&self, since: i64) -> Result<Vec<CountRow>, StoreError> {
        const SQL: &str = "SELECT m.rule_id, m.status AS label, NULL AS reason, count(*) AS n FROM messages m \
            JOIN decisions d ON d.id = m.decision_id WHERE d.decided_at >= $1 \
            GROUP BY m.rule_id, m.status ORDER BY m.rule_id, m.status";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }

    /// (rule, body) of every SMS that went out for decisions at or after `since`, streamed:
    /// the report counts their segments (an erased customer's body is empty: one segment).
    pub fn sent_sms_bodies(
        &self,
        since: i64,
    ) -> futures_util::stream::BoxStream<'_, Result<(String, String), StoreError>> {
        use futures_util::{StreamExt, TryStreamExt};
        const SQL: &str = "SELECT m.rule_id, m.body FROM messages m JOIN decisions d ON d.id = m.decision_id \
            WHERE d.decided_at >= $1 AND m.channel = 'sms' AND m.sent_at IS NOT NULL";
        on_pool!(self, pool => sqlx::query_as(SQL).bind(since).fetch(pool).map_err(StoreError::from).boxed())
    }

    /// Size and conversions of the contacted group (messages that went out) and the held-out
    /// group per rule, for decisions at or after `since`.
    pub async fn conversion_groups(&self, since: i64) -> Result<Vec<GroupRow>, StoreError> {
        const SQL: &str = "SELECT d.rule_id, d.decision AS grp, count(*) AS n, count(d.converted_at) AS converted \
            FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id WHERE d.decided_at >= $1 \
            AND (d.decision = 'held_out' OR (d.decision = 'send' AND m.sent_at IS NOT NULL)) \
            GROUP BY d.rule_id, d.decision ORDER BY d.rule_id, d.decision";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }
}
