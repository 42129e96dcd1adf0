//! `rekindle run --once`: evaluate every enabled rule at T, deliver every message due at or
//! before T, and return when nothing due is left. Running it twice sends nothing twice: the
//! decisions are unique per occurrence and each message is claimed before it is sent.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::delivery::queue::{self, QueueError, Tally};
use crate::delivery::{Clock, Deliverer, DeliveryError};
use crate::evaluate::{EvalError, Evaluation, Request, evaluate_each};
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// How often a running process proves it is alive; a claim by a process silent for
/// `ORPHAN_AFTER` is taken back.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const ORPHAN_AFTER: i64 = 15;
/// `run --once` stops only when nothing is in flight; the grace is a safety net.
const RUN_ONCE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub evaluation: Evaluation,
    pub messages_created: u64,
    pub recovered: u64,
    pub attempts: Tally,
    /// Messages still queued for later (a future send time or a retry).
    pub waiting: u64,
    /// Decisions newly marked converted.
    pub converted: u64,
}

pub async fn run_once(
    store: &Store,
    cfg: &Config,
    set: &RuleSet,
    at: Option<i64>,
    incremental: bool,
) -> Result<RunSummary, RunError> {
    let clock = at.map_or(Clock::System, Clock::Fixed);
    let t = clock.now();
    let evaluation = evaluate_each(
        store,
        cfg,
        set,
        &Request {
            at: t,
            only: &[],
            record: true,
            samples_per_rule: 0,
            imagined: None,
            customer: None,
            incremental,
        },
        // Recorded: the counts are all the summary needs, and memory stays flat.
        &mut |_| Ok(()),
    )
    .await?;
    let mut summary = RunSummary {
        evaluation,
        ..RunSummary::default()
    };
    let wall = || jiff::Timestamp::now().as_second();
    summary.messages_created = store.materialize_messages(t, None).await?;

    let instance = crate::instance::new_id();
    store.register_instance(&instance, wall()).await?;
    let heartbeat = {
        let store = store.clone();
        let instance = instance.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = store
                    .register_instance(&instance, jiff::Timestamp::now().as_second())
                    .await
                {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
        })
    };
    let result = deliver_due(store, cfg, clock, &instance, &mut summary).await;
    heartbeat.abort();
    store.unregister_instance(&instance).await?;
    result?;
    summary.waiting = store.future_messages(t).await?.len() as u64;
    summary.converted = crate::conversions::mark_all(store, set, t).await?;
    Ok(summary)
}

/// How often a drain tops the push window up: the window holds a few thousand messages, so
/// 50 ms keeps it full at any rate seen here without re-reading the due list needlessly (every
/// 20 ms cost about 5 % more CPU).
const TOP_UP: Duration = Duration::from_millis(50);
/// Finished jobs are pruned every this many top-ups (every 200 ms).
const PRUNE_EVERY: u32 = 4;

async fn deliver_due(
    store: &Store,
    cfg: &Config,
    clock: Clock,
    instance: &str,
    summary: &mut RunSummary,
) -> Result<(), RunError> {
    let t = clock.now();
    summary.recovered =
        crate::instance::recover(store, jiff::Timestamp::now().as_second() - ORPHAN_AFTER).await?;
    if store.count_due(t).await? == 0 {
        return Ok(());
    }
    queue::prune_finished(store).await?;
    let mut window = queue::PushWindow::new(instance);
    window.top_up(store, t).await?;
    let deliverer = Arc::new(Deliverer::new(store.clone(), cfg, instance.to_string(), clock)?);
    let watch = store.clone();
    summary.attempts = queue::run_workers(
        deliverer,
        cfg.delivery.concurrency,
        RUN_ONCE_GRACE,
        move |in_flight| async move {
            // Done when nothing due is left and nothing is being sent.
            let mut ticks = 0u32;
            loop {
                tokio::time::sleep(TOP_UP).await;
                ticks += 1;
                if ticks.is_multiple_of(PRUNE_EVERY)
                    && let Err(e) = queue::prune_finished(&watch).await
                {
                    tracing::warn!(error = %e, "pruning finished jobs failed");
                }
                match window.top_up(&watch, t).await {
                    Ok(0) if in_flight() == 0 => break,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "feeding the queue failed"),
                }
            }
        },
    )
    .await?;
    Ok(())
}
