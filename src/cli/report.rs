//! `rekindle report`: what the business and each rule achieved, from what is recorded — as a
//! terminal summary, JSON, or one self-contained HTML page.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rekindle::rules::RuleSet;

use super::Ctx;
use super::args::ReportFormat;
use super::when::When;
use crate::out;

/// Days the HTML page looks ahead unless told otherwise.
const COMING_DAYS_HTML: u32 = 14;

pub async fn run(
    ctx: &Ctx,
    since: Option<When>,
    until: Option<When>,
    rule: Option<String>,
    format: ReportFormat,
    output: Option<&Path>,
    coming_days: Option<u32>,
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
    if format == ReportFormat::Text {
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
        if let Some(id) = rule.as_deref().filter(|_| reports.is_empty()) {
            bail!("no rule {id:?} in the rules directory or the history");
        }
        let text =
            rekindle::report::render_text(&reports, since.map(rekindle::domain::fmt_instant).as_deref());
        return emit(output, &text);
    }
    let days = coming_days.unwrap_or(if format == ReportFormat::Html {
        COMING_DAYS_HTML
    } else {
        0
    });
    let report = rekindle::insights::owner_report(
        &ctx.store,
        &ctx.config,
        set.as_ref(),
        since,
        until,
        rule.as_deref(),
        days,
    )
    .await?;
    if let Some(id) = rule.as_deref().filter(|_| report.rules.is_empty()) {
        bail!("no rule {id:?} in the rules directory or the history");
    }
    match format {
        ReportFormat::Json => emit(output, &serde_json::to_string_pretty(&report)?),
        _ => emit(
            output,
            &rekindle::insights::owner_page(&report, &ctx.config).map_err(anyhow::Error::msg)?,
        ),
    }
}

/// Writes to the file and says where, or prints.
fn emit(output: Option<&Path>, text: &str) -> anyhow::Result<ExitCode> {
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            out!("wrote {}", path.display());
        }
        None if text.ends_with('\n') => super::output::text(text)?,
        None => super::output::text(&format!("{text}\n"))?,
    }
    Ok(ExitCode::SUCCESS)
}
