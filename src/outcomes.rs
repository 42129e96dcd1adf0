//! What each rule's messages achieved: the per-rule report, its series steps, offers and
//! revenue (conversions are marked by `crate::conversions` first).

use crate::report::{self, RuleReport};
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// Adds each series' per-step report and each offer rule's codes and revenue.
async fn series_and_offers(
    store: &Store,
    set: &RuleSet,
    reports: &mut [RuleReport],
    since: i64,
    until: i64,
    currency: &str,
) -> Result<(), StoreError> {
    let counts = store.offer_counts(since).await?;
    for r in reports.iter_mut() {
        let Some(rule) = set.rules.iter().find(|rule| rule.id == r.rule) else {
            continue;
        };
        if rule.is_series() {
            let rows = store.series_rows(&rule.id, since).await?;
            r.steps = report::step_reports(&rows, rule.steps.len() as u8);
        }
        if let Some(goal) = &rule.goal {
            r.revenue = Some(revenue(store, &rule.id, goal.within, since, until, currency).await?);
        }
        let Some(offer) = &rule.offer else { continue };
        let c = counts.iter().find(|c| c.rule_id == rule.id);
        let (issued, redeemed, revenue_of_codes) =
            c.map_or((0, 0, 0.0), |c| (c.issued, c.redeemed, c.revenue));
        // Revenue is compared over the goal's window (already measured above), or the offer's
        // validity without a goal.
        let rev = match &r.revenue {
            Some(rev) => rev.clone(),
            None => revenue(store, &rule.id, offer.valid, since, until, currency).await?,
        };
        r.offers = Some(report::OfferReport {
            issued,
            redeemed,
            redemption_rate: report::wilson(redeemed, issued),
            redeemed_revenue: revenue_of_codes,
            currency: currency.to_string(),
            contacted_revenue_per_customer: rev.contacted_per_customer,
            held_out_revenue_per_customer: rev.held_out_per_customer,
            incremental_revenue_per_customer: rev.incremental_per_customer,
        });
    }
    Ok(())
}

/// Revenue per contacted and held-out customer over `window` after the message (after the
/// decision, for the held out), and the difference with its interval.
async fn revenue(
    store: &Store,
    rule_id: &str,
    window: i64,
    since: i64,
    until: i64,
    currency: &str,
) -> Result<report::RevenueReport, StoreError> {
    let per_customer = store.revenue_per_customer(rule_id, window, since, until).await?;
    let group = |g: &str| -> Vec<f64> {
        per_customer
            .iter()
            .filter(|(d, _)| d == g)
            .map(|(_, v)| *v)
            .collect()
    };
    let (contacted, held) = (group("send"), group("held_out"));
    Ok(report::RevenueReport {
        currency: currency.to_string(),
        contacted_per_customer: report::mean(&contacted),
        held_out_per_customer: report::mean(&held),
        incremental_per_customer: report::welch(&contacted, &held),
    })
}

/// The report per rule for decisions since `since` (Unix seconds); `only` limits it to one rule.
/// With a rule set, conversions are brought up to date first (the goal windows come from the
/// rules); without one (the rule files do not check) the report shows what is recorded.
pub async fn rule_reports(
    store: &Store,
    set: Option<&RuleSet>,
    since: i64,
    until: i64,
    only: Option<&str>,
    price_per_segment: Option<f64>,
    currency: &str,
) -> Result<Vec<RuleReport>, StoreError> {
    let started = std::time::Instant::now();
    if let Some(set) = set {
        crate::conversions::mark_all(store, set, until).await?;
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report: conversions marked"
    );
    let decisions = store.decision_breakdown(since).await?;
    let messages = store.message_breakdown(since).await?;
    let mut groups = store.conversion_groups(since).await?;
    // A decision still inside its goal window is neither a success nor a failure yet: it is
    // counted apart, and the rates are of the decisions whose window has closed (or that
    // converted already).
    let mut open_window: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    if let Some(set) = set {
        for rule in &set.rules {
            let Some(goal) = &rule.goal else { continue };
            for (grp, n) in store.open_window(&rule.id, since, until, goal.within).await? {
                if let Some(g) = groups.iter_mut().find(|g| g.rule_id == rule.id && g.grp == grp) {
                    g.n -= n;
                }
                *open_window.entry(rule.id.clone()).or_default() += n;
            }
        }
    }
    // Rules in the set first (their order), then any retired rule that still has history.
    let mut rules: Vec<String> =
        set.map_or_else(Vec::new, |s| s.rules.iter().map(|r| r.id.clone()).collect());
    for d in &decisions {
        if !rules.contains(&d.rule_id) {
            rules.push(d.rule_id.clone());
        }
    }
    if let Some(id) = only {
        rules.retain(|r| r == id);
    }
    let engagement = store.engagement_by_rule(since).await?;
    let mut reports = report::build(&rules, &decisions, &messages, &groups, &engagement);
    let origin = until - report::TREND_WEEKS * 7 * 86_400;
    let weeks = store.weekly_sends(since, origin).await?;
    for r in &mut reports {
        r.weekly = report::weekly(&r.rule, &weeks, origin);
    }
    for r in &mut reports {
        r.open_window = open_window.get(&r.rule).copied().unwrap_or(0);
    }
    // A rule with history that is no longer in the rules directory is named as such.
    if let Some(set) = set {
        for r in &mut reports {
            r.retired = !set.rules.iter().any(|rule| rule.id == r.rule);
        }
        series_and_offers(store, set, &mut reports, since, until, currency).await?;
    }
    // What the SMS that went out cost: their segments, counted from the text that was sent.
    let mut sms: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
    let mut bodies = store.sent_sms_bodies(since);
    while let Some((rule, body)) = futures_util::TryStreamExt::try_next(&mut bodies).await? {
        let e = sms.entry(rule).or_default();
        e.0 += 1;
        e.1 += crate::domain::measure_sms(&body).segments as i64;
    }
    for r in &mut reports {
        if let Some((sent, segments)) = sms.get(&r.rule) {
            (r.sms_sent, r.sms_segments) = (*sent, *segments);
            r.sms_cost = price_per_segment.map(|p| *segments as f64 * p);
        }
    }
    Ok(reports)
}
