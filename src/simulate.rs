//! `rekindle rules simulate`: the rules played forward day by day over the current data, to
//! see what would go out in the coming weeks. No new events are assumed — time advances, so
//! lapses, birthdays, anniversaries, overdue habits and a series' next steps come due — and
//! nothing is recorded or sent: each day's decisions are remembered in memory for the next
//! (so cooldowns, `once`, the frequency cap and series behave as they will), and a send is
//! taken to go out at its `send_at`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::config::Config;
use crate::domain::{MessageStatus, Outcome};
use crate::evaluate::{EvalError, Request, evaluate};
use crate::health::DAY_SECONDS;
use crate::rules::RuleSet;
use crate::rules::pipeline::{Delivery, PastDecision};
use crate::rules::series::step_key;
use crate::store::Store;

/// One line of the simulation: how many decisions of a kind a rule makes on a day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DayCount {
    /// The local date in the service's time zone.
    pub day: String,
    pub rule: String,
    /// 1, or the step of a series.
    pub step: u8,
    pub channel: Option<String>,
    pub decision: Outcome,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct Simulation {
    pub days: Vec<DayCount>,
    /// The customers who would be contacted most, with their number of sends.
    pub busiest: Vec<(String, u64)>,
}

/// Plays the rules (`only`, or every enabled one) for `days` days from `from`, once a day at
/// `from`'s time of day.
pub async fn simulate(
    store: &Store,
    cfg: &Config,
    set: &RuleSet,
    only: &[String],
    from: i64,
    days: u32,
) -> Result<Simulation, EvalError> {
    let mut imagined: HashMap<String, Vec<PastDecision>> = HashMap::new();
    let mut counts: BTreeMap<(String, String, u8, Option<String>, Outcome), u64> = BTreeMap::new();
    let mut sends: HashMap<String, u64> = HashMap::new();
    let zone = cfg.default_timezone.tz().clone();
    for d in 0..i64::from(days) {
        let at = from + d * DAY_SECONDS;
        let day = jiff::Timestamp::from_second(at)
            .map(|t| t.to_zoned(zone.clone()).date().to_string())
            .unwrap_or_default();
        let req = Request {
            at,
            only,
            record: false,
            samples_per_rule: 0,
            imagined: Some(&imagined),
            customer: None,
        };
        let e = evaluate(store, cfg, set, &req).await?;
        for out in e.decisions {
            *counts
                .entry((
                    day.clone(),
                    out.rule.clone(),
                    out.step,
                    out.channel.map(|c| c.as_str().to_string()),
                    out.decision,
                ))
                .or_default() += 1;
            // A deferral is not recorded: it comes back the next day, as it would.
            if out.decision == Outcome::Deferred {
                continue;
            }
            if out.decision == Outcome::Send {
                *sends.entry(out.customer.clone()).or_default() += 1;
            }
            let sent_at = out
                .send_at
                .as_deref()
                .and_then(|s| crate::domain::parse_rfc3339(s).ok());
            let mut past = PastDecision::new(out.rule, step_key(&out.occurrence, out.step), out.decision, at);
            past.step = out.step;
            past.delivery = (out.decision == Outcome::Send).then_some(Delivery {
                status: MessageStatus::Sent,
                sent_at: sent_at.or(Some(at)),
            });
            imagined.entry(out.customer).or_default().push(past);
        }
    }
    let mut busiest: Vec<(String, u64)> = sends.into_iter().filter(|(_, n)| *n > 1).collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    busiest.truncate(10);
    Ok(Simulation {
        days: counts
            .into_iter()
            .map(|((day, rule, step, channel, decision), count)| DayCount {
                day,
                rule,
                step,
                channel,
                decision,
                count,
            })
            .collect(),
        busiest,
    })
}

/// The terminal form: per day, each rule's sends by channel and its deferrals.
pub fn render_text(s: &Simulation) -> String {
    use std::fmt::Write;
    let mut out = String::from("What the rules would do (nothing is recorded or sent)\n\n");
    let _ = writeln!(
        out,
        "{:<12} {:<28} {:>6} {:>6} {:>9}",
        "day", "rule", "email", "sms", "deferred"
    );
    let mut rows: BTreeMap<(&str, String), [u64; 3]> = BTreeMap::new();
    for c in &s.days {
        let rule = if c.step > 1 {
            format!("{} step {}", c.rule, c.step)
        } else {
            c.rule.clone()
        };
        let r = rows.entry((&c.day, rule)).or_default();
        match (c.decision, c.channel.as_deref()) {
            (Outcome::Send, Some("email")) => r[0] += c.count,
            (Outcome::Send, Some("sms")) => r[1] += c.count,
            (Outcome::Deferred, _) => r[2] += c.count,
            _ => {}
        }
    }
    for ((day, rule), [email, sms, deferred]) in rows.into_iter().filter(|(_, n)| n.iter().any(|x| *x > 0)) {
        let _ = writeln!(out, "{day:<12} {rule:<28} {email:>6} {sms:>6} {deferred:>9}");
    }
    if !s.busiest.is_empty() {
        let _ = writeln!(out, "\nContacted most:");
        for (customer, n) in &s.busiest {
            let _ = writeln!(out, "  {customer:<20} {n} messages");
        }
    }
    out
}
