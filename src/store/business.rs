//! What the owner's view of the business reads: one row per customer (their activity, spend,
//! sent messages and last health band, grouped in the database), feedback scores, and the
//! health snapshots' band counts and moves.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;

use super::{Store, StoreError, on_pool};
use crate::health::FEEDBACK_KIND;

/// One customer's activity, as the business report reads it: one row per customer, so that
/// millions of events cross from the database as a hundred thousand rows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerActivity {
    pub customer_id: i64,
    /// Their activity instants, comma-separated, in no promised order.
    pub times: Option<String>,
    /// The `amount` of all their events after the `spend_since` instant.
    pub spend: Option<f64>,
    /// Their feedback scores from `scores_since` on, as `instant:score`, comma-separated: read
    /// in the same pass, so NPS costs no second scan of the events.
    pub scores: Option<String>,
}

/// How many customers a health snapshot batch put in a band.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BandCount {
    pub as_of: i64,
    pub band: String,
    pub n: i64,
}

impl Store {
    /// Per customer with events at or before `until`, by customer: their activity instants
    /// (events of `activity` kinds; `None`: every kind but feedback), their spend after
    /// `spend_since` and their feedback scores from `scores_since` on. One grouped pass along
    /// the (customer, kind, time, amount, score) index: a row per customer crosses from the
    /// database, not a row per event (sqlx hands each row between threads, which at millions
    /// of rows costs more than the query).
    pub fn activity_by_customer(
        &self,
        until: i64,
        spend_since: i64,
        scores_since: i64,
        activity: Option<&[String]>,
    ) -> BoxStream<'_, Result<CustomerActivity, StoreError>> {
        let kinds = serde_json::to_string(&activity.unwrap_or(&[])).expect("strings serialize");
        let (list, concat, scores) = match self {
            Store::Sqlite(_) => (
                "(SELECT value FROM json_each($3))",
                "group_concat(CASE WHEN {act} THEN occurred_at END)",
                "group_concat(CASE WHEN {fb} THEN occurred_at || ':' || score END)",
            ),
            Store::Postgres(_) => (
                "(SELECT json_array_elements_text($3::json))",
                "string_agg(CASE WHEN {act} THEN occurred_at::text END, ',')",
                "string_agg(CASE WHEN {fb} THEN occurred_at::text || ':' || score::text END, ',')",
            ),
        };
        let fb = format!("kind = '{FEEDBACK_KIND}' AND score IS NOT NULL AND occurred_at >= $4");
        let act = match activity {
            Some(_) => format!("kind IN {list}"),
            // $3 is bound either way; PostgreSQL must see it used to know its type.
            None => format!("kind <> '{FEEDBACK_KIND}' AND length($3) > 0"),
        };
        let sql = format!(
            "SELECT customer_id, {} AS times, sum(CASE WHEN occurred_at > $2 THEN amount END) AS spend, \
             {} AS scores FROM events WHERE occurred_at <= $1 GROUP BY customer_id ORDER BY customer_id",
            concat.replace("{act}", &act),
            scores.replace("{fb}", &fb)
        );
        // The statement varies only with the backend and whether kinds are listed: the kinds
        // themselves are bound.
        on_pool!(self, pool => Box::pin(
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(until).bind(spend_since).bind(kinds).bind(scores_since).fetch(pool).map_err(StoreError::from)
        ))
    }

    /// When messages went out to each customer who got any, at or before `until`, as
    /// comma-separated instants.
    pub async fn sent_by_customer(&self, until: i64) -> Result<HashMap<i64, String>, StoreError> {
        let sql = match self {
            Store::Sqlite(_) => {
                "SELECT customer_id, group_concat(sent_at) FROM messages \
                WHERE sent_at IS NOT NULL AND sent_at <= $1 GROUP BY customer_id"
            }
            Store::Postgres(_) => {
                "SELECT customer_id, string_agg(sent_at::text, ',') FROM messages \
                WHERE sent_at IS NOT NULL AND sent_at <= $1 GROUP BY customer_id"
            }
        };
        on_pool!(self, pool => {
            let rows: Vec<(i64, String)> = sqlx::query_as(sql).bind(until).fetch_all(pool).await?;
            Ok(rows.into_iter().collect())
        })
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
