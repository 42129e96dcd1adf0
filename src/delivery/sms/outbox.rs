use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use tokio::sync::Mutex;

use super::{Failure, Sms};

/// Appends one JSON line per SMS to `sms.jsonl`.
pub struct Outbox {
    file: Mutex<PathBuf>,
}

impl Outbox {
    pub fn new(dir: &Path) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir)?;
        Ok(Outbox {
            file: Mutex::new(dir.join("sms.jsonl")),
        })
    }

    pub async fn send(&self, sms: &Sms<'_>) -> Result<String, Failure> {
        let reference = format!("outbox-{}", sms.message_id);
        let line = json!({"id": reference, "to": sms.to, "body": sms.body});
        // One writer at a time keeps lines whole.
        let path = self.file.lock().await;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
            .and_then(|mut f| writeln!(f, "{line}"));
        written
            .map(|_| reference)
            .map_err(|e| Failure::transient(format!("writing the SMS outbox failed: {e}"), false))
    }
}
