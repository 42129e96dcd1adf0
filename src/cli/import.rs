//! `rekindle import customers|events|suppressions FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rekindle::import::FileFormat;
use rekindle::store::Store;

use super::args::ImportCommand;
use crate::out;

pub async fn run(ctx: &super::Ctx, what: ImportCommand) -> anyhow::Result<ExitCode> {
    let country = ctx.config.import.default_country;
    let summary = match what {
        ImportCommand::Customers { file, encoding } => {
            import_file(&ctx.store, Book::Customers { country }, file, format(encoding)).await?
        }
        ImportCommand::Events { file, encoding } => {
            let accept_expired = ctx.config.offers.accept_expired;
            import_file(
                &ctx.store,
                Book::Events { accept_expired },
                file,
                format(encoding),
            )
            .await?
        }
        ImportCommand::Suppressions { file } => {
            return super::suppressions::import(&ctx.store, &file, super::now()).await;
        }
    };
    out!("{summary}");
    Ok(if summary.rejected > 0 {
        ExitCode::from(super::EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// UTF-8 is read on csv's own fast path; other encodings are decoded field by field.
fn format(encoding: Option<&'static encoding_rs::Encoding>) -> FileFormat {
    FileFormat {
        encoding: encoding.filter(|e| *e != encoding_rs::UTF_8),
    }
}

/// The two CSV files of a book of business.
#[derive(Clone, Copy)]
pub enum Book {
    /// With the country whose national phone numbers the file may hold.
    Customers {
        country: Option<phonenumber::country::Id>,
    },
    /// With `[offers] accept_expired`, for events that redeem a code.
    Events { accept_expired: bool },
}

/// Imports one file with a progress bar, printing each rejected row as `FILE:LINE: reason`.
pub async fn import_file(
    store: &Store,
    what: Book,
    file: PathBuf,
    format: FileFormat,
) -> anyhow::Result<rekindle::import::Summary> {
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
            .expect("static template"),
    );
    let name = file.display().to_string();
    let on_reject =
        |r: &rekindle::import::Rejection| progress.suspend(|| eprintln!("{name}:{}: {}", r.line, r.reason));
    let result = match what {
        Book::Customers { country } => {
            rekindle::import::import_customers(store, &file, format, country, &progress, on_reject).await
        }
        Book::Events { accept_expired } => {
            rekindle::import::import_events(store, &file, format, accept_expired, &progress, on_reject).await
        }
    };
    result.with_context(|| format!("importing {name}"))
}
