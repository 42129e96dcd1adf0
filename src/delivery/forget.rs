//! Erasure reaches the outboxes too: the demo and test transports keep every message as a file
//! on disk, and an erased customer's address and messages must not stay there.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::config::Config;

/// Removes an erased customer's messages from the email and SMS outboxes: every `.eml` file
/// addressed to `email`, and every line of `sms.jsonl` sent to `phone`. Returns how many
/// messages were removed. A missing outbox is nothing to remove.
pub fn forget_in_outboxes(cfg: &Config, email: Option<&str>, phone: Option<&str>) -> std::io::Result<usize> {
    let mut removed = 0;
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        removed += forget_emails(&cfg.email.outbox_dir, email)?;
    }
    if let Some(phone) = phone.filter(|p| !p.is_empty()) {
        removed += forget_sms(&cfg.sms.outbox_dir.join("sms.jsonl"), phone)?;
    }
    Ok(removed)
}

fn forget_emails(dir: &Path, email: &str) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let needle = email.to_lowercase();
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        // Only the header block names the recipient; reading it is enough.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let headers = text.split("\r\n\r\n").next().unwrap_or("");
        let addressed = headers.lines().any(|l| {
            let l = l.to_lowercase();
            l.starts_with("to:") && l.contains(&needle)
        });
        if addressed {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn forget_sms(file: &Path, phone: &str) -> std::io::Result<usize> {
    let reader = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut kept = Vec::new();
    let mut removed = 0;
    for line in reader.lines() {
        let line = line?;
        let to = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("to").and_then(|t| t.as_str()).map(str::to_string));
        if to.as_deref() == Some(phone) {
            removed += 1;
        } else {
            kept.push(line);
        }
    }
    if removed > 0 {
        // Written beside and renamed over, so a crash leaves either the old or the new file.
        let tmp = file.with_extension("jsonl.tmp");
        let mut out = std::fs::File::create(&tmp)?;
        for line in &kept {
            writeln!(out, "{line}")?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, file)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_erased_customers_messages_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.email.outbox_dir = dir.path().join("email");
        cfg.sms.outbox_dir = dir.path().join("sms");
        std::fs::create_dir_all(&cfg.email.outbox_dir).unwrap();
        std::fs::create_dir_all(&cfg.sms.outbox_dir).unwrap();
        let eml = |name: &str, to: &str| {
            std::fs::write(
                cfg.email.outbox_dir.join(name),
                format!("From: cafe@example.com\r\nTo: {to}\r\nSubject: hi\r\n\r\nbody mentions ann@example.com\r\n"),
            )
            .unwrap()
        };
        eml("a.eml", "ann@example.com");
        eml("b.eml", "bob@example.com");
        std::fs::write(
            cfg.sms.outbox_dir.join("sms.jsonl"),
            "{\"id\":\"outbox-1\",\"to\":\"+36301234567\",\"body\":\"x\"}\n{\"id\":\"outbox-2\",\"to\":\"+36309999999\",\"body\":\"y\"}\n",
        )
        .unwrap();
        let n = forget_in_outboxes(&cfg, Some("Ann@Example.com"), Some("+36301234567")).unwrap();
        assert_eq!(n, 2);
        assert!(!cfg.email.outbox_dir.join("a.eml").exists());
        assert!(
            cfg.email.outbox_dir.join("b.eml").exists(),
            "another customer's mail stays"
        );
        let sms = std::fs::read_to_string(cfg.sms.outbox_dir.join("sms.jsonl")).unwrap();
        assert!(
            !sms.contains("+36301234567") && sms.contains("+36309999999"),
            "{sms}"
        );
    }
}
