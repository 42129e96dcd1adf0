//! Group commit for the delivery ledger's finishes. Every attempt records how it ended; with
//! dozens of deliveries in flight, those writes are gathered and each gathering is written by
//! one statement instead of one statement per message. On SQLite every statement is a
//! hand-off to the connection's worker thread and waits for the single writer, which is what
//! capped delivery (BENCHMARKS.md). (Claims need no gathering: a queue job claims its whole
//! batch in one statement, `Deliverer::claim`.)
//!
//! Nothing about a single message changes: its job still waits until its finish is written,
//! so a crash leaves the same "maybe sent" window per message as before. Batches form by
//! themselves: while one is being written the next requests queue up, and an idle ledger
//! writes a lone request at once.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Finish, Store, StoreError};

/// Most requests written by one statement (the delivery concurrency is usually lower).
const MAX_BATCH: usize = 64;

type Reply<R> = oneshot::Sender<Result<R, Arc<StoreError>>>;

/// A request waiting for its batch, and where its answer goes.
type Queue<T, R> = mpsc::Sender<(T, Reply<R>)>;

/// The writer task's handle; dropping it ends the task once its queue is empty.
pub struct Ledger {
    /// (message id, how it ended, when).
    finishes: Queue<(i64, Finish, i64), ()>,
}

impl Ledger {
    /// Starts the writer. Must be called inside the tokio runtime.
    pub fn start(store: Store) -> Ledger {
        let (finishes, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(pump(rx, move |done: Vec<(i64, Finish, i64)>| {
            let store = store.clone();
            async move {
                let result = store.finish_messages(&done).await.map_err(Arc::new);
                vec![result; done.len()]
            }
        }));
        Ledger { finishes }
    }

    /// Records how an attempt at message `id` ended.
    pub async fn finish(&self, id: i64, f: Finish, now: i64) -> Result<(), StoreError> {
        submit(&self.finishes, (id, f, now)).await
    }
}

async fn submit<T, R>(queue: &Queue<T, R>, request: T) -> Result<R, StoreError> {
    // The writer lives as long as the `Ledger`; a closed channel means the runtime is going
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
