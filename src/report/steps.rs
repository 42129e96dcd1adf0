//! A series' report per step: how many got step k, how many converted after it, against the
//! held-out group over the same stretch of time — so a marketer sees whether step 3 adds
//! anything.
//!
//! The contacted group of step k is every series whose step k went out; it converted "after
//! step k" when its conversion (goal event or redemption, counted from step 1) came at or after
//! step k's send. The held-out group has no steps, so it is compared at the same distance from
//! its decision: the median delay of step k after step 1's decision among the contacted. Of the
//! held-out customers still not converted by then, those who converted later form its rate.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Interval, MIN_GROUP, uplift, wilson};
use crate::rules::series::series_key;
use crate::store::SeriesRow;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepReport {
    pub step: u8,
    /// Series whose step went out.
    pub sent: i64,
    /// Of those, converted at or after this step's send.
    pub converted_after: i64,
    pub rate: Option<Interval>,
    /// Held-out customers not converted by the same distance from their decision…
    pub held_out: i64,
    /// …and of those, converted after it.
    pub held_out_converted: i64,
    pub held_out_rate: Option<Interval>,
    /// Present when both groups have at least `MIN_GROUP`.
    pub uplift: Option<Interval>,
}

#[derive(Default)]
struct Series {
    held_out: bool,
    decided_at: i64,
    converted_at: Option<i64>,
    /// Step → when it went out.
    sent: BTreeMap<u8, i64>,
}

/// The per-step report of a rule with `steps` steps from its recorded rows.
pub fn step_reports(rows: &[SeriesRow], steps: u8) -> Vec<StepReport> {
    let mut series: BTreeMap<(i64, &str), Series> = BTreeMap::new();
    for r in rows {
        let step = u8::try_from(r.step).unwrap_or(u8::MAX);
        let s = series
            .entry((r.customer_id, series_key(&r.occurrence_key, step)))
            .or_default();
        if step == 1 {
            s.held_out = r.decision == "held_out";
            s.decided_at = r.decided_at;
            s.converted_at = r.converted_at;
        }
        if let Some(at) = r.sent_at {
            s.sent.insert(step, at);
        }
    }
    // A later step whose step 1 is outside the report's window has no series to belong to.
    let (held, contacted): (Vec<&Series>, Vec<&Series>) = series
        .values()
        .filter(|s| s.held_out || s.sent.contains_key(&1))
        .partition(|s| s.held_out);
    (1..=steps)
        .map(|k| {
            let got: Vec<(&Series, i64)> = contacted
                .iter()
                .filter_map(|s| s.sent.get(&k).map(|at| (*s, *at)))
                .collect();
            let sent = got.len() as i64;
            let converted_after = got
                .iter()
                .filter(|(s, at)| s.converted_at.is_some_and(|c| c >= *at))
                .count() as i64;
            let mut delays: Vec<i64> = got.iter().map(|(s, at)| at - s.decided_at).collect();
            delays.sort_unstable();
            let offset = delays.get(delays.len() / 2).copied().unwrap_or(0);
            let at_risk: Vec<&&Series> = held
                .iter()
                .filter(|s| s.converted_at.is_none_or(|c| c >= s.decided_at + offset))
                .collect();
            let held_out = at_risk.len() as i64;
            let held_out_converted = at_risk.iter().filter(|s| s.converted_at.is_some()).count() as i64;
            StepReport {
                step: k,
                sent,
                converted_after,
                rate: wilson(converted_after, sent),
                held_out,
                held_out_converted,
                held_out_rate: wilson(held_out_converted, held_out),
                uplift: (sent >= MIN_GROUP && held_out >= MIN_GROUP)
                    .then(|| uplift(converted_after, sent, held_out_converted, held_out))
                    .flatten(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        customer: i64,
        step: i64,
        decision: &str,
        decided: i64,
        sent: Option<i64>,
        converted: Option<i64>,
    ) -> SeriesRow {
        SeriesRow {
            customer_id: customer,
            occurrence_key: crate::rules::series::step_key("k", step as u8),
            step,
            decision: decision.into(),
            decided_at: decided,
            sent_at: sent,
            converted_at: converted,
        }
    }

    #[test]
    fn conversions_are_counted_after_the_step_that_preceded_them() {
        let day = 86_400;
        let rows = vec![
            // Converted after step 1 (no step 2).
            row(1, 1, "send", 0, Some(10), Some(3 * day)),
            // Got step 2 on day 7 and converted after it.
            row(2, 1, "send", 0, Some(10), Some(9 * day)),
            row(2, 2, "send", 7 * day, Some(7 * day), None),
            // Got both steps, never converted.
            row(3, 1, "send", 0, Some(10), None),
            row(3, 2, "send", 7 * day, Some(7 * day + 5), None),
            // Held out: one converted on day 2 (before step 2's distance), one on day 8.
            row(4, 1, "held_out", 0, None, Some(2 * day)),
            row(5, 1, "held_out", 0, None, Some(8 * day)),
            row(6, 1, "held_out", 0, None, None),
        ];
        let r = step_reports(&rows, 3);
        assert_eq!(
            r.iter()
                .map(|s| (
                    s.step,
                    s.sent,
                    s.converted_after,
                    s.held_out,
                    s.held_out_converted
                ))
                .collect::<Vec<_>>(),
            [(1, 3, 2, 3, 2), (2, 2, 1, 2, 1), (3, 0, 0, 3, 2)]
        );
        assert!(r.iter().all(|s| s.uplift.is_none()), "below MIN_GROUP");
    }
}
