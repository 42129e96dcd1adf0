//! The decision pipeline for one customer at T: rules by priority, occurrences in time order,
//! through dedup, audience, once/cooldown, channel, frequency cap, holdout and timing.

use super::facts::CustomerFacts;
use super::rule::{Audience, Channel, Message, Rule};
use super::series::due_steps;
use super::trigger::{Occurrence, occurrences};
use crate::domain::{MessageStatus, QuietHours};
use crate::health::HealthConfig;

pub use crate::domain::{Outcome, Reason};

/// A decision already recorded for this customer (from the store).
#[derive(Debug, Clone, PartialEq)]
pub struct PastDecision {
    pub rule_id: String,
    /// As recorded: a follow-up step's key carries its step (`series::step_key`).
    pub key: String,
    pub outcome: Outcome,
    pub decided_at: i64,
    /// 1, or the step of a series.
    pub step: u8,
    /// A send's message, once it exists (series need to know whether and when it went out).
    pub delivery: Option<Delivery>,
    /// When the offer code this decision carries was redeemed.
    pub redeemed_at: Option<i64>,
}

impl PastDecision {
    /// A decision of a single-message rule (or step 1), its message not looked at.
    pub fn new(
        rule_id: impl Into<String>,
        key: impl Into<String>,
        outcome: Outcome,
        decided_at: i64,
    ) -> Self {
        PastDecision {
            rule_id: rule_id.into(),
            key: key.into(),
            outcome,
            decided_at,
            step: 1,
            delivery: None,
            redeemed_at: None,
        }
    }
}

/// Where a send's message stands in the delivery ledger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    pub status: MessageStatus,
    pub sent_at: Option<i64>,
}

/// Limits that hold across all rules.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_messages: u32,
    pub per: i64,
    pub quiet_sms: Option<QuietHours>,
    pub quiet_email: Option<QuietHours>,
}

impl Policy {
    fn quiet(&self, channel: Channel) -> Option<&QuietHours> {
        match channel {
            Channel::Sms => self.quiet_sms.as_ref(),
            Channel::Email => self.quiet_email.as_ref(),
        }
    }
}

/// What happens to one occurrence of one rule for one customer.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Index of the rule in the slice given to [`decide`].
    pub rule: usize,
    /// The occurrence (a series' own, for every step).
    pub occurrence: Occurrence,
    /// 1, or the step of a series being decided.
    pub step: u8,
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub channel: Option<Channel>,
    pub send_at: Option<i64>,
}

/// Decides every match of `rules` (already in priority order, enabled or chosen for a preview)
/// for one customer at `at`.
/// `history` holds the customer's recorded decisions.
pub fn decide(
    rules: &[Rule],
    c: &CustomerFacts,
    history: &[PastDecision],
    at: i64,
    policy: &Policy,
    cfg: &HealthConfig,
) -> Vec<Decision> {
    let mut made: Vec<Decision> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let mut occ = occurrences(&rule.trigger, c, at, cfg);
        occ.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.key.cmp(&b.key)));
        for o in occ {
            // What this rule already decided for this customer, stored or made just now.
            let earlier = history
                .iter()
                .filter(|p| p.rule_id == rule.id)
                .map(|p| (p.key.as_str(), p.outcome, p.decided_at))
                .chain(
                    made.iter()
                        .filter(|d| d.rule == index && d.outcome != Outcome::Deferred)
                        .map(|d| (d.occurrence.key.as_str(), d.outcome, at)),
                )
                .collect::<Vec<_>>();
            if earlier.iter().any(|(key, _, _)| *key == o.key) {
                continue;
            }
            if !audience_matches(&rule.audience, c, cfg) {
                continue;
            }
            let decision = |outcome, reason, channel, send_at| Decision {
                rule: index,
                occurrence: o.clone(),
                step: 1,
                outcome,
                reason,
                channel,
                send_at,
            };
            let contacts = || earlier.iter().filter(|(_, outcome, _)| outcome.is_contact());
            if rule.limits.once && contacts().next().is_some() {
                made.push(decision(Outcome::Suppressed, Some(Reason::Once), None, None));
                continue;
            }
            if let Some(cooldown) = rule.limits.cooldown
                && contacts().any(|(_, _, t)| *t > at - cooldown && *t <= at)
            {
                made.push(decision(Outcome::Suppressed, Some(Reason::Cooldown), None, None));
                continue;
            }
            let held_out =
                rule.holdout_percent > 0 && holdout_bucket(&rule.id, &c.external_id) < rule.holdout_percent;
            let (outcome, reason, channel, send_at) =
                reach(rule.message(), c, held_out, history, &made, at, policy);
            made.push(decision(outcome, reason, channel, send_at));
        }
        // A series' later steps: after this rule's new occurrences, which may end older series.
        let started: Vec<(String, i64)> = made
            .iter()
            .filter(|d| d.rule == index && d.step == 1 && d.outcome != Outcome::Deferred)
            .map(|d| (d.occurrence.key.clone(), at))
            .collect();
        for due in due_steps(rule, c, history, at, cfg, &started) {
            let message = &rule.steps[usize::from(due.step) - 1].message;
            let decision = |outcome, reason, channel, send_at| Decision {
                rule: index,
                occurrence: due.occurrence.clone(),
                step: due.step,
                outcome,
                reason,
                channel,
                send_at,
            };
            // A customer who said no on every channel this step could use has left the series.
            if unsubscribed_everywhere(message, c) {
                continue;
            }
            let (outcome, reason, channel, send_at) = reach(message, c, false, history, &made, at, policy);
            made.push(decision(outcome, reason, channel, send_at));
        }
    }
    made
}

/// The last part of the pipeline, the same for a message, step 1 and every later step: a
/// usable channel (else skipped), room under the frequency cap (else deferred), the hold-out
/// group, then when it goes. As (outcome, reason, channel, send_at).
fn reach(
    message: &Message,
    c: &CustomerFacts,
    held_out: bool,
    history: &[PastDecision],
    made: &[Decision],
    at: i64,
    policy: &Policy,
) -> (Outcome, Option<Reason>, Option<Channel>, Option<i64>) {
    let channel = match choose_channel(message, c) {
        Ok(ch) => ch,
        Err(reason) => return (Outcome::Skipped, Some(reason), None, None),
    };
    if capped(history, made, at, policy) {
        return (Outcome::Deferred, Some(Reason::FrequencyCap), Some(channel), None);
    }
    if held_out {
        return (Outcome::HeldOut, None, Some(channel), None);
    }
    let send_at = schedule(message, channel, c, at, policy);
    (Outcome::Send, None, Some(channel), Some(send_at))
}

/// The frequency cap: as many sends as allowed in the window, recorded or made just now.
fn capped(history: &[PastDecision], made: &[Decision], at: i64, policy: &Policy) -> bool {
    let sends = history
        .iter()
        .filter(|p| p.outcome == Outcome::Send && p.decided_at > at - policy.per && p.decided_at <= at)
        .count()
        + made.iter().filter(|d| d.outcome == Outcome::Send).count();
    sends >= policy.max_messages as usize
}

/// Every channel of the message that could reach the customer is one they unsubscribed from.
fn unsubscribed_everywhere(m: &Message, c: &CustomerFacts) -> bool {
    let state = |ch: Channel| match ch {
        Channel::Email => (c.email.is_some(), c.unsubscribed_email),
        Channel::Sms => (c.phone.is_some(), c.unsubscribed_sms),
    };
    let reachable: Vec<(bool, bool)> = std::iter::once(m.channel)
        .chain(m.fallback)
        .map(state)
        .filter(|(contact, _)| *contact)
        .collect();
    !reachable.is_empty() && reachable.iter().all(|(_, unsubscribed)| *unsubscribed)
}

pub fn audience_matches(a: &Audience, c: &CustomerFacts, cfg: &HealthConfig) -> bool {
    if a.needs_health() {
        let Some(h) = &c.health else { return false };
        let score = i64::from(h.score);
        if a.health_below.is_some_and(|x| score >= x)
            || a.health_at_least.is_some_and(|x| score < x)
            || a.bands.as_ref().is_some_and(|b| !b.contains(&h.band))
        {
            return false;
        }
    }
    if a.min_events.is_some_and(|m| c.activity_count(cfg) < m) {
        return false;
    }
    if a.min_spend.is_some_and(|m| c.spend() < m) {
        return false;
    }
    if !a.tags.iter().all(|t| c.tags.contains(t)) {
        return false;
    }
    a.attributes
        .iter()
        .all(|(k, accepted)| c.attributes.get(k).is_some_and(|v| accepted.contains(v)))
}

/// The primary channel if usable, else the fallback; else why not (the primary's reason).
fn choose_channel(message: &Message, c: &CustomerFacts) -> Result<Channel, Reason> {
    let usable = |ch: Channel| -> Result<Channel, Reason> {
        let (contact, consent, unsubscribed) = match ch {
            Channel::Email => (c.email.is_some(), c.consent_email, c.unsubscribed_email),
            Channel::Sms => (c.phone.is_some(), c.consent_sms, c.unsubscribed_sms),
        };
        if !contact {
            Err(Reason::NoContact)
        } else if unsubscribed {
            Err(Reason::Unsubscribed)
        } else if !consent {
            Err(Reason::NoConsent)
        } else {
            Ok(ch)
        }
    };
    usable(message.channel).or_else(|primary| match message.fallback {
        Some(f) => usable(f).map_err(|_| primary),
        None => Err(primary),
    })
}

/// T, or today's `send_at` in the customer's zone if still ahead; then out of quiet hours.
fn schedule(message: &Message, channel: Channel, c: &CustomerFacts, at: i64, policy: &Policy) -> i64 {
    let mut when = at;
    if let Some((h, m)) = message.send_at
        && let Ok(ts) = jiff::Timestamp::from_second(at)
    {
        let today = ts.to_zoned(c.zone.clone()).date();
        let local = today.at(h, m, 0, 0);
        if let Ok(z) = local.to_zoned(c.zone.clone())
            && z.timestamp().as_second() > at
        {
            when = z.timestamp().as_second();
        }
    }
    match policy.quiet(channel) {
        Some(q) => q.release(when, &c.zone),
        None => when,
    }
}

/// A stable bucket 0–99 for (rule, customer): the same customer stays in the same group on
/// every evaluation and every machine.
pub fn holdout_bucket(rule_id: &str, customer: &str) -> u8 {
    (crate::domain::fnv1a(rule_id.bytes().chain([0]).chain(customer.bytes())) % 100) as u8
}
