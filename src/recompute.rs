//! `health recompute`: a snapshot for every customer in one streaming pass. Two set-based
//! queries (customer ids; per-customer aggregates of their events) merged in id order, with
//! batched writes — never a query per customer.

use futures_util::TryStreamExt;

use crate::health::HealthConfig;
use crate::health::{Band, Facts, YEAR_WINDOW};
use crate::store::{HealthInputs, Snapshot, Store, StoreError};

/// Snapshots written per transaction.
const SNAPSHOTS_PER_WRITE: usize = 20_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recomputed {
    pub customers: u64,
    pub healthy: u64,
    pub at_risk: u64,
    pub critical: u64,
}

pub async fn recompute_health(store: &Store, cfg: &HealthConfig, at: i64) -> Result<Recomputed, StoreError> {
    let ids = store.customer_ids_ordered().await?;
    let now = jiff::Timestamp::now().as_second();
    let mut facts = Facts::new(at);
    let mut batch = Vec::with_capacity(SNAPSHOTS_PER_WRITE);
    let mut summary = Recomputed::default();
    let mut inputs = store.health_inputs(at, at - YEAR_WINDOW, cfg.activity_events.as_deref());
    let mut next: Option<HealthInputs> = inputs.try_next().await?;
    for &id in &ids {
        // Aggregates of customers created after `ids` was read have no place here; skip them.
        while next.as_ref().is_some_and(|n| n.customer_id < id) {
            next = inputs.try_next().await?;
        }
        if let Some(n) = next.as_ref().filter(|n| n.customer_id == id) {
            if let Some(t) = n.last_activity {
                facts.observe_last_activity(t);
            }
            for &t in &n.recent_activity {
                facts.observe_activity(t);
            }
            for &(t, score) in &n.feedback {
                facts.observe_feedback(t, score);
            }
        }
        let health = facts.assess(cfg);
        facts.reset();
        summary.customers += 1;
        match health.band {
            Band::Healthy => summary.healthy += 1,
            Band::AtRisk => summary.at_risk += 1,
            Band::Critical => summary.critical += 1,
        }
        batch.push(Snapshot {
            customer_id: id,
            health,
        });
        if batch.len() >= SNAPSHOTS_PER_WRITE {
            store.save_snapshots(at, &batch, now).await?;
            batch.clear();
        }
    }
    drop(inputs);
    store.save_snapshots(at, &batch, now).await?;
    Ok(summary)
}
