//! Keeps the job queue fed from the ledger, and the instance alive in it: due messages
//! (first attempts, retries whose time has come, messages held for quiet hours) become jobs;
//! messages orphaned by a dead instance go back to the queue.

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::delivery::queue;
use crate::run_once::ORPHAN_AFTER;
use crate::store::{Share, Store};

/// How often the ledger is asked for due messages when nothing was due, and when there is a
/// backlog (the push window must be topped up faster than workers drain it).
const IDLE_POLL: Duration = Duration::from_secs(1);
const BUSY_POLL: Duration = Duration::from_millis(50);
/// Heartbeat, orphan recovery and the queue gauge.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// Finished jobs are deleted this often (apalis's SQLite acknowledgements slow down with them).
const PRUNE: Duration = Duration::from_millis(500);

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
        let mut window = queue::PushWindow::new(&self.instance);
        let mut last_housekeeping = Instant::now() - HOUSEKEEPING;
        let mut last_prune = Instant::now();
        loop {
            if last_housekeeping.elapsed() >= HOUSEKEEPING {
                if let Some(share) = self.housekeeping().await {
                    window.set_share(share);
                }
                last_housekeeping = Instant::now();
            }
            if last_prune.elapsed() >= PRUNE {
                if let Err(e) = queue::prune_finished(&self.store).await {
                    tracing::warn!(error = %e, "pruning finished jobs failed");
                }
                last_prune = Instant::now();
            }
            // With a backlog the window is topped up often; idle, once a second.
            let pause = match window.top_up(&self.store, wall()).await {
                Ok(0) => IDLE_POLL,
                Ok(_) => BUSY_POLL,
                Err(e) => {
                    tracing::warn!(error = %e, "feeding the queue failed; retrying");
                    IDLE_POLL
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Heartbeat, orphan recovery and the queue-depth gauge; returns this instance's share of
    /// the due messages among the live instances. An instance that stops is out of the live
    /// set after `ORPHAN_AFTER`, and the others take its share over.
    async fn housekeeping(&self) -> Option<Share> {
        if let Err(e) = self.store.register_instance(&self.instance, wall()).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        match crate::instance::recover(&self.store, wall() - ORPHAN_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(messages = n, "took back messages of a stopped instance"),
            Err(e) => tracing::warn!(error = %e, "orphan recovery failed"),
        }
        if let Ok(depth) = self.store.queued_messages().await {
            metrics::gauge!(crate::metrics::QUEUE_DEPTH).set(depth as f64);
        }
        if let Some(m) = &self.metrics {
            m.run_upkeep();
        }
        match self.store.live_instances(wall() - ORPHAN_AFTER).await {
            Ok(live) => Some(Share::among(&live, &self.instance)),
            Err(e) => {
                tracing::warn!(error = %e, "reading the live instances failed");
                None
            }
        }
    }
}
