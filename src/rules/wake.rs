//! When a customer's decisions can next change while nothing about them changes: the instant
//! incremental evaluation may sleep them until. Pure, like the pipeline it mirrors.
//!
//! A decision for a customer at T depends on their facts, their recorded decisions (and those
//! messages' delivery) and T. With the first two unchanged, `decide` can only answer
//! differently once T crosses a boundary: a trigger's window opening or closing
//! (`trigger::next_change`), a series step coming due (`series::next_step_at`), a health
//! threshold crossed as recency decays, or an event dated after T becoming visible. Anything
//! decided at T — recorded, or deferred by the frequency cap — wakes the customer at the next
//! tick, which then sees its own decisions in the history.

use super::facts::CustomerFacts;
use super::pipeline::PastDecision;
use super::rule::{Rule, Trigger};
use super::series::next_step_at;
use super::trigger::next_change;
use crate::health::{Band, HealthConfig, ScoreCurve, YEAR_WINDOW};

/// Recency reaches 0 at most 3 × 365 days after the last activity; past this horizon the score
/// no longer moves, so a search for a threshold crossing ends here.
const SCORE_HORIZON: i64 = 4 * YEAR_WINDOW;

/// The first instant after `at` at which `decide` may answer differently for this customer,
/// or `None` when only a change to the customer can make it. `decided`: the evaluation at
/// `at` made any decision for them. `next_event`: their earliest event dated after `at`.
pub fn next_wake(
    rules: &[Rule],
    c: &CustomerFacts,
    history: &[PastDecision],
    decided: bool,
    next_event: Option<i64>,
    at: i64,
    cfg: &HealthConfig,
) -> Option<i64> {
    if decided {
        return Some(at + 1);
    }
    let soonest = |wake: Option<i64>, t: Option<i64>| match (wake, t.filter(|t| *t > at)) {
        (Some(w), Some(t)) => Some(w.min(t)),
        (w, t) => w.or(t),
    };
    let mut wake = soonest(None, next_event);
    for rule in rules {
        wake = soonest(wake, next_change(&rule.trigger, c, at, cfg));
        wake = soonest(wake, next_step_at(rule, history, at));
    }
    let thresholds = health_thresholds(rules);
    if !thresholds.is_empty() {
        let curve = c.score_curve(cfg, at);
        wake = soonest(wake, curve.until);
        let hi = wake.unwrap_or(at + SCORE_HORIZON);
        wake = soonest(wake, first_crossing(&curve, &thresholds, at, hi));
    }
    wake
}

/// Every score at which some rule's audience or trigger answers differently.
fn health_thresholds(rules: &[Rule]) -> Vec<i64> {
    let mut t = Vec::new();
    for rule in rules {
        let a = &rule.audience;
        t.extend(a.health_below);
        t.extend(a.health_at_least);
        if a.bands.is_some() {
            t.extend(Band::THRESHOLDS.map(i64::from));
        }
        if let Trigger::HealthBelow { score } = rule.trigger {
            t.push(score);
        }
    }
    t
}

/// The first instant in (`at`, `hi`] at which the score falls below one more threshold than at
/// `at`. The curve never rises, so that count only grows, and a bisection finds its first
/// change exactly (the same arithmetic as the score itself).
fn first_crossing(curve: &ScoreCurve, thresholds: &[i64], at: i64, hi: i64) -> Option<i64> {
    let below = |t: i64| {
        let score = i64::from(curve.score(t));
        thresholds.iter().filter(|x| score < **x).count()
    };
    let start = below(at);
    if below(hi) == start {
        return None;
    }
    let (mut lo, mut hi) = (at, hi);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if below(mid) == start {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}
