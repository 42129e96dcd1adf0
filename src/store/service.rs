//! What the long-running service needs beyond a single run: scheduled ticks claimed once
//! across instances, the feed of due messages, and taking back a stopping instance's claims.

use std::collections::HashMap;

use super::{Store, StoreError, on_pool};

/// Which due messages a process feeds to the queue: those with `id % of == index`. Several
/// instances split the ids between them, so each due message gets one job rather than one per
/// instance; a lone process has the whole (`Share::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub of: i64,
    pub index: i64,
}

impl Share {
    pub const ALL: Share = Share { of: 1, index: 0 };

    /// This instance's share among the live ones (itself included).
    pub fn among(live: &[String], me: &str) -> Share {
        match live.iter().position(|id| id == me) {
            Some(index) => Share {
                of: live.len() as i64,
                index: index as i64,
            },
            None => Share::ALL,
        }
    }
}

impl Store {
    /// One trivial round trip: is the database there?
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; Ok(()) })
    }

    /// Claims one scheduled tick of a rule (or of another scheduled job) for this instance.
    /// False when another instance, or an earlier start of this one, already has it: several
    /// instances on one database evaluate each tick once.
    pub async fn claim_tick(
        &self,
        job: &str,
        tick_at: i64,
        instance: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO rule_runs (rule_id, tick_at, instance, started_at) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (rule_id, tick_at) DO NOTHING";
        on_pool!(self, pool => Ok(sqlx::query(SQL).bind(job).bind(tick_at).bind(instance).bind(now)
            .execute(pool).await?.rows_affected() == 1))
    }

    pub async fn finish_tick(&self, job: &str, tick_at: i64, now: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE rule_runs SET finished_at = $3 WHERE rule_id = $1 AND tick_at = $2";
        on_pool!(self, pool => { sqlx::query(SQL).bind(job).bind(tick_at).bind(now).execute(pool).await?; Ok(()) })
    }

    /// Forgets the claim of a tick that was abandoned before it finished (the service stopped
    /// meanwhile): the job's latest claim is the one before again, so the next start runs this
    /// tick as a missed one. A finished tick is never given back.
    pub async fn release_tick(&self, job: &str, tick_at: i64) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM rule_runs WHERE rule_id = $1 AND tick_at = $2 AND finished_at IS NULL";
        on_pool!(self, pool => { sqlx::query(SQL).bind(job).bind(tick_at).execute(pool).await?; Ok(()) })
    }

    /// The latest claimed tick of every scheduled job: where a restarted service resumes.
    pub async fn last_ticks(&self) -> Result<HashMap<String, i64>, StoreError> {
        const SQL: &str = "SELECT rule_id, max(tick_at) FROM rule_runs GROUP BY rule_id";
        on_pool!(self, pool => {
            let rows: Vec<(String, i64)> = sqlx::query_as(SQL).fetch_all(pool).await?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Queued messages due at or before `now`, oldest first, at most `limit`, of this process's
    /// share of the ids (`id % of == index`): (id, attempts).
    pub async fn due_messages(
        &self,
        now: i64,
        limit: i64,
        share: Share,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        // One row holding the list, not one row per message: the feeder asks for up to a few
        // thousand every few milliseconds, and SQLite hands rows over one by one between
        // threads (4,096 rows took 46 ms in the process against 7 ms in `sqlite3`).
        // One instance reads the oldest due messages straight from `messages_queued`. With
        // several, each reads its own share's oldest exactly: the feeder forgets a pushed
        // message missing from the read and pushes it again, and on PostgreSQL a job pushed
        // twice under the same key fails the whole push, so a share's read must not be crowded
        // out by the others' backlog. Its filter, guessed by PostgreSQL to keep a two-hundredth
        // of the rows, still makes it scan and sort the table: the single-instance read was
        // the one costing most (30 ms per read at 20k queued, BENCHMARKS.md).
        macro_rules! due {
            ($share:literal) => {
                concat!(
                    "SELECT string_agg(CAST(id AS TEXT) || ':' || CAST(attempts AS TEXT), ',' \
                     ORDER BY next_attempt_at, id) FROM (SELECT id, attempts, next_attempt_at \
                     FROM messages WHERE status = 'queued' AND next_attempt_at <= $1 ",
                    $share,
                    " ORDER BY next_attempt_at, id LIMIT $2) AS due"
                )
            };
        }
        const ALL: &str = due!("");
        const SHARE: &str = due!("AND id % $3 = $4");
        let packed: Option<String> = if share.of <= 1 {
            on_pool!(self, pool => sqlx::query_scalar(ALL).bind(now).bind(limit).fetch_one(pool).await?)
        } else {
            on_pool!(self, pool => sqlx::query_scalar(SHARE).bind(now).bind(limit)
                .bind(share.of).bind(share.index).fetch_one(pool).await?)
        };
        let bad = || StoreError::Sql(sqlx::Error::Decode("malformed due-message list".into()));
        packed
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (id, attempts) = item.split_once(':').ok_or_else(bad)?;
                Ok((
                    id.parse().map_err(|_| bad())?,
                    attempts.parse().map_err(|_| bad())?,
                ))
            })
            .collect()
    }

    /// Ids of the instances whose heartbeat is at or after `since`, sorted.
    pub async fn live_instances(&self, since: i64) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT id FROM instances WHERE heartbeat_at >= $1 ORDER BY id";
        on_pool!(self, pool => Ok(sqlx::query_scalar(SQL).bind(since).fetch_all(pool).await?))
    }

    /// All queued messages, due or not: the queue depth operations watch.
    pub async fn queued_messages(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM messages WHERE status = 'queued'";
        on_pool!(self, pool => Ok(sqlx::query_scalar(SQL).fetch_one(pool).await?))
    }

    /// Returns this instance's unfinished claims to the queue: deliveries cut off by a
    /// shutdown are retried later rather than lost. Returns how many.
    pub async fn release_claims(&self, instance: &str, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE messages SET status = 'queued', claimed_by = NULL, outcome_unknown = TRUE, \
            updated_at = $2, last_detail = 'cut off by shutdown' WHERE status = 'sending' AND claimed_by = $1";
        on_pool!(self, pool => Ok(sqlx::query(SQL).bind(instance).bind(now).execute(pool).await?.rows_affected()))
    }
}
