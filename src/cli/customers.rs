//! `rekindle customers show`: a customer's score with its breakdown, and their recent history.

use std::process::ExitCode;

use anyhow::bail;

use super::Ctx;
use super::args::Format;
use super::when::When;
use crate::out;

/// Decisions and messages `customers show` lists.
const CUSTOMER_HISTORY: i64 = 20;

pub async fn show(ctx: &Ctx, id: &str, at: Option<When>, format: Format) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    let Some(profile) = rekindle::profile::load(&ctx.store, &ctx.config.health, id, at).await? else {
        bail!("no customer with id {id:?}");
    };
    let history = ctx
        .store
        .customer_history(profile.customer.id, CUSTOMER_HISTORY)
        .await?;
    match format {
        Format::Json => {
            let mut json = serde_json::to_value(profile.json())?;
            json["history"] = serde_json::to_value(&history)?;
            out!("{}", serde_json::to_string(&json)?);
        }
        Format::Text => {
            super::output::text(
                &profile.render_text(&ctx.config.health, ctx.config.default_timezone.name()),
            )?;
            super::output::text(&rekindle::profile::render_history(&history))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
