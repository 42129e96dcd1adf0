//! The business's numbers for the owner's report, from the store: every customer's activity
//! streamed once through `report::business` (churn, reactivation, cohorts, lifetime value),
//! NPS from feedback scores, and the health bands over time from the snapshots `serve` takes.

use futures_util::TryStreamExt;

use crate::config::Config;
use crate::health::Band;
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
    let started = std::time::Instant::now();
    // The activity pass, and the snapshots' band counts beside it: on two cores the report
    // takes the longer of the two.
    let activity = async {
        let mut customers = store.activity_by_customer(
            until,
            until - 365 * DAY,
            since,
            cfg.health.activity_events.as_deref(),
        );
        let (sent, bands) = tokio::try_join!(store.sent_by_customer(until), store.latest_bands(until))?;
        let mut scores: Vec<(i64, f64)> = Vec::new();
        while let Some(c) = customers.try_next().await? {
            acc.add(&CustomerHistory {
                activity: instants(c.times.as_deref()),
                sent: instants(sent.get(&c.customer_id).map(String::as_str)),
                spend_last_year: c.spend.unwrap_or(0.0),
                band: bands.get(&c.customer_id).and_then(|b| Band::parse(b)),
            });
            scores.extend(scored(c.scores.as_deref()));
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "report: activity pass"
        );
        Ok::<_, StoreError>((acc.finish(), scores))
    };
    let ((flows, scores), counts) = tokio::try_join!(activity, store.band_counts(since, until))?;
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

/// The whole owner's report: the rules' reports (`only` one of them) and the business, read at
/// the same time (on two cores, the report takes the longer of the two), and — with `days` > 0
/// and a valid rule set — what the rules would send in the coming days (`rules simulate`).
pub async fn owner_report(
    store: &Store,
    cfg: &Config,
    set: Option<&crate::rules::RuleSet>,
    since: Option<i64>,
    until: i64,
    only: Option<&str>,
    days: u32,
) -> Result<crate::report::page::OwnerReport, crate::evaluate::EvalError> {
    let (rules, business) = tokio::try_join!(
        crate::outcomes::rule_reports(
            store,
            set,
            since.unwrap_or(i64::MIN),
            until,
            only,
            cfg.sms.price_per_segment,
            &cfg.messages.currency,
        ),
        business(store, cfg, since, until),
    )?;
    let coming = match (set, days) {
        // A rule no longer in the set (or unknown: the caller says so) has no coming days.
        (Some(set), _) if only.is_some_and(|id| !set.rules.iter().any(|r| r.id == id)) => None,
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

/// Instants from the store's comma-separated list, in order.
fn instants(list: Option<&str>) -> Vec<i64> {
    let mut v: Vec<i64> = list
        .unwrap_or("")
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// Feedback scores from the store's comma-separated `instant:score` list.
fn scored(list: Option<&str>) -> impl Iterator<Item = (i64, f64)> + '_ {
    list.unwrap_or("").split(',').filter_map(|item| {
        let (at, score) = item.split_once(':')?;
        Some((at.trim().parse().ok()?, score.trim().parse().ok()?))
    })
}
