//! The real `rekindle serve` process in a test workspace: started on a free port (the port it
//! bound is read from its stdout), signalled like systemd would, and killed if a test fails.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Workspace, command_in};

pub struct Service {
    child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Service {
    /// Starts `rekindle serve` and waits until it listens. Its log goes to `serve-N.log`.
    pub fn start(ws: &Workspace, env: &[(&str, &str)]) -> Service {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let log = ws.path(&format!(
            "serve-{}.log",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut cmd = command_in(ws.dir.path(), &["serve"]);
        cmd.envs(env.iter().copied())
            .env("RUST_LOG", "info,sqlx=warn,apalis=warn,apalis_core=warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("start rekindle serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "serve did not start:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Service { child, base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Sends SIGTERM and returns the exit code, failing after `limit`.
    pub fn stop(self, limit: Duration) -> i32 {
        self.signal("TERM");
        self.wait(limit)
    }

    /// `stop`, then everything the process logged until it exited.
    pub fn stop_with_log(self, limit: Duration) -> (i32, String) {
        let log = self.log.clone();
        let code = self.stop(limit);
        (code, std::fs::read_to_string(log).unwrap_or_default())
    }

    /// Waits for the process to exit and returns its code, failing after `limit`.
    pub fn wait(mut self, limit: Duration) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                started.elapsed() < limit,
                "serve did not stop within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A failing test shows what the service said.
        if std::thread::panicking() {
            eprintln!("--- serve log ({})\n{}", self.log.display(), self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// RFC 3339 for an instant `days` before now.
pub fn days_ago(days: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * days))
        .unwrap()
        .to_string()
}
