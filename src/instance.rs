//! Who is delivering: every process that claims messages registers an instance id
//! (`host-pid-random`) and keeps a heartbeat. A claim by an instance that stopped beating is an
//! orphan; on the same host a dead process is recognised at once, so a restart after a crash
//! resumes its messages immediately instead of waiting out the heartbeat timeout.

use crate::store::{Store, StoreError};

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A process-unique name: worker names and job keys must not collide with a previous run's.
pub fn new_id() -> String {
    format!("{}-{}-{:08x}", hostname(), std::process::id(), fastrand::u32(..))
}

/// Whether `id` names a process on this host that no longer exists.
pub fn is_dead_local(id: &str) -> bool {
    let mut parts = id.rsplitn(3, '-');
    let (_random, pid, host) = (parts.next(), parts.next(), parts.next());
    match (pid.and_then(|p| p.parse::<u32>().ok()), host) {
        (Some(pid), Some(host)) if host == hostname() => {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Forgets instances of this host whose process is gone, then returns orphaned messages (of
/// those, or of any instance silent since `stale_before`) to the queue. Returns how many.
pub async fn recover(store: &Store, stale_before: i64) -> Result<u64, StoreError> {
    for id in store.instance_ids().await? {
        if is_dead_local(&id) {
            store.unregister_instance(&id).await?;
        }
    }
    store
        .recover_orphans(stale_before, jiff::Timestamp::now().as_second())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_dead_and_a_gone_one_is() {
        assert!(!is_dead_local(&new_id()), "this process");
        let gone = format!("{}-{}-deadbeef", hostname(), u32::MAX - 1);
        assert!(is_dead_local(&gone));
        assert!(
            !is_dead_local("some-other-host-1-deadbeef"),
            "other hosts wait for the heartbeat"
        );
    }
}
