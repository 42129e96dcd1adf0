//! `rekindle demo`: a complete workspace on the embedded defaults — a generated café book of
//! business, a configuration, the SQLite store — that a newcomer can run with nothing installed.

mod book;

use std::path::{Path, PathBuf};

pub use book::{BookSpec, write_book};

/// The demo business: a café in Budapest with a few hundred customers.
pub const DEMO_CUSTOMERS: usize = 400;
pub const DEMO_SEED: u64 = 2026;
pub const DEMO_ZONE: &str = "Europe/Budapest";

pub struct DemoFiles {
    pub config: PathBuf,
    pub customers: PathBuf,
    pub events: PathBuf,
    pub events_written: u64,
}

/// Writes the demo workspace into `dir` (created if needed): `rekindle.toml` and the book of
/// business as CSV under `data/`, a year of history ending at `until`.
pub fn prepare(dir: &Path, until: i64) -> std::io::Result<DemoFiles> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let config = dir.join("rekindle.toml");
    std::fs::write(
        &config,
        format!(
            "# The demo café's settings; see deploy/rekindle.toml.example for every key.\n\
             default_timezone = \"{DEMO_ZONE}\"\n\n[database]\nurl = \"sqlite://rekindle.db\"\n\n\
             # A café's habit is its visits; bookings and purchases happen around them.\n\
             [health]\nactivity_events = [\"visit\"]\n"
        ),
    )?;
    let customers = data.join("customers.csv");
    let events = data.join("events.csv");
    let spec = BookSpec {
        seed: DEMO_SEED,
        customers: DEMO_CUSTOMERS,
        until,
    };
    let (_, events_written) = write_book(
        &spec,
        std::io::BufWriter::new(std::fs::File::create(&customers)?),
        std::io::BufWriter::new(std::fs::File::create(&events)?),
    )?;
    Ok(DemoFiles {
        config,
        customers,
        events,
        events_written,
    })
}
