//! `health recompute`: a snapshot for every customer in one streaming pass. Three set-based
//! queries (customer ids, latest activity per customer, the last year's events grouped by
//! customer) merged in id order, with batched writes — never a query per customer.

use futures_util::TryStreamExt;

use crate::config::HealthConfig;
use crate::health::{Band, Facts, YEAR_WINDOW};
use crate::store::{Snapshot, Store, StoreError};

/// Snapshots written per transaction.
const SNAPSHOTS_PER_WRITE: usize = 20_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recomputed {
    pub customers: u64,
    pub healthy: u64,
    pub at_risk: u64,
    pub critical: u64,
}

pub async fn recompute_health(
    store: &Store,
    cfg: &HealthConfig,
    at: i64,
) -> Result<Recomputed, StoreError> {
    let ids = store.customer_ids_ordered().await?;
    let last: std::collections::HashMap<i64, i64> = store
        .last_activity(at, cfg.activity_events.as_deref())
        .await?
        .into_iter()
        .collect();
    let now = jiff::Timestamp::now().as_second();
    let mut pass = Pass {
        cfg,
        last: &last,
        facts: Facts::new(at),
        batch: Vec::with_capacity(SNAPSHOTS_PER_WRITE),
        summary: Recomputed::default(),
    };
    let mut next = 0; // index into ids of the next customer without a snapshot
    let mut events = store.events_in_window(at - YEAR_WINDOW, at);
    let mut current: Option<i64> = None;
    while let Some(e) = events.try_next().await? {
        if current != Some(e.customer_id) {
            if let Some(done) = current {
                pass.finish(done);
            }
            // Customers between the previous one and this one have no events this year.
            while next < ids.len() && ids[next] < e.customer_id {
                pass.finish(ids[next]);
                next += 1;
            }
            if next < ids.len() && ids[next] == e.customer_id {
                next += 1;
            }
            current = Some(e.customer_id);
        }
        pass.facts.observe(cfg, &e.kind, e.occurred_at, e.score);
        if pass.batch.len() >= SNAPSHOTS_PER_WRITE {
            store.save_snapshots(at, &pass.batch, now).await?;
            pass.batch.clear();
        }
    }
    drop(events);
    if let Some(done) = current {
        pass.finish(done);
    }
    for &id in &ids[next..] {
        pass.finish(id);
    }
    store.save_snapshots(at, &pass.batch, now).await?;
    Ok(pass.summary)
}

struct Pass<'a> {
    cfg: &'a HealthConfig,
    last: &'a std::collections::HashMap<i64, i64>,
    facts: Facts,
    batch: Vec<Snapshot>,
    summary: Recomputed,
}

impl Pass<'_> {
    /// Scores the customer whose events `facts` holds, queues the snapshot, and resets.
    fn finish(&mut self, customer_id: i64) {
        if let Some(&t) = self.last.get(&customer_id) {
            self.facts.observe_last_activity(t);
        }
        let health = self.facts.assess(self.cfg);
        self.facts.reset();
        self.summary.customers += 1;
        match health.band {
            Band::Healthy => self.summary.healthy += 1,
            Band::AtRisk => self.summary.at_risk += 1,
            Band::Critical => self.summary.critical += 1,
        }
        self.batch.push(Snapshot {
            customer_id,
            health,
        });
    }
}
