//! Conversions: a goal event after a send (or after the decision, for the held-out group)
//! within the rule's goal window. One set-based statement per rule with a goal.

use crate::report::{self, RuleReport};
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// Marks conversions for every rule with a `[goal]`, counting goal events up to `until`.
pub async fn mark_conversions(store: &Store, set: &RuleSet, until: i64) -> Result<u64, StoreError> {
    let mut marked = 0;
    for rule in &set.rules {
        if let Some(goal) = &rule.goal {
            marked += store
                .mark_conversions(&rule.id, &goal.events, goal.within, until)
                .await?;
        }
    }
    Ok(marked)
}

/// The report per rule for decisions since `since` (Unix seconds); `only` limits it to one rule.
/// Conversions are brought up to date first.
pub async fn rule_reports(
    store: &Store,
    set: &RuleSet,
    since: i64,
    until: i64,
    only: Option<&str>,
) -> Result<Vec<RuleReport>, StoreError> {
    mark_conversions(store, set, until).await?;
    let decisions = store.decision_breakdown(since).await?;
    let messages = store.message_breakdown(since).await?;
    let groups = store.conversion_groups(since).await?;
    // Rules in the set first (their order), then any retired rule that still has history.
    let mut rules: Vec<String> = set.rules.iter().map(|r| r.id.clone()).collect();
    for d in &decisions {
        if !rules.contains(&d.rule_id) {
            rules.push(d.rule_id.clone());
        }
    }
    if let Some(id) = only {
        rules.retain(|r| r == id);
    }
    Ok(report::build(&rules, &decisions, &messages, &groups))
}
