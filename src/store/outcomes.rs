//! Outcome tracking: conversions and the per-rule counts the report is made of.

use sqlx::FromRow;

use super::wakes::{Listed, only_clause};
use super::{Store, StoreError, on_pool};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CountRow {
    pub rule_id: String,
    pub label: String,
    pub reason: Option<String>,
    pub n: i64,
}

/// One rule's sends in one week.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct WeekRow {
    pub rule_id: String,
    pub week: i64,
    pub sent: i64,
    pub converted: i64,
}

/// What a rule's messages caused besides conversions.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Engagement {
    pub rule_id: String,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub unsubscribed: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct GroupRow {
    pub rule_id: String,
    /// `send` (messages that went out) or `held_out`.
    pub grp: String,
    pub n: i64,
    pub converted: i64,
}

/// One decision of a series rule, for the per-step report.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct SeriesRow {
    pub customer_id: i64,
    pub occurrence_key: String,
    pub step: i64,
    pub decision: String,
    pub decided_at: i64,
    pub sent_at: Option<i64>,
    pub converted_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct OfferCounts {
    pub rule_id: String,
    pub issued: i64,
    pub redeemed: i64,
    pub revenue: f64,
}

impl Store {
    /// Marks sends and held-out decisions of `rule_id` converted when a goal event followed within
    /// `within` seconds of the send (or of the decision, for the held-out group) and at or before
    /// `until`. The first goal event counts; a decision converts once. With `only`, the
    /// decisions of these customers alone (found by index). Returns how many converted.
    pub async fn mark_conversions(
        &self,
        rule_id: &str,
        goal_kinds: &[String],
        within: i64,
        until: i64,
        only: Option<&[i64]>,
    ) -> Result<u64, StoreError> {
        if goal_kinds.is_empty() || only.is_some_and(<[i64]>::is_empty) {
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
             WHERE rule_id = $1 AND step = 1 AND converted_at IS NULL{only} AND (decision = 'held_out' OR (decision = 'send' AND \
             EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = decisions.id AND m.sent_at IS NOT NULL))) \
             AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = decisions.customer_id AND e.kind IN ({k}) \
             AND e.occurred_at > {base} AND e.occurred_at <= {base} + $2 AND e.occurred_at <= $3)",
            k = kinds.join(", "),
            only = only_customers(self, only, goal_kinds.len() + 4),
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rule_id).bind(within).bind(until);
            for k in goal_kinds {
                q = q.bind(k.as_str());
            }
            if let Some(ids) = only {
                q = q.bind(Listed(ids));
            }
            Ok(q.execute(pool).await?.rows_affected())
        })
    }

    /// A redeemed offer code converts the series it belongs to (its step 1 decision), at the
    /// redemption, when nothing converted it earlier. With `only`, the decisions of these
    /// customers alone. Returns how many converted.
    pub async fn mark_redemptions(
        &self,
        rule_id: &str,
        until: i64,
        only: Option<&[i64]>,
    ) -> Result<u64, StoreError> {
        if only.is_some_and(<[i64]>::is_empty) {
            return Ok(0);
        }
        // One code per series (offers are unique by rule, customer and occurrence): a plain
        // lookup by that key. `min()` here let PostgreSQL walk the redeemed codes by date
        // instead, filtering each for the decision's key — fine with few, not with many.
        const REDEEMED: &str = "(SELECT o.redeemed_at FROM offers o WHERE o.rule_id = decisions.rule_id \
            AND o.customer_id = decisions.customer_id AND o.occurrence_key = decisions.occurrence_key \
            AND o.redeemed_at <= $2)";
        let sql = format!(
            "UPDATE decisions SET converted_at = {REDEEMED} WHERE rule_id = $1 AND step = 1 AND decision = 'send' \
             AND converted_at IS NULL{only} AND {REDEEMED} IS NOT NULL",
            only = only_customers(self, only, 3),
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rule_id).bind(until);
            if let Some(ids) = only {
                q = q.bind(Listed(ids));
            }
            Ok(q.execute(pool).await?.rows_affected())
        })
    }

    /// A series rule's step 1 decisions (sends that went out, held-out) and later steps that
    /// went out, decided at or after `since`: what the per-step report is made of.
    pub async fn series_rows(&self, rule_id: &str, since: i64) -> Result<Vec<SeriesRow>, StoreError> {
        const SQL: &str = "SELECT d.customer_id, d.occurrence_key, d.step, d.decision, d.decided_at, m.sent_at, \
            d.converted_at FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id \
            WHERE d.rule_id = $1 AND d.decided_at >= $2 \
            AND ((d.decision = 'held_out' AND d.step = 1) OR (d.decision = 'send' AND m.sent_at IS NOT NULL))";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(rule_id).bind(since).fetch_all(pool).await?))
    }

    /// Per rule: offer codes issued (their message went out), redeemed, and the amount of the
    /// redeeming events, for decisions at or after `since`.
    pub async fn offer_counts(&self, since: i64) -> Result<Vec<OfferCounts>, StoreError> {
        const SQL: &str = "SELECT o.rule_id, count(m.sent_at) AS issued, \
            count(CASE WHEN m.sent_at IS NOT NULL THEN o.redeemed_at END) AS redeemed, \
            COALESCE(sum(CASE WHEN m.sent_at IS NOT NULL THEN o.redeemed_amount END), 0.0) AS revenue \
            FROM offers o JOIN decisions d ON d.id = o.decision_id LEFT JOIN messages m ON m.decision_id = o.decision_id \
            WHERE d.decided_at >= $1 GROUP BY o.rule_id ORDER BY o.rule_id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }

    /// Per step 1 decision of `rule_id` (a send that went out, or held out): what the customer
    /// spent — the amounts of their events — in the `window` seconds after the send (held out:
    /// after the decision), up to `until`. The revenue comparison's two samples.
    pub async fn revenue_per_customer(
        &self,
        rule_id: &str,
        window: i64,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        const SQL: &str = "SELECT x.decision, COALESCE((SELECT sum(e.amount) FROM events e WHERE e.customer_id = x.customer_id \
            AND e.occurred_at > x.base AND e.occurred_at <= x.base + $2 AND e.occurred_at <= $4), 0.0) AS revenue \
            FROM (SELECT d.customer_id, d.decision, CASE WHEN d.decision = 'held_out' THEN d.decided_at ELSE m.sent_at END AS base \
                  FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id \
                  WHERE d.rule_id = $1 AND d.step = 1 AND d.decided_at >= $3 \
                  AND (d.decision = 'held_out' OR (d.decision = 'send' AND m.sent_at IS NOT NULL))) x";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(rule_id).bind(window).bind(since).bind(until).fetch_all(pool).await?))
    }

    /// Per rule, of the messages of decisions at or after `since`: opened, clicked, bounced,
    /// and how many of their customers unsubscribed from that channel within 7 days of it.
    pub async fn engagement_by_rule(&self, since: i64) -> Result<Vec<Engagement>, StoreError> {
        const SQL: &str = "SELECT m.rule_id, count(m.opened_at) AS opened, count(m.clicked_at) AS clicked, \
            COALESCE(sum(CASE WHEN m.status = 'bounced' THEN 1 ELSE 0 END), 0) AS bounced, \
            COALESCE(sum(CASE WHEN m.sent_at IS NOT NULL AND \
                ((m.channel = 'email' AND c.unsubscribed_email_at >= m.sent_at AND c.unsubscribed_email_at <= m.sent_at + 604800) \
              OR (m.channel = 'sms' AND c.unsubscribed_sms_at >= m.sent_at AND c.unsubscribed_sms_at <= m.sent_at + 604800)) \
                THEN 1 ELSE 0 END), 0) AS unsubscribed \
            FROM messages m JOIN decisions d ON d.id = m.decision_id JOIN customers c ON c.id = m.customer_id \
            WHERE d.decided_at >= $1 GROUP BY m.rule_id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }

    /// Per rule and week (`(sent_at - origin) / 7 days`, from 0) since `origin`: the step-1
    /// messages that went out and how many of their customers converted.
    pub async fn weekly_sends(&self, since: i64, origin: i64) -> Result<Vec<WeekRow>, StoreError> {
        const SQL: &str = "SELECT d.rule_id, (m.sent_at - $2) / 604800 AS week, count(*) AS sent, \
            count(d.converted_at) AS converted \
            FROM decisions d JOIN messages m ON m.decision_id = d.id \
            WHERE d.decided_at >= $1 AND d.step = 1 AND m.sent_at IS NOT NULL AND m.sent_at >= $2 \
            GROUP BY d.rule_id, (m.sent_at - $2) / 604800 ORDER BY d.rule_id, week";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).bind(origin).fetch_all(pool).await?))
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
        const SQL: &str = "SELECT m.rule_id, COALESCE(d.body, '') FROM messages m JOIN decisions d ON d.id = m.decision_id \
            WHERE d.decided_at >= $1 AND m.channel = 'sms' AND m.sent_at IS NOT NULL";
        on_pool!(self, pool => sqlx::query_as(SQL).bind(since).fetch(pool).map_err(StoreError::from).boxed())
    }

    /// Per group (`send`, `held_out`) of a rule's step-1 decisions at or after `since`: how many
    /// have not converted and are still inside their goal window (`within` seconds from the
    /// message going out, or from the decision for the held out) at `until` — too early to call.
    pub async fn open_window(
        &self,
        rule_id: &str,
        since: i64,
        until: i64,
        within: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT d.decision, count(*) FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id \
            WHERE d.rule_id = $1 AND d.decided_at >= $2 AND d.step = 1 AND d.converted_at IS NULL \
            AND ((d.decision = 'held_out' AND d.decided_at > $3) OR (d.decision = 'send' AND m.sent_at > $3)) \
            GROUP BY d.decision";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(rule_id).bind(since).bind(until - within)
            .fetch_all(pool).await?))
    }

    /// Size and conversions of the contacted group (messages that went out) and the held-out
    /// group per rule, for decisions at or after `since`.
    pub async fn conversion_groups(&self, since: i64) -> Result<Vec<GroupRow>, StoreError> {
        const SQL: &str = "SELECT d.rule_id, d.decision AS grp, count(*) AS n, count(d.converted_at) AS converted \
            FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id WHERE d.decided_at >= $1 AND d.step = 1 \
            AND (d.decision = 'held_out' OR (d.decision = 'send' AND m.sent_at IS NOT NULL)) \
            GROUP BY d.rule_id, d.decision ORDER BY d.rule_id, d.decision";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).fetch_all(pool).await?))
    }
}

/// `AND decisions.customer_id IN (…)` with the ids bound as parameter `n` (the last, bound
/// only when given), or nothing.
fn only_customers(store: &Store, only: Option<&[i64]>, n: usize) -> String {
    match only {
        Some(_) => only_clause(store, "decisions.customer_id", n),
        None => String::new(),
    }
}
