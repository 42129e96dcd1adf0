//! `rekindle offers show|redeem CODE`: the till's view of a personal offer code.

use std::process::ExitCode;

use rekindle::offers::OfferView;

use super::Ctx;
use super::args::Format;
use super::when::When;
use crate::out;

fn print(o: &OfferView) -> anyhow::Result<()> {
    out!("code:      {}", o.code);
    out!("customer:  {}", super::messages::display_customer(&o.customer));
    out!("rule:      {}", o.rule);
    match (o.percent, o.amount) {
        (Some(p), _) => out!("value:     {p}% off"),
        (_, Some(a)) => out!("value:     {a} {} off", o.currency.as_deref().unwrap_or("")),
        _ => {}
    }
    out!(
        "issued:    {}",
        o.issued_at
            .as_deref()
            .unwrap_or("not yet (its message has not gone out)")
    );
    out!("expires:   {}", o.expires_at);
    match (&o.redeemed_at, &o.redeemed_event) {
        (Some(at), Some(e)) => out!("redeemed:  {at} (event {e})"),
        (Some(at), None) => out!("redeemed:  {at}"),
        _ => out!("redeemed:  no"),
    }
    Ok(())
}

pub async fn show(ctx: &Ctx, code: &str, format: Format) -> anyhow::Result<ExitCode> {
    let normal = rekindle::domain::offer_code::normalize(code);
    let Some(o) = ctx.store.offer(&normal).await? else {
        eprintln!("error: no such offer code {normal:?}");
        return Ok(ExitCode::FAILURE);
    };
    let view = OfferView::from(&o);
    match format {
        Format::Json => out!("{}", serde_json::to_string(&view)?),
        Format::Text => print(&view)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn redeem(
    ctx: &Ctx,
    code: &str,
    at: Option<When>,
    amount: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let at = ctx.at(at)?;
    let accept_expired = ctx.config.offers.accept_expired;
    match rekindle::offers::redeem(&ctx.store, code, at, None, amount, accept_expired).await? {
        Ok(o) => {
            out!("redeemed {} at {}", o.code, rekindle::domain::fmt_instant(at));
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            eprintln!(
                "error: {}: {refusal}",
                rekindle::domain::offer_code::normalize(code)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
