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

/// The conflict clause of both upserts: an identical row is left untouched.
const UPSERT_EVENTS: &str = " ON CONFLICT (external_id) DO UPDATE SET customer_id = excluded.customer_id, \
    kind = excluded.kind, occurred_at = excluded.occurred_at, \
    amount = excluded.amount, score = excluded.score, properties = excluded.properties \
    WHERE events.customer_id <> excluded.customer_id \
    OR events.kind <> excluded.kind \
    OR events.occurred_at <> excluded.occurred_at \
    OR events.amount IS DISTINCT FROM excluded.amount \
    OR events.score IS DISTINCT FROM excluded.score \
    OR events.properties <> excluded.properties";

/// One multi-row upsert of `rows` for SQLite.
fn sqlite_upsert(rows: &[&NewEvent], now: i64) -> QueryBuilder<sqlx::Sqlite> {
    let mut q = QueryBuilder::new(
        "INSERT INTO events (external_id, customer_id, kind, occurred_at, amount, score, properties, created_at) ",
    );
    q.push_values(rows, |mut b, e| {
        b.push_bind(e.external_id.as_str())
            .push_bind(e.customer_id)
            .push_bind(e.kind.as_str())
            .push_bind(e.occurred_at)
            .push_bind(e.amount)
            .push_bind(e.score)
            .push_bind(e.properties.as_str())
            .push_bind(now);
    });
    q.push(UPSERT_EVENTS);
    q
}

/// New events in COPY's text format, straight into the table (`copy_rows` makes the data).
pub(super) const COPY_EVENTS: &str = "COPY events (external_id, customer_id, kind, occurred_at, amount, score, \
    properties, created_at) FROM STDIN (FORMAT text)";

/// Runs one `COPY … FROM STDIN` with `data`; returns the rows copied.
pub(super) async fn copy_in(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    data: &[u8],
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await
}

/// Appends `s` escaped for COPY's text format (backslash, tab, newline, carriage return).
fn copy_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// The rows in COPY's text format, columns as in the events table (created_at last).
pub(super) fn copy_rows(rows: &[&NewEvent], now: i64) -> Vec<u8> {
    let mut data = Vec::with_capacity(rows.len() * 110);
    for e in rows {
        copy_text(&mut data, &e.external_id);
        data.push(b'\t');
        data.extend_from_slice(e.customer_id.to_string().as_bytes());
        data.push(b'\t');
        copy_text(&mut data, &e.kind);
        data.push(b'\t');
        data.extend_from_slice(e.occurred_at.to_string().as_bytes());
        for v in [e.amount, e.score] {
            data.push(b'\t');
            match v {
                Some(x) => data.extend_from_slice(x.to_string().as_bytes()),
                None => data.extend_from_slice(b"\\N"),
            }
        }
        data.push(b'\t');
        copy_text(&mut data, &e.properties);
        data.push(b'\t');
        data.extend_from_slice(now.to_string().as_bytes());
        data.push(b'\n');
    }
    data
}

impl Store {
    /// Inserts new events and updates changed ones (by external id), in one transaction.
    /// Returns how many rows were inserted or actually changed.
    pub async fn upsert_events(&self, rows: &[NewEvent], now: i64) -> Result<u64, StoreError> {
        let rows = last_per_key(rows, |r| r.external_id.as_str());
        match self {
            Store::Sqlite(pool) => {
                let _turn = super::write_turns::take_turn(pool).await;
                let mut tx = pool.begin().await?;
                let mut affected = 0;
                let mut chunks = rows.chunks(ROWS_PER_STATEMENT);
                let mut next = chunks.next().map(|chunk| sqlite_upsert(chunk, now));
                while let Some(mut statement) = next {
                    // The next statement's rows are bound while SQLite runs this one: taking
                    // turns left SQLite's thread idle meanwhile (importing the 100k book took
                    // 12 s that way, 10.5 s this way; BENCHMARKS.md, eleventh sitting).
                    let (done, following) = tokio::join!(statement.build().execute(&mut *tx), async {
                        chunks.next().map(|chunk| sqlite_upsert(chunk, now))
                    });
                    affected += done?.rows_affected();
                    next = following;
                }
                super::wakes::mark_changed_sqlite(&mut tx, rows.iter().map(|e| e.customer_id)).await?;
                tx.commit().await?;
                Ok(affected)
            }
            // On PostgreSQL a multi-row INSERT per 1000 rows managed 26k rows/s. New rows (every
            // first import) are copied straight into the table; a batch holding a row that
            // exists is copied into a temporary table instead and upserted from there by one
            // INSERT … SELECT. The attempt runs under a savepoint: a conflict aborts it, usually
            // at its first row when a file is imported again.
            Store::Postgres(pool) => {
                const STAGE: &str = "CREATE TEMP TABLE events_in (external_id TEXT, customer_id BIGINT, kind TEXT, \
                    occurred_at BIGINT, amount DOUBLE PRECISION, score DOUBLE PRECISION, properties TEXT, \
                    created_at BIGINT) ON COMMIT DROP";
                const COPY: &str = "COPY events_in FROM STDIN (FORMAT text)";
                let data = copy_rows(&rows, now);
                let mut tx = pool.begin().await?;
                sqlx::query("SAVEPOINT direct_copy").execute(&mut *tx).await?;
                let direct = copy_in(&mut tx, COPY_EVENTS, &data).await;
                let affected = match direct {
                    Ok(copied) => copied,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        sqlx::query("ROLLBACK TO SAVEPOINT direct_copy")
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(STAGE).execute(&mut *tx).await?;
                        copy_in(&mut tx, COPY, &data).await?;
                        let sql = format!(
                            "INSERT INTO events (external_id, customer_id, kind, occurred_at, amount, score, \
                             properties, created_at) SELECT external_id, customer_id, kind, occurred_at, amount, \
                             score, properties, created_at FROM events_in{UPSERT_EVENTS}"
                        );
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                    }
                    Err(e) => return Err(e.into()),
                };
                super::wakes::mark_changed_postgres(&mut tx, rows.iter().map(|e| e.customer_id)).await?;
                tx.commit().await?;
                Ok(affected)
            }
        }
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

    /// Per-customer aggregates that the health score needs, one row per customer with any
    /// event at or before `until`, in ascending customer id: latest activity, the activity
    /// instants after `recent_from`, and the scored feedback after `recent_from`. Aggregating in
    /// SQL streams one row per customer instead of one per event.
    /// `activity_kinds` None means every kind except `feedback`.
    pub fn health_inputs(
        &self,
        until: i64,
        recent_from: i64,
        activity_kinds: Option<&[String]>,
    ) -> BoxStream<'_, Result<HealthInputs, StoreError>> {
        // Only placeholders and a constant kind go into the text; every value is bound.
        let activity = match activity_kinds {
            None => format!("kind <> '{}'", crate::health::FEEDBACK_KIND),
            Some(kinds) => {
                let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
                format!("kind IN ({})", list.join(", "))
            }
        };
        let sql = format!(
            "SELECT customer_id, \
             max(CASE WHEN {activity} THEN occurred_at END) AS last_activity, \
             string_agg(CASE WHEN {activity} AND occurred_at > $2 THEN CAST(occurred_at AS TEXT) END, ',') AS recent, \
             string_agg(CASE WHEN kind = '{fb}' AND score IS NOT NULL AND occurred_at > $2 \
                 THEN CAST(occurred_at AS TEXT) || ':' || CAST(score AS TEXT) END, ',') AS feedback \
             FROM events WHERE occurred_at <= $1 GROUP BY customer_id ORDER BY customer_id",
            fb = crate::health::FEEDBACK_KIND
        );
        let kinds: Vec<String> = activity_kinds.map(<[String]>::to_vec).unwrap_or_default();
        on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, RawHealthInputs>(sqlx::AssertSqlSafe(sql)).bind(until).bind(recent_from);
            for k in kinds {
                q = q.bind(k);
            }
            Box::pin(q.fetch(pool).map_err(StoreError::from).and_then(|raw| async move { raw.parse() }))
        })
    }
}

/// One customer's aggregated health inputs.
#[derive(Debug, Clone, Default)]
pub struct HealthInputs {
    pub customer_id: i64,
    pub last_activity: Option<i64>,
    pub recent_activity: Vec<i64>,
    pub feedback: Vec<(i64, f64)>,
}

#[derive(FromRow)]
struct RawHealthInputs {
    customer_id: i64,
    last_activity: Option<i64>,
    recent: Option<String>,
    feedback: Option<String>,
}

impl RawHealthInputs {
    fn parse(self) -> Result<HealthInputs, StoreError> {
        let bad =
            |what: &str| StoreError::Sql(sqlx::Error::Decode(format!("malformed {what} aggregate").into()));
        let recent_activity = self
            .recent
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| bad("activity")))
            .collect::<Result<_, _>>()?;
        let feedback = self
            .feedback
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (t, score) = s.split_once(':').ok_or_else(|| bad("feedback"))?;
                Ok((
                    t.parse().map_err(|_| bad("feedback"))?,
                    score.parse().map_err(|_| bad("feedback"))?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(HealthInputs {
            customer_id: self.customer_id,
            last_activity: self.last_activity,
            recent_activity,
            feedback,
        })
    }
}
