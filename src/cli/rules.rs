//! `rekindle rules check` and `rekindle rules preview`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rekindle::config::Config;
use rekindle::rules::RuleSet;

use super::Ctx;
use super::args::{Format, ReportFormat};
use super::when::When;
use crate::out;

/// Sample messages a text preview renders per rule.
const PREVIEW_SAMPLES: usize = 3;

/// Loads the rule set, printing every problem as FILE:LINE:COL: message.
pub fn load(dir: &Path, favourites: &[String]) -> anyhow::Result<RuleSet> {
    RuleSet::load(dir, favourites).map_err(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        anyhow::anyhow!(
            "{} problem(s) in the rules in {}; nothing was evaluated",
            problems.len(),
            dir.display()
        )
    })
}

/// Every problem on standard output (it is the command's answer), exit 1 if any.
pub fn check(config: &Config, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or(&config.rules_dir);
    // An own email layout is a template every email goes through: checked like a rule's.
    let layout = config
        .email
        .style
        .layout
        .as_deref()
        .map(rekindle::compose::Layout::from_file)
        .transpose();
    Ok(
        match (RuleSet::load(dir, &config.history.favourite_properties), layout) {
            (Ok(_), Err(problem)) => {
                out!("{problem}");
                eprintln!("1 problem in the email layout; no email is sent until it is fixed");
                ExitCode::FAILURE
            }
            (Ok(set), Ok(_)) => {
                for w in set.rules.iter().flat_map(|r| &r.warnings) {
                    out!("warning: {w}");
                }
                let enabled = set.rules.iter().filter(|r| r.enabled).count();
                out!(
                    "{}: {} rules OK ({enabled} enabled)",
                    dir.display(),
                    set.rules.len()
                );
                ExitCode::SUCCESS
            }
            (Err(problems), layout) => {
                for p in &problems {
                    out!("{p}");
                }
                if let Err(problem) = &layout {
                    out!("{problem}");
                }
                eprintln!(
                    "{} problem(s); a rule with a problem never runs",
                    problems.len() + usize::from(layout.is_err())
                );
                ExitCode::FAILURE
            }
        },
    )
}

pub async fn preview(
    ctx: &Ctx,
    set: &RuleSet,
    rule_ids: &[String],
    at: Option<When>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    // JSON carries what every customer would read; the text shows a few samples.
    let samples = if format == Format::Text {
        PREVIEW_SAMPLES
    } else {
        usize::MAX
    };
    let req = rekindle::evaluate::Request {
        at,
        only: rule_ids,
        record: false,
        samples_per_rule: samples,
        imagined: None,
        customer: None,
        incremental: false,
    };
    match format {
        // One line per decision, written as it is made: a preview of a million customers
        // never holds their messages in memory.
        Format::Json => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            rekindle::evaluate::evaluate_each(&ctx.store, &ctx.config, set, &req, &mut |d| {
                serde_json::to_writer(&mut stdout, &d)?;
                stdout.write_all(b"\n")
            })
            .await?;
            stdout.flush()?;
        }
        Format::Text => {
            let e = rekindle::evaluate::evaluate(&ctx.store, &ctx.config, set, &req).await?;
            let order: Vec<String> = set.selected(rule_ids).map(|r| r.id.clone()).collect();
            let price = ctx
                .config
                .sms
                .price_per_segment
                .map(|price| rekindle::preview::SegmentPrice {
                    price,
                    currency: &ctx.config.sms.currency,
                });
            super::output::text(&rekindle::preview::render_text(&e, at, &order, samples, price))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn simulate(
    ctx: &Ctx,
    set: &RuleSet,
    rule_ids: &[String],
    from: Option<When>,
    days: u32,
    format: ReportFormat,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let from = ctx.at(from)?;
    let s = rekindle::simulate::simulate(&ctx.store, &ctx.config, set, rule_ids, from, days).await?;
    let text = match format {
        ReportFormat::Json => {
            let mut lines = String::new();
            for line in &s.days {
                lines.push_str(&serde_json::to_string(line)?);
                lines.push('\n');
            }
            lines
        }
        ReportFormat::Text => rekindle::simulate::render_text(&s),
        ReportFormat::Html => {
            let title = format!("The next {days} days");
            rekindle::simulate::render_html(&s, &title).map_err(anyhow::Error::msg)?
        }
    };
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            out!("wrote {}", path.display());
        }
        None => super::output::text(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
