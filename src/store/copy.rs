//! `rekindle store copy --to URL`: everything the configured store holds, into another store
//! (SQLite → PostgreSQL is the usual move). Re-importing the CSV files instead — what the guide
//! once said — loses what only the store knows: unsubscribes, bounces, the hashed suppression
//! list, decisions and messages. Rows keep their ids (messages point at decisions, decisions at
//! customers); each table is copied in key order in batches, each batch inserted with
//! `ON CONFLICT DO NOTHING`, so a copy that was interrupted resumes where it stopped.

use sqlx::{QueryBuilder, Row};

use super::{Store, StoreError, on_pool, redact};

/// Rows read and written per statement.
const BATCH: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
    Bool,
}

/// One value of a row, typed as both backends store it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

struct Table {
    name: &'static str,
    /// The primary key, in order: the copy walks it.
    key: &'static [&'static str],
    columns: &'static [(&'static str, Kind)],
    /// PostgreSQL generates the id (`GENERATED ALWAYS AS IDENTITY`): a copy supplies its own.
    identity: bool,
}

use Kind::{Bool, Int, Real, Text};

/// Every table that holds what the business and its customers did and said, parents first.
/// (The job queue is not copied: the ledger is the source of truth, and the new store's
/// service queues what is due. Nor is incremental evaluation's state: the new store's first
/// evaluation of each set of rules is a full one.)
const TABLES: &[Table] = &[
    Table {
        name: "customers",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("external_id", Text),
            ("name", Text),
            ("email", Text),
            ("phone", Text),
            ("birthday", Text),
            ("timezone", Text),
            ("consent_email", Bool),
            ("consent_sms", Bool),
            ("unsubscribed_email_at", Int),
            ("unsubscribed_sms_at", Int),
            ("attributes", Text),
            ("tags", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("email_bounced_at", Int),
            ("erased_at", Int),
            ("erased_email_hash", Text),
            ("erased_phone_hash", Text),
            ("language", Text),
            ("revision", Int),
        ],
        identity: true,
    },
    Table {
        name: "events",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("external_id", Text),
            ("customer_id", Int),
            ("kind", Text),
            ("occurred_at", Int),
            ("amount", Real),
            ("score", Real),
            ("properties", Text),
            ("created_at", Int),
        ],
        identity: true,
    },
    Table {
        name: "health_snapshots",
        key: &["customer_id", "as_of"],
        columns: &[
            ("customer_id", Int),
            ("as_of", Int),
            ("score", Int),
            ("band", Text),
            ("recency", Real),
            ("frequency", Real),
            ("feedback", Real),
            ("cadence_days", Real),
            ("days_since_last", Real),
            ("computed_at", Int),
        ],
        identity: false,
    },
    Table {
        name: "decisions",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("rule_id", Text),
            ("customer_id", Int),
            ("occurrence_key", Text),
            ("decision", Text),
            ("reason", Text),
            ("channel", Text),
            ("send_at", Int),
            ("decided_at", Int),
            ("recorded_at", Int),
            ("subject", Text),
            ("body", Text),
            ("converted_at", Int),
            ("links", Text),
            ("step", Int),
            ("preheader", Text),
            ("button_text", Text),
            ("button_url", Text),
            ("language", Text),
        ],
        identity: true,
    },
    Table {
        name: "offers",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("code", Text),
            ("rule_id", Text),
            ("customer_id", Int),
            ("occurrence_key", Text),
            ("decision_id", Int),
            ("percent", Real),
            ("amount", Real),
            ("currency", Text),
            ("reserved_at", Int),
            ("expires_at", Int),
            ("redeemed_at", Int),
            ("redeemed_event", Text),
            ("redeemed_amount", Real),
        ],
        identity: true,
    },
    Table {
        name: "messages",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("decision_id", Int),
            ("rule_id", Text),
            ("customer_id", Int),
            ("channel", Text),
            ("status", Text),
            ("reason", Text),
            ("attempts", Int),
            ("scheduled_at", Int),
            ("next_attempt_at", Int),
            ("claimed_by", Text),
            ("provider_ref", Text),
            ("last_error_code", Text),
            ("last_error", Text),
            ("outcome_unknown", Bool),
            ("sent_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("delivered_at", Int),
            ("clicked_at", Int),
            ("opened_at", Int),
            ("last_detail", Text),
        ],
        identity: true,
    },
    Table {
        name: "message_events",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("message_id", Int),
            ("status", Text),
            ("at", Int),
            ("detail", Text),
        ],
        identity: true,
    },
    Table {
        name: "suppressions",
        key: &["address_hash", "channel"],
        columns: &[
            ("address_hash", Text),
            ("channel", Text),
            ("created_at", Int),
            ("reason", Text),
        ],
        identity: false,
    },
    Table {
        name: "rule_runs",
        key: &["rule_id", "tick_at"],
        columns: &[
            ("rule_id", Text),
            ("tick_at", Int),
            ("instance", Text),
            ("started_at", Int),
            ("finished_at", Int),
        ],
        identity: false,
    },
];

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target already holds data ({rows} rows in {table}); copy into an empty database, or pass --force to replace what it holds"
    )]
    NotEmpty { table: &'static str, rows: i64 },
    #[error("the source and the target are the same database")]
    SameStore,
    #[error("after the copy {table} has {target} rows in the target but {in_source} in the source")]
    Mismatch {
        table: &'static str,
        in_source: i64,
        target: i64,
    },
    #[error("{table} has columns this version does not know how to copy ({columns}); upgrade rekindle")]
    UnknownColumns { table: &'static str, columns: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Rows per table after a copy, for the summary.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, i64)>,
    pub resumed: bool,
}

impl Store {
    /// Copies everything into `target`. `source_url` labels the copy (redacted) so that an
    /// interrupted copy from the same source resumes; `force` replaces a non-empty target.
    pub async fn copy_into(
        &self,
        target: &Store,
        source_url: &str,
        force: bool,
    ) -> Result<CopyReport, CopyError> {
        let label = redact(source_url);
        for t in TABLES {
            let known: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
            let unknown: Vec<String> = self
                .column_names(t.name)
                .await?
                .into_iter()
                .filter(|c| !known.contains(&c.as_str()))
                .collect();
            if !unknown.is_empty() {
                return Err(CopyError::UnknownColumns {
                    table: t.name,
                    columns: unknown.join(", "),
                });
            }
        }
        let resumed = target.unfinished_copy_from(&label).await?;
        if !resumed {
            let mut busy = None;
            for t in TABLES {
                let rows = target.count_rows(t.name).await?;
                if rows > 0 {
                    busy = Some((t.name, rows));
                    break;
                }
            }
            match busy {
                Some((table, rows)) if !force => return Err(CopyError::NotEmpty { table, rows }),
                Some(_) => target.clear_for_copy().await?,
                None => {}
            }
        }
        target.start_copy(&label).await?;
        let mut report = CopyReport {
            resumed,
            ..CopyReport::default()
        };
        for t in TABLES {
            self.copy_table(target, t).await?;
            let (source, copied) = (self.count_rows(t.name).await?, target.count_rows(t.name).await?);
            if source != copied {
                return Err(CopyError::Mismatch {
                    table: t.name,
                    in_source: source,
                    target: copied,
                });
            }
            report.tables.push((t.name, copied));
        }
        target.finish_copy(&label).await?;
        Ok(report)
    }

    async fn copy_table(&self, target: &Store, t: &Table) -> Result<(), StoreError> {
        let mut after: Option<Vec<Cell>> = None;
        loop {
            let rows = self.read_batch(t, after.as_deref()).await?;
            let Some(last) = rows.last() else { break };
            let key_positions: Vec<usize> = t
                .key
                .iter()
                .map(|k| {
                    t.columns
                        .iter()
                        .position(|c| c.0 == *k)
                        .expect("keys are columns")
                })
                .collect();
            after = Some(key_positions.iter().map(|i| last[*i].clone()).collect());
            target.write_batch(t, &rows).await?;
            if (rows.len() as i64) < BATCH {
                break;
            }
        }
        target.after_copy(t).await
    }

    async fn read_batch(&self, t: &Table, after: Option<&[Cell]>) -> Result<Vec<Vec<Cell>>, StoreError> {
        let columns: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
        let key = t.key.join(", ");
        on_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!("SELECT {} FROM {}", columns.join(", "), t.name));
            if let Some(after) = after {
                q.push(format!(" WHERE ({key}) > ("));
                let mut list = q.separated(", ");
                for cell in after {
                    match cell {
                        Cell::Int(v) => list.push_bind(*v),
                        Cell::Text(v) => list.push_bind(v.clone()),
                        Cell::Real(v) => list.push_bind(*v),
                        Cell::Bool(v) => list.push_bind(*v),
                    };
                }
                q.push(")");
            }
            q.push(format!(" ORDER BY {key} LIMIT {BATCH}"));
            let rows = q.build().fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut cells = Vec::with_capacity(t.columns.len());
                for (i, (_, kind)) in t.columns.iter().enumerate() {
                    cells.push(match kind {
                        Kind::Int => Cell::Int(row.try_get(i)?),
                        Kind::Real => Cell::Real(row.try_get(i)?),
                        Kind::Text => Cell::Text(row.try_get(i)?),
                        Kind::Bool => Cell::Bool(row.try_get(i)?),
                    });
                }
                out.push(cells);
            }
            Ok(out)
        })
    }

    async fn write_batch(&self, t: &Table, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        let columns: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
        let overriding = match self {
            Store::Postgres(_) if t.identity => " OVERRIDING SYSTEM VALUE",
            _ => "",
        };
        on_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!("INSERT INTO {} ({}){overriding} ", t.name, columns.join(", ")));
            q.push_values(rows, |mut b, row| {
                for cell in row {
                    match cell {
                        Cell::Int(v) => b.push_bind(*v),
                        Cell::Text(v) => b.push_bind(v.clone()),
                        Cell::Real(v) => b.push_bind(*v),
                        Cell::Bool(v) => b.push_bind(*v),
                    };
                }
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(pool).await?;
            Ok(())
        })
    }

    /// PostgreSQL's identity sequences continue after the copied ids.
    async fn after_copy(&self, t: &Table) -> Result<(), StoreError> {
        if let Store::Postgres(pool) = self
            && t.identity
        {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST((SELECT max(id) FROM {0}), 1))",
                t.name
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
        }
        Ok(())
    }

    async fn count_rows(&self, table: &'static str) -> Result<i64, StoreError> {
        let sql = format!("SELECT count(*) FROM {table}");
        on_pool!(self, pool => Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?))
    }

    async fn column_names(&self, table: &'static str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let sql = format!("SELECT name FROM pragma_table_info('{table}')");
                Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await?)
            }
            Store::Postgres(pool) => Ok(sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema()",
            )
            .bind(table)
            .fetch_all(pool)
            .await?),
        }
    }

    async fn unfinished_copy_from(&self, label: &str) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT count(*) FROM store_copies WHERE source = $1 AND finished_at IS NULL";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(SQL).bind(label).fetch_one(pool).await?);
        Ok(n > 0)
    }

    async fn start_copy(&self, label: &str) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO store_copies (source, started_at) VALUES ($1, $2) \
            ON CONFLICT (source) DO UPDATE SET finished_at = NULL";
        let now = jiff::Timestamp::now().as_second();
        on_pool!(self, pool => { sqlx::query(SQL).bind(label).bind(now).execute(pool).await?; Ok(()) })
    }

    async fn finish_copy(&self, label: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE store_copies SET finished_at = $2 WHERE source = $1";
        let now = jiff::Timestamp::now().as_second();
        on_pool!(self, pool => { sqlx::query(SQL).bind(label).bind(now).execute(pool).await?; Ok(()) })
    }

    /// `--force`: empties every copied table, children first, in one transaction.
    async fn clear_for_copy(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for t in TABLES.iter().rev() {
                let sql = format!("DELETE FROM {}", t.name);
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
            }
            // Wakes worked out for the customers being replaced must not be trusted for the
            // copied ones (their revisions may well coincide).
            for sql in ["DELETE FROM evaluation_scopes", "DELETE FROM customer_wakes"] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Whether two URLs name the same database (a copy onto itself would find its own rows).
pub fn same_database(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        u.trim()
            .trim_end_matches('/')
            .replace("postgresql://", "postgres://")
    };
    norm(a) == norm(b)
}
