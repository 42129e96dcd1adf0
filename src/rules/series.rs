//! Follow-up steps of a series: which step of which occurrence is due for a customer at T,
//! and when a series stops. Pure: it reads the customer's facts and recorded decisions (with
//! their messages' delivery and the series' offer), never the store.
//!
//! Step k+1 is due `after` step k went out (the ledger's sent time); a step that was skipped —
//! when decided, or at delivery (consent withdrawn meanwhile) — starts the clock from when it
//! was decided. A series stops, with no decision row, when the customer converted after it
//! began (a goal event or the offer redeemed), a step bounced or failed, or a new occurrence of
//! the trigger began; the pipeline stops it too when every channel the step could use was
//! unsubscribed.

use std::collections::BTreeMap;

use super::facts::CustomerFacts;
use super::pipeline::PastDecision;
use super::rule::{Rule, Trigger};
use super::trigger::{Occurrence, occurrences};
use crate::domain::{MessageStatus, Outcome};
use crate::health::HealthConfig;

/// The occurrence key a step is recorded under: step 1 keeps the occurrence's own key, so a
/// series' first step is decided (and deduplicated) exactly as a `[message]` rule's.
pub fn step_key(occurrence: &str, step: u8) -> String {
    if step <= 1 {
        occurrence.to_string()
    } else {
        format!("{occurrence}#step{step}")
    }
}

/// The series' occurrence of a recorded key of step `step`.
pub fn series_key(key: &str, step: u8) -> &str {
    if step <= 1 {
        return key;
    }
    key.strip_suffix(&format!("#step{step}")).unwrap_or(key)
}

/// A step that is due now: the series' occurrence (with what the trigger says of it now) and
/// the step's number.
#[derive(Debug, Clone, PartialEq)]
pub struct DueStep {
    pub occurrence: Occurrence,
    pub step: u8,
}

/// The follow-up steps of `rule` due for this customer at `at`, oldest series first.
/// `newer_first_steps` are the occurrence keys whose step 1 this evaluation decides just now.
pub fn due_steps(
    rule: &Rule,
    c: &CustomerFacts,
    history: &[PastDecision],
    at: i64,
    cfg: &HealthConfig,
    new_first_steps: &[(String, i64)],
) -> Vec<DueStep> {
    if !rule.is_series() {
        return Vec::new();
    }
    // Each series' recorded steps, by occurrence.
    let mut series: BTreeMap<&str, Vec<&PastDecision>> = BTreeMap::new();
    for p in history.iter().filter(|p| p.rule_id == rule.id) {
        series.entry(series_key(&p.key, p.step)).or_default().push(p);
    }
    let current = occurrences(&rule.trigger, c, at, cfg);
    let mut due: Vec<(i64, DueStep)> = Vec::new();
    for (key, mut steps) in series {
        steps.sort_by_key(|p| p.step);
        let Some(first) = steps.first().filter(|p| p.step == 1) else {
            continue;
        };
        let last = *steps.last().expect("not empty");
        if usize::from(last.step) >= rule.steps.len() {
            continue;
        }
        // Held out of the series, or its occurrence was never contacted (once, cooldown).
        if !matches!(first.outcome, Outcome::Send | Outcome::Skipped) {
            continue;
        }
        let Some(clock) = step_clock(last) else {
            continue;
        };
        let next = &rule.steps[usize::from(last.step)];
        if at < clock + next.after {
            continue;
        }
        let began = step_clock(first).unwrap_or(first.decided_at);
        if converted(rule, c, &steps, began, at) {
            continue;
        }
        let Some(occurrence) = still_running(rule, key, first, &current, history, new_first_steps) else {
            continue;
        };
        due.push((
            first.decided_at,
            DueStep {
                occurrence,
                step: last.step + 1,
            },
        ));
    }
    due.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.occurrence.key.cmp(&b.1.occurrence.key))
    });
    due.into_iter().map(|(_, d)| d).collect()
}

/// When a series of `rule` can next change for this customer while nothing about them
/// changes: its next step coming due. While a step's message has not gone out its clock is not
/// known, but it cannot start before the step was decided (a message goes out after it is
/// decided, or its clock is the decision when it never does): the next step is not due before
/// `decided_at + after`, and from then on every tick looks again. `None`: no series waits.
pub fn next_step_at(rule: &Rule, history: &[PastDecision], at: i64) -> Option<i64> {
    if !rule.is_series() {
        return None;
    }
    let mut series: BTreeMap<&str, Vec<&PastDecision>> = BTreeMap::new();
    for p in history.iter().filter(|p| p.rule_id == rule.id) {
        series.entry(series_key(&p.key, p.step)).or_default().push(p);
    }
    series
        .into_values()
        .filter_map(|mut steps| {
            steps.sort_by_key(|p| p.step);
            let first = steps.first().filter(|p| p.step == 1)?;
            let last = *steps.last().expect("not empty");
            if usize::from(last.step) >= rule.steps.len()
                || !matches!(first.outcome, Outcome::Send | Outcome::Skipped)
            {
                return None;
            }
            let after = rule.steps[usize::from(last.step)].after;
            match step_clock(last) {
                Some(clock) => Some(clock + after).filter(|t| *t > at),
                None if awaiting_delivery(last) => Some((last.decided_at + after).max(at + 1)),
                None => None,
            }
        })
        .min()
}

/// A send whose message has neither gone out nor ended: the ledger will say more later.
fn awaiting_delivery(p: &PastDecision) -> bool {
    p.outcome == Outcome::Send
        && p.delivery.is_none_or(|d| {
            d.sent_at.is_none()
                && !matches!(
                    d.status,
                    MessageStatus::Bounced
                        | MessageStatus::Failed
                        | MessageStatus::Skipped
                        | MessageStatus::Expired
                )
        })
}

/// When the next step's clock starts from this step: when it went out, or when it was decided
/// if it never will (skipped). `None`: not yet known (still queued) or the series ends here
/// (bounced, failed).
fn step_clock(p: &PastDecision) -> Option<i64> {
    match p.outcome {
        Outcome::Skipped => Some(p.decided_at),
        Outcome::Send => {
            let d = p.delivery.as_ref()?;
            match d.status {
                MessageStatus::Bounced | MessageStatus::Failed => None,
                MessageStatus::Skipped | MessageStatus::Expired => Some(p.decided_at),
                _ => d.sent_at,
            }
        }
        _ => None,
    }
}

/// A goal event after the series began, or its offer redeemed: the programme did its work.
fn converted(rule: &Rule, c: &CustomerFacts, steps: &[&PastDecision], began: i64, at: i64) -> bool {
    let goal = rule.goal.as_ref().is_some_and(|g| {
        g.events
            .iter()
            .filter_map(|k| c.kinds.get(k))
            .any(|s| s.last > began)
    });
    goal || steps.iter().any(|p| p.redeemed_at.is_some_and(|r| r <= at))
}

/// The series' occurrence if no new occurrence of the trigger began since. A lapse (inactive,
/// overdue, health below) goes on while the trigger still sees the same lapse — a visit ends
/// it; a momentary trigger's series goes on until step 1 of a newer occurrence is decided.
fn still_running(
    rule: &Rule,
    key: &str,
    first: &PastDecision,
    current: &[Occurrence],
    history: &[PastDecision],
    new_first_steps: &[(String, i64)],
) -> Option<Occurrence> {
    let same = current.iter().find(|o| o.key == key);
    match rule.trigger {
        Trigger::Inactive { .. } | Trigger::Overdue { .. } | Trigger::HealthBelow { .. } => same.cloned(),
        _ => {
            let newer = history
                .iter()
                .filter(|p| p.rule_id == rule.id && p.step == 1 && p.key != key)
                .map(|p| p.decided_at)
                .chain(new_first_steps.iter().filter(|(k, _)| k != key).map(|(_, t)| *t))
                .any(|t| t > first.decided_at);
            if newer {
                return None;
            }
            Some(same.cloned().unwrap_or_else(|| Occurrence {
                key: key.to_string(),
                at: first.decided_at,
                vars: serde_json::Map::new(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_keys_round_trip_and_step_one_keeps_the_occurrence_key() {
        assert_eq!(step_key("2026-10-01T10:00:00Z", 1), "2026-10-01T10:00:00Z");
        assert_eq!(step_key("2026-10-01T10:00:00Z", 3), "2026-10-01T10:00:00Z#step3");
        assert_eq!(series_key(&step_key("ev-9#step2", 2), 2), "ev-9#step2");
        assert_eq!(series_key("ev-9#step2", 1), "ev-9#step2");
    }
}
