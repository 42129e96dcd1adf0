//! The one place that speaks SQL. SQLite (embedded default) and PostgreSQL sit behind one
//! `Store`; both run the same statements (`$N` placeholders work on both), so behaviour
//! cannot drift between backends. Instants are Unix seconds in integer columns.

mod bulk_load;
mod business;
mod changes;
mod copy;
mod customers;
mod evaluation;
mod events;
mod inspect;
mod messages;
mod offers;
mod outcomes;
mod receipts;
mod schema;
mod service;
mod snapshots;
mod sqlite_scan;
mod suppression_list;
mod suppressions;
mod wakes;
mod write_turns;

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use bulk_load::BulkLoad;
pub use business::{BandCount, CustomerActivity};
pub use changes::ChangeMark;
pub use copy::{CopyError, CopyReport, same_database};
pub use customers::{CustomerRecord, NewCustomer};
pub use evaluation::{DecisionRow, KindAggregate, NewDecision, NewOffer, RevisedCustomer};
pub use events::{EventRecord, HealthInputs, NewEvent};
pub use inspect::{FailureCount, HistoryRow, MessageFilter, MessageRow};
pub use messages::{ClaimedMessage, Contact, Finish};
pub use offers::{OfferRecord, Redemption};
pub use outcomes::{CountRow, Engagement, GroupRow, OfferCounts, SeriesRow, WeekRow};
pub use receipts::{Receipt, SentMessage};
pub use service::Share;
pub use snapshots::Snapshot;
pub use suppression_list::Suppression;
pub use suppressions::{address_hash, is_erased_id};
pub use wakes::{BookState, CustomerWake, NextEvent, ScopeState};

use crate::config::DatabaseConfig;

/// Our migrations keep their own bookkeeping table: the job queue's migrations use sqlx's
/// default table on the same database, and two migrators sharing one table refuse to run.
pub const MIGRATIONS_TABLE: &str = "_rekindle_migrations";

/// Rows per multi-row INSERT: well under SQLite's 32,766 and Postgres's 65,535 bind limits.
const ROWS_PER_STATEMENT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    /// A read-only command found no database: it never creates one.
    #[error(
        "no rekindle database at {url}: create one with `rekindle migrate` (then import your data), or try `rekindle demo`"
    )]
    Missing { url: String },
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// Evaluation's reads on SQLite, which step through rows on a connection of their own.
    #[error("database error: {0}")]
    Scan(#[from] rusqlite::Error),
    /// The process is stopping and the store's writers are gone.
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("setting up the job queue's tables failed: {0}")]
    Queue(String),
    #[error("cannot take the schema lock: {0}")]
    SchemaLock(String),
    /// The failure of a statement that wrote many requests at once, shared by each of them.
    #[error(transparent)]
    Batch(std::sync::Arc<StoreError>),
    /// Fresh offer codes kept colliding with stored ones (49 random bits each: this means the
    /// generator is broken, not bad luck).
    #[error("could not find unused offer codes")]
    CodesExhausted,
}

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds. The body is written once;
/// the compiler type-checks it once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Opens a pool for `database.url`. A SQLite file is created when missing.
    pub async fn connect(cfg: &DatabaseConfig) -> Result<Store, StoreError> {
        Store::connect_with(cfg, true).await
    }

    async fn connect_with(cfg: &DatabaseConfig, create: bool) -> Result<Store, StoreError> {
        let url = cfg.url.as_str();
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_err)?
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL is durable across application crashes in WAL mode; only a power loss
                // can lose the last transactions, never corrupt the file.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // The default 2 MB page cache turns index maintenance during a large import into
                // a storm of small reads and writes; 64 MB per connection keeps it in memory.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory")
                .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
            let pool = SqlitePoolOptions::new()
                .max_connections(cfg.max_connections)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)
                .map_err(connect_err)?
                .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
            let pool = PgPoolOptions::new()
                .max_connections(cfg.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store::Postgres(pool))
        }
    }

    /// Connects and brings the schema up to date: what every command that needs the store does.
    pub async fn open(cfg: &DatabaseConfig) -> Result<Store, StoreError> {
        // A fresh SQLite file is created and switched to WAL while the schema lock is held,
        // so processes starting together do not trip over each other.
        let _lock = match sqlite_path(&cfg.url) {
            Some(path) => schema::SchemaFileLock::for_file(&path).await?,
            None => None,
        };
        let store = Store::connect(cfg).await?;
        store.migrate_locked().await?;
        Ok(store)
    }

    /// For commands that only read (`report`, `customers show`, `rules preview`, `messages
    /// list`): opens a database that exists and brings its schema up to date, but never
    /// creates one; a missing file or an empty PostgreSQL database is `StoreError::Missing`.
    pub async fn open_existing(cfg: &DatabaseConfig) -> Result<Store, StoreError> {
        let missing = || StoreError::Missing {
            url: redact(&cfg.url),
        };
        if let Some(path) = sqlite_path(&cfg.url)
            && !path.exists()
        {
            return Err(missing());
        }
        let store = Store::connect_with(cfg, false).await.map_err(|e| match e {
            StoreError::Connect { .. } if cfg.url.starts_with("sqlite:") => missing(),
            other => other,
        })?;
        let ours: i64 = on_pool!(&store, pool => {
            let sql = if matches!(store, Store::Sqlite(_)) {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_rekindle_migrations'"
            } else {
                "SELECT count(*) FROM information_schema.tables WHERE table_name = '_rekindle_migrations' AND table_schema = current_schema()"
            };
            sqlx::query_scalar(sql).fetch_one(pool).await?
        });
        if ours == 0 {
            store.close().await;
            return Err(missing());
        }
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The file of a `sqlite:` URL, unless it is in memory.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The file a SQLite pool reads, unless its database is in memory.
fn sqlite_file(pool: &SqlitePool) -> Option<std::path::PathBuf> {
    let options = pool.connect_options();
    let file = options.get_filename();
    let name = file.to_string_lossy();
    // sqlx names an in-memory database `file:sqlx-in-memory-…`.
    (!name.is_empty() && name != ":memory:" && !name.starts_with("file:")).then(|| file.to_path_buf())
}

/// Keeps passwords out of error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Keeps only the last row for each key, preserving order otherwise. One multi-row upsert must
/// not touch a row twice (Postgres refuses), and in a file the later line is the newer truth.
fn last_per_key<'a, T, K: std::hash::Hash + Eq + 'a>(rows: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut last = std::collections::HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        last.insert(key(row), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, row)| last.get(&key(row)) == Some(i))
        .map(|(_, row)| row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(redact("postgres://app:s3cret@db/x"), "postgres://app:***@db/x");
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("sqlite://rekindle.db"), "sqlite://rekindle.db");
    }

    #[test]
    fn later_rows_win() {
        let rows = [("a", 1), ("b", 2), ("a", 3)];
        let kept: Vec<_> = last_per_key(&rows, |r| r.0).into_iter().copied().collect();
        assert_eq!(kept, vec![("b", 2), ("a", 3)]);
    }
}
