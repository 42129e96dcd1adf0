//! SMS providers. The outbox (default) appends one JSON line per message to a file, so nothing
//! is sent anywhere until operations configure a provider.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use tokio::sync::Mutex;

use super::retry::Failure;
use crate::config::{SmsConfig, SmsProviderKind};

pub struct SmsSender {
    outbox: Mutex<PathBuf>,
}

impl SmsSender {
    pub fn new(cfg: &SmsConfig) -> std::io::Result<SmsSender> {
        match cfg.provider {
            SmsProviderKind::Outbox => {
                std::fs::create_dir_all(&cfg.outbox_dir)?;
                Ok(SmsSender {
                    outbox: Mutex::new(cfg.outbox_dir.join("sms.jsonl")),
                })
            }
        }
    }

    /// Sends one SMS; returns the provider's reference for it.
    pub async fn send(&self, message_id: i64, to: &str, body: &str) -> Result<String, Failure> {
        let reference = format!("outbox-{message_id}");
        let line = json!({"id": reference, "to": to, "body": body});
        // One writer at a time keeps lines whole.
        let path = self.outbox.lock().await;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
            .and_then(|mut f| writeln!(f, "{line}"));
        written.map(|_| reference).map_err(|e| Failure::Transient {
            code: None,
            message: format!("writing the SMS outbox failed: {e}"),
            retry_after: None,
            outcome_unknown: false,
        })
    }
}
