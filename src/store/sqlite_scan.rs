//! Evaluation's streaming reads on a SQLite file — the customers and their per-(customer, kind)
//! aggregates — stepped through in place on a thread and connection of their own and handed
//! over in batches.
//!
//! Through sqlx each row crosses from its worker thread to the evaluating task with a wake-up
//! (≈ 20 % of a preview's samples were task switches, BENCHMARKS.md), and the aggregates as one
//! `GROUP BY` statement cost 3-4× the floor pass on their own: SQLite formats every recent
//! event as text for `string_agg` (1.24 s of SQL at 100k customers / 2.8M events against a
//! 0.29 s `GROUP BY`, `sqlite3`) and evaluation parses it back. Here each event is a row read
//! in place and folded in Rust, and a batch costs one hand-off.

use std::path::Path;

use futures_util::stream::{self, BoxStream, StreamExt};
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OpenFlags, params_from_iter};
use tokio::sync::mpsc;

use super::evaluation::{KindAggregate, RevisedCustomer};
use super::{CustomerRecord, StoreError};
use crate::rules::facts::RecentEvent;

/// Items per hand-off: large enough that the hand-off is noise, small enough that evaluation
/// starts at once and memory stays flat.
const BATCH: usize = 1024;
/// Batches in flight: a reader runs ahead of evaluation by at most this many.
const BATCHES_AHEAD: usize = 4;

/// Hands a reader's items over in batches; `push` says whether anyone still listens.
struct Batches<T> {
    tx: mpsc::Sender<Result<Vec<T>, StoreError>>,
    batch: Vec<T>,
}

impl<T> Batches<T> {
    #[must_use]
    fn push(&mut self, item: T) -> bool {
        self.batch.push(item);
        if self.batch.len() < BATCH {
            return true;
        }
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(Ok(full)).is_ok()
    }
}

/// Runs `read` on a `query_only` connection to `file` on a thread of its own, streaming what it
/// pushes. The thread stops when the stream is dropped.
fn spawn_reader<T: Send + 'static>(
    file: &Path,
    read: impl FnOnce(&Connection, &mut Batches<T>) -> Result<(), StoreError> + Send + 'static,
) -> BoxStream<'static, Result<T, StoreError>> {
    let (tx, rx) = mpsc::channel::<Result<Vec<T>, StoreError>>(BATCHES_AHEAD);
    let file = file.to_path_buf();
    let failed = tx.clone();
    // A thread, not a blocking task: it lives as long as the read, which may outlast the
    // runtime's patience for blocking tasks at shutdown.
    let started = std::thread::Builder::new()
        .name("rekindle-scan".into())
        .spawn(move || {
            let mut out = Batches {
                tx,
                batch: Vec::with_capacity(BATCH),
            };
            let done = open(&file).and_then(|conn| read(&conn, &mut out));
            match done {
                Ok(()) if !out.batch.is_empty() => {
                    let _ = out.tx.blocking_send(Ok(out.batch));
                }
                Ok(()) => {}
                Err(e) => {
                    let _ = out.tx.blocking_send(Err(e));
                }
            }
        });
    if let Err(e) = started {
        // The channel is empty: the error is what the stream yields.
        let _ = failed.try_send(Err(StoreError::Sql(sqlx::Error::Io(e))));
    }
    drop(failed);
    stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|batch| (batch, rx)) },
    )
    .flat_map(|batch| match batch {
        Ok(items) => stream::iter(items.into_iter().map(Ok)).left_stream(),
        Err(e) => stream::iter([Err(e)]).right_stream(),
    })
    .boxed()
}

fn open(file: &Path) -> Result<Connection, StoreError> {
    // Opened for writing but made unable to: a read-only connection cannot open a WAL
    // database whose `-shm` file is gone, which it is once the pool's last connection closed.
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "query_only", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// `ids` as the `json_each` of a restricted read takes them.
fn only_param(ids: &Option<Vec<i64>>) -> Option<Value> {
    ids.as_ref().map(|ids| Value::Text(super::wakes::json_ids(ids)))
}

/// Every customer not erased (these only, when given) with their revision, ascending id: the
/// statement of `Store::customers_ordered`.
pub(super) fn customers(
    file: &Path,
    sql: String,
    only: Option<Vec<i64>>,
) -> BoxStream<'static, Result<RevisedCustomer, StoreError>> {
    spawn_reader(file, move |conn, out| {
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(only_param(&only)))?;
        while let Some(r) = rows.next()? {
            let customer = RevisedCustomer {
                record: CustomerRecord {
                    id: r.get(0)?,
                    external_id: r.get(1)?,
                    name: r.get(2)?,
                    email: r.get(3)?,
                    phone: r.get(4)?,
                    birthday: r.get(5)?,
                    timezone: r.get(6)?,
                    consent_email: r.get(7)?,
                    consent_sms: r.get(8)?,
                    unsubscribed_email_at: r.get(9)?,
                    unsubscribed_sms_at: r.get(10)?,
                    email_bounced_at: r.get(11)?,
                    attributes: r.get(12)?,
                    tags: r.get(13)?,
                    created_at: r.get(14)?,
                    updated_at: r.get(15)?,
                    language: r.get(16)?,
                },
                revision: r.get(17)?,
            };
            if !out.push(customer) {
                return Ok(()); // the evaluation stopped reading
            }
        }
        Ok(())
    })
}

/// What to read: the same window as the `GROUP BY` statement of `Store::kind_aggregates`.
pub(super) struct Scan {
    pub until: i64,
    pub recent_from: i64,
    pub ids_from: i64,
    pub favourites: Vec<String>,
    pub only: Option<Vec<i64>>,
}

/// Streams the aggregates of `file` in ascending (customer, kind) order.
pub(super) fn kind_aggregates(
    file: &Path,
    scan: Scan,
) -> BoxStream<'static, Result<KindAggregate, StoreError>> {
    spawn_reader(file, move |conn, out| read_aggregates(conn, &scan, out))
}

/// The statement: every event at or before `until` in index order, with its id and favourite
/// values only where the aggregate keeps them (SQLite seeks the table row only for those).
fn statement(scan: &Scan) -> String {
    let values: String = (0..scan.favourites.len())
        .map(|i| {
            format!(
                ", CASE WHEN occurred_at > ?2 THEN CAST(json_extract(properties, '$.' || ?{}) AS TEXT) END",
                i + 4
            )
        })
        .collect();
    let filter = match scan.only {
        Some(_) => format!(
            " AND customer_id IN (SELECT value FROM json_each(?{}))",
            4 + scan.favourites.len()
        ),
        None => String::new(),
    };
    format!(
        "SELECT customer_id, kind, occurred_at, amount, score, \
         CASE WHEN occurred_at > ?2 AND occurred_at > ?3 THEN external_id END{values} \
         FROM events WHERE occurred_at <= ?1{filter} ORDER BY customer_id, kind"
    )
}

fn read_aggregates(
    conn: &Connection,
    scan: &Scan,
    out: &mut Batches<KindAggregate>,
) -> Result<(), StoreError> {
    let mut params = vec![
        Value::Integer(scan.until),
        Value::Integer(scan.recent_from),
        Value::Integer(scan.ids_from),
    ];
    params.extend(scan.favourites.iter().cloned().map(Value::Text));
    params.extend(only_param(&scan.only));
    let mut stmt = conn.prepare(&statement(scan))?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut current: Option<Fold> = None;
    while let Some(row) = rows.next()? {
        let customer_id: i64 = row.get(0)?;
        let kind = row
            .get_ref(1)?
            .as_str()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(e)))?;
        let at: i64 = row.get(2)?;
        let same = current
            .as_ref()
            .is_some_and(|f| f.agg.customer_id == customer_id && f.agg.kind == kind);
        if !same {
            if let Some(done) = current.take()
                && !out.push(done.finish())
            {
                return Ok(()); // the evaluation stopped reading
            }
            current = Some(Fold::new(customer_id, kind.to_string(), at));
        }
        let fold = current.as_mut().expect("set above");
        fold.add(at, row.get(3)?);
        if at > scan.recent_from {
            let mut props = Vec::with_capacity(scan.favourites.len());
            for i in 0..scan.favourites.len() {
                props.push(row.get::<_, Option<String>>(6 + i)?.unwrap_or_default());
            }
            fold.agg.recent.push(RecentEvent {
                at,
                id: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
                score: row.get(4)?,
                props,
            });
        }
    }
    if let Some(done) = current {
        let _ = out.push(done.finish());
    }
    Ok(())
}

/// One (customer, kind) being folded.
struct Fold {
    agg: KindAggregate,
    /// `sum(amount)` as SQLite computes it (Kahan–Babuška–Neumaier since 3.43), so a spend
    /// reads the same here as in the `GROUP BY` statement: the running sum and its error.
    sum: f64,
    error: f64,
}

impl Fold {
    fn new(customer_id: i64, kind: String, at: i64) -> Fold {
        Fold {
            agg: KindAggregate {
                customer_id,
                kind,
                count: 0,
                first: at,
                last: at,
                amount: 0.0,
                recent: Vec::new(),
            },
            sum: 0.0,
            error: 0.0,
        }
    }

    fn add(&mut self, at: i64, amount: Option<f64>) {
        self.agg.count += 1;
        self.agg.first = self.agg.first.min(at);
        self.agg.last = self.agg.last.max(at);
        if let Some(r) = amount {
            let t = self.sum + r;
            self.error += if self.sum.abs() > r.abs() {
                (self.sum - t) + r
            } else {
                (r - t) + self.sum
            };
            self.sum = t;
        }
    }

    fn finish(mut self) -> KindAggregate {
        self.agg.amount = self.sum + self.error;
        // Index order ties on (instant, amount, score, row id); evaluation wants (instant, id),
        // the same stable sort the `GROUP BY` statement's reader applies.
        self.agg
            .recent
            .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        self.agg
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use crate::config::DatabaseConfig;
    use crate::store::{NewCustomer, NewEvent, Store};

    /// A book with what the `GROUP BY` statement's text form has to get right: amounts that
    /// do not add up exactly in binary, missing amounts and scores, events at the same instant,
    /// events after T, favourite values present, missing and numeric.
    async fn book(dir: &std::path::Path) -> Store {
        let store = Store::open(&DatabaseConfig {
            url: format!("sqlite://{}", dir.join("book.db").display()),
            max_connections: 4,
        })
        .await
        .unwrap();
        let customers: Vec<NewCustomer> = (0..30)
            .map(|i| NewCustomer {
                external_id: format!("c{i}"),
                name: None,
                email: None,
                phone: None,
                birthday: None,
                timezone: None,
                consent_email: true,
                consent_sms: false,
                language: None,
                attributes: "{}".into(),
                tags: "[]".into(),
            })
            .collect();
        store.upsert_customers(&customers, 0).await.unwrap();
        let ids = store.customer_ids().await.unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut events = Vec::new();
        for n in 0..2_000 {
            let properties = match rng.u8(0..4) {
                0 => r#"{"item":"flat white"}"#,
                1 => r#"{"item":3}"#,
                2 => r#"{"table":"5"}"#,
                _ => "{}",
            };
            let customer = ids[&format!("c{}", rng.usize(0..30))];
            let kind = ["visit", "purchase", "feedback"][rng.usize(0..3)];
            // Coarse instants: many events share one.
            let occurred_at = i64::from(rng.u16(0..400)) * 3_600;
            let amount = f64::from(rng.u32(0..100_000)) / 100.0 + 0.1;
            let score = f64::from(rng.u8(1..=10)) / 2.0;
            events.push(NewEvent {
                external_id: format!("e{n}"),
                customer_id: customer,
                kind: kind.to_string(),
                occurred_at,
                amount: rng.bool().then_some(amount),
                score: rng.bool().then_some(score),
                properties: properties.to_string(),
            });
        }
        store.upsert_events(&events, 0).await.unwrap();
        store
    }

    #[tokio::test]
    async fn the_scan_reads_what_the_group_by_statement_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = book(dir.path()).await;
        let ids = store.customer_ids_ordered().await.unwrap();
        let some: Vec<i64> = ids.iter().copied().step_by(3).collect();
        let favourites = vec!["item".to_string()];
        // (T, look-back start, ids from, favourites, only these customers)
        type Case<'a> = (i64, i64, i64, &'a [String], Option<&'a [i64]>);
        let cases: [Case; 4] = [
            (300 * 3_600, 100 * 3_600, 250 * 3_600, &[], None),
            (300 * 3_600, 100 * 3_600, 100 * 3_600, &favourites, None),
            (500 * 3_600, 0, 500 * 3_600, &[], Some(&some)),
            (200 * 3_600, 150 * 3_600, 150 * 3_600, &favourites, Some(&some)),
        ];
        for (until, recent_from, ids_from, favourites, only) in cases {
            let scanned: Vec<_> = store
                .kind_aggregates(until, recent_from, ids_from, favourites, only)
                .try_collect()
                .await
                .unwrap();
            let grouped: Vec<_> = store
                .kind_aggregates_grouped(until, recent_from, ids_from, favourites, only)
                .try_collect()
                .await
                .unwrap();
            assert!(scanned.len() > 20, "the book has aggregates to compare");
            assert!(scanned.iter().any(|a| !a.recent.is_empty() && a.amount != 0.0));
            assert_eq!(
                scanned, grouped,
                "T {until}, recent from {recent_from}, only {only:?}"
            );
        }
    }
}
