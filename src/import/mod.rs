//! CSV import of customers and events: stream the file, validate every row, upsert good rows
//! in batched transactions, and report each bad row as `FILE:LINE: reason` without stopping.

mod columns;
mod customers;
mod events;
mod json;
mod loader;
pub mod suppressions;

use std::path::Path;

use csv::StringRecord;
use indicatif::ProgressBar;

pub use customers::{CustomerColumns, KNOWN as CUSTOMER_COLUMNS};
pub use events::{EventColumns, KNOWN as EVENT_COLUMNS, MAX_AMOUNT, parse_instant};
pub use json::{ItemError, customer_from_json, events_from_json};

use crate::store::{BulkLoad, Store, StoreError};
use loader::{Loader, Stored};

/// Rows handed to the store per transaction: large enough to amortise the commit, small enough
/// that a crash loses little work and memory stays flat.
const ROWS_PER_TRANSACTION: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Open { path: String, source: std::io::Error },
    /// The header is unusable, so no row can be read.
    #[error("{path}:1: {message}")]
    Header { path: String, message: String },
    #[error("{path}: reading failed: {source}")]
    Read { path: String, source: csv::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime shut down while a batch was being stored (its transaction did not commit).
    #[error("the import was interrupted: {0}")]
    Interrupted(String),
}

/// A row that was not imported, with the file line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// New rows.
    pub imported: u64,
    /// Existing rows whose content changed.
    pub updated: u64,
    pub rejected: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imported {}, updated {}, rejected {}",
            self.imported, self.updated, self.rejected
        )
    }
}

/// What differs between importing customers and importing events.
trait Table: Sized {
    type Row: Send + 'static;
    /// Maps the header's columns; fails when a required one is missing.
    fn from_header(header: &StringRecord) -> Result<Self, String>;
    /// Validates one record; the error text becomes the rejection reason.
    fn parse(&self, record: &StringRecord) -> Result<Self::Row, String>;
    /// Stores a batch on its own task (the next batch is parsed meanwhile), through the bulk
    /// load when there is one, and hands the rows back for `after_upsert`.
    fn upsert(
        store: Store,
        bulk: Option<BulkLoad>,
        rows: Vec<Self::Row>,
        now: i64,
    ) -> impl Future<Output = Stored<Self::Row>> + Send + 'static;
    /// A bulk load of the whole file, when the store can take one (`store::BulkLoad`).
    async fn begin_bulk(_store: &Store) -> Result<Option<BulkLoad>, StoreError> {
        Ok(None)
    }
    /// Whether `after_upsert` has anything to do for this row (kept until a bulk load commits).
    fn sets_off(&self, _row: &Self::Row) -> bool {
        false
    }
    async fn count(store: &Store) -> Result<i64, StoreError>;
    /// What a stored batch sets off (an event redeeming an offer code); `lines[i]` is row i's
    /// file line. A warning names its line like a rejection, but the row stays imported.
    async fn after_upsert(
        &self,
        _store: &Store,
        _rows: &[Self::Row],
        _lines: &[u64],
        _warn: &mut impl FnMut(&Rejection),
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// `country`: the country whose national phone numbers (`06 30 …`) the file may hold.
pub async fn import_customers(
    store: &Store,
    path: &Path,
    format: FileFormat,
    country: Option<phonenumber::country::Id>,
    progress: &ProgressBar,
    on_reject: impl FnMut(&Rejection),
) -> Result<Summary, ImportError> {
    run::<CustomerColumns>(store, path, format, progress, on_reject, |cols, _| {
        cols.with_country(country)
    })
    .await
}

/// Events carrying an `offer_code` redeem it (`accept_expired`: `[offers] accept_expired`);
/// a code that cannot be redeemed is a warning on its line, and the event is imported.
pub async fn import_events(
    store: &Store,
    path: &Path,
    format: FileFormat,
    accept_expired: bool,
    progress: &ProgressBar,
    on_reject: impl FnMut(&Rejection),
) -> Result<Summary, ImportError> {
    let customers = store.customer_ids().await?;
    run::<EventColumns>(store, path, format, progress, on_reject, |cols, dialect| {
        cols.with_customers(std::sync::Arc::new(customers))
            .with_decimal_comma(dialect.decimal_comma)
            .with_accept_expired(accept_expired)
    })
    .await
}

/// How a file was written: what a Hungarian or Slovak Excel exports differs from the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileFormat {
    /// `None` is UTF-8 (a byte-order mark is accepted).
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

/// What the header line says about the rest: `;` separates the columns of a file whose header
/// has no `,` (the list separator of Hungarian and Slovak Windows), and such a file writes
/// amounts with a decimal comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub decimal_comma: bool,
}

impl Dialect {
    fn of_header(line: &[u8]) -> Dialect {
        let semicolons = !line.contains(&b',') && line.contains(&b';');
        Dialect {
            delimiter: if semicolons { b';' } else { b',' },
            decimal_comma: semicolons,
        }
    }
}

/// Reads a whole encoded record as text; UTF-8 errors name the way out.
fn decode(bytes: &csv::ByteRecord, encoding: &'static encoding_rs::Encoding) -> StringRecord {
    let mut out = StringRecord::with_capacity(bytes.as_slice().len(), bytes.len());
    for field in bytes {
        out.push_field(&encoding.decode_without_bom_handling(field).0);
    }
    out.set_position(bytes.position().cloned());
    out
}

async fn run<T: Table>(
    store: &Store,
    path: &Path,
    format: FileFormat,
    progress: &ProgressBar,
    mut on_reject: impl FnMut(&Rejection),
    prepare: impl FnOnce(T, Dialect) -> T,
) -> Result<Summary, ImportError> {
    use std::io::BufRead;
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ImportError::Open {
        path: name.clone(),
        source,
    })?;
    if let Ok(meta) = file.metadata() {
        progress.set_length(meta.len());
    }
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let first = input.fill_buf().map_err(|source| ImportError::Open {
        path: name.clone(),
        source,
    })?;
    let header_line = first.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let dialect = Dialect::of_header(header_line);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(dialect.delimiter)
        .from_reader(input);
    let header = match format.encoding {
        None => reader.headers().cloned(),
        Some(enc) => reader.byte_headers().map(|h| decode(h, enc)),
    }
    .map_err(|source| ImportError::Read {
        path: name.clone(),
        source,
    })?;
    let table = prepare(
        T::from_header(&header).map_err(|message| ImportError::Header {
            path: name.clone(),
            message,
        })?,
        dialect,
    );

    let now = jiff::Timestamp::now().as_second();
    let before = T::count(store).await?;
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(ROWS_PER_TRANSACTION);
    let mut lines = Vec::with_capacity(ROWS_PER_TRANSACTION);
    let mut loader = Loader::new(&table, store, now).await?;
    let mut record = StringRecord::new();
    let mut bytes = csv::ByteRecord::new();
    loop {
        // UTF-8 files take csv's own decoding (the fast path); others are decoded per field.
        let read = match format.encoding {
            None => reader.read_record(&mut record),
            Some(enc) => reader.read_byte_record(&mut bytes).inspect(|more| {
                if *more {
                    record = decode(&bytes, enc);
                }
            }),
        };
        match read {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                match table.parse(&record) {
                    Ok(row) => {
                        batch.push(row);
                        lines.push(line);
                    }
                    Err(reason) => {
                        summary.rejected += 1;
                        on_reject(&Rejection { line, reason });
                    }
                }
            }
            // A malformed record (wrong field count, bad UTF-8) is one bad row, not a bad file.
            Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                summary.rejected += 1;
                let line = e.position().map_or(0, |p| p.line());
                on_reject(&Rejection {
                    line,
                    reason: describe_csv_error(&e, header.len()),
                });
            }
            Err(source) => return Err(ImportError::Read { path: name, source }),
        }
        if batch.len() >= ROWS_PER_TRANSACTION {
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_TRANSACTION));
            let rows_lines = std::mem::replace(&mut lines, Vec::with_capacity(ROWS_PER_TRANSACTION));
            loader.store(rows, rows_lines, &mut on_reject).await?;
            progress.set_position(reader.position().byte());
        }
    }
    if !batch.is_empty() {
        loader.store(batch, lines, &mut on_reject).await?;
    }
    let affected = loader.finish(&mut on_reject).await?;
    progress.finish_and_clear();
    let inserted = (T::count(store).await? - before).max(0) as u64;
    summary.imported = inserted;
    summary.updated = affected.saturating_sub(inserted);
    Ok(summary)
}

fn describe_csv_error(e: &csv::Error, header_len: usize) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => {
            format!("expected {header_len} fields as in the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => {
            "not valid UTF-8: a file exported by Excel on a Hungarian or Slovak Windows \
            is usually windows-1250 (try --encoding windows-1250, or iso-8859-2)"
                .to_string()
        }
        _ => e.to_string(),
    }
}
