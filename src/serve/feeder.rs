//! Keeps the job queue fed from the ledger, and the instance alive in it: due messages
//! (first attempts, retries whose time has come, messages held for quiet hours) become jobs;
//! messages orphaned by a dead instance go back to the queue.

use std::collections::HashMap;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::delivery::queue;
use crate::run_once::ORPHAN_AFTER;
use crate::store::Store;

/// How often the ledger is asked for due messages.
const POLL: Duration = Duration::from_secs(1);
/// Most jobs pushed per poll: the workers cannot drain more in a second anyway.
const PUSH_LIMIT: i64 = 5000;

pub struct Feeder {
    pub store: Store,
    pub instance: String,
    pub metrics: Option<PrometheusHandle>,
}

fn wall() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Feeder {
    pub async fn run(self, stop: CancellationToken) {
        // Message id → attempts already pushed as a job by this instance: a message waits in
        // the queue once per attempt, however often it is seen due.
        let mut pushed: HashMap<i64, i64> = HashMap::new();
        let mut round: u64 = 0;
        loop {
            if round.is_multiple_of(5) {
                self.housekeeping().await;
            }
            round += 1;
            match self.store.due_messages(wall(), PUSH_LIMIT).await {
                Ok(due) => {
                    let fresh: Vec<(i64, i64)> = due
                        .iter()
                        .filter(|(id, attempts)| pushed.get(id) != Some(attempts))
                        .copied()
                        .collect();
                    pushed.retain(|id, _| due.iter().any(|(d, _)| d == id));
                    if !fresh.is_empty() {
                        let jobs: Vec<(i64, i64)> = fresh.clone();
                        match queue::push_attempts(&self.store, &jobs, &self.instance).await {
                            Ok(()) => pushed.extend(fresh),
                            Err(e) => tracing::warn!(error = %e, "pushing delivery jobs failed; retrying"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading due messages failed; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Heartbeat, orphan recovery, pruning finished jobs, the queue-depth gauge.
    async fn housekeeping(&self) {
        if let Err(e) = self.store.register_instance(&self.instance, wall()).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        match crate::instance::recover(&self.store, wall() - ORPHAN_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(messages = n, "took back messages of a stopped instance"),
            Err(e) => tracing::warn!(error = %e, "orphan recovery failed"),
        }
        if let Err(e) = queue::prune_finished(&self.store).await {
            tracing::warn!(error = %e, "pruning finished jobs failed");
        }
        if let Ok(depth) = self.store.queued_messages().await {
            metrics::gauge!(crate::metrics::QUEUE_DEPTH).set(depth as f64);
        }
        if let Some(m) = &self.metrics {
            m.run_upkeep();
        }
    }
}
