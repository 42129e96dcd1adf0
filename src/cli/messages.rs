//! `rekindle messages list|retry`: what happened to messages, without opening the database.

use std::process::ExitCode;

use anyhow::bail;
use rekindle::domain::fmt_instant;
use rekindle::store::{MessageFilter, MessageRow};

use super::Ctx;
use super::args::{Format, MessageSelection};
use crate::out;

/// Rows `messages list` shows unless told otherwise.
pub const DEFAULT_LIMIT: i64 = 100;

fn print_list(rows: &[MessageRow], json: bool) -> anyhow::Result<()> {
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

/// Erased customers' ids are not meant for people.
pub fn display_customer(id: &str) -> &str {
    if rekindle::store::is_erased_id(id) {
        "(erased)"
    } else {
        id
    }
}

pub async fn list(
    ctx: &Ctx,
    select: &MessageSelection,
    limit: i64,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let filter = filter(ctx, select, limit)?;
    let rows = ctx.store.list_messages(&filter).await?;
    print_list(&rows, format == Format::Json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn retry(ctx: &Ctx, ids: &[i64], select: &MessageSelection) -> anyhow::Result<ExitCode> {
    if ids.is_empty() && select.status.is_none() && select.rule.is_none() && select.customer.is_none() {
        bail!("name message ids, or choose them with --status failed (and --rule, --customer, --since)");
    }
    requeue(ctx, ids, &filter(ctx, select, i64::MAX)?, super::now()).await?;
    Ok(ExitCode::SUCCESS)
}

fn filter(ctx: &Ctx, select: &MessageSelection, limit: i64) -> anyhow::Result<MessageFilter> {
    Ok(MessageFilter {
        status: select.status,
        rule: select.rule.clone(),
        customer: select.customer.clone(),
        since: ctx.maybe(select.since)?,
        limit,
    })
}

/// Requeues the given ids, or every message of `filter` (failed or expired) when none are given.
async fn requeue(ctx: &Ctx, ids: &[i64], filter: &MessageFilter, now: i64) -> anyhow::Result<()> {
    let store = &ctx.store;
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
