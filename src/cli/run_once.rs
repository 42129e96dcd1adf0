//! `rekindle run --once`: evaluate, deliver what is due, and say what happened.

use std::process::ExitCode;

use anyhow::bail;
use rekindle::config::{Config, EmailTransportKind, SmsProviderKind};
use rekindle::rules::RuleSet;

use super::Ctx;
use super::when::When;
use crate::out;

pub async fn run(
    ctx: &Ctx,
    set: &RuleSet,
    once: bool,
    at: Option<When>,
    full: bool,
) -> anyhow::Result<ExitCode> {
    if !once {
        bail!("`run` needs --once; the long-running service is `rekindle serve`");
    }
    let at = ctx.maybe(at)?;
    let started = at.unwrap_or_else(super::now);
    let s = rekindle::run_once::run_once(&ctx.store, &ctx.config, set, at, !full).await?;
    let t = s.attempts;
    out!(
        "decisions: {} ({} newly recorded); messages queued: {}; sent {}, retry later {}, failed {}, bounced {}, skipped {}, expired {}; waiting for later: {}",
        s.evaluation.decided,
        s.evaluation.recorded,
        s.messages_created,
        t.sent,
        t.retry,
        t.failed,
        t.bounced,
        t.skipped,
        t.expired,
        s.waiting
    );
    if s.evaluation.render_errors > 0 {
        out!(
            "templates failed to render for {} decision(s): recorded as skipped (template_error); see `rekindle report`",
            s.evaluation.render_errors
        );
    }
    for line in rekindle::delivery::summary::failure_lines(&ctx.store.failure_counts(started).await?) {
        out!("  {line}");
    }
    out!("{}", delivered_where(&ctx.config));
    Ok(ExitCode::SUCCESS)
}

/// Where this run's messages went, as configured: an outbox on disk or a real provider.
fn delivered_where(config: &Config) -> String {
    let email = match config.email.transport {
        EmailTransportKind::Outbox => format!(
            "email: written to the outbox {}",
            config.email.outbox_dir.display()
        ),
        EmailTransportKind::Smtp => format!(
            "email: sent over SMTP to {}:{}",
            config.email.smtp.host, config.email.smtp.port
        ),
    };
    let sms = match config.sms.provider {
        SmsProviderKind::Outbox => format!(
            "sms:   written to the outbox {}",
            config.sms.outbox_dir.join("sms.jsonl").display()
        ),
        SmsProviderKind::Twilio => "sms:   sent through Twilio".to_string(),
        SmsProviderKind::Webhook => "sms:   sent through the SMS gateway (sms.webhook.url)".to_string(),
    };
    format!("{email}\n{sms}")
}
