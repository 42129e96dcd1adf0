//! The first load of events into an empty PostgreSQL table: one transaction that drops the
//! table's indexes and constraints, copies every batch straight in, then builds the indexes
//! once and checks the constraints set-based. Maintaining three B-trees and a foreign-key
//! check per row made a first import of 2.8M events take 3.5× a bare `COPY` plus index build;
//! this way it costs about what that floor does (BENCHMARKS.md).
//!
//! Safe because PostgreSQL's DDL is transactional: a crash or an error rolls everything back to
//! the empty table with its indexes, never to a table without them. While it runs, the table is
//! locked (readers wait), which only a brand-new book meets; a table in use or not empty is
//! loaded batch by batch as always (`Store::upsert_events`).

use sqlx::{Postgres, Transaction};

use super::events::{COPY_EVENTS, NewEvent, copy_in, copy_rows};
use super::{Store, StoreError, last_per_key};

/// How long the load waits for the table: a service reading it keeps its batch-by-batch path.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '3s'";

pub struct BulkLoad {
    tx: Transaction<'static, Postgres>,
    /// `ALTER TABLE … ADD CONSTRAINT` and `CREATE INDEX` statements, in the order they run.
    rebuild: Vec<String>,
}

impl std::fmt::Debug for BulkLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoad")
            .field("rebuild", &self.rebuild)
            .finish()
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Starts a bulk load when this is PostgreSQL and its events table is empty and free.
    pub async fn begin_event_bulk_load(&self) -> Result<Option<BulkLoad>, StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(None);
        };
        let mut tx = pool.begin().await?;
        sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
        if let Err(e) = sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
        {
            tracing::info!(error = %e, "events table busy: importing batch by batch");
            return Ok(None);
        }
        sqlx::query("SET LOCAL lock_timeout = 0")
            .execute(&mut *tx)
            .await?;
        let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM events)")
            .fetch_one(&mut *tx)
            .await?;
        if !empty {
            return Ok(None);
        }
        // Read from the catalogue, so the rebuild follows whatever the migrations made.
        // Primary key and unique constraints before the foreign key, whose check then runs once.
        let constraints: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u', 'f') \
             ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END, conname",
        )
        .fetch_all(&mut *tx)
        .await?;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.relname::text, pg_get_indexdef(i.oid) FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE x.indrelid = 'events'::regclass \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) \
             ORDER BY i.relname",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut rebuild: Vec<String> = constraints
            .iter()
            .map(|(name, definition)| {
                format!("ALTER TABLE events ADD CONSTRAINT {} {definition}", quoted(name))
            })
            .collect();
        // Dropped in the reverse order of their rebuilding.
        for (name, _) in constraints.iter().rev() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE events DROP CONSTRAINT {}",
                quoted(name)
            )))
            .execute(&mut *tx)
            .await?;
        }
        for (name, definition) in indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {}", quoted(&name))))
                .execute(&mut *tx)
                .await?;
            rebuild.push(definition);
        }
        Ok(Some(BulkLoad { tx, rebuild }))
    }
}

impl BulkLoad {
    /// Copies one batch in; returns how many rows it held (a later line of the same external
    /// id replaces an earlier one, within the batch here and across batches in `finish`).
    pub async fn copy(&mut self, rows: &[NewEvent], now: i64) -> Result<u64, StoreError> {
        let rows = last_per_key(rows, |r| r.external_id.as_str());
        Ok(copy_in(&mut self.tx, COPY_EVENTS, &copy_rows(&rows, now)).await?)
    }

    /// Builds the indexes, checks the constraints and commits. A line repeated in a later batch
    /// replaces the earlier one, as an upsert would have (its copy counted as the update).
    pub async fn finish(mut self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE events").execute(&mut *self.tx).await?;
        let mut replaced = 0;
        for statement in &self.rebuild {
            sqlx::query("SAVEPOINT rebuild").execute(&mut *self.tx).await?;
            let built = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *self.tx)
                .await;
            match built {
                Ok(_) => {}
                // The same external id in two batches: the later row (higher id) stays.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && replaced == 0 => {
                    sqlx::query("ROLLBACK TO SAVEPOINT rebuild")
                        .execute(&mut *self.tx)
                        .await?;
                    replaced = sqlx::query(
                        "DELETE FROM events a USING events b \
                         WHERE a.external_id = b.external_id AND a.id < b.id",
                    )
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
                    sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                        .execute(&mut *self.tx)
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Every customer may have changed: the next evaluation of every scope is a full one.
        sqlx::query(super::wakes::BUMP_GENERATION)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        if replaced > 0 {
            tracing::info!(
                replaced,
                "lines repeated across batches replaced the earlier ones"
            );
        }
        Ok(())
    }
}
