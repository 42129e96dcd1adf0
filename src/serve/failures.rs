//! The service's log says, every minute in which something failed, how many messages failed
//! and why, per failure class (the same lines `run --once` prints).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often the failures since the last summary are counted.
pub const FAILURE_SUMMARY_EVERY: Duration = Duration::from_secs(60);

pub async fn run(store: Store, stop: CancellationToken) {
    let mut since = jiff::Timestamp::now().as_second();
    loop {
        tokio::select! {
            () = tokio::time::sleep(FAILURE_SUMMARY_EVERY) => {}
            () = stop.cancelled() => return,
        }
        let now = jiff::Timestamp::now().as_second();
        match store.failure_counts(since).await {
            Ok(counts) => {
                for (line, c) in crate::delivery::summary::failure_lines(&counts)
                    .iter()
                    .zip(&counts)
                {
                    tracing::warn!(
                        status = c.status.as_str(),
                        count = c.count,
                        "delivery failures: {line}"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count delivery failures"),
        }
        since = now;
    }
}
