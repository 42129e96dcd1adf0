//! What the owner's view of the business reads: every customer's events and sent messages as
//! two streams in customer order (one pass each, no query per customer), their last health
//! band, feedback scores, and the health snapshots' band counts.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;

use super::{Store, StoreError, on_pool};

/// One event, as the business report reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventPoint {
    pub customer_id: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub amount: Option<f64>,
}

/// When a message to a customer went out.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct SentPoint {
    pub customer_id: i64,
    pub sent_at: i64,
}

/// How many customers a health snapshot batch put in a band.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BandCount {
    pub as_of: i64,
    pub band: String,
    pub n: i64,
}

impl Store {
    /// Every event at or before `until`, by customer, then time.
    pub fn events_by_customer(&self, until: i64) -> BoxStream<'_, Result<EventPoint, StoreError>> {
        const SQL: &str = "SELECT customer_id, kind, occurred_at, amount FROM events \
            WHERE occurred_at <= $1 ORDER BY customer_id, occurred_at";
        on_pool!(self, pool => Box::pin(sqlx::query_as(SQL).bind(until).fetch(pool).map_err(StoreError::from)))
    }

    /// Every message that went out at or before `until`, by customer, then time.
    pub fn sent_by_customer(&self, until: i64) -> BoxStream<'_, Result<SentPoint, StoreError>> {
        const SQL: &str = "SELECT customer_id, sent_at FROM messages \
            WHERE sent_at IS NOT NULL AND sent_at <= $1 ORDER BY customer_id, sent_at";
        on_pool!(self, pool => Box::pin(sqlx::query_as(SQL).bind(until).fetch(pool).map_err(StoreError::from)))
    }

    /// Each customer's band in their latest snapshot at or before `until`.
    pub async fn latest_bands(&self, until: i64) -> Result<HashMap<i64, String>, StoreError> {
        const SQL: &str = "SELECT s.customer_id, s.band FROM health_snapshots s \
            JOIN (SELECT customer_id, max(as_of) AS as_of FROM health_snapshots WHERE as_of <= $1 \
                  GROUP BY customer_id) l ON l.customer_id = s.customer_id AND l.as_of = s.as_of";
        on_pool!(self, pool => {
            let rows: Vec<(i64, String)> = sqlx::query_as(SQL).bind(until).fetch_all(pool).await?;
            Ok(rows.into_iter().collect())
        })
    }

    /// The scores of `kind` events in [since, until], with their instants.
    pub async fn scores(&self, kind: &str, since: i64, until: i64) -> Result<Vec<(i64, f64)>, StoreError> {
        const SQL: &str = "SELECT occurred_at, score FROM events \
            WHERE kind = $1 AND score IS NOT NULL AND occurred_at >= $2 AND occurred_at <= $3 ORDER BY occurred_at";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(kind).bind(since).bind(until).fetch_all(pool).await?))
    }

    /// Band counts of every snapshot batch in [since, until].
    pub async fn band_counts(&self, since: i64, until: i64) -> Result<Vec<BandCount>, StoreError> {
        const SQL: &str = "SELECT as_of, band, count(*) AS n FROM health_snapshots \
            WHERE as_of >= $1 AND as_of <= $2 GROUP BY as_of, band ORDER BY as_of, band";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(since).bind(until).fetch_all(pool).await?))
    }

    /// How many customers were in band `from` in one snapshot batch and in `to` in a later one.
    pub async fn band_moves(&self, first: i64, last: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        const SQL: &str = "SELECT a.band AS \"from\", b.band AS \"to\", count(*) AS n \
            FROM health_snapshots a JOIN health_snapshots b ON b.customer_id = a.customer_id \
            WHERE a.as_of = $1 AND b.as_of = $2 GROUP BY a.band, b.band ORDER BY 1, 2";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(first).bind(last).fetch_all(pool).await?))
    }
}
