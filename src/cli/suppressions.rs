//! `rekindle import suppressions FILE` and `rekindle export suppressions FILE`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rekindle::store::Store;

use crate::out;

pub async fn import(store: &Store, file: &Path, now: i64) -> anyhow::Result<ExitCode> {
    let name = file.display().to_string();
    let mut rejected = 0;
    let rows = rekindle::import::suppressions::read(file, now, |r| {
        rejected += 1;
        eprintln!("{name}:{}: {}", r.line, r.reason);
    })
    .with_context(|| format!("importing {name}"))?;
    let (listed, unsubscribed) = store.import_suppressions(&rows, now).await?;
    out!(
        "read {} entries: {listed} new to the suppression list, {unsubscribed} current customer(s) unsubscribed, rejected {rejected}",
        rows.len()
    );
    Ok(if rejected > 0 {
        ExitCode::from(super::EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn export(store: &Store, file: &Path) -> anyhow::Result<()> {
    let list = store.suppression_list().await?;
    let name = file.display().to_string();
    if name == "-" {
        rekindle::import::suppressions::write(&list, std::io::stdout().lock())?;
    } else {
        let f = std::fs::File::create(file).with_context(|| format!("writing {name}"))?;
        rekindle::import::suppressions::write(&list, std::io::BufWriter::new(f))
            .with_context(|| format!("writing {name}"))?;
        out!("wrote {} entries to {name}", list.len());
    }
    Ok(())
}
