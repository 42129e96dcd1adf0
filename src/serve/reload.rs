//! Rule reloads: on SIGHUP, and when a file under the rules directory changes. The new set is
//! checked first; only a valid set replaces the running one (atomically, through the watch
//! channel), and a broken one is logged with FILE:LINE:COL while the old set keeps running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::rules::RuleSet;

/// What the directory looks like: every file's path, size and modification time. Polling a
/// small directory is cheap and, unlike inotify, also sees changes made through a symlink
/// swap or on a network file system.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

pub fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// Loads and checks the set, logging it or every problem in it (the start-up load and each
/// reload say the same things the same way).
pub fn load_logged(dir: &Path, favourites: &[String], why: &str) -> Result<RuleSet, usize> {
    match RuleSet::load(dir, favourites) {
        Ok(set) => {
            let enabled = set.rules.iter().filter(|r| r.enabled).count();
            tracing::info!(rules = set.rules.len(), enabled, why, "rules loaded");
            metrics::gauge!(crate::metrics::RULES_LOADED).set(set.rules.len() as f64);
            Ok(set)
        }
        Err(problems) => {
            for p in &problems {
                tracing::error!(problem = %p, why, "rule problem");
            }
            Err(problems.len())
        }
    }
}

/// A reload: `Some` only for a valid set; a rejected one leaves the running set in place.
pub fn load_checked(dir: &Path, favourites: &[String], why: &str) -> Option<RuleSet> {
    match load_logged(dir, favourites, why) {
        Ok(set) => {
            metrics::counter!(crate::metrics::RULE_RELOADS, "result" => "ok").increment(1);
            Some(set)
        }
        Err(problems) => {
            tracing::error!(
                problems,
                why,
                "the rules were NOT reloaded: the previous set keeps running"
            );
            metrics::counter!(crate::metrics::RULE_RELOADS, "result" => "rejected").increment(1);
            None
        }
    }
}

/// Watches `dir` until `stop`. `seen` is the directory as it was just before the running set
/// was loaded, so a change made while the service was starting is not missed.
pub async fn run(
    dir: PathBuf,
    favourites: Vec<String>,
    mut seen: Fingerprint,
    poll: Duration,
    rules: watch::Sender<Option<Arc<RuleSet>>>,
    stop: CancellationToken,
) {
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; file changes still reload the rules");
            None
        }
    };
    loop {
        let why = tokio::select! {
            () = stop.cancelled() => return,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
            () = tokio::time::sleep(poll) => {
                let now = fingerprint(&dir);
                if now == seen {
                    continue;
                }
                seen = now;
                "a file changed"
            }
        };
        // An editor may still be writing: let the burst settle before reading.
        if why != "SIGHUP" {
            tokio::time::sleep(Duration::from_millis(300)).await;
            seen = fingerprint(&dir);
        }
        if let Some(set) = load_checked(&dir, &favourites, why) {
            rules.send_replace(Some(Arc::new(set)));
        }
    }
}
