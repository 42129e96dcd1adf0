//! The apalis job queue on the store's own database (apalis-sqlite or apalis-postgres). A job
//! carries a batch of message ids and nothing else; the ledger decides what each attempt does.
//!
//! Why batches: apalis's fetch, lock and acknowledgement cost the same for a job whatever it
//! carries, and one job per message made that bookkeeping most of a delivery's cost
//! (BENCHMARKS.md). A job claims its whole batch in one statement (claiming each message just
//! before its send cost one ledger write per few messages), then sends them `concurrency` at
//! a time. The crash story stays the ledger's: a message is sent only by the process that
//! claimed it, so a process killed in the middle of a batch can only duplicate the messages
//! it was sending at that moment. The batch's other messages — claimed, never started — go
//! back to the queue when the next start recovers the dead process's claims; a clean stop
//! gives them back itself, uncounted (`release_unstarted`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};

use super::{Attempted, Claimed, Deliverer, Turn};
use crate::store::{Share, Store, StoreError};

/// The queue's name in apalis's tables.
pub const QUEUE: &str = "rekindle-deliveries";

/// A failure of the job queue, with apalis's or sqlx's error kept as its source.
#[derive(Debug, thiserror::Error)]
#[error("job queue: {0}")]
pub struct QueueError(#[source] BoxDynError);

fn queue_err(e: impl Into<BoxDynError>) -> QueueError {
    QueueError(e.into())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// The messages of this batch, oldest first.
    #[serde(default)]
    pub message_ids: Vec<i64>,
    /// A one-message job pushed by a version before batches, still in the queue after an
    /// upgrade: it is honoured, not dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
}

impl DeliveryJob {
    fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.message_id
            .into_iter()
            .chain(self.message_ids.iter().copied())
    }
}

/// Most messages one job carries. Large enough that apalis's per-job work is spread thin,
/// small enough that a backlog still spreads over several jobs (and instances) at once.
pub const BATCH: usize = 64;

/// Counts of how attempts ended in one drain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub retry: u64,
    pub failed: u64,
    pub bounced: u64,
    pub skipped: u64,
    pub expired: u64,
    pub not_claimed: u64,
}

impl Tally {
    fn add(&mut self, a: Attempted) {
        match a {
            Attempted::Sent => self.sent += 1,
            Attempted::Retry => self.retry += 1,
            Attempted::Failed => self.failed += 1,
            Attempted::Bounced => self.bounced += 1,
            Attempted::Skipped => self.skipped += 1,
            Attempted::Expired => self.expired += 1,
            Attempted::NotClaimed => self.not_claimed += 1,
        }
    }
}

/// Keeps a bounded number of jobs waiting in the queue, topped up from the ledger's due
/// messages, oldest first. Pushing every due message at once made each of apalis's SQLite
/// acknowledgements scan (and re-parse the JSON of) every waiting row: delivery slowed down
/// with the size of the backlog. A window of a few hundred keeps the table small whatever the
/// backlog, and the ledger stays the only list of what is due.
pub struct PushWindow {
    /// Message id → attempts it was pushed for, still due and not yet claimed.
    pushed: HashMap<i64, i64>,
    limit: usize,
    nonce: String,
    share: Share,
}

/// Messages waiting in jobs per process: several batches, so workers never starve between
/// top-ups.
pub const WINDOW: usize = 32 * BATCH;

impl PushWindow {
    pub fn new(nonce: &str) -> PushWindow {
        PushWindow {
            pushed: HashMap::new(),
            limit: WINDOW,
            nonce: nonce.to_string(),
            share: Share::ALL,
        }
    }

    /// Feeds only this share of the due messages from now on (several instances).
    pub fn set_share(&mut self, share: Share) {
        if share != self.share {
            tracing::info!(
                of = share.of,
                index = share.index,
                "feeding a share of the due messages"
            );
            self.share = share;
        }
    }

    /// Pushes jobs for due messages until `limit` are waiting; returns how many were due at
    /// all (up to the window and a batch), so the caller can poll faster while there is a
    /// backlog. The oldest due messages are the ones waiting in jobs already, so reading the
    /// window's worth finds the fresh ones; one pushed beyond it is pushed again at worst (the
    /// ledger's claim makes that harmless).
    pub async fn top_up(&mut self, store: &Store, now: i64) -> Result<usize, QueueError> {
        let due = store
            .due_messages(now, (self.limit + BATCH) as i64, self.share)
            .await
            .map_err(queue_err)?;
        let still: HashMap<i64, i64> = due.iter().copied().collect();
        // A job whose message was claimed, finished or rescheduled no longer waits.
        self.pushed.retain(|id, attempts| still.get(id) == Some(attempts));
        let room = self.limit.saturating_sub(self.pushed.len());
        let fresh: Vec<(i64, i64)> = due
            .iter()
            .filter(|(id, _)| !self.pushed.contains_key(id))
            .take(room)
            .copied()
            .collect();
        if !fresh.is_empty() {
            push_attempts(store, &fresh, &self.nonce).await?;
            self.pushed.extend(fresh);
        }
        Ok(due.len())
    }
}

/// Pushes jobs of up to `BATCH` (message, attempts so far) each: a message is due again after
/// each retry, and each attempt goes out in a job of its own. A job's key names its first
/// message and attempt, which no other job of this process can share (a message is pushed
/// again only once it has left the window, that is once its attempts changed). `nonce` (the
/// process's instance id) makes the keys unique to this process, so a job left behind by a
/// killed process can never block the new one; the ledger's claim makes the duplicate
/// harmless.
pub async fn push_attempts(store: &Store, due: &[(i64, i64)], nonce: &str) -> Result<(), QueueError> {
    let tasks: Vec<_> = batches(due)
        .map(|batch| {
            let (first, attempts) = batch[0];
            let ids = batch.iter().map(|(id, _)| *id).collect();
            task(ids, format!("m{first}-a{attempts}-{nonce}"), Duration::ZERO)
        })
        .collect();
    push_tasks(store, tasks).await
}

/// The due messages cut into jobs, in order.
fn batches(due: &[(i64, i64)]) -> impl Iterator<Item = &[(i64, i64)]> {
    due.chunks(BATCH)
}

fn task(message_ids: Vec<i64>, key: String, delay: Duration) -> Task<DeliveryJob> {
    TaskBuilder::new(DeliveryJob {
        message_ids,
        message_id: None,
    })
    .idempotency_key(key)
    .max_attempts(5)
    .run_after(delay)
    .build()
}

async fn push_tasks(store: &Store, tasks: Vec<Task<DeliveryJob>>) -> Result<(), QueueError> {
    match store {
        Store::Sqlite(pool) => {
            let mut s: SqliteStorage<DeliveryJob> =
                SqliteStorage::new(pool).with_config(apalis_sqlite::Config::default().queue(QUEUE));
            s.push_all(&mut futures_util::stream::iter(tasks))
                .await
                .map_err(queue_err)
        }
        Store::Postgres(pool) => {
            let mut s: PostgresStorage<DeliveryJob> =
                PostgresStorage::new(pool).with_config(apalis_postgres::Config::default().queue(QUEUE));
            s.push_all(&mut futures_util::stream::iter(tasks))
                .await
                .map_err(queue_err)
        }
    }
}

/// Jobs fetched per poll. apalis's default of 10 capped delivery at about 100 messages a
/// second (BENCHMARKS.md); a job is tiny, so fetch more at once.
const FETCH_BATCH: usize = 100;

/// How often an idle worker asks the queue for jobs.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// apalis's worker heartbeat. Its default of 30 s also bounded how long a worker that missed
/// its first wake-up stayed parked: a service started on SQLite sometimes sent its first
/// message half a minute late (seen in the test suite). A heartbeat is one small write.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The named queue on each storage (apalis would otherwise name it after the type).
fn sqlite_storage(pool: &sqlx::SqlitePool) -> SqliteStorage<DeliveryJob> {
    SqliteStorage::new(pool).with_config(
        apalis_sqlite::Config::default()
            .queue(QUEUE)
            .batch_size(FETCH_BATCH)
            .heartbeat_interval(HEARTBEAT),
    )
}

fn postgres_storage(pool: &sqlx::PgPool) -> PostgresStorage<DeliveryJob> {
    PostgresStorage::new(pool).with_config(
        apalis_postgres::Config::default()
            .queue(QUEUE)
            .batch_size(FETCH_BATCH)
            .heartbeat_interval(HEARTBEAT),
    )
}

/// Deletes this queue's finished jobs from apalis's SQLite table. apalis keeps every done job,
/// and its acknowledgement query re-reads its JSON argument for each row of `Jobs`, so delivery
/// slowed down as the table grew (profiled: JSON parsing took half the CPU after 16k jobs). The
/// ledger keeps the history that matters; a finished job row is not needed. (apalis's own
/// `Vacuum` also runs `VACUUM`, which would rewrite the whole shared database file.)
pub async fn prune_finished(store: &Store) -> Result<u64, QueueError> {
    store.prune_finished_jobs(QUEUE).await.map_err(queue_err)
}

/// Most messages a process holds claimed at once, started or not: two batches, so the next
/// batch is claimed and waiting while the last messages of one are being sent. It bounds what
/// a crash leaves claimed; each such message that had not started goes back to the queue on
/// the next start with one attempt counted (deploy/README.md says so).
const CLAIM_AHEAD: usize = 2 * BATCH;

struct WorkerState {
    deliverer: Arc<Deliverer>,
    tally: std::sync::Mutex<Tally>,
    /// Messages claimed and not yet finished, plus those of jobs about to claim: what a
    /// caller waiting for the queue to drain must wait for.
    busy: AtomicUsize,
    /// Deliveries in flight across every job at once: the configured concurrency, whatever
    /// the number of jobs (batches) being worked on.
    slots: Arc<tokio::sync::Semaphore>,
    /// Claims not yet finished, bounded by `CLAIM_AHEAD`.
    claims: tokio::sync::Semaphore,
    /// Claimed by this process and not started: given back on a stop.
    held: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// Set when the stop signal came: no message not yet started is started (it goes back
    /// to the queue), while those in flight finish within the grace period.
    stopping: AtomicBool,
}

/// Gives back what a finished (or abandoned) piece of work held: its `busy` count and its
/// claim permits.
struct Holding {
    state: Arc<WorkerState>,
    messages: usize,
}

impl Holding {
    /// Lets go of `n` of the messages held.
    fn release(&mut self, n: usize) {
        let n = n.min(self.messages);
        self.messages -= n;
        self.state.busy.fetch_sub(n, Ordering::SeqCst);
        self.state.claims.add_permits(n);
    }

    /// Hands one of the messages held to a holding of its own.
    fn take_one(&mut self) -> Holding {
        debug_assert!(self.messages > 0);
        self.messages -= 1;
        Holding {
            state: self.state.clone(),
            messages: 1,
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.release(self.messages);
    }
}

/// One job: its batch is claimed in one statement, then its messages are sent as delivery
/// slots come free, oldest first. (A job is at most `BATCH` messages, within `CLAIM_AHEAD`; a
/// longer one would be worked through in parts rather than have its tail skipped.)
///
/// The job's work is a task of its own: apalis polls every job of a worker inside one task, so
/// the sends of all jobs would otherwise share one thread — composing messages and answering
/// the SMTP server one after another while the other core idled (BENCHMARKS.md). Within the
/// job its messages still start in order. The task ends with the job: when apalis drops a job
/// at the end of a stop's grace period, its sends are cut off as before, and the stop returns
/// them to the queue (`release_claims`) with no attempt still running to overwrite that.
async fn handle(job: DeliveryJob, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    let state: Arc<WorkerState> = (*state).clone();
    let work = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        let ids: Vec<i64> = job.ids().collect();
        for part in ids.chunks(CLAIM_AHEAD) {
            claim_and_send(&state, part).await?;
        }
        Ok(())
    }));
    match work.await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Box::new(e)),
    }
}

async fn claim_and_send(state: &Arc<WorkerState>, ids: &[i64]) -> Result<(), BoxDynError> {
    let n = ids.len();
    // Counted busy before the claim, so that a drain never looks finished between the
    // claim's commit (the messages are no longer due) and their start.
    state.busy.fetch_add(n, Ordering::SeqCst);
    let mut holding = Holding {
        state: state.clone(),
        messages: n,
    };
    let permits = state
        .claims
        .acquire_many(n as u32)
        .await
        .map_err(|e| Box::new(e) as BoxDynError)?;
    // `Holding` gives the permits back, message by message.
    permits.forget();
    if state.stopping.load(Ordering::SeqCst) {
        return Ok(());
    }
    let claimed = state.deliverer.claim(ids).await?;
    holding.release(n - claimed.len());
    state.tally.lock().expect("tally lock").not_claimed += (n - claimed.len()) as u64;
    state
        .held
        .lock()
        .expect("held lock")
        .extend(claimed.iter().map(|c| c.message.id));
    // Each message is a task of its own, so that composing one email and answering the SMTP
    // server for another run on both cores; in one task (or a `join_all`) every send of a
    // batch took turns on one thread (BENCHMARKS.md). Each is spawned once a delivery slot is
    // free and takes its channel's slot in its `Turn`, so they still start in order; the set
    // aborts them all when the job is dropped.
    let mut attempts = tokio::task::JoinSet::new();
    let turns = Turn::line(claimed.len());
    for (c, turn) in claimed.into_iter().zip(turns) {
        let slot = state
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let one = holding.take_one();
        let state = state.clone();
        attempts.spawn(async move {
            let result = deliver_one(&state, c, turn).await;
            drop((slot, one));
            result
        });
    }
    // A store error leaves its message claimed; apalis retries the job (the rest of the batch
    // is then not claimed again), and the orphan recovery returns the message to the queue if
    // this process dies.
    let mut failed = None;
    while let Some(done) = attempts.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(Box::new(e)),
        }
    }
    match failed {
        None => Ok(()),
        Some(e) => Err(Box::new(e)),
    }
}

/// One claimed message of a batch, its delivery slot taken; after a stop it stays in `held`,
/// to be given back.
async fn deliver_one(state: &WorkerState, claimed: Claimed, turn: Turn) -> Result<(), StoreError> {
    if state.stopping.load(Ordering::SeqCst) {
        return Ok(());
    }
    let id = claimed.message.id;
    state.held.lock().expect("held lock").remove(&id);
    match state.deliverer.attempt(claimed, turn).await {
        Ok(a) => {
            state.tally.lock().expect("tally lock").add(a);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(message = id, error = %e, "delivery attempt could not be recorded");
            Err(e)
        }
    }
}

/// Runs `concurrency` deliveries at a time until `stop` resolves, then lets in-flight ones
/// finish for at most `grace`. `stop` is given how many messages are claimed and not finished
/// (or about to be claimed) right now.
pub async fn run_workers<F, Fut>(
    deliverer: Arc<Deliverer>,
    concurrency: usize,
    grace: Duration,
    stop: F,
) -> Result<Tally, QueueError>
where
    F: FnOnce(Arc<dyn Fn() -> usize + Send + Sync>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let state = Arc::new(WorkerState {
        deliverer: deliverer.clone(),
        tally: std::sync::Mutex::new(Tally::default()),
        busy: AtomicUsize::new(0),
        slots: Arc::new(tokio::sync::Semaphore::new(concurrency)),
        claims: tokio::sync::Semaphore::new(CLAIM_AHEAD),
        held: Default::default(),
        stopping: AtomicBool::new(false),
    });
    let watched = state.clone();
    let in_flight: Arc<dyn Fn() -> usize + Send + Sync> =
        Arc::new(move || watched.busy.load(Ordering::SeqCst));
    let stop = stop(in_flight);
    let stopping = state.clone();
    let signal = async move {
        stop.await;
        stopping.stopping.store(true, Ordering::SeqCst);
        Ok(())
    };
    let name = deliverer.instance.clone();
    let monitor = Monitor::new().shutdown_timeout(grace);
    // The same worker on either storage; a macro because the two storages share no trait
    // object that apalis's builder accepts.
    macro_rules! run_on {
        ($storage:expr) => {{
            let storage = $storage;
            let st = state.clone();
            monitor
                .register(move |i| {
                    WorkerBuilder::new(format!("{name}-{i}"))
                        // apalis parks an idle worker until its next heartbeat (30 s) unless a
                        // push goes through the same storage handle; the service's feeder
                        // pushes through its own, so the worker looks on its own every 250 ms.
                        .backend(storage.clone().poll_with_interval(IDLE_POLL))
                        .data(st.clone())
                        .concurrency(concurrency)
                        .build(handle)
                })
                .run_with_signal(signal)
                .await
        }};
    }
    let run = match &deliverer.store {
        Store::Sqlite(pool) => run_on!(sqlite_storage(pool)),
        Store::Postgres(pool) => run_on!(postgres_storage(pool)),
    };
    // Whatever was claimed and never started goes back as it was, before any error is
    // reported: the stop must not cost those messages an attempt.
    let held: Vec<i64> = state.held.lock().expect("held lock").drain().collect();
    if !held.is_empty() {
        let n = deliverer.release_unstarted(&held).await.map_err(queue_err)?;
        tracing::info!(
            messages = n,
            "claimed messages not started before the stop go back to the queue"
        );
    }
    run.map_err(queue_err)?;
    let tally = *state.tally.lock().expect("tally lock");
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_pushed_before_batches_still_names_its_message() {
        let old: DeliveryJob = serde_json::from_str(r#"{"message_id":42}"#).unwrap();
        assert_eq!(old.ids().collect::<Vec<_>>(), [42]);
        let new: DeliveryJob = serde_json::from_str(r#"{"message_ids":[7,8,9]}"#).unwrap();
        assert_eq!(new.ids().collect::<Vec<_>>(), [7, 8, 9]);
        let written = serde_json::to_string(&new).unwrap();
        assert_eq!(written, r#"{"message_ids":[7,8,9]}"#);
    }

    #[test]
    fn due_messages_go_out_in_batches_in_order() {
        let due: Vec<(i64, i64)> = (1..=150).map(|id| (id, 0)).collect();
        let cut: Vec<&[(i64, i64)]> = batches(&due).collect();
        assert_eq!(
            cut.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [BATCH, BATCH, 150 - 2 * BATCH]
        );
        assert_eq!(cut.concat(), due, "every message once, oldest first");
    }
}
