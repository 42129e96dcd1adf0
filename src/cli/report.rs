//! `rekindle report`: what each rule achieved, from what is recorded.

use std::process::ExitCode;

use anyhow::bail;
use rekindle::rules::RuleSet;

use super::Ctx;
use super::args::Format;
use super::when::When;
use crate::out;

pub async fn run(
    ctx: &Ctx,
    since: Option<When>,
    until: Option<When>,
    rule: Option<String>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let since = ctx.maybe(since)?;
    let until = ctx.at(until)?;
    let dir = &ctx.config.rules_dir;
    // The report reads what is recorded: a broken rule file must not hide it. Without a valid
    // set, conversions are shown as last marked and the problems are named.
    let set = match RuleSet::load(dir, &ctx.config.history.favourite_properties) {
        Ok(set) => Some(set),
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "warning: {} problem(s) in the rules in {}; the report shows what is recorded, with conversions as last counted",
                problems.len(),
                dir.display()
            );
            None
        }
    };
    let reports = rekindle::outcomes::rule_reports(
        &ctx.store,
        set.as_ref(),
        since.unwrap_or(i64::MIN),
        until,
        rule.as_deref(),
        ctx.config.sms.price_per_segment,
        &ctx.config.messages.currency,
    )
    .await?;
    if let Some(id) = &rule
        && reports.is_empty()
    {
        bail!("no rule {id:?} in the rules directory or the history");
    }
    match format {
        Format::Json => out!("{}", serde_json::to_string_pretty(&reports)?),
        Format::Text => super::output::text(&rekindle::report::render_text(
            &reports,
            since.map(rekindle::domain::fmt_instant).as_deref(),
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}
