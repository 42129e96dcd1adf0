//! The suppression list as CSV: `channel,address,sha256,reason,since`. `address` is an email
//! address or phone number (in the clear, as another tool exports it), or `sha256` is
//! rekindle's own hash of one (as `rekindle export suppressions` writes it for customers who
//! were erased). A bad line is reported and the rest is read.

use std::io::Write;
use std::path::Path;

use super::{ImportError, Rejection};
use crate::domain::{Email, Phone};
use crate::store::{Suppression, address_hash};

pub const HEADER: [&str; 5] = ["channel", "address", "sha256", "reason", "since"];

/// Reads a suppression file. Every line that cannot be used is passed to `on_reject`.
pub fn read(
    path: &Path,
    now: i64,
    mut on_reject: impl FnMut(&Rejection),
) -> Result<Vec<Suppression>, ImportError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ImportError::Open {
        path: name.clone(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let header = reader
        .headers()
        .map_err(|source| ImportError::Read {
            path: name.clone(),
            source,
        })?
        .clone();
    let position = |column: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(column));
    let (Some(channel_at), address_at, hash_at) =
        (position("channel"), position("address"), position("sha256"))
    else {
        return Err(ImportError::Header {
            path: name,
            message: "missing required column \"channel\"".into(),
        });
    };
    if address_at.is_none() && hash_at.is_none() {
        return Err(ImportError::Header {
            path: name,
            message: "needs an \"address\" or a \"sha256\" column".into(),
        });
    }
    let (reason_at, since_at) = (position("reason"), position("since"));
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                on_reject(&Rejection {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let cell = |at: Option<usize>| at.and_then(|i| record.get(i)).unwrap_or("").trim();
        match parse(
            cell(Some(channel_at)),
            cell(address_at),
            cell(hash_at),
            cell(reason_at),
            cell(since_at),
            now,
        ) {
            Ok(s) => out.push(s),
            Err(reason) => on_reject(&Rejection { line, reason }),
        }
    }
    Ok(out)
}

fn parse(
    channel: &str,
    address: &str,
    hash: &str,
    reason: &str,
    since: &str,
    now: i64,
) -> Result<Suppression, String> {
    let channel = match channel.to_ascii_lowercase().as_str() {
        "email" => "email",
        "sms" => "sms",
        other => return Err(format!("channel: expected email or sms, got {other:?}")),
    };
    let (address, hash) = match (address, hash) {
        ("", "") => return Err("address: give the address (or its sha256)".into()),
        ("", h) => {
            let h = h.to_ascii_lowercase();
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("sha256: expected 64 hexadecimal characters, got {h:?}"));
            }
            (None, h)
        }
        (a, _) => {
            let normalised = if channel == "email" {
                Email::parse(a).map(|e| e.as_str().to_string())
            } else {
                Phone::parse(a).map(|p| p.as_str().to_string())
            }
            .map_err(|e| format!("address: {e}"))?;
            let hash = address_hash(channel, &normalised);
            (Some(normalised), hash)
        }
    };
    let since = match since {
        "" => now,
        s => crate::domain::parse_rfc3339(s).map_err(|e| format!("since: {e}"))?,
    };
    Ok(Suppression {
        channel: channel.to_string(),
        address,
        hash,
        reason: if reason.is_empty() {
            "imported".into()
        } else {
            reason.to_string()
        },
        since,
    })
}

/// Writes the list in the format `read` takes.
pub fn write(list: &[Suppression], out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for s in list {
        let since = crate::domain::fmt_instant(s.since);
        w.write_record([
            s.channel.as_str(),
            s.address.as_deref().unwrap_or(""),
            s.hash.as_str(),
            s.reason.as_str(),
            since.as_str(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_hashed_as_the_store_hashes_them() {
        let s = parse("Email", " Ann@Example.com ", "", "", "", 7).unwrap();
        assert_eq!(s.hash, address_hash("email", "ann@example.com"));
        assert_eq!((s.reason.as_str(), s.since), ("imported", 7));
        let s = parse("sms", "+36 30 123 4567", "", "stop", "2026-01-02T03:04:05Z", 0).unwrap();
        assert_eq!(s.address.as_deref(), Some("+36301234567"));
        assert!(
            parse("fax", "x", "", "", "", 0)
                .unwrap_err()
                .starts_with("channel")
        );
        assert!(
            parse("email", "", "abc", "", "", 0)
                .unwrap_err()
                .starts_with("sha256")
        );
        assert!(
            parse("email", "not an address", "", "", "", 0)
                .unwrap_err()
                .starts_with("address")
        );
    }
}
