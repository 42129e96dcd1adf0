//! Stores parsed batches: each on its own task while the next one is parsed (on two cores the
//! database's work and the parsing overlap instead of taking turns), one after another, each
//! followed by what it sets off. Into an empty PostgreSQL events table every batch goes into one
//! bulk load (`store::BulkLoad`), and what the rows set off waits until it has committed.

use tokio::task::JoinHandle;

use super::{ImportError, Rejection, Table};
use crate::store::{BulkLoad, Store, StoreError};

/// What a storing task hands back: the rows (for `after_upsert`), the bulk load it used, and
/// how many rows it inserted or changed.
pub(super) struct Stored<R> {
    pub rows: Vec<R>,
    pub bulk: Option<BulkLoad>,
    pub result: Result<u64, StoreError>,
}

/// A batch being stored, with its rows' file lines.
struct InFlight<R> {
    task: JoinHandle<Stored<R>>,
    lines: Vec<u64>,
}

pub(super) struct Loader<'a, T: Table> {
    table: &'a T,
    store: &'a Store,
    now: i64,
    bulk: Option<BulkLoad>,
    in_flight: Option<InFlight<T::Row>>,
    /// During a bulk load (`Some` from its start): the rows that set something off, with
    /// their lines, held until it commits.
    deferred: Option<(Vec<T::Row>, Vec<u64>)>,
    affected: u64,
}

impl<'a, T: Table> Loader<'a, T> {
    pub async fn new(table: &'a T, store: &'a Store, now: i64) -> Result<Self, ImportError> {
        let bulk = T::begin_bulk(store).await?;
        Ok(Loader {
            table,
            store,
            now,
            deferred: bulk.as_ref().map(|_| (Vec::new(), Vec::new())),
            bulk,
            in_flight: None,
            affected: 0,
        })
    }

    /// Waits for the batch before, then starts storing this one.
    pub async fn store(
        &mut self,
        rows: Vec<T::Row>,
        lines: Vec<u64>,
        on_reject: &mut impl FnMut(&Rejection),
    ) -> Result<(), ImportError> {
        self.wait(on_reject).await?;
        let task = tokio::spawn(T::upsert(self.store.clone(), self.bulk.take(), rows, self.now));
        self.in_flight = Some(InFlight { task, lines });
        // A task spawned from a worker waits in that worker's LIFO slot, which other workers
        // do not steal from, and parsing the next batch does not yield until the batch is
        // full: the batch was stored only after the next one was parsed, and an import used
        // one core of two. Yielding once lets it start now (BENCHMARKS.md, eleventh sitting).
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Stores what is left and commits a bulk load; returns the rows inserted or changed.
    pub async fn finish(mut self, on_reject: &mut impl FnMut(&Rejection)) -> Result<u64, ImportError> {
        self.wait(on_reject).await?;
        if let Some(bulk) = self.bulk.take() {
            bulk.finish().await?;
            let (rows, lines) = self.deferred.take().unwrap_or_default();
            self.table
                .after_upsert(self.store, &rows, &lines, on_reject)
                .await?;
        }
        // The rows are committed: a failure here must not report the import as failed (the
        // next open of the store refreshes the statistics anyway).
        if let Err(e) = self.store.refresh_statistics().await {
            tracing::warn!(error = %e, "refreshing the planner's statistics after the import failed");
        }
        Ok(self.affected)
    }

    async fn wait(&mut self, on_reject: &mut impl FnMut(&Rejection)) -> Result<(), ImportError> {
        let Some(InFlight { task, lines }) = self.in_flight.take() else {
            return Ok(());
        };
        let stored = match task.await {
            Ok(done) => done,
            // A panic in the store is a bug: surface it as it was rather than as a row error.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(ImportError::Interrupted(e.to_string())),
        };
        self.affected += stored.result?;
        self.bulk = stored.bulk;
        if let Some((rows, held_lines)) = self.deferred.as_mut() {
            for (row, line) in stored.rows.into_iter().zip(lines) {
                if self.table.sets_off(&row) {
                    rows.push(row);
                    held_lines.push(line);
                }
            }
        } else {
            self.table
                .after_upsert(self.store, &stored.rows, &lines, on_reject)
                .await?;
        }
        Ok(())
    }
}
