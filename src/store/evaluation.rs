//! The streams rule evaluation merges by customer id, and the table it records decisions in.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use sqlx::{FromRow, QueryBuilder};

use super::{CustomerRecord, ROWS_PER_STATEMENT, Store, StoreError, on_pool};
use crate::rules::facts::RecentEvent;

/// Separates recent events inside one aggregate cell; external ids never contain control
/// characters (the import refuses them).
const RECORD_SEPARATOR: &str = "\u{1e}";

/// One customer's events of one kind at or before T.
#[derive(Debug, Clone)]
pub struct KindAggregate {
    pub customer_id: i64,
    pub kind: String,
    pub count: i64,
    pub first: i64,
    pub last: i64,
    pub amount: f64,
    /// Events after the look-back start, ordered by (time, id).
    pub recent: Vec<RecentEvent>,
}

#[derive(FromRow)]
struct RawKindAggregate {
    customer_id: i64,
    kind: String,
    n: i64,
    first: i64,
    last: i64,
    amount: f64,
    recent: Option<String>,
}

/// A recorded decision as the pipeline needs it.
#[derive(Debug, Clone, FromRow)]
pub struct DecisionRow {
    pub customer_id: i64,
    pub rule_id: String,
    pub occurrence_key: String,
    /// An unknown decision in the store is an error, never a row silently left out.
    #[sqlx(try_from = "String")]
    pub decision: crate::domain::Outcome,
    pub decided_at: i64,
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub rule_id: String,
    pub customer_id: i64,
    pub occurrence_key: String,
    pub decision: crate::domain::Outcome,
    pub reason: Option<crate::domain::Reason>,
    pub channel: Option<crate::domain::Channel>,
    pub send_at: Option<i64>,
    pub decided_at: i64,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// JSON array of the body's tracked URLs.
    pub links: Option<String>,
}

impl Store {
    /// Every customer not erased, ascending id.
    pub fn customers_ordered(&self) -> BoxStream<'_, Result<CustomerRecord, StoreError>> {
        const SQL: &str = "SELECT id, external_id, name, email, phone, birthday, timezone, consent_email, \
            consent_sms, unsubscribed_email_at, unsubscribed_sms_at, email_bounced_at, attributes, tags, \
            created_at, updated_at, language FROM customers WHERE erased_at IS NULL ORDER BY id";
        on_pool!(self, pool => Box::pin(sqlx::query_as(SQL).fetch(pool).map_err(StoreError::from)))
    }

    /// Per (customer, kind): count, first, last and summed amount of events at or before
    /// `until`, with the individual events after `recent_from`; ascending customer id.
    pub fn kind_aggregates(
        &self,
        until: i64,
        recent_from: i64,
    ) -> BoxStream<'_, Result<KindAggregate, StoreError>> {
        const SQL: &str = "SELECT customer_id, kind, count(*) AS n, min(occurred_at) AS first, \
            max(occurred_at) AS last, COALESCE(sum(amount), 0.0) AS amount, \
            string_agg(CASE WHEN occurred_at > $2 THEN CAST(occurred_at AS TEXT) || ':' || \
                COALESCE(CAST(score AS TEXT), '') || ':' || external_id END, $3) AS recent \
            FROM events WHERE occurred_at <= $1 GROUP BY customer_id, kind ORDER BY customer_id, kind";
        on_pool!(self, pool => Box::pin(
            sqlx::query_as::<_, RawKindAggregate>(SQL)
                .bind(until)
                .bind(recent_from)
                .bind(RECORD_SEPARATOR)
                .fetch(pool)
                .map_err(StoreError::from)
                .and_then(|raw| async move { raw.parse() })
        ))
    }

    /// Every recorded decision, ascending customer id.
    pub fn decision_history(&self) -> BoxStream<'_, Result<DecisionRow, StoreError>> {
        const SQL: &str = "SELECT customer_id, rule_id, occurrence_key, decision, decided_at FROM decisions \
            ORDER BY customer_id";
        on_pool!(self, pool => Box::pin(sqlx::query_as(SQL).fetch(pool).map_err(StoreError::from)))
    }

    /// Records decisions; one already recorded for the same (rule, customer, occurrence) is
    /// kept and the new one dropped, so concurrent or repeated evaluations record it once.
    /// Returns how many were new.
    pub async fn record_decisions(&self, rows: &[NewDecision], now: i64) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO decisions (rule_id, customer_id, occurrence_key, decision, reason, channel, \
                     send_at, decided_at, recorded_at, subject, body, links) ",
                );
                q.push_values(chunk, |mut b, d| {
                    b.push_bind(d.rule_id.as_str())
                        .push_bind(d.customer_id)
                        .push_bind(d.occurrence_key.as_str())
                        .push_bind(d.decision.as_str())
                        .push_bind(d.reason.map(|r| r.as_str()))
                        .push_bind(d.channel.map(|c| c.as_str()))
                        .push_bind(d.send_at)
                        .push_bind(d.decided_at)
                        .push_bind(now)
                        .push_bind(d.subject.as_deref())
                        .push_bind(d.body.as_deref())
                        .push_bind(d.links.as_deref());
                });
                q.push(" ON CONFLICT (rule_id, customer_id, occurrence_key) DO NOTHING");
                inserted += q.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// Recorded decisions per (rule, decision, reason), for summaries and tests.
    pub async fn decision_counts(&self) -> Result<Vec<(String, String, Option<String>, i64)>, StoreError> {
        const SQL: &str = "SELECT rule_id, decision, reason, count(*) FROM decisions \
            GROUP BY rule_id, decision, reason ORDER BY rule_id, decision, reason";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).fetch_all(pool).await?))
    }
}

impl RawKindAggregate {
    fn parse(self) -> Result<KindAggregate, StoreError> {
        let bad = || StoreError::Sql(sqlx::Error::Decode("malformed recent-events aggregate".into()));
        let mut recent = Vec::new();
        for item in self
            .recent
            .as_deref()
            .unwrap_or("")
            .split(RECORD_SEPARATOR)
            .filter(|s| !s.is_empty())
        {
            let mut parts = item.splitn(3, ':');
            let (Some(at), Some(score), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad());
            };
            recent.push(RecentEvent {
                at: at.parse().map_err(|_| bad())?,
                id: id.to_string(),
                score: if score.is_empty() {
                    None
                } else {
                    Some(score.parse().map_err(|_| bad())?)
                },
            });
        }
        recent.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(KindAggregate {
            customer_id: self.customer_id,
            kind: self.kind,
            count: self.n,
            first: self.first,
            last: self.last,
            amount: self.amount,
            recent,
        })
    }
}
