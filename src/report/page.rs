//! The owner's report as one self-contained HTML page: inline CSS and SVG charts, no script
//! and nothing fetched, so it opens offline and can be mailed. It is rendered from the same
//! [`OwnerReport`] that `report --format json` prints, and every number a test compares
//! carries its JSON path (`data-json`) and raw value (`data-value`).

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::RuleReport;
use super::business::{BusinessReport, COHORT_MONTHS};
use super::charts::{self, Series};

/// What the coming days look like (`rules simulate`), per day: the sends.
#[derive(Debug, Clone, Serialize)]
pub struct Coming {
    pub days: u32,
    pub total: u64,
    /// (local date, sends)
    pub per_day: Vec<(String, u64)>,
}

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    pub business: BusinessReport,
    pub rules: Vec<RuleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coming: Option<Coming>,
}

const PAGE: &str = include_str!("page.html");

fn money_of(currency: &str) -> impl Fn(Option<f64>) -> String + Send + Sync + 'static {
    let currency = currency.to_string();
    move |v: Option<f64>| match v {
        Some(v) => format!("{v:.2} {currency}"),
        None => "–".to_string(),
    }
}

/// The page. `title` names the business; `generated` is when it was made.
pub fn render_html(r: &OwnerReport, title: &str, currency: &str, generated: &str) -> Result<String, String> {
    let b = &r.business;
    let health = (!b.health_weeks.is_empty())
        .then(|| {
            let labels: Vec<String> = b.health_weeks.iter().map(|w| w.date.clone()).collect();
            let series = |name, f: fn(&super::business::HealthWeek) -> i64| Series {
                name,
                values: b.health_weeks.iter().map(|w| Some(f(w) as f64)).collect(),
            };
            charts::lines(
                &labels,
                &[
                    series("healthy", |w| w.healthy),
                    series("at risk", |w| w.at_risk),
                    series("critical", |w| w.critical),
                ],
                "customers",
                true,
            )
        })
        .transpose()?;
    let months: Vec<String> = b.flows.months.iter().map(|m| m.month.clone()).collect();
    let churn = charts::bars(
        &months,
        &[
            Series {
                name: "lapsed",
                values: b.flows.months.iter().map(|m| Some(m.lapsed as f64)).collect(),
            },
            Series {
                name: "came back",
                values: b
                    .flows
                    .months
                    .iter()
                    .map(|m| Some(m.reactivated as f64))
                    .collect(),
            },
        ],
        "customers",
    )?;
    let nps = b
        .nps_months
        .iter()
        .any(|m| m.nps.score.is_some())
        .then(|| {
            charts::lines(
                &months,
                &[Series {
                    name: "NPS",
                    values: b.nps_months.iter().map(|m| m.nps.score).collect(),
                }],
                "NPS",
                false,
            )
        })
        .transpose()?;
    let coming = r
        .coming
        .as_ref()
        .map(|c| {
            let labels: Vec<String> = c.per_day.iter().map(|(d, _)| d.clone()).collect();
            charts::bars(
                &labels,
                &[Series {
                    name: "messages",
                    values: c.per_day.iter().map(|(_, n)| Some(*n as f64)).collect(),
                }],
                "messages",
            )
        })
        .transpose()?;
    let mut rules = Vec::new();
    for (i, rule) in r.rules.iter().enumerate() {
        let top = rule.funnel.first().map_or(0, |f| f.n).max(1);
        let funnel: Vec<Value> = rule
            .funnel
            .iter()
            .enumerate()
            .map(|(j, f)| {
                context! {
                    label => &f.label,
                    n => f.n,
                    key => format!("rules.{i}.funnel.{j}.n"),
                    width => (100.0 * f.n as f64 / top as f64).round(),
                }
            })
            .collect();
        let chart = (rule.contacted + rule.held_out > 0)
            .then(|| {
                charts::intervals(&[
                    ("got the message", rule.contacted_rate),
                    ("held out", rule.held_out_rate),
                ])
            })
            .transpose()?;
        let trend = rule
            .weekly
            .iter()
            .any(|w| w.sent > 0)
            .then(|| {
                let labels: Vec<String> = rule.weekly.iter().map(|w| w.week.clone()).collect();
                charts::bars(
                    &labels,
                    &[
                        Series {
                            name: "sent",
                            values: rule.weekly.iter().map(|w| Some(w.sent as f64)).collect(),
                        },
                        Series {
                            name: "came back",
                            values: rule.weekly.iter().map(|w| Some(w.converted as f64)).collect(),
                        },
                    ],
                    "messages",
                )
            })
            .transpose()?;
        rules.push(context! {
            trend => trend.map(Value::from_safe_string),
            report => Value::from(Serde(rule)),
            verdict => &rule.summary,
            funnel => funnel,
            skips => Value::from(Serde(&rule.not_sent)),
            chart => chart.map(Value::from_safe_string),
        });
    }
    let overall_clv = b.flows.clv.first().cloned().unwrap_or_default();
    let mut env = Environment::new();
    let money = money_of(currency);
    env.add_function("money", move |v: Option<f64>| money(v));
    env.add_function("num", |v: Option<f64>| match v {
        Some(v) => format!("{v:.1}"),
        None => "–".to_string(),
    });
    env.add_template("report.html", PAGE).map_err(|e| e.to_string())?;
    let business = serde_json::to_value(b).map_err(|e| e.to_string())?;
    let coming_view = r
        .coming
        .as_ref()
        .map(|c| context! { days => c.days, total => c.total });
    env.get_template("report.html")
        .and_then(|t| {
            t.render(context! {
                title => title,
                generated => generated,
                business => Value::from(Serde(&business)),
                overall_clv => Value::from(Serde(&overall_clv)),
                cohort_months => COHORT_MONTHS.to_vec(),
                coming => coming_view,
                rules => rules,
                charts => context! {
                    health => health.map(Value::from_safe_string),
                    churn => Value::from_safe_string(churn),
                    nps => nps.map(Value::from_safe_string),
                    coming => coming.map(Value::from_safe_string),
                },
            })
        })
        .map_err(|e| format!("rendering the report page: {e:#}"))
}
