use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use sqlx::{FromRow, QueryBuilder};

use super::{ROWS_PER_STATEMENT, Store, StoreError, last_per_key, on_pool};

/// An event as an import or the API hands it over, already validated and resolved.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub external_id: String,
    pub customer_id: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub amount: Option<f64>,
    pub score: Option<f64>,
    /// JSON object of strings.
    pub properties: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRecord {
    pub external_id: String,
    pub kind: String,
    pub occurred_at: i64,
    pub amount: Option<f64>,
    pub score: Option<f64>,
    pub properties: String,
}

/// The slice of an event that scoring and rules look at.
#[derive(Debug, Clone, FromRow)]
pub struct EventFact {
    pub customer_id: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub score: Option<f64>,
}

impl Store {
    /// Inserts new events and updates changed ones (by external id), in one transaction.
    /// Returns how many rows were inserted or actually changed.
    pub async fn upsert_events(&self, rows: &[NewEvent], now: i64) -> Result<u64, StoreError> {
        let rows = last_per_key(rows, |r| r.external_id.as_str());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut affected = 0;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO events (external_id, customer_id, kind, occurred_at, amount, score, \
                     properties, created_at) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.external_id.as_str())
                        .push_bind(e.customer_id)
                        .push_bind(e.kind.as_str())
                        .push_bind(e.occurred_at)
                        .push_bind(e.amount)
                        .push_bind(e.score)
                        .push_bind(e.properties.as_str())
                        .push_bind(now);
                });
                q.push(
                    " ON CONFLICT (external_id) DO UPDATE SET customer_id = excluded.customer_id, \
                     kind = excluded.kind, occurred_at = excluded.occurred_at, \
                     amount = excluded.amount, score = excluded.score, properties = excluded.properties \
                     WHERE events.customer_id <> excluded.customer_id \
                     OR events.kind <> excluded.kind \
                     OR events.occurred_at <> excluded.occurred_at \
                     OR events.amount IS DISTINCT FROM excluded.amount \
                     OR events.score IS DISTINCT FROM excluded.score \
                     OR events.properties <> excluded.properties",
                );
                affected += q.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(affected)
        })
    }

    pub async fn count_events(&self) -> Result<i64, StoreError> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await?))
    }

    /// One customer's events at or before `until`, oldest first.
    pub async fn events_of_customer(
        &self,
        customer_id: i64,
        until: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        const SQL: &str = "SELECT external_id, kind, occurred_at, amount, score, properties FROM events \
            WHERE customer_id = $1 AND occurred_at <= $2 ORDER BY occurred_at, external_id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(customer_id).bind(until).fetch_all(pool).await?))
    }

    /// Every event in (from, until], grouped by customer (ascending id), streamed so that a
    /// pass over millions of events holds one customer at a time.
    pub fn events_in_window(
        &self,
        from: i64,
        until: i64,
    ) -> BoxStream<'_, Result<EventFact, StoreError>> {
        const SQL: &str = "SELECT customer_id, kind, occurred_at, score FROM events \
            WHERE occurred_at > $1 AND occurred_at <= $2 ORDER BY customer_id";
        on_pool!(self, pool => Box::pin(
            sqlx::query_as::<_, EventFact>(SQL).bind(from).bind(until).fetch(pool).map_err(StoreError::from)
        ))
    }

    /// Latest activity at or before `until` per customer. `activity_kinds` None means every
    /// kind except `feedback`.
    pub async fn last_activity(
        &self,
        until: i64,
        activity_kinds: Option<&[String]>,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        on_pool!(self, pool => {
            let mut q = QueryBuilder::new("SELECT customer_id, max(occurred_at) FROM events WHERE occurred_at <= ");
            q.push_bind(until);
            match activity_kinds {
                None => {
                    q.push(" AND kind <> ");
                    q.push_bind(crate::health::FEEDBACK_KIND);
                }
                Some(kinds) => {
                    q.push(" AND kind IN (");
                    let mut list = q.separated(", ");
                    for k in kinds {
                        list.push_bind(k.as_str());
                    }
                    q.push(")");
                }
            }
            q.push(" GROUP BY customer_id");
            Ok(q.build_query_as::<(i64, i64)>().fetch_all(pool).await?)
        })
    }
}
