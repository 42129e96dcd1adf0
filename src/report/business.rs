//! The business at a glance, from every customer's activity: who lapsed and who came back each
//! month (churn and reactivation), the retention of each month's new customers (cohorts), and
//! a customer lifetime value estimate. Pure: the store streams one customer at a time into
//! [`Business::add`]; nothing here reads more than that customer.
//!
//! A customer **lapses** when they go more than twice their own cadence without activity (the
//! `overdue` definition): their cadence is the median gap of their activity in the year before
//! (`health::cadence_days`, `[health] default_cadence_days` without two gaps). They are
//! **active** from their first activity until they lapse, and again from the activity that
//! brings them back (a **reactivation**).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::health::Band;

const DAY: i64 = 86_400;
/// Cohort columns: share still active this many months after the cohort's month began.
pub const COHORT_MONTHS: [u32; 5] = [1, 2, 3, 6, 12];

/// A calendar month of the business's time zone, as an instant range [start, end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Month {
    /// `2026-05`
    pub label: String,
    #[serde(skip)]
    pub start: i64,
    #[serde(skip)]
    pub end: i64,
}

/// The months from the one holding `since` to the one holding `until`, in `zone`.
pub fn months(since: i64, until: i64, zone: &TimeZone) -> Vec<Month> {
    let date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(zone.clone())
            .date()
    };
    let start_of = |d: Date| {
        d.first_of_month()
            .to_zoned(zone.clone())
            .map_or(0, |z| z.timestamp().as_second())
    };
    let mut out = Vec::new();
    let mut d = date(since).first_of_month();
    let last = date(until).first_of_month();
    while d <= last {
        let next = d.checked_add(jiff::Span::new().months(1)).unwrap_or(d);
        out.push(Month {
            label: format!("{:04}-{:02}", d.year(), d.month()),
            start: start_of(d),
            end: start_of(next),
        });
        if next == d {
            break;
        }
        d = next;
    }
    out
}

/// One customer, as the report needs them.
#[derive(Debug, Clone, Default)]
pub struct CustomerHistory {
    /// Activity instants, sorted.
    pub activity: Vec<i64>,
    /// When rekindle's messages to them went out, sorted.
    pub sent: Vec<i64>,
    /// The `amount` of all their events in the year before `until`.
    pub spend_last_year: f64,
    /// Their health band as last scored (`None`: never scored).
    pub band: Option<Band>,
}

/// Per month: the active base at its start, who lapsed in it, who came back in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthFlow {
    pub month: String,
    pub active_at_start: i64,
    pub lapsed: i64,
    /// `lapsed / active_at_start`
    pub churn_rate: Option<f64>,
    pub reactivated: i64,
    /// Of those, how many had a message from rekindle between their last activity and return.
    pub reactivated_after_message: i64,
}

/// The new customers of a month and the share of them still active 1, 2, 3, 6, 12 months on
/// (`None` where that moment is still ahead).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cohort {
    pub month: String,
    pub customers: i64,
    pub retained: Vec<Option<f64>>,
}

/// Lifetime value: spend per visit × visits per year × expected years, with its inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clv {
    /// `overall`, or a health band.
    pub group: String,
    pub customers: i64,
    pub spend_per_visit: Option<f64>,
    pub visits_per_year: Option<f64>,
    pub expected_years: Option<f64>,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BusinessFlows {
    pub months: Vec<MonthFlow>,
    /// The share of the active base lost over a year at the period's monthly churn rates.
    pub yearly_churn: Option<f64>,
    pub cohorts: Vec<Cohort>,
    pub clv: Vec<Clv>,
}

/// Per group (overall, each band): customers active in the last year, their visits and spend.
#[derive(Debug, Clone, Copy, Default)]
struct Spend {
    customers: i64,
    visits: i64,
    amount: f64,
}

/// Accumulates customers one at a time.
pub struct Business {
    until: i64,
    default_cadence: f64,
    months: Vec<Month>,
    flows: Vec<MonthFlow>,
    /// Cohort month index → (customers, still active at +k months).
    cohorts: Vec<(i64, [i64; COHORT_MONTHS.len()])>,
    /// Starts of the months after each cohort month: `cohort_marks[i][j]` = start of month i + k_j.
    cohort_marks: Vec<[Option<i64>; COHORT_MONTHS.len()]>,
    /// overall, healthy, at_risk, critical, unscored
    spend: [Spend; 5],
}

fn spend_slot(band: Option<Band>) -> usize {
    match band {
        Some(Band::Healthy) => 1,
        Some(Band::AtRisk) => 2,
        Some(Band::Critical) => 3,
        None => 4,
    }
}

const SPEND_GROUPS: [&str; 5] = ["overall", "healthy", "at_risk", "critical", "unscored"];

impl Business {
    pub fn new(months: Vec<Month>, until: i64, default_cadence: f64, zone: &TimeZone) -> Business {
        let flows = months
            .iter()
            .map(|m| MonthFlow {
                month: m.label.clone(),
                ..MonthFlow::default()
            })
            .collect();
        let cohort_marks = months
            .iter()
            .map(|m| {
                let start = jiff::Timestamp::from_second(m.start)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    .to_zoned(zone.clone());
                COHORT_MONTHS.map(|k| {
                    start
                        .checked_add(jiff::Span::new().months(i64::from(k)))
                        .ok()
                        .map(|z| z.timestamp().as_second())
                        .filter(|t| *t <= until)
                })
            })
            .collect();
        Business {
            until,
            default_cadence,
            cohorts: vec![(0, [0; COHORT_MONTHS.len()]); months.len()],
            months,
            flows,
            cohort_marks,
            spend: [Spend::default(); 5],
        }
    }

    /// For each activity `a[i]`: when the customer lapses if nothing follows it — twice the
    /// cadence of their year up to it (`health::cadence_days` over `a[..=i]`'s last 365 days)
    /// after it. One pass, the year's gaps kept sorted, instead of a sort per activity.
    fn lapse_instants(&self, a: &[i64]) -> Vec<i64> {
        let mut out = Vec::with_capacity(a.len());
        let mut window: Vec<i64> = Vec::new(); // sorted gaps between times in the window
        let mut start = 0; // first time in the window
        for i in 0..a.len() {
            if i > 0 {
                let gap = a[i] - a[i - 1];
                let at = window.partition_point(|g| *g < gap);
                window.insert(at, gap);
            }
            // Times at or before a year before a[i] leave the window, with the gap after them.
            while a[start] <= a[i] - 365 * DAY {
                let gap = a[start + 1] - a[start];
                if let Ok(at) = window.binary_search(&gap) {
                    window.remove(at);
                }
                start += 1;
            }
            let cadence = if i - start + 1 < 3 {
                self.default_cadence.clamp(1.0, 365.0)
            } else {
                let n = window.len();
                let median = if n % 2 == 1 {
                    window[n / 2] as f64
                } else {
                    (window[n / 2 - 1] + window[n / 2]) as f64 / 2.0
                };
                (median / DAY as f64).clamp(1.0, 365.0)
            };
            out.push(a[i] + (2.0 * cadence * DAY as f64).round() as i64);
        }
        out
    }

    /// Whether the customer is active at `t`: has begun, and has not lapsed since their last
    /// activity before `t` (`lapses` from [`Self::lapse_instants`]).
    fn active_at(activity: &[i64], lapses: &[i64], t: i64) -> bool {
        let n = activity.partition_point(|a| *a < t);
        n > 0 && lapses[n - 1] > t
    }

    pub fn add(&mut self, c: &CustomerHistory) {
        let a = &c.activity;
        let Some(&first) = a.first() else {
            return;
        };
        let lapses = self.lapse_instants(a);
        // Lapses, and returns after them, as instants.
        for i in 0..a.len() {
            let lapse = lapses[i];
            let next = a.get(i + 1).copied();
            if lapse >= next.unwrap_or(self.until + 1) || lapse > self.until {
                continue;
            }
            if let Some(m) = self.month_of(lapse) {
                self.flows[m].lapsed += 1;
            }
            if let Some(back) = next
                && let Some(m) = self.month_of(back)
            {
                self.flows[m].reactivated += 1;
                let last = a[i];
                if c.sent.iter().any(|s| *s > last && *s < back) {
                    self.flows[m].reactivated_after_message += 1;
                }
            }
        }
        for (m, month) in self.months.iter().enumerate() {
            if Self::active_at(a, &lapses, month.start) {
                self.flows[m].active_at_start += 1;
            }
        }
        if let Some(m) = self.month_of(first) {
            self.cohorts[m].0 += 1;
            for (j, mark) in self.cohort_marks[m].iter().enumerate() {
                if let Some(t) = mark
                    && Self::active_at(a, &lapses, *t)
                {
                    self.cohorts[m].1[j] += 1;
                }
            }
        }
        let visits = a.len() - a.partition_point(|t| *t <= self.until - 365 * DAY);
        if visits > 0 {
            for slot in [0, spend_slot(c.band)] {
                let s = &mut self.spend[slot];
                s.customers += 1;
                s.visits += visits as i64;
                s.amount += c.spend_last_year;
            }
        }
    }

    fn month_of(&self, t: i64) -> Option<usize> {
        self.months.iter().position(|m| m.start <= t && t < m.end)
    }

    pub fn finish(mut self) -> BusinessFlows {
        for f in &mut self.flows {
            f.churn_rate = (f.active_at_start > 0).then(|| f.lapsed as f64 / f.active_at_start as f64);
        }
        // Months whose rate is known and complete (the current one is still running).
        let complete: Vec<f64> = self
            .flows
            .iter()
            .zip(&self.months)
            .filter(|(_, m)| m.end <= self.until)
            .filter_map(|(f, _)| f.churn_rate)
            .collect();
        let yearly_churn = (!complete.is_empty()).then(|| {
            let monthly = complete.iter().sum::<f64>() / complete.len() as f64;
            1.0 - (1.0 - monthly).powi(12)
        });
        let expected_years = yearly_churn.filter(|c| *c > 0.0).map(|c| 1.0 / c);
        let clv = self
            .spend
            .iter()
            .zip(SPEND_GROUPS)
            .filter(|(s, g)| s.customers > 0 || *g == "overall")
            .map(|(s, g)| {
                let spend_per_visit = (s.visits > 0).then(|| s.amount / s.visits as f64);
                let visits_per_year = (s.customers > 0).then(|| s.visits as f64 / s.customers as f64);
                Clv {
                    group: g.to_string(),
                    customers: s.customers,
                    spend_per_visit,
                    visits_per_year,
                    expected_years,
                    value: match (spend_per_visit, visits_per_year, expected_years) {
                        (Some(a), Some(b), Some(c)) => Some(a * b * c),
                        _ => None,
                    },
                }
            })
            .collect();
        let cohorts = self
            .months
            .iter()
            .zip(&self.cohorts)
            .zip(&self.cohort_marks)
            .map(|((m, (n, kept)), marks)| Cohort {
                month: m.label.clone(),
                customers: *n,
                retained: kept
                    .iter()
                    .zip(marks)
                    .map(|(k, mark)| mark.filter(|_| *n > 0).map(|_| *k as f64 / *n as f64))
                    .collect(),
            })
            .collect();
        BusinessFlows {
            months: self.flows,
            yearly_churn,
            cohorts,
            clv,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BusinessReport {
    /// RFC 3339: the period the report covers.
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub flows: BusinessFlows,
    pub nps: Nps,
    pub nps_months: Vec<NpsMonth>,
    /// Customers per band, weekly (the last snapshot of each week).
    pub health_weeks: Vec<HealthWeek>,
    /// How customers moved between bands from the period's first snapshot to its last.
    pub band_moves: Vec<BandMove>,
    /// How many of them changed band.
    pub moved: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NpsMonth {
    pub month: String,
    #[serde(flatten)]
    pub nps: Nps,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthWeek {
    /// The snapshot's local date.
    pub date: String,
    pub healthy: i64,
    pub at_risk: i64,
    pub critical: i64,
}

/// Customers whose band was `from` at the period's first snapshot and `to` at its last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandMove {
    pub from: String,
    pub to: String,
    pub n: i64,
}

/// Net Promoter Score from 0–10 answers: % promoters (9–10) − % detractors (0–6).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Nps {
    pub answers: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    /// −100 … 100; `None` below [`MIN_NPS_ANSWERS`] ("not enough answers").
    pub score: Option<f64>,
}

/// Below this many answers an NPS moves by whole tens with each answer: not shown.
pub const MIN_NPS_ANSWERS: i64 = 30;

pub fn nps(scores: impl IntoIterator<Item = f64>) -> Nps {
    let mut n = Nps::default();
    for s in scores {
        n.answers += 1;
        match s {
            s if s >= 9.0 => n.promoters += 1,
            s if s >= 7.0 => n.passives += 1,
            _ => n.detractors += 1,
        }
    }
    if n.answers >= MIN_NPS_ANSWERS {
        n.score = Some(100.0 * (n.promoters - n.detractors) as f64 / n.answers as f64);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn t(s: &str) -> i64 {
        format!("{s}T00:00:00Z")
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    }

    #[test]
    fn the_lapse_after_each_visit_uses_the_cadence_health_would_compute() {
        // Irregular visits over two years: every prefix's lapse equals the one computed from
        // scratch with `health::cadence_days` over that prefix's last year.
        let mut a = Vec::new();
        let mut t = t("2025-01-01");
        for i in 0..80i64 {
            t += DAY * (1 + (i * 7919) % 23);
            a.push(t);
        }
        let b = Business::new(Vec::new(), t, 30.0, &utc());
        let fast = b.lapse_instants(&a);
        for i in 0..a.len() {
            let before = &a[..=i];
            let start = before.partition_point(|x| *x <= a[i] - 365 * DAY);
            let cadence = crate::health::cadence_days(&before[start..], 30.0);
            assert_eq!(fast[i], a[i] + (2.0 * cadence * DAY as f64).round() as i64, "{i}");
        }
    }

    #[test]
    fn nps_counts_promoters_passives_and_detractors_and_needs_thirty_answers() {
        // 15 promoters, 9 passives, 6 detractors: (15 − 6) / 30 = +30.
        let scores: Vec<f64> = [10.0; 10]
            .into_iter()
            .chain([9.0; 5])
            .chain([8.0, 7.0, 7.0, 8.0, 8.0, 7.0, 8.0, 7.0, 8.0])
            .chain([6.0, 0.0, 3.0, 5.0, 6.0, 1.0])
            .collect();
        let n = nps(scores.iter().copied());
        assert_eq!((n.answers, n.promoters, n.passives, n.detractors), (30, 15, 9, 6));
        assert_eq!(n.score, Some(30.0));
        let few = nps(scores[..29].iter().copied());
        assert_eq!(few.score, None, "29 answers are not enough");
    }

    #[test]
    fn months_follow_the_business_calendar() {
        let m = months(t("2026-01-15"), t("2026-03-02"), &utc());
        let labels: Vec<&str> = m.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(m[1].start, t("2026-02-01"));
        assert_eq!(m[1].end, t("2026-03-01"));
    }

    #[test]
    fn a_weekly_regular_who_stops_lapses_after_two_weeks_and_a_return_counts_the_message() {
        // Weekly visits through January (cadence 7 days), then nothing until 1 April.
        let mut activity: Vec<i64> = (0..5).map(|w| t("2026-01-01") + w * 7 * DAY).collect();
        let last = *activity.last().unwrap(); // 29 January
        activity.push(t("2026-04-01"));
        let m = months(t("2026-01-01"), t("2026-04-30"), &utc());
        let mut b = Business::new(m, t("2026-04-30"), 30.0, &utc());
        b.add(&CustomerHistory {
            activity,
            sent: vec![t("2026-03-01")],
            spend_last_year: 60.0,
            band: Some(Band::Healthy),
        });
        let f = b.finish();
        // Lapsed at 29 Jan + 14 days = 12 February; back on 1 April after a message in March.
        assert_eq!(last + 14 * DAY, t("2026-02-12"));
        let by = |label: &str| f.months.iter().find(|m| m.month == label).unwrap().clone();
        assert_eq!(by("2026-02").lapsed, 1);
        assert_eq!(by("2026-02").active_at_start, 1, "active on 1 February");
        assert_eq!(by("2026-02").churn_rate, Some(1.0));
        assert_eq!(by("2026-03").active_at_start, 0, "lapsed on 1 March");
        assert_eq!(by("2026-04").reactivated, 1);
        assert_eq!(by("2026-04").reactivated_after_message, 1);
        // January's cohort: active after 1 month (1 February), not after 2 or 3 (1 March,
        // 1 April: lapsed, and back only during 1 April's day), 6 and 12 months still ahead.
        let jan = &f.cohorts[0];
        assert_eq!(jan.customers, 1);
        assert_eq!(jan.retained, vec![Some(1.0), Some(0.0), Some(0.0), None, None]);
        // Six visits and 60 spent within the year before 30 April; yearly churn from the three
        // complete months (January 0/0 → no rate; February 1/1, March 0/0 → no rate): 100 %.
        let overall = &f.clv[0];
        assert_eq!(overall.group, "overall");
        assert_eq!(overall.spend_per_visit, Some(10.0));
        assert_eq!(overall.visits_per_year, Some(6.0));
        assert_eq!(f.yearly_churn, Some(1.0));
        assert_eq!(overall.expected_years, Some(1.0));
        assert_eq!(overall.value, Some(60.0));
        assert_eq!(f.clv[1].group, "healthy");
    }

    #[test]
    fn churn_is_a_rate_of_the_active_base_and_clv_uses_the_yearly_rate() {
        // Ten customers visiting every 10 days all year; in March two of them stop.
        let until = t("2026-05-01");
        let m = months(t("2026-01-01"), until - 1, &utc());
        let mut b = Business::new(m, until, 30.0, &utc());
        for c in 0..10 {
            let stop = if c < 2 { t("2026-03-05") } else { until };
            let activity: Vec<i64> = (0..)
                .map(|i| t("2025-11-01") + i * 10 * DAY)
                .take_while(|x| *x < stop)
                .collect();
            b.add(&CustomerHistory {
                spend_last_year: activity.len() as f64 * 5.0,
                activity,
                sent: Vec::new(),
                band: None,
            });
        }
        let f = b.finish();
        let march = f.months.iter().find(|m| m.month == "2026-03").unwrap();
        // Their last visit is on 28 February (every 10 days from 1 November), cadence 10 days:
        // lapsed on 20 March, out of 10 active on 1 March.
        assert_eq!((march.active_at_start, march.lapsed), (10, 2));
        assert_eq!(march.churn_rate, Some(0.2));
        let april = f.months.iter().find(|m| m.month == "2026-04").unwrap();
        assert_eq!((april.active_at_start, april.lapsed), (8, 0));
        // Monthly rates 0, 0, 0.2, 0 → mean 0.05 → 1 − 0.95^12 a year.
        let yearly = 1.0 - 0.95f64.powi(12);
        assert!((f.yearly_churn.unwrap() - yearly).abs() < 1e-12);
        let overall = &f.clv[0];
        assert_eq!(overall.spend_per_visit, Some(5.0));
        let value = overall.value.unwrap();
        assert!((value - 5.0 * overall.visits_per_year.unwrap() / yearly).abs() < 1e-9);
        assert_eq!(
            f.clv.iter().map(|c| c.group.as_str()).collect::<Vec<_>>(),
            ["overall", "unscored"]
        );
    }
}
