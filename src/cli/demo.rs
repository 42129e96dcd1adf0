//! `rekindle demo`: a café with a year of generated history, its last four weeks replayed.

use std::process::ExitCode;

use anyhow::Context;
use rekindle::config::Config;
use rekindle::store::Store;

use crate::out;

/// The demo: generate, import, score, then replay the last four weeks one day at a time —
/// evaluate every rule at noon, deliver to the outboxes — and report what each rule achieved.
pub async fn run(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let today_noon = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get(rekindle::demo::DEMO_ZONE)?)
        .date()
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get(rekindle::demo::DEMO_ZONE)?)?;
    let end = today_noon.timestamp().as_second();
    let files = rekindle::demo::prepare(dir, end)
        .with_context(|| format!("writing the demo into {}", dir.display()))?;
    let config = Config::load(Some(&files.config))?;
    let store = Store::open(&config.database)
        .await
        .context("opening the demo store")?;
    out!(
        "rekindle demo: a café in {} with a year of history, in {}",
        rekindle::demo::DEMO_ZONE,
        dir.display()
    );
    let customers = super::import::import_file(
        &store,
        super::import::Book::Customers { country: None },
        files.customers,
        Default::default(),
    )
    .await?;
    out!("  customers: {customers}");
    let events = super::import::import_file(
        &store,
        super::import::Book::Events {
            accept_expired: config.offers.accept_expired,
        },
        files.events,
        Default::default(),
    )
    .await?;
    out!("  events:    {events}");
    let r = rekindle::recompute::recompute_health(&store, &config.health, end).await?;
    out!(
        "  health:    {} healthy, {} at risk, {} critical",
        r.healthy,
        r.at_risk,
        r.critical
    );
    // Weekly snapshots of the quarter before, as `serve` takes them: the report's health chart.
    for week in (1..=12).rev() {
        rekindle::recompute::recompute_health(&store, &config.health, end - week * 7 * 86_400).await?;
    }
    let set = super::rules::load(&config.rules_dir, &config.history.favourite_properties)?;
    let (mut sent, mut decided, mut returned) = (0, 0, 0);
    let mut rng = fastrand::Rng::with_seed(rekindle::demo::DEMO_SEED);
    for day in (0..rekindle::demo::DEMO_DAYS).rev() {
        let at = end - day * 86_400;
        let s = rekindle::run_once::run_once(&store, &config, &set, Some(at), true).await?;
        sent += s.attempts.sent;
        decided += s.evaluation.recorded;
        returned += rekindle::demo::response::respond(&store, &mut rng, at, end).await?;
    }
    out!(
        "  replayed the last {} days at noon: {decided} decisions recorded, {sent} messages delivered",
        rekindle::demo::DEMO_DAYS
    );
    out!(
        "  simulated: {returned} customers answered the win-back series (synthetic responses; the model is in src/demo/response.rs)"
    );
    // The owner's view, with the coming two weeks: one page to open in a browser.
    let report = rekindle::insights::owner_report(&store, &config, Some(&set), None, end, None, 14).await?;
    let text = rekindle::report::render_text(&report.rules, None);
    let page = files.config.with_file_name("report.html");
    std::fs::write(
        &page,
        rekindle::insights::owner_page(&report, &config).map_err(anyhow::Error::msg)?,
    )
    .with_context(|| format!("writing {}", page.display()))?;
    store.close().await;
    super::output::text(&format!("\n{text}"))?;
    out!(
        "Messages:\n  email: {}\n  sms:   {}",
        config.email.outbox_dir.display(),
        config.sms.outbox_dir.join("sms.jsonl").display()
    );
    out!("\nThe owner's report (open it in a browser): {}", page.display());
    out!(
        "\nLook closer:\n  rekindle --config {cfg} customers show c000001\n  rekindle --config {cfg} rules preview",
        cfg = files.config.display()
    );
    Ok(ExitCode::SUCCESS)
}
