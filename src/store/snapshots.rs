use sqlx::QueryBuilder;

use super::{ROWS_PER_STATEMENT, Store, StoreError, on_pool};
use crate::health::Health;

/// A stored health score of one customer as of an instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub customer_id: i64,
    pub health: Health,
}

impl Store {
    /// Writes snapshots as of `as_of` in one transaction; recomputing the same instant replaces.
    pub async fn save_snapshots(&self, as_of: i64, rows: &[Snapshot], now: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO health_snapshots (customer_id, as_of, score, band, recency, frequency, \
                     feedback, cadence_days, days_since_last, computed_at) ",
                );
                q.push_values(chunk, |mut b, s| {
                    let h = &s.health;
                    b.push_bind(s.customer_id)
                        .push_bind(as_of)
                        .push_bind(i64::from(h.score))
                        .push_bind(h.band.as_str())
                        .push_bind(h.recency)
                        .push_bind(h.frequency)
                        .push_bind(h.feedback)
                        .push_bind(h.cadence_days)
                        .push_bind(h.days_since_last)
                        .push_bind(now);
                });
                q.push(
                    " ON CONFLICT (customer_id, as_of) DO UPDATE SET score = excluded.score, \
                     band = excluded.band, recency = excluded.recency, frequency = excluded.frequency, \
                     feedback = excluded.feedback, cadence_days = excluded.cadence_days, \
                     days_since_last = excluded.days_since_last, computed_at = excluded.computed_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every customer's stored score as of `as_of`: (external id, score, band), by external id.
    pub async fn snapshot_scores(&self, as_of: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        const SQL: &str = "SELECT c.external_id, s.score, s.band FROM health_snapshots s \
            JOIN customers c ON c.id = s.customer_id WHERE s.as_of = $1 ORDER BY c.external_id";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(as_of).fetch_all(pool).await?))
    }
}
