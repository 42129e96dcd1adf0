//! All schema work — rekindle's migrations and the job queue's tables — under one lock, so
//! two instances starting at once on a fresh database cannot both create the same tables
//! (seen: `duplicate column name: priority` and `UNIQUE constraint failed:
//! _sqlx_migrations.version` in 3 of 10 simultaneous starts on SQLite).

use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;

use super::{MIGRATIONS_TABLE, Store, StoreError};

/// Migration 0007's statistic for apalis's SQLite queue, and the reload that makes the
/// planner read it.
const JOB_QUEUE_STATISTIC: [&str; 3] = [
    "DELETE FROM sqlite_stat1 WHERE tbl = 'Jobs' AND idx = 'LIdx'",
    "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('Jobs', 'LIdx', '100000 100000')",
    "ANALYZE sqlite_schema",
];

/// Every process uses this key for PostgreSQL's advisory lock around schema work.
const PG_SCHEMA_LOCK: i64 = 0x7265_6b69_6e64_6c65; // "rekindle"

impl Store {
    /// Brings rekindle's schema and the job queue's tables up to date, holding the schema
    /// lock: a file lock beside a SQLite database, an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let _lock = match self {
            Store::Sqlite(pool) => SchemaFileLock::for_file(pool.connect_options().get_filename()).await?,
            Store::Postgres(_) => None,
        };
        self.migrate_locked().await
    }

    /// `migrate` for a caller that holds the SQLite file lock already (`open` takes it before
    /// connecting: switching a fresh file to WAL needs the database to itself).
    pub(super) async fn migrate_locked(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let mut m = sqlx::migrate!("migrations/sqlite");
                m.dangerous_set_table_name(MIGRATIONS_TABLE);
                m.run(pool).await?;
                // apalis's setup switches its connection to `synchronous = OFF`; it runs on a
                // throw-away pool so that this never leaks into the store's own connections.
                let options = (*pool.connect_options()).clone();
                let setup_pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?;
                let result = SqliteStorage::setup(&setup_pool).await;
                setup_pool.close().await;
                result.map_err(|e| StoreError::Queue(e.to_string()))?;
                // apalis's setup runs `PRAGMA optimize`, which may re-analyse the queue's table
                // and replace the planner statistic of migration 0007 (its acknowledgements
                // then scan every locked row again): the statistic is written back after it.
                write_job_queue_statistic(pool).await?;
            }
            Store::Postgres(pool) => {
                // The lock belongs to one session: that connection is held until the end.
                let mut lock = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(PG_SCHEMA_LOCK)
                    .execute(&mut *lock)
                    .await?;
                let result: Result<(), StoreError> = async {
                    let mut m = sqlx::migrate!("migrations/postgres");
                    m.dangerous_set_table_name(MIGRATIONS_TABLE);
                    m.run(pool).await?;
                    PostgresStorage::setup(pool)
                        .await
                        .map_err(|e| StoreError::Queue(e.to_string()))?;
                    Ok(())
                }
                .await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_SCHEMA_LOCK)
                    .execute(&mut *lock)
                    .await?;
                result?;
            }
        }
        Ok(())
    }
}

async fn write_job_queue_statistic(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for sql in JOB_QUEUE_STATISTIC {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

impl Store {
    /// After an import on SQLite: brings the planner's statistics up to date with what it
    /// wrote (`PRAGMA optimize` analyses the tables that grew), so that the next command to
    /// open the store does not pay for it. Every open runs `PRAGMA optimize` too (apalis's
    /// setup), and the first one after a million-customer import spent 0.8 s and 250 MiB on
    /// it (BENCHMARKS.md). On PostgreSQL autovacuum analyses, and a bulk load analyses itself.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(pool) = self {
            sqlx::query("PRAGMA optimize").execute(pool).await?;
            // It may have re-analysed the queue's table too.
            write_job_queue_statistic(pool).await?;
        }
        Ok(())
    }

    /// Deletes a queue's finished jobs from apalis's SQLite table (see
    /// `delivery::queue::prune_finished` for why). On PostgreSQL apalis's queries use indexes
    /// for this and its table is left as apalis keeps it.
    pub async fn prune_finished_jobs(&self, queue: &str) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM Jobs WHERE job_type = $1 AND (status IN ('Done', 'Killed') \
            OR (status = 'Failed' AND attempts >= max_attempts))";
        match self {
            Store::Sqlite(pool) => Ok(sqlx::query(SQL).bind(queue).execute(pool).await?.rows_affected()),
            Store::Postgres(_) => Ok(0),
        }
    }
}

/// An exclusive lock on `<database>.schema-lock`, released when dropped (or when the process
/// dies: the operating system drops the lock with the file descriptor).
pub(super) struct SchemaFileLock {
    _file: std::fs::File,
}

impl SchemaFileLock {
    /// The lock of a database file; `None` for an in-memory database.
    pub(super) async fn for_file(db: &std::path::Path) -> Result<Option<SchemaFileLock>, StoreError> {
        if db.as_os_str().is_empty() || db.as_os_str() == ":memory:" {
            return Ok(None);
        }
        Ok(Some(SchemaFileLock::acquire(db).await?))
    }

    async fn acquire(db: &std::path::Path) -> Result<SchemaFileLock, StoreError> {
        let mut name = db.as_os_str().to_owned();
        name.push(".schema-lock");
        let path = std::path::PathBuf::from(name);
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok(SchemaFileLock { _file: file })
        })
        .await
        .map_err(|e| StoreError::Queue(format!("schema lock task failed: {e}")))?
        .map_err(|e: std::io::Error| StoreError::SchemaLock(e.to_string()))
    }
}
