use std::collections::HashMap;
use std::sync::Arc;

use csv::StringRecord;

use super::columns::{Columns, external_id, non_empty};
use super::{Stored, Table};
use crate::store::{BulkLoad, NewEvent, Store, StoreError};

/// The columns the event import knows (any other becomes a property).
pub const KNOWN: [&str; 6] = ["id", "customer_id", "kind", "occurred_at", "amount", "score"];
// Indexes into KNOWN.
const ID: usize = 0;
const CUSTOMER: usize = 1;
const KIND: usize = 2;
const OCCURRED_AT: usize = 3;
const AMOUNT: usize = 4;
const SCORE: usize = 5;

/// Where each event column sits in this file, and the customers events may refer to.
pub struct EventColumns {
    columns: Columns,
    /// Amounts are written `4,50` (a `;`-separated file from a Hungarian or Slovak Excel).
    decimal_comma: bool,
    /// Shared, so API batches can build one table per distinct set of keys cheaply.
    customers: Arc<HashMap<String, i64>>,
    /// `[offers] accept_expired`, for events that redeem a code.
    accept_expired: bool,
}

impl EventColumns {
    pub(super) fn with_customers(mut self, customers: Arc<HashMap<String, i64>>) -> Self {
        self.customers = customers;
        self
    }

    pub(super) fn with_decimal_comma(mut self, decimal_comma: bool) -> Self {
        self.decimal_comma = decimal_comma;
        self
    }

    pub(super) fn with_accept_expired(mut self, accept_expired: bool) -> Self {
        self.accept_expired = accept_expired;
        self
    }
}

impl Table for EventColumns {
    type Row = NewEvent;

    fn from_header(header: &StringRecord) -> Result<Self, String> {
        let columns = Columns::map(header, &KNOWN, &["id", "customer_id", "kind", "occurred_at"])?;
        Ok(EventColumns {
            columns,
            decimal_comma: false,
            customers: Arc::default(),
            accept_expired: false,
        })
    }

    fn parse(&self, r: &StringRecord) -> Result<NewEvent, String> {
        self.columns.check_cells(r)?;
        let field = |k| self.columns.get(r, k);
        let id = external_id(field(ID), "id")?;
        let customer = external_id(field(CUSTOMER), "customer_id")?;
        let customer_id = *self
            .customers
            .get(customer)
            .ok_or_else(|| format!("customer_id: unknown customer {customer:?}"))?;
        let kind = crate::domain::parse_kind(field(KIND))?;
        let occurred_at = parse_instant(field(OCCURRED_AT))?;
        let amount = non_empty(field(AMOUNT))
            .map(|a| parse_amount(a, self.decimal_comma))
            .transpose()?;
        let score = non_empty(field(SCORE)).map(parse_score).transpose()?;
        Ok(NewEvent {
            external_id: id.to_string(),
            customer_id,
            kind,
            occurred_at,
            amount,
            score,
            properties: self.columns.extras_json(r),
        })
    }

    async fn upsert(store: Store, bulk: Option<BulkLoad>, rows: Vec<NewEvent>, now: i64) -> Stored<NewEvent> {
        let (bulk, result) = match bulk {
            Some(mut load) => {
                let result = load.copy(&rows, now).await;
                (Some(load), result)
            }
            None => (None, store.upsert_events(&rows, now).await),
        };
        Stored { rows, bulk, result }
    }

    async fn begin_bulk(store: &Store) -> Result<Option<BulkLoad>, StoreError> {
        store.begin_event_bulk_load().await
    }

    fn sets_off(&self, row: &NewEvent) -> bool {
        crate::offers::code_of_event(&row.properties).is_some()
    }

    async fn count(store: &Store) -> Result<i64, StoreError> {
        store.count_events().await
    }

    async fn after_upsert(
        &self,
        store: &Store,
        rows: &[NewEvent],
        lines: &[u64],
        warn: &mut impl FnMut(&super::Rejection),
    ) -> Result<(), StoreError> {
        for (i, refusal) in crate::offers::redeem_events(store, rows, self.accept_expired).await? {
            warn(&super::Rejection {
                line: lines[i],
                reason: format!("offer_code: {refusal} (the event is imported)"),
            });
        }
        Ok(())
    }
}

/// RFC 3339 with an explicit offset, stored as UTC seconds (fractions are dropped).
pub fn parse_instant(raw: &str) -> Result<i64, String> {
    if raw.is_empty() {
        return Err("occurred_at: missing".to_string());
    }
    crate::domain::parse_rfc3339(raw).map_err(|_| format!("occurred_at: invalid timestamp {raw:?} (expected RFC 3339 with an offset, e.g. 2026-05-01T10:00:00+02:00)"))
}

/// Amounts are money of one business: bounded well inside what a sum of ten million of them
/// can hold in a double on either backend (PostgreSQL's `sum` raised "value out of range" on
/// two events of 1e308 and stopped every evaluation).
pub const MAX_AMOUNT: f64 = 1e12;

fn parse_amount(raw: &str, decimal_comma: bool) -> Result<f64, String> {
    // `1 234,50` as a Hungarian Excel writes it: spaces (also no-break ones) group thousands.
    let normal: std::borrow::Cow<str> = if decimal_comma {
        raw.chars()
            .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
            .map(|c| if c == ',' { '.' } else { c })
            .collect::<String>()
            .into()
    } else {
        raw.into()
    };
    match normal.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() < MAX_AMOUNT => Ok(x),
        Ok(x) if x.is_finite() => Err(format!(
            "amount: {raw} is out of range (amounts must be between -999999999999 and 999999999999)"
        )),
        _ => Err(format!("amount: invalid number {raw:?}")),
    }
}

fn parse_score(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if (0.0..=10.0).contains(&x) => Ok(x),
        Ok(x) if x.is_finite() => Err(format!("score: {raw} is out of range 0-10")),
        _ => Err(format!("score: invalid number {raw:?}")),
    }
}
