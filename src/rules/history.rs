//! What a template knows of the customer's own history (`history.*`): how often they came,
//! when last, on which weekday and at which hour they usually come, what they usually have,
//! and what they spent. Pure: computed from the facts evaluation already streams (plus the
//! favourite property values, aggregated by the store in the same pass).

use std::collections::BTreeMap;

use super::facts::CustomerFacts;
use crate::health::{HealthConfig, YEAR_WINDOW};

/// The fields of `history` templates may use (`favourite.<property>` besides).
pub const FIELDS: [&str; 7] = [
    "visits",
    "last_visit_on",
    "usual_weekday",
    "usual_hour",
    "favourite",
    "total_spend",
    "average_spend",
];

/// A habit needs at least this many activities in the last year to be called usual.
pub const MIN_FOR_HABIT: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Lifetime activity events at or before T.
    pub visits: i64,
    pub last_visit: Option<i64>,
    /// The most frequent local weekday of the last year's activity (ties: the most recent).
    pub usual_weekday: Option<jiff::civil::Weekday>,
    /// The most frequent local hour (0–23), likewise.
    pub usual_hour: Option<i8>,
    /// Property → its most frequent value over the last year's activity (from the store).
    pub favourites: BTreeMap<String, String>,
    /// Every event's amount at or before T.
    pub total_spend: f64,
    /// `total_spend` per visit.
    pub average_spend: Option<f64>,
}

/// The history of a customer at `at` (their facts must cover a year of recent events, with
/// the values of `favourites` — `[history] favourite_properties` — in that order).
pub fn history(c: &CustomerFacts, cfg: &HealthConfig, at: i64, favourites: &[String]) -> History {
    let visits = c.activity_count(cfg);
    let last_visit = c.kinds_of(None, cfg).map(|s| s.last).max();
    let mut recent: Vec<i64> = c
        .kinds_of(None, cfg)
        .flat_map(|s| s.recent.iter().map(|e| e.at))
        .filter(|t| *t > at - YEAR_WINDOW && *t <= at)
        .collect();
    recent.sort_unstable();
    let local: Vec<jiff::civil::DateTime> = recent
        .iter()
        .filter_map(|t| jiff::Timestamp::from_second(*t).ok())
        .map(|ts| c.zone.to_datetime(ts))
        .collect();
    let enough = local.len() >= MIN_FOR_HABIT;
    let usual_weekday = enough
        .then(|| most_frequent(local.iter().map(|d| d.weekday().to_monday_one_offset())))
        .flatten()
        .and_then(|n| jiff::civil::Weekday::from_monday_one_offset(n).ok());
    let usual_hour = enough
        .then(|| most_frequent(local.iter().map(|d| d.hour())))
        .flatten();
    let total_spend = c.spend();
    // The last year's activity in time order, for each property its most frequent value.
    // (Gathered only when a property is asked for: most customers' templates ask for none.)
    let mut year: Vec<&super::facts::RecentEvent> = match favourites.is_empty() {
        true => Vec::new(),
        false => c
            .kinds_of(None, cfg)
            .flat_map(|s| s.recent.iter())
            .filter(|e| e.at > at - YEAR_WINDOW && e.at <= at)
            .collect(),
    };
    year.sort_by_key(|e| e.at);
    let favourites = favourites
        .iter()
        .enumerate()
        .filter_map(|(i, property)| {
            let values = year
                .iter()
                .filter_map(|e| e.props.get(i))
                .filter(|v| !v.is_empty());
            most_frequent(values).map(|v| (property.clone(), v.clone()))
        })
        .collect();
    History {
        visits,
        last_visit,
        usual_weekday,
        usual_hour,
        favourites,
        total_spend,
        average_spend: (visits > 0).then(|| total_spend / visits as f64),
    }
}

/// The value seen most often in a time-ordered sequence; a tie goes to the one seen last.
pub fn most_frequent<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, (usize, usize)> = BTreeMap::new();
    for (i, v) in values.enumerate() {
        let e = counts.entry(v).or_insert((0, 0));
        e.0 += 1;
        e.1 = i;
    }
    counts
        .into_iter()
        .max_by_key(|(_, (n, last))| (*n, *last))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::facts::{KindStats, RecentEvent};

    fn facts(zone: &str, visits: &[&str]) -> CustomerFacts {
        let mut c = CustomerFacts::new("c", jiff::tz::TimeZone::get(zone).unwrap());
        let times: Vec<i64> = visits
            .iter()
            .map(|v| v.parse::<jiff::Timestamp>().unwrap().as_second())
            .collect();
        c.kinds.insert(
            "visit".into(),
            KindStats {
                count: times.len() as i64,
                first: times.iter().copied().min().unwrap_or(0),
                last: times.iter().copied().max().unwrap_or(0),
                amount: 30.0,
                recent: times
                    .iter()
                    .map(|t| RecentEvent {
                        at: *t,
                        id: t.to_string(),
                        score: None,
                        props: Vec::new(),
                    })
                    .collect(),
            },
        );
        c
    }

    const AT: &str = "2026-11-30T12:00:00Z";

    #[test]
    fn the_usual_weekday_and_hour_are_local_and_ties_go_to_the_most_recent() {
        // Two Tuesday evenings and two Saturday mornings in Budapest; a Saturday came last.
        let c = facts(
            "Europe/Budapest",
            &[
                "2026-11-03T17:30:00Z",
                "2026-11-10T17:40:00Z",
                "2026-11-14T08:00:00Z",
                "2026-11-21T08:10:00Z",
            ],
        );
        let h = history(
            &c,
            &HealthConfig::default(),
            AT.parse::<jiff::Timestamp>().unwrap().as_second(),
            &[],
        );
        assert_eq!(h.usual_weekday, Some(jiff::civil::Weekday::Saturday));
        // 18:30/18:40 and 09:00/09:10 local: a tie between 18 and 9, 9 came last.
        assert_eq!(h.usual_hour, Some(9));
        assert_eq!(h.visits, 4);
        assert_eq!(h.total_spend, 30.0);
        assert_eq!(h.average_spend, Some(7.5));
        // 23:30 UTC on a Monday is already Tuesday in Budapest.
        let c = facts(
            "Europe/Budapest",
            &[
                "2026-11-02T23:30:00Z",
                "2026-11-09T23:30:00Z",
                "2026-11-16T23:30:00Z",
            ],
        );
        let h = history(
            &c,
            &HealthConfig::default(),
            AT.parse::<jiff::Timestamp>().unwrap().as_second(),
            &[],
        );
        assert_eq!(h.usual_weekday, Some(jiff::civil::Weekday::Tuesday));
        assert_eq!(h.usual_hour, Some(0));
    }

    #[test]
    fn fewer_than_three_activities_in_a_year_is_no_habit() {
        let c = facts(
            "UTC",
            &[
                "2025-01-06T10:00:00Z",
                "2026-11-02T10:00:00Z",
                "2026-11-09T10:00:00Z",
            ],
        );
        let h = history(
            &c,
            &HealthConfig::default(),
            AT.parse::<jiff::Timestamp>().unwrap().as_second(),
            &[],
        );
        assert_eq!((h.usual_weekday, h.usual_hour), (None, None));
        assert_eq!(h.visits, 3, "lifetime visits still count the old one");
        assert_eq!(most_frequent(["a", "b", "b", "a"].into_iter()), Some("a"));
        assert_eq!(most_frequent(std::iter::empty::<u8>()), None);
    }
}
