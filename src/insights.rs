//! The business's numbers for the owner's report, from the store: every customer's activity
//! streamed once through `report::business` (churn, reactivation, cohorts, lifetime value),
//! NPS from feedback scores, and the health bands over time from the snapshots `serve` takes.

use futures_util::TryStreamExt;

use crate::config::Config;
use crate::health::{Band, FEEDBACK_KIND};
use crate::report::business::{
    self, BandMove, Business, BusinessReport, CustomerHistory, HealthWeek, NpsMonth,
};
use crate::store::{Store, StoreError};

const DAY: i64 = 86_400;

/// The business over [since, until] (`since`: a year before `until` when not given).
pub async fn business(
    store: &Store,
    cfg: &Config,
    since: Option<i64>,
    until: i64,
) -> Result<BusinessReport, StoreError> {
    let since = since.unwrap_or(until - 365 * DAY);
    let zone = cfg.default_timezone.tz().clone();
    let months = business::months(since, until, &zone);
    let mut acc = Business::new(months.clone(), until, cfg.health.default_cadence_days, &zone);
    let bands = store.latest_bands(until).await?;
    let mut events = store.events_by_customer(until);
    let mut sent = store.sent_by_customer(until);
    let mut next_sent = sent.try_next().await?;
    let mut current: Option<(i64, CustomerHistory)> = None;
    let year_ago = until - 365 * DAY;
    loop {
        let e = events.try_next().await?;
        let same = matches!((&current, &e), (Some((id, _)), Some(e)) if *id == e.customer_id);
        if !same {
            if let Some((id, mut history)) = current.take() {
                while let Some(s) = next_sent.take_if(|s| s.customer_id <= id) {
                    if s.customer_id == id {
                        history.sent.push(s.sent_at);
                    }
                    next_sent = sent.try_next().await?;
                }
                history.band = bands.get(&id).and_then(|b| Band::parse(b));
                acc.add(&history);
            }
            match &e {
                Some(e) => current = Some((e.customer_id, CustomerHistory::default())),
                None => break,
            }
        }
        let (Some(e), Some((_, history))) = (e, current.as_mut()) else {
            continue;
        };
        if cfg.health.is_activity(&e.kind) {
            history.activity.push(e.occurred_at);
        }
        if e.occurred_at > year_ago {
            history.spend_last_year += e.amount.unwrap_or(0.0);
        }
    }
    let flows = acc.finish();

    let scores = store.scores(FEEDBACK_KIND, since, until).await?;
    let nps = business::nps(scores.iter().map(|(_, s)| *s));
    let nps_months = months
        .iter()
        .map(|m| NpsMonth {
            month: m.label.clone(),
            nps: business::nps(
                scores
                    .iter()
                    .filter(|(t, _)| m.start <= *t && *t < m.end)
                    .map(|(_, s)| *s),
            ),
        })
        .collect();

    let counts = store.band_counts(since, until).await?;
    let local_date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(zone.clone())
            .date()
    };
    // The last batch of each local week (Monday to Sunday).
    let mut weeks: Vec<(jiff::civil::Date, i64, HealthWeek)> = Vec::new();
    for c in &counts {
        let date = local_date(c.as_of);
        let week = date
            .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap_or(date);
        if weeks.last().is_none_or(|(w, _, _)| *w != week) {
            weeks.push((week, c.as_of, HealthWeek::default()));
        }
        let last = weeks.last_mut().expect("pushed");
        if last.1 != c.as_of {
            // A later batch in the same week replaces the earlier one.
            *last = (week, c.as_of, HealthWeek::default());
        }
        last.2.date = date.to_string();
        match Band::parse(&c.band) {
            Some(Band::Healthy) => last.2.healthy = c.n,
            Some(Band::AtRisk) => last.2.at_risk = c.n,
            Some(Band::Critical) => last.2.critical = c.n,
            None => {}
        }
    }
    let (band_moves, moved) = match (counts.first(), counts.last()) {
        (Some(a), Some(b)) if a.as_of != b.as_of => {
            let moves: Vec<BandMove> = store
                .band_moves(a.as_of, b.as_of)
                .await?
                .into_iter()
                .map(|(from, to, n)| BandMove { from, to, n })
                .collect();
            let moved = moves.iter().filter(|m| m.from != m.to).map(|m| m.n).sum();
            (moves, moved)
        }
        _ => (Vec::new(), 0),
    };
    Ok(BusinessReport {
        since: crate::domain::fmt_instant(since),
        until: crate::domain::fmt_instant(until),
        flows,
        nps,
        nps_months,
        health_weeks: weeks.into_iter().map(|(_, _, w)| w).collect(),
        band_moves,
        moved,
    })
}

/// The whole owner's report: the business, the rules' reports, and — with `days` > 0 and a
/// valid rule set — what the rules would send in the coming days (`rules simulate`).
#[allow(clippy::too_many_arguments)]
pub async fn owner_report(
    store: &Store,
    cfg: &Config,
    set: Option<&crate::rules::RuleSet>,
    rules: Vec<crate::report::RuleReport>,
    since: Option<i64>,
    until: i64,
    only: Option<&str>,
    days: u32,
) -> Result<crate::report::page::OwnerReport, crate::evaluate::EvalError> {
    let business = business(store, cfg, since, until).await?;
    let coming = match (set, days) {
        (Some(set), 1..) => {
            let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
            let s = crate::simulate::simulate(store, cfg, set, &only, until, days).await?;
            Some(coming_of(&s, days))
        }
        _ => None,
    };
    Ok(crate::report::page::OwnerReport {
        business,
        rules,
        coming,
    })
}

/// Sends per day from a simulation.
fn coming_of(s: &crate::simulate::Simulation, days: u32) -> crate::report::page::Coming {
    let mut per_day: Vec<(String, u64)> = Vec::new();
    for d in s
        .days
        .iter()
        .filter(|d| d.decision == crate::rules::pipeline::Outcome::Send)
    {
        match per_day.iter_mut().find(|(day, _)| *day == d.day) {
            Some((_, n)) => *n += d.count,
            None => per_day.push((d.day.clone(), d.count)),
        }
    }
    per_day.sort();
    crate::report::page::Coming {
        days,
        total: per_day.iter().map(|(_, n)| n).sum(),
        per_day,
    }
}

/// The report as its HTML page, titled with the business's name.
pub fn owner_page(report: &crate::report::page::OwnerReport, cfg: &Config) -> Result<String, String> {
    let title = match &cfg.business.name {
        Some(name) => format!("{name}: how your customers are doing"),
        None => "How your customers are doing".to_string(),
    };
    crate::report::page::render_html(
        report,
        &title,
        &cfg.messages.currency,
        &crate::domain::fmt_instant(jiff::Timestamp::now().as_second()),
    )
}
