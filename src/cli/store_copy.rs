//! `rekindle store copy --to URL`: moves everything to another store (SQLite → PostgreSQL).

use rekindle::config::DatabaseConfig;
use rekindle::store::{Store, redact, same_database};

use crate::out;

pub async fn copy(source: &Store, source_cfg: &DatabaseConfig, to: &str, force: bool) -> anyhow::Result<()> {
    if same_database(&source_cfg.url, to) {
        return Err(rekindle::store::CopyError::SameStore.into());
    }
    let target_cfg = DatabaseConfig {
        url: to.to_string(),
        max_connections: source_cfg.max_connections,
    };
    let target = Store::open(&target_cfg).await?;
    let report = source.copy_into(&target, &source_cfg.url, force).await;
    target.close().await;
    let report = report?;
    if report.resumed {
        out!("resumed an interrupted copy from {}", redact(&source_cfg.url));
    }
    for (table, rows) in &report.tables {
        out!("  {table:<18} {rows:>10} rows");
    }
    out!(
        "copied into {}; every table's row count matches. Point database.url (or REKINDLE_DATABASE_URL) at it and start the service.",
        redact(to)
    );
    Ok(())
}
