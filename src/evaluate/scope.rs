//! The scope of an evaluation: which rules, and the settings that decide for them. Incremental
//! evaluation keeps its state per scope, so a tick of other rules, an edited rule or a changed
//! setting never trusts wakes worked out for something else (it starts with a full pass).

use crate::config::Config;
use crate::rules::Rule;

/// A fingerprint of everything `decide` and `next_wake` read besides the customer and T: each
/// rule's trigger, audience, steps and limits, and the policy, health settings and default zone.
/// A schedule is left out: when a rule runs does not change what it decides.
pub fn fingerprint(rules: &[Rule], cfg: &Config) -> i64 {
    let mut text = format!(
        "{:?}|{:?}|{}",
        super::policy_of(cfg),
        cfg.health,
        cfg.default_timezone.name()
    );
    for r in rules {
        text.push_str(&format!(
            "\n{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            r.id, r.priority, r.holdout_percent, r.trigger, r.audience, r.steps, r.offer, r.limits, r.goal
        ));
    }
    // Stored as a signed 64-bit key; the bits are what matter.
    crate::domain::fnv1a(text.into_bytes()) as i64
}
