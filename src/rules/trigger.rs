//! When does a trigger match a customer at T, and under which occurrence key? Pure functions
//! of the customer's facts; every trigger looks only at events at or before T.

use jiff::civil::Date;
use serde_json::{Map, Value, json};

use super::facts::{CustomerFacts, KindStats, RecentEvent};
use super::rule::Trigger;
use crate::domain::fmt_instant;
use crate::health::HealthConfig;
use crate::health::{DAY_SECONDS, YEAR_WINDOW, cadence_days};

/// One reason to contact a customer: its key makes the decision unique per rule and customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub key: String,
    /// When the occurrence happened, for ordering a customer's occurrences.
    pub at: i64,
    /// `trigger.*` in templates.
    pub vars: Map<String, Value>,
}

/// How far back individual events must be known for this trigger to be evaluated.
pub fn lookback(trigger: &Trigger) -> i64 {
    match trigger {
        Trigger::FirstEvent { delay, max_age, .. } | Trigger::Event { delay, max_age, .. } => delay + max_age,
        Trigger::Milestone { max_age, .. } => *max_age,
        Trigger::Overdue { .. } => YEAR_WINDOW,
        Trigger::Absence { within, max_age, .. } => within + max_age,
        Trigger::Inactive { .. }
        | Trigger::Birthday { .. }
        | Trigger::Anniversary { .. }
        | Trigger::HealthBelow { .. } => 0,
    }
}

/// How far back a trigger reads events' external ids (its occurrence keys): only triggers
/// keyed on one event need them, and only inside their own window. Older events are read
/// without their ids, which the covering index then answers without visiting the table.
pub fn id_lookback(trigger: &Trigger) -> i64 {
    match trigger {
        Trigger::FirstEvent { .. } | Trigger::Event { .. } | Trigger::Absence { .. } => lookback(trigger),
        Trigger::Milestone { .. }
        | Trigger::Overdue { .. }
        | Trigger::Inactive { .. }
        | Trigger::Birthday { .. }
        | Trigger::Anniversary { .. }
        | Trigger::HealthBelow { .. } => 0,
    }
}

pub fn occurrences(trigger: &Trigger, c: &CustomerFacts, at: i64, cfg: &HealthConfig) -> Vec<Occurrence> {
    let vars = |pairs: Vec<(&str, Value)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match trigger {
        Trigger::Inactive { days, events } => {
            let Some(last) = c.kinds_of(events.as_deref(), cfg).map(|s| s.last).max() else {
                return vec![];
            };
            if at - last < days * DAY_SECONDS {
                return vec![];
            }
            vec![lapse(last, at, vec![])]
        }
        Trigger::FirstEvent {
            event,
            delay,
            max_age,
        } => {
            let Some(stats) = c.kinds.get(event) else {
                return vec![];
            };
            let Some(first) = first_event(stats) else {
                return vec![];
            };
            in_window(first.at + delay, *max_age, at)
                .then(|| event_occurrence(first))
                .into_iter()
                .collect()
        }
        Trigger::Event {
            event,
            delay,
            max_age,
        } => c
            .kinds
            .get(event)
            .into_iter()
            .flat_map(|s| &s.recent)
            .filter(|e| in_window(e.at + delay, *max_age, at))
            .map(event_occurrence)
            .collect(),
        Trigger::Birthday { days_before } => {
            let Some(b) = c.birthday else { return vec![] };
            let Some(target) =
                local_date(at, c).and_then(|d| d.checked_add(jiff::Span::new().days(*days_before)).ok())
            else {
                return vec![];
            };
            if !falls_on(target, b.month, b.day) {
                return vec![];
            }
            vec![Occurrence {
                key: target.year().to_string(),
                at,
                vars: vars(vec![("days_before", json!(days_before))]),
            }]
        }
        Trigger::Anniversary { event } => {
            let Some(stats) = c.kinds.get(event) else {
                return vec![];
            };
            let (Some(today), Some(first_day)) = (local_date(at, c), local_date(stats.first, c)) else {
                return vec![];
            };
            if today.year() <= first_day.year() || !falls_on(today, first_day.month(), first_day.day()) {
                return vec![];
            }
            let years = i64::from(today.year() - first_day.year());
            vec![Occurrence {
                key: today.year().to_string(),
                at,
                vars: vars(vec![("years", json!(years))]),
            }]
        }
        Trigger::Milestone {
            event,
            count,
            max_age,
        } => {
            let Some(stats) = c.kinds.get(event) else {
                return vec![];
            };
            // The count-th event overall is at this position among the recent ones.
            let older = stats.count - stats.recent.len() as i64;
            let index = count - 1 - older;
            if stats.count < *count || index < 0 {
                return vec![];
            }
            let e = &stats.recent[index as usize];
            in_window(e.at, *max_age, at)
                .then(|| Occurrence {
                    key: count.to_string(),
                    at: e.at,
                    vars: vars(vec![("count", json!(count))]),
                })
                .into_iter()
                .collect()
        }
        Trigger::HealthBelow { score } => {
            let (Some(health), Some(last)) = (&c.health, c.kinds_of(None, cfg).map(|s| s.last).max()) else {
                return vec![];
            };
            if i64::from(health.score) >= *score {
                return vec![];
            }
            vec![Occurrence {
                key: fmt_instant(last),
                at: last,
                vars: vars(vec![("score", json!(health.score))]),
            }]
        }
        Trigger::Overdue { factor, events } => {
            let Some((last, times)) = habit(c, events.as_deref(), at, cfg) else {
                return vec![];
            };
            if times.len() < 3 {
                return vec![];
            }
            let cadence = cadence_days(&times, 30.0);
            if ((at - last) as f64) < factor * cadence * DAY_SECONDS as f64 {
                return vec![];
            }
            vec![lapse(last, at, vec![("cadence_days", json!(cadence))])]
        }
        Trigger::Absence {
            event,
            missing,
            within,
            max_age,
        } => {
            let missing_times: Vec<i64> = c
                .kinds
                .get(missing)
                .map_or(vec![], |s| s.recent.iter().map(|e| e.at).collect());
            c.kinds
                .get(event)
                .into_iter()
                .flat_map(|s| &s.recent)
                .filter(|a| in_window(a.at + within, *max_age, at))
                .filter(|a| !missing_times.iter().any(|m| *m > a.at && *m <= a.at + within))
                .map(event_occurrence)
                .collect()
        }
    }
}

/// The first instant after `at` at which `occurrences(trigger, c, ·)` can gain an occurrence
/// it does not have at `at`, while the customer's facts stay as they are (`None`: never). Each
/// arm mirrors the one in `occurrences`: every instant where a comparison of T with an event's
/// time starts to hold is a boundary here. Incremental evaluation sleeps a customer until the
/// earliest of these.
///
/// An occurrence ending (a window `start ≤ T < start + max_age` closing) is no boundary: an
/// occurrence that is no longer there decides nothing, and one that was there decided what it
/// could when it appeared or when the customer last changed — it never made room for another
/// rule either, since only sends count against the cap.
pub fn next_change(trigger: &Trigger, c: &CustomerFacts, at: i64, cfg: &HealthConfig) -> Option<i64> {
    let after = |t: i64| (t > at).then_some(t);
    match trigger {
        Trigger::Inactive { days, events } => {
            let last = c.kinds_of(events.as_deref(), cfg).map(|s| s.last).max()?;
            after(last + days * DAY_SECONDS)
        }
        Trigger::FirstEvent { event, delay, .. } => {
            let first = first_event(c.kinds.get(event)?)?;
            after(first.at + delay)
        }
        Trigger::Event { event, delay, .. } => c
            .kinds
            .get(event)?
            .recent
            .iter()
            .filter_map(|e| after(e.at + delay))
            .min(),
        Trigger::Birthday { days_before } => {
            let b = c.birthday?;
            let today = local_date(at, c)?;
            // The local day whose date plus `days_before` is the birthday, this year or a
            // neighbouring one (a long lead reaches into the next year).
            (today.year() - 1..=today.year() + 2)
                .filter_map(|y| yearly_day(y, b.month, b.day))
                .filter_map(|d| d.checked_sub(jiff::Span::new().days(*days_before)).ok())
                .filter(|d| *d > today)
                .filter_map(|d| day_start(d, c))
                .min()
        }
        Trigger::Anniversary { event } => {
            let first_day = local_date(c.kinds.get(event)?.first, c)?;
            let today = local_date(at, c)?;
            (today.year()..=today.year() + 1)
                .filter(|y| *y > first_day.year())
                .filter_map(|y| yearly_day(y, first_day.month(), first_day.day()))
                .filter(|d| *d > today)
                .filter_map(|d| day_start(d, c))
                .min()
        }
        // The count-th event is at or before T, so its window is open already or never will
        // be again; a later event is a new fact.
        Trigger::Milestone { .. } => None,
        // The score crossing its threshold is found from the score's own curve (`wake`); the
        // occurrence's key changes only with a new event.
        Trigger::HealthBelow { .. } => None,
        Trigger::Overdue { factor, events } => {
            let (last, times) = habit(c, events.as_deref(), at, cfg)?;
            // An activity leaving the year changes the cadence (or the three it needs).
            let leaves = times.first().map(|t| t + YEAR_WINDOW);
            let due = (times.len() >= 3).then(|| {
                // `at - last ≥ x` for whole seconds first holds at `last + ceil(x)`.
                let x = factor * cadence_days(&times, 30.0) * DAY_SECONDS as f64;
                last + x.ceil() as i64
            });
            [leaves, due.and_then(after)].into_iter().flatten().min()
        }
        // A `missing` event arriving is a new fact (the customer changed); only windows move.
        Trigger::Absence { event, within, .. } => c
            .kinds
            .get(event)?
            .recent
            .iter()
            .filter_map(|a| after(a.at + within))
            .min(),
    }
}

/// What `overdue` reads of the kinds it names: the last one's instant, and the instants of
/// those in the year before `at`, in order.
fn habit(
    c: &CustomerFacts,
    events: Option<&[String]>,
    at: i64,
    cfg: &HealthConfig,
) -> Option<(i64, Vec<i64>)> {
    let kinds: Vec<&KindStats> = c.kinds_of(events, cfg).collect();
    let last = kinds.iter().map(|s| s.last).max()?;
    let mut times: Vec<i64> = kinds
        .iter()
        .flat_map(|s| s.recent.iter().map(|e| e.at))
        .filter(|t| *t > at - YEAR_WINDOW)
        .collect();
    times.sort_unstable();
    Some((last, times))
}

/// The date of the yearly day (month, day) in `year`; Feb 29 is Feb 28 in other years.
fn yearly_day(year: i16, month: i8, day: i8) -> Option<Date> {
    let d = Date::new(year, month, day).ok();
    d.or_else(|| {
        ((month, day) == (2, 29))
            .then(|| Date::new(year, 2, 28).ok())
            .flatten()
    })
}

/// The first instant of a local day in the customer's zone.
fn day_start(d: Date, c: &CustomerFacts) -> Option<i64> {
    Some(d.to_zoned(c.zone.clone()).ok()?.timestamp().as_second())
}

/// A customer away since `last`: the occurrence is keyed on the last visit, so the next lapse
/// (after the next visit) is a new one.
fn lapse(last: i64, at: i64, extra: Vec<(&str, Value)>) -> Occurrence {
    let mut vars = Map::new();
    vars.insert("days_inactive".into(), json!((at - last) / DAY_SECONDS));
    vars.insert("last_event_at".into(), json!(fmt_instant(last)));
    vars.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    Occurrence {
        key: fmt_instant(last),
        at: last,
        vars,
    }
}

/// `start ≤ at < start + max_age`.
fn in_window(start: i64, max_age: i64, at: i64) -> bool {
    start <= at && at < start + max_age
}

fn first_event(stats: &KindStats) -> Option<&RecentEvent> {
    stats.recent.first().filter(|e| e.at == stats.first)
}

fn event_occurrence(e: &RecentEvent) -> Occurrence {
    let mut vars = Map::new();
    vars.insert("event_at".into(), json!(fmt_instant(e.at)));
    Occurrence {
        key: e.id.clone(),
        at: e.at,
        vars,
    }
}

/// The customer's local calendar date at an instant.
fn local_date(at: i64, c: &CustomerFacts) -> Option<Date> {
    Some(
        jiff::Timestamp::from_second(at)
            .ok()?
            .to_zoned(c.zone.clone())
            .date(),
    )
}

/// Whether `date` is the yearly day of (month, day); Feb 29 falls on Feb 28 in other years.
fn falls_on(date: Date, month: i8, day: i8) -> bool {
    if (month, day) == (2, 29) && !date.in_leap_year() {
        return (date.month(), date.day()) == (2, 28);
    }
    (date.month(), date.day()) == (month, day)
}
