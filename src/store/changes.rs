//! What changed in the book since a mark: the customers whose events were written (or a code of
//! theirs redeemed), and the customers with activity dated into a span of time. A pass that
//! keeps its mark looks at those customers next time instead of at everyone (migration 0020).

use super::wakes::{Listed, only_clause};
use super::{Store, StoreError, on_pool};

/// The book's change position, read before a pass begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMark {
    /// Bumped by every write too large to mark its customers one by one: a pass after such a
    /// write cannot tell who changed and looks at everyone.
    generation: i64,
    /// SQLite: the change counter (migration 0015), every later write's revision is above it.
    /// PostgreSQL: the oldest transaction still running (the snapshot's xmin): every write the
    /// pass could not see was made by it or a later one.
    horizon: i64,
}

impl ChangeMark {
    pub fn same_generation(&self, other: &ChangeMark) -> bool {
        self.generation == other.generation
    }
}

impl Store {
    /// The book's change position now. Read before the work it marks: a write that lands
    /// while the work runs is then counted as a change since.
    pub async fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        let (generation, horizon): (i64, i64) = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as("SELECT generation, changes FROM book_generation WHERE id = 1")
                    .fetch_one(pool)
                    .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT generation, pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                     FROM book_generation WHERE id = 1",
                )
                .fetch_one(pool)
                .await?
            }
        };
        Ok(ChangeMark { generation, horizon })
    }

    /// The customers written since `mark` (a superset on PostgreSQL: those written by a
    /// transaction that was still running when the mark was read are named again). Found by
    /// index. The caller checks the generation first.
    pub async fn customers_changed_since(&self, mark: &ChangeMark) -> Result<Vec<i64>, StoreError> {
        Ok(match self {
            Store::Sqlite(pool) => {
                sqlx::query_scalar("SELECT id FROM customers WHERE revision > $1")
                    .bind(mark.horizon)
                    .fetch_all(pool)
                    .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar("SELECT id FROM customers WHERE changed_xid >= $1")
                    .bind(mark.horizon)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// The customers with an event of one of `kinds`, or a redemption, dated in
    /// (`after`, `until`]: what time passing alone brings within reach of a goal.
    pub async fn customers_active_between(
        &self,
        kinds: &[String],
        after: i64,
        until: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT customer_id FROM events WHERE occurred_at > $1 AND occurred_at <= $2{kinds} \
             UNION SELECT customer_id FROM offers WHERE redeemed_at > $1 AND redeemed_at <= $2",
            kinds = only_clause(self, "kind", 3)
        );
        on_pool!(self, pool => Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(until)
            .bind(Listed(kinds))
            .fetch_all(pool)
            .await?))
    }
}
