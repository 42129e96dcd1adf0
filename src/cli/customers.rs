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
    let zone = profile
        .customer
        .timezone
        .as_deref()
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or_else(|| ctx.config.default_timezone.tz().clone());
    let habits = profile.history(
        &ctx.config.health,
        &zone,
        &ctx.config.history.favourite_properties,
    );
    match format {
        Format::Json => {
            let mut json = serde_json::to_value(profile.json())?;
            json["history"] = serde_json::to_value(&history)?;
            json["habits"] = serde_json::json!({
                "visits": habits.visits,
                "last_visit": habits.last_visit.map(rekindle::domain::fmt_instant),
                "usual_weekday": habits.usual_weekday.map(|w| format!("{w:?}")),
                "usual_hour": habits.usual_hour,
                "favourite": habits.favourites,
                "total_spend": habits.total_spend,
                "average_spend": habits.average_spend,
            });
            out!("{}", serde_json::to_string(&json)?);
        }
        Format::Text => {
            super::output::text(
                &profile.render_text(&ctx.config.health, ctx.config.default_timezone.name()),
            )?;
            let mut lines = vec![format!(
                "\nHabits (history.* in templates)\n  visits      {}",
                habits.visits
            )];
            if let Some(w) = habits.usual_weekday {
                lines.push(format!(
                    "  usually     {w:?}s around {}:00",
                    habits.usual_hour.unwrap_or(0)
                ));
            }
            for (property, value) in &habits.favourites {
                lines.push(format!("  favourite   {property}: {value}"));
            }
            lines.push(format!(
                "  spend       {:.2} in all{}",
                habits.total_spend,
                habits
                    .average_spend
                    .map_or_else(String::new, |a| format!(", {a:.2} per visit"))
            ));
            super::output::text(&format!("{}\n", lines.join("\n")))?;
            super::output::text(&rekindle::profile::render_history(&history))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
