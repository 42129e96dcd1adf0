//! `rekindle messages list|retry`: what happened to messages, without opening the database.

use rekindle::domain::fmt_instant;
use rekindle::store::{MessageFilter, MessageRow, Store};

use crate::out;

/// Rows `messages list` shows unless told otherwise.
pub const DEFAULT_LIMIT: i64 = 100;

pub fn print_list(rows: &[MessageRow], json: bool) -> anyhow::Result<()> {
    if json {
        for r in rows {
            out!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    if rows.is_empty() {
        out!("no messages match");
        return Ok(());
    }
    out!(
        "{:>8}  {:<16} {:<24} {:<5} {:<9} {:>8}  {:<20}  last error",
        "id",
        "customer",
        "rule",
        "chan",
        "status",
        "attempts",
        "next attempt"
    );
    for r in rows {
        out!(
            "{:>8}  {:<16} {:<24} {:<5} {:<9} {:>8}  {:<20}  {}",
            r.id,
            display_customer(&r.customer),
            r.rule,
            r.channel,
            r.status,
            r.attempts,
            r.next_attempt_at.map(fmt_instant).unwrap_or_default(),
            r.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Erased customers' ids are not meant for people (see `store::erased_id`).
pub fn display_customer(id: &str) -> &str {
    if id.starts_with('\u{1}') { "(erased)" } else { id }
}

/// Requeues the given ids, or every message of `filter` (failed or expired) when none are given.
pub async fn retry(store: &Store, ids: &[i64], filter: &MessageFilter, now: i64) -> anyhow::Result<()> {
    let ids: Vec<i64> = if ids.is_empty() {
        store
            .list_messages(filter)
            .await?
            .into_iter()
            .filter(|m| m.status.is_retryable())
            .map(|m| m.id)
            .collect()
    } else {
        ids.to_vec()
    };
    let done = store.retry_messages(&ids, now).await?;
    for id in ids.iter().filter(|id| !done.contains(id)) {
        eprintln!("message {id}: not requeued (no such message, or it has not failed or expired)");
    }
    out!(
        "requeued {} message(s); they go out at the next `rekindle run --once` or with the running service",
        done.len()
    );
    Ok(())
}
