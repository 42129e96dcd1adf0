//! `rekindle render RULE_ID CUSTOMER_ID [--at T] [-o FILE.html|FILE.eml]`: exactly what that
//! customer would get from that rule at T — the same evaluation as `rules preview`, the same
//! composer as delivery — with nothing recorded or sent. Links go straight to their
//! destinations (there is no message whose clicks could be counted); the unsubscribe link is
//! built as in a sent email.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rekindle::delivery::email::{Email, EmailComposer, Tracking};
use rekindle::domain::Channel;
use rekindle::rules::RuleSet;
use rekindle::rules::pipeline::Outcome;

use super::Ctx;
use super::when::When;
use crate::out;

/// The message id a rendered email's unsubscribe link is signed for: none is ever stored
/// under it, so the link opens the "not valid" page instead of unsubscribing anyone.
const RENDER_MESSAGE_ID: i64 = 0;

pub async fn run(
    ctx: &Ctx,
    set: &RuleSet,
    rule_id: &str,
    customer_id: &str,
    at: Option<When>,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    let kind = match output.map(|p| p.extension().and_then(|e| e.to_str())) {
        None => Output::Text,
        Some(Some("html" | "htm")) => Output::Html,
        Some(Some("eml")) => Output::Eml,
        Some(Some(other)) => bail!("cannot write a .{other} file: name it FILE.html or FILE.eml"),
        Some(None) => bail!("name the output FILE.html or FILE.eml"),
    };
    let Some(customer) = ctx.store.customer_by_external_id(customer_id).await? else {
        bail!("no customer with id {customer_id:?}");
    };
    let only = [rule_id.to_string()];
    let req = rekindle::evaluate::Request {
        at,
        only: &only,
        record: false,
        samples_per_rule: usize::MAX,
        imagined: None,
        customer: Some(customer_id),
        incremental: false,
    };
    let e = rekindle::evaluate::evaluate(&ctx.store, &ctx.config, set, &req).await?;
    let when = rekindle::domain::fmt_instant(at);
    let Some(d) = e
        .decisions
        .iter()
        .find(|d| d.decision == Outcome::Send)
        .or(e.decisions.first())
    else {
        eprintln!(
            "{rule_id} sends nothing to {customer_id} at {when}: its trigger does not fire for them then, \
             or what it fires for was already decided (see `rekindle customers show {customer_id}`)"
        );
        return Ok(ExitCode::from(1));
    };
    let (Some(message), Some(channel)) = (
        d.message.as_ref().filter(|_| d.decision == Outcome::Send),
        d.channel,
    ) else {
        eprintln!(
            "{rule_id} sends nothing to {customer_id} at {when}: {} ({})",
            d.decision.as_str(),
            d.reason.map_or("-", |r| r.as_str())
        );
        return Ok(ExitCode::from(1));
    };
    if channel == Channel::Sms {
        let text = format!(
            "SMS to {}\n\n{}\n",
            customer.phone.as_deref().unwrap_or("-"),
            message.body
        );
        return write(output, text.as_bytes(), &text);
    }
    let composer = EmailComposer::new(&ctx.config).context("the email configuration")?;
    let to = customer
        .email
        .clone()
        .unwrap_or_else(|| "customer@example.invalid".to_string());
    let email = Email {
        message_id: RENDER_MESSAGE_ID,
        to: &to,
        subject: message.subject.as_deref().unwrap_or(""),
        preheader: message.preheader.as_deref(),
        body: &message.source,
        button: message.button.as_ref().map(|b| (b.text.as_str(), b.url.as_str())),
        language: Some(&message.text_language),
        links: &message.links,
    };
    let composed = composer
        .compose(&email, Tracking::Off)
        .map_err(anyhow::Error::msg)?;
    let mut summary = format!("Subject: {}\n", email.subject);
    if let Some(p) = email.preheader {
        summary.push_str(&format!("Preheader: {p}\n"));
    }
    summary.push_str(&format!("\n{}", composed.text));
    match kind {
        Output::Html => write(output, composed.html.as_bytes(), &summary),
        Output::Eml => {
            let (message, _) = composer
                .build(&email, Tracking::Off)
                .map_err(anyhow::Error::msg)?;
            write(output, &message.formatted(), &summary)
        }
        Output::Text => write(None, &[], &summary),
    }
}

/// What `-o` asks for, by the file's extension.
enum Output {
    Text,
    Html,
    Eml,
}

/// Writes the file (and says so), or prints `text` when there is no file.
fn write(output: Option<&Path>, bytes: &[u8], text: &str) -> anyhow::Result<ExitCode> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
            out!("{text}");
            out!("wrote {}", path.display());
        }
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
