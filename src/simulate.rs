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
            incremental: false,
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
/// Per day and rule (a series' step named): sends by email, by SMS, and deferrals — the rows
/// with anything in them.
fn rows(s: &Simulation) -> Vec<(String, String, [u64; 3])> {
    let mut rows: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    for c in &s.days {
        let rule = if c.step > 1 {
            format!("{} step {}", c.rule, c.step)
        } else {
            c.rule.clone()
        };
        let r = rows.entry((c.day.clone(), rule)).or_default();
        match (c.decision, c.channel.as_deref()) {
            (Outcome::Send, Some("email")) => r[0] += c.count,
            (Outcome::Send, Some("sms")) => r[1] += c.count,
            (Outcome::Deferred, _) => r[2] += c.count,
            _ => {}
        }
    }
    rows.into_iter()
        .filter(|(_, n)| n.iter().any(|x| *x > 0))
        .map(|((day, rule), n)| (day, rule, n))
        .collect()
}

pub fn render_text(s: &Simulation) -> String {
    use std::fmt::Write;
    let mut out = String::from("What the rules would do (nothing is recorded or sent)\n\n");
    let _ = writeln!(
        out,
        "{:<12} {:<28} {:>6} {:>6} {:>9}",
        "day", "rule", "email", "sms", "deferred"
    );
    for (day, rule, [email, sms, deferred]) in rows(s) {
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

/// The same as one self-contained page: a chart of each day's emails, SMS and deferrals, and
/// the table.
pub fn render_html(s: &Simulation, title: &str) -> Result<String, String> {
    use crate::compose::markdown::escape;
    use crate::report::charts::{Series, bars};
    let rows = rows(s);
    let mut days: Vec<String> = s.days.iter().map(|d| d.day.clone()).collect();
    days.dedup();
    let per_day = |k: usize| -> Vec<Option<f64>> {
        days.iter()
            .map(|d| Some(rows.iter().filter(|r| &r.0 == d).map(|r| r.2[k]).sum::<u64>() as f64))
            .collect()
    };
    let chart = bars(
        &days,
        &[
            Series {
                name: "email",
                values: per_day(0),
            },
            Series {
                name: "SMS",
                values: per_day(1),
            },
            Series {
                name: "deferred (frequency cap)",
                values: per_day(2),
            },
        ],
        "messages",
    )?;
    let mut table = String::new();
    for (day, rule, [email, sms, deferred]) in &rows {
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{email}</td><td>{sms}</td><td>{deferred}</td></tr>\n",
            escape(day),
            escape(rule)
        ));
    }
    let busiest: String = s
        .busiest
        .iter()
        .map(|(c, n)| format!("<li>{}: {n} messages</li>", escape(c)))
        .collect();
    Ok(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;max-width:980px;margin:0 auto;padding:24px 16px;color:#222}}\
         svg{{max-width:100%;height:auto}}table{{border-collapse:collapse;width:100%}}td,th{{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}}\
         td:nth-child(-n+2),th:nth-child(-n+2){{text-align:left}}</style></head><body>\
         <h1>{title}</h1><p>What the rules would send each day if nothing else happened (no new visits assumed). Nothing was recorded or sent.</p>\
         <figure>{chart}<figcaption>Messages per day by channel, and those held back by the frequency cap.</figcaption></figure>\
         <table><thead><tr><th>Day</th><th>Rule</th><th>Email</th><th>SMS</th><th>Deferred</th></tr></thead><tbody>{table}</tbody></table>\
         {busiest}</body></html>",
        title = escape(title),
        busiest = if busiest.is_empty() {
            String::new()
        } else {
            format!("<h2>Contacted most</h2><ul>{busiest}</ul>")
        },
    ))
}
