//! `rekindle import customers|events|suppressions FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rekindle::store::Store;

use super::args::ImportCommand;
use crate::out;

pub async fn run(store: &Store, what: ImportCommand) -> anyhow::Result<ExitCode> {
    let summary = match what {
        ImportCommand::Customers { file } => import_file(store, Book::Customers, file).await?,
        ImportCommand::Events { file } => import_file(store, Book::Events, file).await?,
        ImportCommand::Suppressions { file } => {
            return super::suppressions::import(store, &file, super::now()).await;
        }
    };
    out!("{summary}");
    Ok(if summary.rejected > 0 {
        ExitCode::from(super::EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The two CSV files of a book of business.
#[derive(Clone, Copy)]
pub enum Book {
    Customers,
    Events,
}

/// Imports one file with a progress bar, printing each rejected row as `FILE:LINE: reason`.
pub async fn import_file(
    store: &Store,
    what: Book,
    file: PathBuf,
) -> anyhow::Result<rekindle::import::Summary> {
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
            .expect("static template"),
    );
    let name = file.display().to_string();
    let on_reject =
        |r: &rekindle::import::Rejection| progress.suspend(|| eprintln!("{name}:{}: {}", r.line, r.reason));
    let result = match what {
        Book::Customers => rekindle::import::import_customers(store, &file, &progress, on_reject).await,
        Book::Events => rekindle::import::import_events(store, &file, &progress, on_reject).await,
    };
    result.with_context(|| format!("importing {name}"))
}
