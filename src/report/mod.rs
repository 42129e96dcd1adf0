//! What each rule achieved: decisions, deliveries, and conversions of the contacted group
//! against the held-out group, with an uplift interval that stays honest at café-sized samples.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::store::{CountRow, GroupRow};

pub mod business;
pub mod charts;
pub mod page;
mod revenue;
mod steps;

pub use revenue::{OfferReport, mean, welch};
pub use steps::{StepReport, step_reports};

/// Below this many customers in either group the report says so instead of printing a rate
/// difference that would mostly be noise.
pub const MIN_GROUP: i64 = 10;
const Z95: f64 = 1.959_963_984_540_054;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Wilson score interval (95 %) for `k` successes out of `n`: sensible even for tiny n and
/// for rates of 0 or 1, where the textbook p ± 1.96·SE collapses to a point.
pub fn wilson(k: i64, n: i64) -> Option<Interval> {
    if n <= 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(Interval {
        estimate: p,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    })
}

/// Newcombe's hybrid score interval (95 %) for the difference of two proportions.
pub fn uplift(k1: i64, n1: i64, k2: i64, n2: i64) -> Option<Interval> {
    let (a, b) = (wilson(k1, n1)?, wilson(k2, n2)?);
    let d = a.estimate - b.estimate;
    Some(Interval {
        estimate: d,
        low: d - ((a.estimate - a.low).powi(2) + (b.high - b.estimate).powi(2)).sqrt(),
        high: d + ((a.high - a.estimate).powi(2) + (b.estimate - b.low).powi(2)).sqrt(),
    })
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleReport {
    pub rule: String,
    /// `decision` or `decision/reason` → count.
    pub decisions: BTreeMap<String, i64>,
    /// Message status → count.
    pub messages: BTreeMap<String, i64>,
    pub contacted: i64,
    pub contacted_converted: i64,
    pub held_out: i64,
    pub held_out_converted: i64,
    pub contacted_rate: Option<Interval>,
    pub held_out_rate: Option<Interval>,
    /// Present only when both groups have at least [`MIN_GROUP`] customers.
    pub uplift: Option<Interval>,
    /// Decisions (contacted and held out) not converted yet whose goal window is still open:
    /// not counted in either group until it closes.
    pub open_window: i64,
    /// One sentence a marketer can act on.
    pub verdict: String,
    /// The same in plain words, as the HTML report says it.
    pub summary: String,
    /// Matched → decided to send → went out → delivered (when providers confirm) → came back.
    pub funnel: Vec<FunnelStep>,
    /// Why the others got nothing, in a marketer's words.
    pub not_sent: Vec<FunnelStep>,
    /// The rule has history but is no longer in the rules directory.
    pub retired: bool,
    /// Emails opened and clicked (with open and click tracking), messages bounced, and
    /// unsubscribes from the message's channel within 7 days of it.
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub unsubscribed: i64,
    /// The last 12 weeks before `until`: messages that went out each week and how many of their
    /// customers came back (so far).
    pub weekly: Vec<WeekCount>,
    /// A rule with a goal: the `amount` of its customers' events in the goal window after the
    /// message (after the decision, for the held out), per customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<RevenueReport>,
    /// SMS that went out, and their segments (what the provider bills).
    pub sms_sent: i64,
    pub sms_segments: i64,
    /// `sms_segments` × `[sms] price_per_segment`, when a price is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_cost: Option<f64>,
    /// A series: each step's sends and the conversion after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
    /// A rule with an `[offer]`: codes issued and redeemed, and the revenue they brought.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<OfferReport>,
}

pub fn build(
    rules: &[String],
    decisions: &[CountRow],
    messages: &[CountRow],
    groups: &[GroupRow],
    engagement: &[crate::store::Engagement],
) -> Vec<RuleReport> {
    rules
        .iter()
        .map(|rule| {
            let mut r = RuleReport {
                rule: rule.clone(),
                ..RuleReport::default()
            };
            for d in decisions.iter().filter(|d| &d.rule_id == rule) {
                let key = match &d.reason {
                    Some(reason) => format!("{}/{reason}", d.label),
                    None => d.label.clone(),
                };
                *r.decisions.entry(key).or_default() += d.n;
            }
            for m in messages.iter().filter(|m| &m.rule_id == rule) {
                *r.messages.entry(m.label.clone()).or_default() += m.n;
            }
            for g in groups.iter().filter(|g| &g.rule_id == rule) {
                if g.grp == "held_out" {
                    (r.held_out, r.held_out_converted) = (g.n, g.converted);
                } else {
                    (r.contacted, r.contacted_converted) = (g.n, g.converted);
                }
            }
            if let Some(e) = engagement.iter().find(|e| &e.rule_id == rule) {
                (r.opened, r.clicked, r.bounced, r.unsubscribed) =
                    (e.opened, e.clicked, e.bounced, e.unsubscribed);
            }
            r.contacted_rate = wilson(r.contacted_converted, r.contacted);
            r.held_out_rate = wilson(r.held_out_converted, r.held_out);
            if r.contacted >= MIN_GROUP && r.held_out >= MIN_GROUP {
                r.uplift = uplift(
                    r.contacted_converted,
                    r.contacted,
                    r.held_out_converted,
                    r.held_out,
                );
            }
            r.verdict = verdict(&r);
            r.summary = summary(&r);
            r.funnel = funnel(&r);
            r.not_sent = not_sent(&r);
            r
        })
        .collect()
}

/// One week of a rule's trend.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WeekCount {
    /// The week's first day (UTC), `YYYY-MM-DD`.
    pub week: String,
    pub sent: i64,
    pub converted: i64,
}

/// Weeks in a rule's trend.
pub const TREND_WEEKS: i64 = 12;

/// The trend of each rule over the `TREND_WEEKS` weeks from `origin`, zeros included.
pub fn weekly(rule: &str, rows: &[crate::store::WeekRow], origin: i64) -> Vec<WeekCount> {
    (0..TREND_WEEKS)
        .map(|w| {
            let row = rows.iter().find(|r| r.rule_id == rule && r.week == w);
            WeekCount {
                week: crate::domain::fmt_instant(origin + w * 7 * 86_400)[..10].to_string(),
                sent: row.map_or(0, |r| r.sent),
                converted: row.map_or(0, |r| r.converted),
            }
        })
        .collect()
}

/// Revenue per customer of the contacted and held-out groups, and the difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevenueReport {
    pub currency: String,
    pub contacted_per_customer: Option<f64>,
    pub held_out_per_customer: Option<f64>,
    /// Contacted minus held out, with its 95 % (Welch) interval; from 10 customers per group.
    pub incremental_per_customer: Option<Interval>,
}

/// One step of a funnel, or one reason for not sending.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunnelStep {
    pub label: String,
    pub n: i64,
}

fn funnel(r: &RuleReport) -> Vec<FunnelStep> {
    let msgs = |s: &str| r.messages.get(s).copied().unwrap_or(0);
    let step = |label: &str, n: i64| FunnelStep {
        label: label.to_string(),
        n,
    };
    let mut out = vec![
        step("matched", r.decisions.values().sum()),
        step("decided to send", r.decisions.get("send").copied().unwrap_or(0)),
        step("went out", msgs("sent") + msgs("delivered")),
    ];
    if msgs("delivered") > 0 {
        out.push(step("delivered", msgs("delivered")));
    }
    if r.opened + r.clicked > 0 {
        out.push(step("opened", r.opened));
        out.push(step("clicked", r.clicked));
    }
    out.push(step("came back", r.contacted_converted));
    out
}

/// A decision or skip reason in a marketer's words.
fn in_words(key: &str) -> String {
    match key {
        "held_out" => "held out on purpose, to measure the effect".into(),
        "deferred" => "waiting for room under the frequency cap".into(),
        "suppressed" | "suppressed/once" => "already had this message once".into(),
        "suppressed/cooldown" => "had this message recently (cooldown)".into(),
        "suppressed/frequency_cap" => "had enough messages lately (frequency cap)".into(),
        "skipped/no_contact" => "no email address or phone number".into(),
        "skipped/no_consent" => "no consent for the channel".into(),
        "skipped/unsubscribed" => "unsubscribed".into(),
        "skipped/template_error" => "the message could not be written for them (template error)".into(),
        "skipped/too_long" => "the SMS would have been too long".into(),
        other => other.replace(['/', '_'], " "),
    }
}

fn not_sent(r: &RuleReport) -> Vec<FunnelStep> {
    r.decisions
        .iter()
        .filter(|(k, _)| k.as_str() != "send")
        .map(|(k, n)| FunnelStep {
            label: in_words(k),
            n: *n,
        })
        .collect()
}

/// The verdict as an owner would say it.
fn summary(r: &RuleReport) -> String {
    match r.uplift {
        Some(u) if u.low > 0.0 => format!(
            "Brings people back: {:+.0} points, likely between {:+.0} and {:+.0}.",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
        Some(u) if u.high < 0.0 => format!(
            "Seems to keep people away: {:+.0} points, likely between {:+.0} and {:+.0}.",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
        Some(u) => format!(
            "No clear effect yet: {:+.0} points, somewhere between {:+.0} and {:+.0}.",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
        None => {
            let mut v = r.verdict.clone();
            if let Some(first) = v.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{v}.")
        }
    }
}

fn verdict(r: &RuleReport) -> String {
    match r.uplift {
        _ if r.contacted == 0 && r.held_out == 0 => "nothing sent yet".into(),
        _ if r.held_out == 0 => "no control group (holdout_percent = 0): uplift cannot be measured".into(),
        None => format!(
            "not enough data yet: {} contacted, {} held out (need at least {MIN_GROUP} in each)",
            r.contacted, r.held_out
        ),
        Some(u) if u.low > 0.0 => format!(
            "works: +{:.0} points (95% CI +{:.0} to +{:.0})",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
        Some(u) if u.high < 0.0 => format!(
            "hurts: {:.0} points (95% CI {:.0} to {:.0})",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
        Some(u) => format!(
            "no clear effect yet: {:+.0} points (95% CI {:+.0} to {:+.0})",
            pct(u.estimate),
            pct(u.low),
            pct(u.high)
        ),
    }
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

pub fn render_text(reports: &[RuleReport], since: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Rule report{}\n",
        since.map(|s| format!(" since {s}")).unwrap_or_default()
    );
    for r in reports {
        let _ = writeln!(
            out,
            "{}{}",
            r.rule,
            if r.retired {
                "  (no longer in the rules directory)"
            } else {
                ""
            }
        );
        let decisions: Vec<String> = r.decisions.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  decisions   {}",
            if decisions.is_empty() {
                "-".into()
            } else {
                decisions.join(", ")
            }
        );
        let messages: Vec<String> = r.messages.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  messages    {}",
            if messages.is_empty() {
                "-".into()
            } else {
                messages.join(", ")
            }
        );
        if r.sms_sent > 0 {
            let _ = writeln!(
                out,
                "  sms         {} sent, {} segments{}",
                r.sms_sent,
                r.sms_segments,
                r.sms_cost.map_or_else(String::new, |c| format!(", cost {c:.2}"))
            );
        }
        let rate = |k: i64, n: i64, i: &Option<Interval>| match i {
            Some(i) => format!("{k}/{n} converted ({:.0}%)", pct(i.estimate)),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "  contacted   {}",
            rate(r.contacted_converted, r.contacted, &r.contacted_rate)
        );
        let _ = writeln!(
            out,
            "  held out    {}",
            rate(r.held_out_converted, r.held_out, &r.held_out_rate)
        );
        if r.open_window > 0 {
            let _ = writeln!(
                out,
                "  too early   {} still inside their goal window (counted once it closes)",
                r.open_window
            );
        }
        for st in &r.steps {
            let _ = writeln!(
                out,
                "  step {:<6} {} sent, {} converted after it{}; held out {}{}",
                st.step,
                st.sent,
                st.converted_after,
                st.rate
                    .map_or_else(String::new, |i| format!(" ({:.0}%)", pct(i.estimate))),
                rate(st.held_out_converted, st.held_out, &st.held_out_rate),
                match st.uplift {
                    Some(u) => format!(
                        " -> {:+.0} points (95% CI {:+.0} to {:+.0})",
                        pct(u.estimate),
                        pct(u.low),
                        pct(u.high)
                    ),
                    None => String::new(),
                }
            );
        }
        if let Some(o) = &r.offers {
            let _ = writeln!(
                out,
                "  offers      {} issued, {} redeemed{}, revenue of redemptions {:.2} {}",
                o.issued,
                o.redeemed,
                o.redemption_rate
                    .map_or_else(String::new, |i| format!(" ({:.0}%)", pct(i.estimate))),
                o.redeemed_revenue,
                o.currency
            );
            let per = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "  revenue     per customer {} contacted vs {} held out: {}",
                per(o.contacted_revenue_per_customer),
                per(o.held_out_revenue_per_customer),
                match o.incremental_revenue_per_customer {
                    Some(i) => format!(
                        "{:+.2} {} (95% CI {:+.2} to {:+.2})",
                        i.estimate, o.currency, i.low, i.high
                    ),
                    None => format!("not enough data yet (need at least {MIN_GROUP} in each group)"),
                }
            );
        }
        let _ = writeln!(out, "  verdict     {}\n", r.verdict);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(rule: &str, label: &str, reason: Option<&str>, n: i64) -> CountRow {
        CountRow {
            rule_id: rule.into(),
            label: label.into(),
            reason: reason.map(String::from),
            n,
        }
    }

    #[test]
    fn the_funnel_and_the_reasons_are_in_a_marketers_words() {
        let decisions = [
            count("r", "send", None, 30),
            count("r", "held_out", None, 8),
            count("r", "skipped", Some("no_consent"), 22),
        ];
        let messages = [count("r", "sent", None, 25), count("r", "failed", None, 5)];
        let groups = [GroupRow {
            rule_id: "r".into(),
            grp: "send".into(),
            n: 25,
            converted: 6,
        }];
        let engagement = [crate::store::Engagement {
            rule_id: "r".into(),
            opened: 12,
            clicked: 3,
            bounced: 1,
            unsubscribed: 2,
        }];
        let r = &build(&["r".into()], &decisions, &messages, &groups, &engagement)[0];
        let funnel: Vec<(&str, i64)> = r.funnel.iter().map(|f| (f.label.as_str(), f.n)).collect();
        assert_eq!(
            funnel,
            [
                ("matched", 60),
                ("decided to send", 30),
                ("went out", 25),
                ("opened", 12),
                ("clicked", 3),
                ("came back", 6)
            ]
        );
        let reasons: Vec<(&str, i64)> = r.not_sent.iter().map(|f| (f.label.as_str(), f.n)).collect();
        assert_eq!(
            reasons,
            [
                ("held out on purpose, to measure the effect", 8),
                ("no consent for the channel", 22)
            ]
        );
        assert_eq!((r.bounced, r.unsubscribed), (1, 2));
        assert_eq!(
            r.summary,
            "No control group (holdout_percent = 0): uplift cannot be measured."
        );
    }

    #[test]
    fn the_summary_says_the_uplift_and_its_range_in_words() {
        let groups = [
            GroupRow {
                rule_id: "r".into(),
                grp: "send".into(),
                n: 200,
                converted: 80,
            },
            GroupRow {
                rule_id: "r".into(),
                grp: "held_out".into(),
                n: 200,
                converted: 40,
            },
        ];
        let r = &build(&["r".into()], &[], &[], &groups, &[])[0];
        let u = r.uplift.unwrap();
        assert_eq!(
            r.summary,
            format!(
                "Brings people back: +20 points, likely between {:+.0} and {:+.0}.",
                100.0 * u.low,
                100.0 * u.high
            )
        );
        assert!(u.low > 0.10 && u.high < 0.30, "{u:?}");
    }

    #[test]
    fn the_weekly_trend_has_every_week_with_zeros_where_nothing_went_out() {
        let origin = 1_780_000_000 - 1_780_000_000 % 86_400;
        let rows = [crate::store::WeekRow {
            rule_id: "r".into(),
            week: 2,
            sent: 5,
            converted: 1,
        }];
        let w = weekly("r", &rows, origin);
        assert_eq!(w.len(), TREND_WEEKS as usize);
        assert_eq!((w[2].sent, w[2].converted), (5, 1));
        assert_eq!((w[0].sent, w[3].sent), (0, 0));
        assert_eq!(w[1].week, crate::domain::fmt_instant(origin + 7 * 86_400)[..10]);
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), example: 81/263 → 0.2553 to 0.3662.
        let w = wilson(81, 263).unwrap();
        assert!(
            (w.low - 0.2553).abs() < 5e-4 && (w.high - 0.3662).abs() < 5e-4,
            "{w:?}"
        );
        // 0/10 still has a non-zero upper bound.
        let w = wilson(0, 10).unwrap();
        assert_eq!(w.low, 0.0);
        assert!((w.high - 0.2775).abs() < 5e-4, "{w:?}");
    }

    #[test]
    fn newcombe_difference_matches_published_values() {
        // Newcombe (1998) method 10, 56/70 vs 48/80 → 0.0524 to 0.3339.
        let u = uplift(56, 70, 48, 80).unwrap();
        assert!(
            (u.low - 0.0524).abs() < 5e-4 && (u.high - 0.3339).abs() < 5e-4,
            "{u:?}"
        );
    }
}
