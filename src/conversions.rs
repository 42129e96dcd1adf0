//! Conversions: a goal event after a send (or after the decision, for the held-out group)
//! within the rule's goal window, or a redeemed code of the series. One set-based statement per
//! rule.
//!
//! A full pass looks at every unconverted decision: 3 s per goal rule with a million sent
//! messages on PostgreSQL, which a serve tick every few minutes cannot afford. A pass that
//! follows another (`mark_since`) looks only at the customers for whom the answer can have
//! changed since:
//! - whose events were written, or a code of theirs redeemed (whatever the dates): the book's
//!   change mark names them;
//! - with a goal event or a redemption dated into the time that passed: a future-dated booking
//!   becoming due, and every event after a send that went out since (its window opens at the
//!   send, so its events are dated after it).
//!
//! Nobody else can convert: their events and windows are as the last pass saw them. The tests
//! compare both passes over generated books (`tests/it/incremental.rs`).

use crate::rules::RuleSet;
use crate::store::{ChangeMark, Store, StoreError};

/// How far before the last pass's instant activity is looked for again. A message whose send
/// began before that pass may be recorded as sent after it, and another instance's tick
/// records its held-out decisions as of when it began; both are done well within an hour.
const LATE_WRITES: i64 = 3600;

/// What a pass leaves for the next.
#[derive(Debug, Clone)]
pub struct ConversionMark {
    until: i64,
    book: ChangeMark,
    goals: Vec<GoalKey>,
}

/// What a rule converts on: a pass after the rules changed is a full one.
#[derive(Debug, Clone, PartialEq)]
struct GoalKey {
    rule: String,
    kinds: Vec<String>,
    within: Option<i64>,
    offer: bool,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub converted: u64,
    /// The customers looked at; `None` for a full pass (everyone).
    pub customers: Option<usize>,
}

fn goal_keys(set: &RuleSet) -> Vec<GoalKey> {
    set.rules
        .iter()
        .filter(|r| r.goal.is_some() || r.offer.is_some())
        .map(|r| GoalKey {
            rule: r.id.clone(),
            kinds: r.goal.as_ref().map_or_else(Vec::new, |g| g.events.clone()),
            within: r.goal.as_ref().map(|g| g.within),
            offer: r.offer.is_some(),
        })
        .collect()
}

/// Whether a pass at `until` may look only at what changed since `last`.
fn follows(last: &ConversionMark, goals: &[GoalKey], book: &ChangeMark, until: i64) -> bool {
    last.goals == goals && last.book.same_generation(book) && last.until <= until
}

/// Marks conversions for every rule with a `[goal]` or an offer, counting goal events and
/// redemptions up to `until`, among every unconverted decision.
pub async fn mark_all(store: &Store, set: &RuleSet, until: i64) -> Result<u64, StoreError> {
    mark(store, set, until, None).await
}

/// `mark_all`, looking only at the customers whose answer can have changed since the pass
/// that left `last` (a full pass without one, or when the rules changed, a bulk import made
/// every customer a change, or the clock went back). Returns what the pass did and the mark
/// for the next.
pub async fn mark_since(
    store: &Store,
    set: &RuleSet,
    until: i64,
    last: Option<&ConversionMark>,
) -> Result<(Pass, ConversionMark), StoreError> {
    // Read before anything is looked at: whatever is written meanwhile is a change since.
    let book = store.change_mark().await?;
    let goals = goal_keys(set);
    let only = match last {
        // Without goals or offers nothing converts: no search at all.
        _ if goals.is_empty() => Some(Vec::new()),
        Some(last) if follows(last, &goals, &book, until) => {
            let mut kinds: Vec<String> = goals.iter().flat_map(|g| g.kinds.iter().cloned()).collect();
            kinds.sort();
            kinds.dedup();
            let mut ids = store.customers_changed_since(&last.book).await?;
            ids.extend(
                store
                    .customers_active_between(&kinds, last.until - LATE_WRITES, until)
                    .await?,
            );
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        }
        _ => None,
    };
    let converted = mark(store, set, until, only.as_deref()).await?;
    let pass = Pass {
        converted,
        customers: only.as_ref().map(Vec::len),
    };
    Ok((pass, ConversionMark { until, book, goals }))
}

async fn mark(store: &Store, set: &RuleSet, until: i64, only: Option<&[i64]>) -> Result<u64, StoreError> {
    let mut marked = 0;
    for rule in &set.rules {
        if let Some(goal) = &rule.goal {
            marked += store
                .mark_conversions(&rule.id, &goal.events, goal.within, until, only)
                .await?;
        }
        if rule.offer.is_some() {
            marked += store.mark_redemptions(&rule.id, until, only).await?;
        }
    }
    Ok(marked)
}
