//! `rekindle health recompute`: a health snapshot for every customer.

use std::process::ExitCode;

use super::Ctx;
use super::when::When;
use crate::out;

pub async fn recompute(ctx: &Ctx, at: Option<When>) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    let r = rekindle::recompute::recompute_health(&ctx.store, &ctx.config.health, at).await?;
    out!(
        "health as of {}: {} customers — {} healthy, {} at risk, {} critical",
        rekindle::domain::fmt_instant(at),
        r.customers,
        r.healthy,
        r.at_risk,
        r.critical
    );
    Ok(ExitCode::SUCCESS)
}
