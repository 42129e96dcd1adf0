//! When a customer's decisions can next change while nothing about them changes: the instant
//! incremental evaluation may sleep them until. Pure, like the pipeline it mirrors.
//!
//! A decision for a customer at T depends on their facts, their recorded decisions (and those
//! messages' delivery) and T. With the first two unchanged, `decide` can only answer
//! differently once T crosses a boundary: a trigger's window opening or closing
//! (`trigger::next_change`), a series step coming due (`series::next_step_at`), a health
//! threshold crossed as recency decays, an event dated after T becoming visible, or — for an
//! occurrence the frequency cap deferred — a send leaving the cap's window. The evaluation works
//! the wake out with the decisions it just recorded in the history, as the next tick will read
//! them; if deciding again at T would record more, the customer wakes at the next tick.

use super::facts::CustomerFacts;
use super::pipeline::{Outcome, PastDecision, Policy};
use super::rule::{Rule, Trigger};
use super::series::next_step_at;
use super::trigger::next_change;
use crate::health::{Band, HealthConfig, ScoreCurve, YEAR_WINDOW};

/// Recency reaches 0 at most 3 × 365 days after the last activity; past this horizon the score
/// no longer moves, so a search for a threshold crossing ends here.
const SCORE_HORIZON: i64 = 4 * YEAR_WINDOW;

/// What the evaluation at T decided for the customer, as far as their wake goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Nothing,
    /// Only occurrences the frequency cap deferred (nothing recorded).
    Deferred,
    /// Something new is decided at T (with what was just recorded in the history): the next
    /// tick must look again.
    Recorded,
}

/// The first instant after `at` at which `decide` may answer differently for this customer,
/// or `None` when only a change to the customer can make it. `history` is what `decide` saw;
/// `next_event`: their earliest event dated after `at`.
#[allow(clippy::too_many_arguments)]
pub fn next_wake(
    rules: &[Rule],
    c: &CustomerFacts,
    history: &[PastDecision],
    decided: Decided,
    next_event: Option<i64>,
    at: i64,
    policy: &Policy,
    cfg: &HealthConfig,
) -> Option<i64> {
    if decided == Decided::Recorded {
        return Some(at + 1);
    }
    let soonest = |wake: Option<i64>, t: Option<i64>| match (wake, t.filter(|t| *t > at)) {
        (Some(w), Some(t)) => Some(w.min(t)),
        (w, t) => w.or(t),
    };
    let mut wake = soonest(None, next_event);
    if decided == Decided::Deferred {
        // The cap is full of sends in (at − per, at]; it has room once the oldest leaves.
        let release = history
            .iter()
            .filter(|p| p.outcome == Outcome::Send && p.decided_at > at - policy.per && p.decided_at <= at)
            .map(|p| p.decided_at + policy.per)
            .min();
        wake = soonest(wake, Some(release.unwrap_or(at + 1)));
    }
    for rule in rules {
        wake = soonest(wake, next_change(&rule.trigger, c, at, cfg));
        wake = soonest(wake, next_step_at(rule, history, at));
    }
    let thresholds = health_thresholds(rules);
    if !thresholds.is_empty() {
        let hi = wake.unwrap_or(at + SCORE_HORIZON);
        wake = soonest(wake, health_change(c, cfg, &thresholds, at, hi));
    }
    wake
}

/// How many segments of the score's curve a search walks before it settles for waking the
/// customer at the next one (each is an activity or a feedback answer leaving a window).
const MOST_SEGMENTS: usize = 16;

/// The first instant in (`at`, `hi`] at which the score is below a different number of the
/// thresholds than at `at`. The score decays smoothly until an input leaves its window, where
/// it jumps (up or down); the search walks those segments, each with its own curve.
fn health_change(c: &CustomerFacts, cfg: &HealthConfig, thresholds: &[i64], at: i64, hi: i64) -> Option<i64> {
    let mut curve = c.score_curve(cfg, at);
    let start = below(&curve, thresholds, at);
    let mut from = at;
    for _ in 0..MOST_SEGMENTS {
        // This curve holds on [from, until).
        let end = curve.until.map_or(hi, |u| (u - 1).min(hi));
        if let Some(t) = first_crossing(&curve, thresholds, start, from, end) {
            return Some(t);
        }
        match curve.until {
            Some(u) if u <= hi => from = u,
            _ => return None,
        }
        curve = c.score_curve(cfg, from);
        if below(&curve, thresholds, from) != start {
            return Some(from);
        }
    }
    Some(from)
}

/// How many thresholds the score is below at `t`.
fn below(curve: &ScoreCurve, thresholds: &[i64], t: i64) -> usize {
    let score = i64::from(curve.score(t));
    thresholds.iter().filter(|x| score < **x).count()
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

/// The first instant in (`from`, `to`] at which the score is below another number of
/// thresholds than `start`, on one segment of the curve. The curve never rises, so that count
/// only grows, and a bisection finds its first change exactly (the same arithmetic as the
/// score itself).
fn first_crossing(curve: &ScoreCurve, thresholds: &[i64], start: usize, from: i64, to: i64) -> Option<i64> {
    if to <= from || below(curve, thresholds, to) == start {
        return None;
    }
    let (mut lo, mut hi) = (from, to);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if below(curve, thresholds, mid) == start {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}
