//! Event batches take turns writing to a SQLite database. SQLite admits one writer at a time
//! and makes the others wait in its busy handler, which naps for up to 100 ms between looks:
//! at 8 concurrent batches the slowest request took 0.7-0.9 s (BENCHMARKS.md). Queued on a
//! fair lock instead, each batch starts the moment the previous one commits. One lock per
//! database file, so the store decides this, not its callers. The delivery ledger's claims and
//! finishes and an evaluation's wakes take the same turns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::OwnedMutexGuard;

type Turns = Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>;

/// Waits for this database's turn; the turn lasts as long as the guard.
pub(super) async fn take_turn(pool: &sqlx::SqlitePool) -> OwnedMutexGuard<()> {
    static TURNS: OnceLock<Turns> = OnceLock::new();
    let file = pool.connect_options().get_filename().to_path_buf();
    let lock = TURNS
        .get_or_init(Turns::default)
        .lock()
        .expect("never poisoned: nothing panics while it is held")
        .entry(file)
        .or_default()
        .clone();
    lock.lock_owned().await
}
