//! Group commit for the delivery ledger. Every attempt claims its message before sending and
//! records how it ended afterwards; with dozens of deliveries in flight, those writes are
//! gathered and each gathering is written by one statement (claims) or one statement
//! (finishes), instead of one statement per message. On SQLite every statement is a hand-off
//! to the connection's worker thread and waits for the single writer, which is what capped
//! delivery (BENCHMARKS.md).
//!
//! Nothing about a single message changes: its claim is still taken only when its job runs,
//! and its job still waits until its finish is written, so a crash leaves the same "maybe
//! sent" window per message as before. Batches form by themselves: while one is being
//! written the next requests queue up, and an idle ledger writes a lone request at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{ClaimedMessage, Finish, Store, StoreError};

/// Most requests written by one statement (the delivery concurrency is usually lower).
const MAX_BATCH: usize = 64;

type Reply<R> = oneshot::Sender<Result<R, Arc<StoreError>>>;

/// A request waiting for its batch, and where its answer goes.
type Queue<T, R> = mpsc::Sender<(T, Reply<R>)>;

/// The writer tasks' handles; dropping it ends them once their queues are empty.
pub struct Ledger {
    /// (message id, now).
    claims: Queue<(i64, i64), Option<ClaimedMessage>>,
    /// (message id, how it ended, when).
    finishes: Queue<(i64, Finish, i64), ()>,
}

impl Ledger {
    /// Starts the two writers (claims and finishes overlap: on PostgreSQL they run on two
    /// connections at once). Must be called inside the tokio runtime.
    pub fn start(store: Store, instance: String) -> Ledger {
        let (claims, rx) = mpsc::channel(4 * MAX_BATCH);
        let claim_store = store.clone();
        tokio::spawn(pump(rx, move |requests| {
            claim_batch(claim_store.clone(), instance.clone(), requests)
        }));
        let (finishes, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(pump(rx, move |done: Vec<(i64, Finish, i64)>| {
            let store = store.clone();
            async move {
                let result = store.finish_messages(&done).await.map_err(Arc::new);
                vec![result; done.len()]
            }
        }));
        Ledger { claims, finishes }
    }

    /// Takes message `id` for sending if it is queued and due at `now`.
    pub async fn claim(&self, id: i64, now: i64) -> Result<Option<ClaimedMessage>, StoreError> {
        submit(&self.claims, (id, now)).await
    }

    /// Records how an attempt at message `id` ended.
    pub async fn finish(&self, id: i64, f: Finish, now: i64) -> Result<(), StoreError> {
        submit(&self.finishes, (id, f, now)).await
    }
}

async fn submit<T, R>(queue: &Queue<T, R>, request: T) -> Result<R, StoreError> {
    // The writers live as long as the `Ledger`; a closed channel means the runtime is going
    // away, which is as final for this attempt as a closed pool.
    let closed = || StoreError::ShuttingDown;
    let (reply, answer) = oneshot::channel();
    queue.send((request, reply)).await.map_err(|_| closed())?;
    answer.await.map_err(|_| closed())?.map_err(StoreError::Batch)
}

/// Takes whatever requests are waiting (at least one, at most `MAX_BATCH`), writes them with
/// `write`, answers each, and repeats until every sender is gone.
async fn pump<T, R, F, Fut>(mut queue: mpsc::Receiver<(T, Reply<R>)>, mut write: F)
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<R, Arc<StoreError>>>>,
{
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (requests, replies): (Vec<T>, Vec<Reply<R>>) = batch.drain(..).unzip();
        for (reply, result) in replies.into_iter().zip(write(requests).await) {
            // The asker may have been cancelled (shutdown); its message stays claimed and
            // orphan recovery returns it to the queue.
            let _ = reply.send(result);
        }
    }
}

/// Claims a batch of (message id, now) requests: one claim per distinct `now` (requests of
/// one batch nearly always share the second). Each request gets its message, or `None` when
/// it was not there to take — including the second of two jobs for the same message.
async fn claim_batch(
    store: Store,
    instance: String,
    requests: Vec<(i64, i64)>,
) -> Vec<Result<Option<ClaimedMessage>, Arc<StoreError>>> {
    let mut nows: Vec<i64> = requests.iter().map(|(_, now)| *now).collect();
    nows.sort_unstable();
    nows.dedup();
    let mut taken: HashMap<i64, ClaimedMessage> = HashMap::new();
    let mut failed: HashMap<i64, Arc<StoreError>> = HashMap::new();
    for now in nows {
        let ids: Vec<i64> = requests.iter().filter(|r| r.1 == now).map(|r| r.0).collect();
        match store.claim_messages(&ids, &instance, now).await {
            Ok(claimed) => taken.extend(claimed.into_iter().map(|m| (m.id, m))),
            Err(e) => {
                failed.insert(now, Arc::new(e));
            }
        }
    }
    requests
        .iter()
        .map(|(id, now)| match failed.get(now) {
            Some(e) => Err(e.clone()),
            None => Ok(taken.remove(id)),
        })
        .collect()
}
