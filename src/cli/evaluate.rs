//! `rekindle evaluate`: record the decisions of every enabled rule at an instant.

use std::process::ExitCode;

use rekindle::rules::RuleSet;

use super::Ctx;
use super::when::When;
use crate::out;

pub async fn run(ctx: &Ctx, set: &RuleSet, at: Option<When>, full: bool) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    let req = rekindle::evaluate::Request {
        at,
        only: &[],
        record: true,
        samples_per_rule: 0,
        imagined: None,
        customer: None,
        incremental: !full,
    };
    // Recorded, so nothing is kept in memory: the counts are enough to report.
    let e = rekindle::evaluate::evaluate_each(&ctx.store, &ctx.config, set, &req, &mut |_| Ok(())).await?;
    out!(
        "evaluated {} rules over {} customers{} at {}: {} decisions ({} sends), {} newly recorded",
        set.rules.iter().filter(|r| r.enabled).count(),
        e.customers,
        if e.incremental {
            " (changed or due since the last evaluation)"
        } else {
            ""
        },
        rekindle::domain::fmt_instant(at),
        e.decided,
        e.sends,
        e.recorded
    );
    if e.render_errors > 0 {
        eprintln!(
            "{} messages failed to render: recorded as skipped with reason template_error (see `rekindle report`)",
            e.render_errors
        );
    }
    Ok(ExitCode::SUCCESS)
}
