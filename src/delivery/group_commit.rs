//! Group commit for the delivery ledger's finishes. Every attempt records how it ended; with
//! dozens of deliveries in flight, those writes are gathered and each gathering is written by
//! one statement instead of one statement per message. On SQLite every statement is a
//! hand-off to the connection's worker thread and waits for the single writer, which is what
//! capped delivery (BENCHMARKS.md). (Claims need no gathering: a queue job claims its whole
//! batch in one statement, `Deliverer::claim`.)
//!
//! Nothing about a single message changes: its job still waits until its finish is written,
//! so a crash leaves the same "maybe sent" window per message as before. Batches form while
//! one is being written, and the writer also waits a moment (`LINGER`) for attempts still in
//! flight, so that a statement carries more than the few finishes that happened to arrive
//! together: on SQLite a drain to a fast server wrote one statement per four messages, and the
//! statements' thread hand-offs and commits were most of the process's CPU (BENCHMARKS.md). It
//! never waits for an attempt that is not in flight: a lone request is written at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Finish, Store, StoreError};

/// Most requests written by one statement (the delivery concurrency is usually lower).
const MAX_BATCH: usize = 64;

/// Longest wait for finishes still to come before writing those already waiting. Short
/// against a send (a message holds its delivery slot meanwhile), long enough to gather the
/// finishes of every connection's next answer.
const LINGER: Duration = Duration::from_millis(2);

type Reply<R> = oneshot::Sender<Result<R, Arc<StoreError>>>;

/// A request waiting for its batch, and where its answer goes.
type Queue<T, R> = mpsc::Sender<(T, Reply<R>)>;

/// The writer task's handle; dropping it ends the task once its queue is empty.
pub struct Ledger {
    /// (message id, how it ended, when).
    finishes: Queue<(i64, Finish, i64), ()>,
    /// Attempts under way whose finish is not written yet (`Ledger::expect`).
    in_flight: Arc<AtomicUsize>,
}

/// An attempt under way: the ledger expects its finish while this lives.
pub struct Expected(Arc<AtomicUsize>);

impl Drop for Expected {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ledger {
    /// Starts the writer. Must be called inside the tokio runtime.
    pub fn start(store: Store) -> Ledger {
        let (finishes, rx) = mpsc::channel(4 * MAX_BATCH);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let expected = in_flight.clone();
        let coming = move || expected.load(Ordering::SeqCst);
        tokio::spawn(pump(rx, coming, LINGER, move |done: Vec<(i64, Finish, i64)>| {
            let store = store.clone();
            async move {
                let result = store.finish_messages(&done).await.map_err(Arc::new);
                vec![result; done.len()]
            }
        }));
        Ledger { finishes, in_flight }
    }

    /// Announces an attempt whose finish will follow; hold it until the finish is written.
    pub fn expect(&self) -> Expected {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Expected(self.in_flight.clone())
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

/// Takes whatever requests are waiting (at least one, at most `MAX_BATCH`), plus those that
/// arrive within `linger` while `coming()` says more are expected, writes them with `write`,
/// answers each, and repeats until every sender is gone.
async fn pump<T, R, F, Fut>(
    mut queue: mpsc::Receiver<(T, Reply<R>)>,
    coming: impl Fn() -> usize,
    linger: Duration,
    mut write: F,
) where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<R, Arc<StoreError>>>>,
{
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let until = tokio::time::Instant::now() + linger;
        while batch.len() < MAX_BATCH.min(coming()) {
            let room = MAX_BATCH - batch.len();
            let more = queue.recv_many(&mut batch, room);
            match tokio::time::timeout_at(until, more).await {
                Ok(n) if n > 0 => {}
                // Closed, or nothing more in time: write what there is.
                _ => break,
            }
        }
        let (requests, replies): (Vec<T>, Vec<Reply<R>>) = batch.drain(..).unzip();
        for (reply, result) in replies.into_iter().zip(write(requests).await) {
            // The asker may have been cancelled (shutdown); its message stays claimed and
            // orphan recovery returns it to the queue.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The batches a pump wrote, in order.
    type Writes = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Runs a pump whose writes are recorded; `coming` is how many attempts are in flight.
    fn recorded(coming: Arc<AtomicUsize>, linger: Duration) -> (Queue<u32, ()>, Writes) {
        let (tx, rx) = mpsc::channel(16);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let log = writes.clone();
        tokio::spawn(pump(
            rx,
            move || coming.load(Ordering::SeqCst),
            linger,
            move |batch: Vec<u32>| {
                let n = batch.len();
                log.lock().unwrap().push(batch);
                async move { vec![Ok(()); n] }
            },
        ));
        (tx, writes)
    }

    #[tokio::test]
    async fn a_finish_waits_for_others_in_flight_and_goes_out_with_them() {
        let in_flight = Arc::new(AtomicUsize::new(2));
        let (queue, writes) = recorded(in_flight, Duration::from_secs(10));
        let first = tokio::spawn({
            let queue = queue.clone();
            async move { submit(&queue, 1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            writes.lock().unwrap().is_empty(),
            "the first waits for the second"
        );
        submit(&queue, 2).await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(*writes.lock().unwrap(), [vec![1, 2]], "one statement for both");
    }

    #[tokio::test]
    async fn a_lone_finish_is_written_at_once() {
        let in_flight = Arc::new(AtomicUsize::new(1));
        let (queue, writes) = recorded(in_flight, Duration::from_secs(10));
        let started = std::time::Instant::now();
        submit(&queue, 7).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no wait for attempts that do not exist"
        );
        assert_eq!(*writes.lock().unwrap(), [vec![7]]);
    }
}
