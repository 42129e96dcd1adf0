//! `rekindle generate` (hidden): a seeded book of business for benchmarks and trials.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::out;

pub fn run(customers: usize, seed: u64, until: Option<i64>, out: &Path) -> anyhow::Result<ExitCode> {
    let spec = rekindle::demo::BookSpec {
        seed,
        customers,
        until: until.unwrap_or_else(super::now),
    };
    std::fs::create_dir_all(out)?;
    let file = |name: &str| -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
        let path = out.join(name);
        Ok(std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| path.display().to_string())?,
        ))
    };
    let (c, e) = rekindle::demo::write_book(&spec, file("customers.csv")?, file("events.csv")?)?;
    out!("wrote {c} customers and {e} events to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
