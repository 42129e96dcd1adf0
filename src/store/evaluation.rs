//! The streams rule evaluation merges by customer id, and the table it records decisions in.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use std::collections::HashMap;

use sqlx::{FromRow, QueryBuilder};

use super::wakes::{json_ids, only_clause};
use super::{CustomerRecord, ROWS_PER_STATEMENT, Store, StoreError, on_pool};

/// Runs a `query_as` on the store's pool, binding the ids of a restricted read (`only`) as its
/// one parameter: a JSON array on SQLite, an array on PostgreSQL.
macro_rules! bind_only {
    ($store:expr, $query:expr, $only:expr) => {
        match ($store, $only) {
            (Store::Sqlite(pool), only) => {
                let q = $query;
                let q = match only {
                    Some(ids) => q.bind(json_ids(ids)),
                    None => q,
                };
                Box::pin(q.fetch(pool).map_err(StoreError::from))
            }
            (Store::Postgres(pool), only) => {
                let q = $query;
                let q = match only {
                    Some(ids) => q.bind(ids.to_vec()),
                    None => q,
                };
                Box::pin(q.fetch(pool).map_err(StoreError::from))
            }
        }
    };
}
use crate::rules::facts::RecentEvent;

/// Separates recent events inside one aggregate cell; external ids never contain control
/// characters (the import refuses them).
const RECORD_SEPARATOR: &str = "\u{1e}";
/// Separates an event's id from its favourite property values, and those from each other.
const VALUE_SEPARATOR: &str = "\u{1f}";

/// One customer's events of one kind at or before T.
#[derive(Debug, Clone, PartialEq)]
pub struct KindAggregate {
    pub customer_id: i64,
    pub kind: String,
    pub count: i64,
    pub first: i64,
    pub last: i64,
    pub amount: f64,
    /// Events after the look-back start, ordered by (time, id).
    pub recent: Vec<RecentEvent>,
}

#[derive(FromRow)]
struct RawKindAggregate {
    customer_id: i64,
    kind: String,
    n: i64,
    first: i64,
    last: i64,
    amount: f64,
    recent: Option<String>,
}

/// A customer as evaluation reads them, with the revision their wake is kept against.
#[derive(Debug, Clone, FromRow)]
pub struct RevisedCustomer {
    #[sqlx(flatten)]
    pub record: CustomerRecord,
    pub revision: i64,
}

/// A recorded decision as the pipeline needs it.
#[derive(Debug, Clone, FromRow)]
pub struct DecisionRow {
    pub customer_id: i64,
    pub rule_id: String,
    pub occurrence_key: String,
    /// An unknown decision in the store is an error, never a row silently left out.
    #[sqlx(try_from = "String")]
    pub decision: crate::domain::Outcome,
    pub decided_at: i64,
    pub step: i64,
    /// A send's message status and sent time, for series (else NULL).
    pub message_status: Option<String>,
    pub sent_at: Option<i64>,
    /// The offer this decision carries, if any.
    pub offer_code: Option<String>,
    pub offer_expires_at: Option<i64>,
    pub offer_redeemed_at: Option<i64>,
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub rule_id: String,
    pub customer_id: i64,
    pub occurrence_key: String,
    pub decision: crate::domain::Outcome,
    pub reason: Option<crate::domain::Reason>,
    pub channel: Option<crate::domain::Channel>,
    pub send_at: Option<i64>,
    pub decided_at: i64,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// JSON array of the body's tracked URLs (the button's last).
    pub links: Option<String>,
    /// Email: the inbox's preheader, the button's text and URL.
    pub preheader: Option<String>,
    pub button_text: Option<String>,
    pub button_url: Option<String>,
    /// The language the text is written in.
    pub language: Option<String>,
    /// 1, or the step of a series.
    pub step: u8,
    /// The offer code this send carries, if its rule has an `[offer]`.
    pub offer: Option<NewOffer>,
}

/// The offer code a recorded send carries.
#[derive(Debug, Clone, PartialEq)]
pub enum NewOffer {
    /// The series' first code: generated when the decision is recorded, and put in the text
    /// where `placeholder` stands.
    Fresh {
        placeholder: String,
        prefix: String,
        /// The series' occurrence key.
        series: String,
        percent: Option<f64>,
        amount: Option<f64>,
        currency: Option<String>,
        expires_at: i64,
    },
    /// The series' code, whose earlier message never went out: this send carries it now.
    Carry { code: String },
}

/// How many times fresh codes are drawn again when one is taken.
const CODE_ATTEMPTS: usize = 5;

impl Store {
    /// Every customer not erased (these only, when given) with their revision, ascending id.
    pub fn customers_ordered(
        &self,
        only: Option<&[i64]>,
    ) -> BoxStream<'_, Result<RevisedCustomer, StoreError>> {
        let filter = only.map_or(String::new(), |_| only_clause(self, "id", 1));
        let sql = format!(
            "SELECT id, external_id, name, email, phone, birthday, timezone, consent_email, \
             consent_sms, unsubscribed_email_at, unsubscribed_sms_at, email_bounced_at, attributes, tags, \
             created_at, updated_at, language, revision FROM customers WHERE erased_at IS NULL{filter} ORDER BY id"
        );
        if let Store::Sqlite(pool) = self
            && let Some(file) = super::sqlite_file(pool)
        {
            return super::sqlite_scan::customers(&file, sql, only.map(<[i64]>::to_vec));
        }
        bind_only!(self, sqlx::query_as(sqlx::AssertSqlSafe(sql)), only)
    }

    /// Per (customer, kind): count, first, last and summed amount of events at or before
    /// `until`, with the individual events after `recent_from` (their external ids only after
    /// `ids_from`); ascending customer id. With `favourites`, each recent event carries those
    /// properties' values (for `history.*`), in the same streaming pass.
    pub fn kind_aggregates(
        &self,
        until: i64,
        recent_from: i64,
        ids_from: i64,
        favourites: &[String],
        only: Option<&[i64]>,
    ) -> BoxStream<'_, Result<KindAggregate, StoreError>> {
        if let Store::Sqlite(pool) = self
            && let Some(file) = super::sqlite_file(pool)
        {
            let scan = super::sqlite_scan::Scan {
                until,
                recent_from,
                ids_from,
                favourites: favourites.to_vec(),
                only: only.map(<[i64]>::to_vec),
            };
            return super::sqlite_scan::kind_aggregates(&file, scan);
        }
        self.kind_aggregates_grouped(until, recent_from, ids_from, favourites, only)
    }

    /// The same aggregates as one `GROUP BY` statement: on PostgreSQL, and on a SQLite database
    /// in memory, which no second connection can see.
    pub(super) fn kind_aggregates_grouped(
        &self,
        until: i64,
        recent_from: i64,
        ids_from: i64,
        favourites: &[String],
        only: Option<&[i64]>,
    ) -> BoxStream<'_, Result<KindAggregate, StoreError>> {
        // Property names are checked by the configuration ([a-z0-9_]) and bound anyway. A value
        // loses any separator character it holds, so it cannot split its own record.
        let values: String = (0..favourites.len())
            .map(|i| {
                let p = i + 6;
                match self {
                    Store::Sqlite(_) => format!(
                        " || $4 || COALESCE(replace(replace(CAST(json_extract(properties, '$.' || ${p}) AS TEXT), $3, ''), $4, ''), '')"
                    ),
                    Store::Postgres(_) => format!(
                        " || $4 || COALESCE(replace(replace(CAST(properties AS jsonb) ->> ${p}, $3, ''), $4, ''), '')"
                    ),
                }
            })
            .collect();
        let filter = only.map_or(String::new(), |_| {
            only_clause(self, "customer_id", 6 + favourites.len())
        });
        // Most recent events are a bare instant: health, cadence and milestones need no more.
        // An event with a score, or inside the ids' window, is `instant:score:id`. Building
        // the long form for every event took half of the statement's time, and reading an id
        // visits the table, which the (customer, kind, time, amount, score) index spares the
        // rest.
        let sql = format!(
            "SELECT customer_id, kind, count(*) AS n, min(occurred_at) AS first, \
             max(occurred_at) AS last, COALESCE(sum(amount), 0.0) AS amount, \
             string_agg(CASE WHEN occurred_at > $2 THEN \
                 CASE WHEN score IS NULL AND occurred_at <= $5 THEN CAST(occurred_at AS TEXT) \
                 ELSE CAST(occurred_at AS TEXT) || ':' || COALESCE(CAST(score AS TEXT), '') || ':' || \
                     CASE WHEN occurred_at > $5 THEN external_id{values} ELSE '' END END \
             END, $3) AS recent \
             FROM events WHERE occurred_at <= $1{filter} GROUP BY customer_id, kind ORDER BY customer_id, kind"
        );
        let favourites = favourites.to_vec();
        let with_values = !favourites.is_empty();
        // The same statement on either pool; only the ids of a restricted read bind differently.
        macro_rules! run {
            ($pool:expr, $ids:expr) => {{
                let mut q = sqlx::query_as::<_, RawKindAggregate>(sqlx::AssertSqlSafe(sql))
                    .bind(until)
                    .bind(recent_from)
                    .bind(RECORD_SEPARATOR)
                    .bind(VALUE_SEPARATOR)
                    .bind(ids_from);
                for p in favourites {
                    q = q.bind(p);
                }
                if let Some(ids) = $ids {
                    q = q.bind(ids);
                }
                Box::pin(
                    q.fetch($pool)
                        .map_err(StoreError::from)
                        .and_then(move |raw| async move { raw.parse(with_values) }),
                )
            }};
        }
        match self {
            Store::Sqlite(pool) => run!(pool, only.map(json_ids)),
            Store::Postgres(pool) => run!(pool, only.map(<[i64]>::to_vec)),
        }
    }

    /// Every recorded decision, ascending customer id. With `series`, each carries its
    /// message's delivery and its offer (what follow-up steps depend on); without, those are
    /// NULL and the two joins are not paid for.
    pub fn decision_history(
        &self,
        series: bool,
        only: Option<&[i64]>,
    ) -> BoxStream<'_, Result<DecisionRow, StoreError>> {
        const PLAIN: &str = "SELECT customer_id, rule_id, occurrence_key, decision, decided_at, step, \
            CAST(NULL AS TEXT) AS message_status, CAST(NULL AS BIGINT) AS sent_at, CAST(NULL AS TEXT) AS offer_code, \
            CAST(NULL AS BIGINT) AS offer_expires_at, CAST(NULL AS BIGINT) AS offer_redeemed_at \
            FROM decisions d WHERE true";
        const SERIES: &str = "SELECT d.customer_id, d.rule_id, d.occurrence_key, d.decision, d.decided_at, d.step, \
            m.status AS message_status, m.sent_at, o.code AS offer_code, o.expires_at AS offer_expires_at, \
            o.redeemed_at AS offer_redeemed_at \
            FROM decisions d LEFT JOIN messages m ON m.decision_id = d.id LEFT JOIN offers o ON o.decision_id = d.id \
            WHERE true";
        let filter = only.map_or(String::new(), |_| only_clause(self, "d.customer_id", 1));
        let sql = format!(
            "{}{filter} ORDER BY d.customer_id",
            if series { SERIES } else { PLAIN }
        );
        bind_only!(self, sqlx::query_as(sqlx::AssertSqlSafe(sql)), only)
    }

    /// Records decisions; one already recorded for the same (rule, customer, occurrence) is
    /// kept and the new one dropped, so concurrent or repeated evaluations record it once.
    /// Offers are written with their decisions, in the same transaction. Returns how many
    /// decisions were new.
    pub async fn record_decisions(&self, rows: &[NewDecision], now: i64) -> Result<u64, StoreError> {
        if rows.iter().all(|r| r.offer.is_none()) {
            return self.insert_decisions(rows, now, &[]).await;
        }
        for _ in 0..CODE_ATTEMPTS {
            let codes: Vec<Option<String>> = rows
                .iter()
                .map(|r| match &r.offer {
                    Some(NewOffer::Fresh { prefix, .. }) => Some(crate::domain::offer_code::generate(prefix)),
                    _ => None,
                })
                .collect();
            match self.insert_decisions(rows, now, &codes).await {
                Err(StoreError::CodesExhausted) => continue,
                done => return done,
            }
        }
        Err(StoreError::CodesExhausted)
    }

    /// One attempt: `codes[i]` is row i's fresh code (empty: no offers in this batch). A code
    /// already taken rolls everything back (`CodesExhausted`) for a new draw.
    async fn insert_decisions(
        &self,
        rows: &[NewDecision],
        now: i64,
        codes: &[Option<String>],
    ) -> Result<u64, StoreError> {
        let text = |i: usize, t: &Option<String>| -> Option<String> {
            match (codes.get(i), &rows[i].offer) {
                (Some(Some(code)), Some(NewOffer::Fresh { placeholder, .. })) => {
                    t.as_ref().map(|t| t.replace(placeholder.as_str(), code))
                }
                _ => t.clone(),
            }
        };
        let with_offers = !codes.is_empty();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            // The ids of the decisions this call inserted, by key: offers point at them.
            let mut new_ids: HashMap<(String, i64, String), i64> = HashMap::new();
            for (chunk_no, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
                let base = chunk_no * ROWS_PER_STATEMENT;
                let mut q = QueryBuilder::new(
                    "INSERT INTO decisions (rule_id, customer_id, occurrence_key, decision, reason, channel, \
                     send_at, decided_at, recorded_at, subject, body, links, step, preheader, button_text, \
                     button_url, language) ",
                );
                q.push_values(chunk.iter().enumerate(), |mut b, (i, d)| {
                    b.push_bind(d.rule_id.as_str())
                        .push_bind(d.customer_id)
                        .push_bind(d.occurrence_key.as_str())
                        .push_bind(d.decision.as_str())
                        .push_bind(d.reason.map(|r| r.as_str()))
                        .push_bind(d.channel.map(|c| c.as_str()))
                        .push_bind(d.send_at)
                        .push_bind(d.decided_at)
                        .push_bind(now)
                        .push_bind(text(base + i, &d.subject))
                        .push_bind(text(base + i, &d.body))
                        .push_bind(text(base + i, &d.links))
                        .push_bind(i64::from(d.step))
                        .push_bind(text(base + i, &d.preheader))
                        .push_bind(d.button_text.as_deref())
                        .push_bind(text(base + i, &d.button_url))
                        .push_bind(d.language.as_deref());
                });
                q.push(" ON CONFLICT (rule_id, customer_id, occurrence_key) DO NOTHING");
                if with_offers {
                    q.push(" RETURNING id, rule_id, customer_id, occurrence_key");
                    let keys: Vec<(i64, String, i64, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    inserted += keys.len() as u64;
                    new_ids.extend(keys.into_iter().map(|(id, r, c, k)| ((r, c, k), id)));
                } else {
                    inserted += q.build().execute(&mut *tx).await?.rows_affected();
                }
            }
            // Offers set-based too: one statement per chunk, not one per offer (a tick that
            // recorded 560 offers spent 0.44 s on them one by one, BENCHMARKS.md).
            let mut fresh = Vec::new();
            let mut carried = Vec::new();
            for (i, d) in rows.iter().enumerate() {
                let Some(&decision_id) = new_ids.get(&(d.rule_id.clone(), d.customer_id, d.occurrence_key.clone())) else {
                    continue;
                };
                match (&d.offer, codes.get(i)) {
                    (Some(NewOffer::Fresh { series, percent, amount, currency, expires_at, .. }), Some(Some(code))) => {
                        fresh.push((d, decision_id, code.as_str(), series.as_str(), *percent, *amount, currency.as_deref(), *expires_at));
                    }
                    (Some(NewOffer::Carry { code }), _) => carried.push((code.as_str(), decision_id)),
                    _ => {}
                }
            }
            for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO offers (code, rule_id, customer_id, occurrence_key, decision_id, percent, amount, \
                     currency, reserved_at, expires_at) ",
                );
                q.push_values(chunk, |mut b, (d, decision_id, code, series, percent, amount, currency, expires_at)| {
                    b.push_bind(*code)
                        .push_bind(d.rule_id.as_str())
                        .push_bind(d.customer_id)
                        .push_bind(*series)
                        .push_bind(*decision_id)
                        .push_bind(*percent)
                        .push_bind(*amount)
                        .push_bind(*currency)
                        .push_bind(now)
                        .push_bind(*expires_at);
                });
                q.push(" ON CONFLICT DO NOTHING");
                let n = q.build().execute(&mut *tx).await?.rows_affected();
                if n < chunk.len() as u64 {
                    // Our decisions are new, so their series had no code: a code is taken.
                    return Err(StoreError::CodesExhausted);
                }
            }
            for (code, decision_id) in carried {
                sqlx::query("UPDATE offers SET decision_id = $1 WHERE code = $2")
                    .bind(decision_id)
                    .bind(code)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// Recorded decisions per (rule, decision, reason), for summaries and tests.
    pub async fn decision_counts(&self) -> Result<Vec<(String, String, Option<String>, i64)>, StoreError> {
        const SQL: &str = "SELECT rule_id, decision, reason, count(*) FROM decisions \
            GROUP BY rule_id, decision, reason ORDER BY rule_id, decision, reason";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).fetch_all(pool).await?))
    }
}

impl RawKindAggregate {
    /// `with_values`: each item ends with the favourite values after the id.
    fn parse(self, with_values: bool) -> Result<KindAggregate, StoreError> {
        let bad = || StoreError::Sql(sqlx::Error::Decode("malformed recent-events aggregate".into()));
        let mut recent = Vec::new();
        for item in self
            .recent
            .as_deref()
            .unwrap_or("")
            .split(RECORD_SEPARATOR)
            .filter(|s| !s.is_empty())
        {
            let mut parts = item.splitn(3, ':');
            let (at, score, rest) = match (parts.next(), parts.next(), parts.next()) {
                (Some(at), Some(score), Some(rest)) => (at, score, rest),
                // The short form: an instant alone, no score, no id asked for.
                (Some(at), None, None) => (at, "", ""),
                _ => return Err(bad()),
            };
            let (id, props) = if with_values {
                let mut fields = rest.split(VALUE_SEPARATOR);
                let id = fields.next().unwrap_or("");
                (id, fields.map(str::to_string).collect())
            } else {
                (rest, Vec::new())
            };
            recent.push(RecentEvent {
                at: at.parse().map_err(|_| bad())?,
                id: id.to_string(),
                score: if score.is_empty() {
                    None
                } else {
                    Some(score.parse().map_err(|_| bad())?)
                },
                props,
            });
        }
        recent.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(KindAggregate {
            customer_id: self.customer_id,
            kind: self.kind,
            count: self.n,
            first: self.first,
            last: self.last,
            amount: self.amount,
            recent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(recent: &str) -> RawKindAggregate {
        RawKindAggregate {
            customer_id: 1,
            kind: "visit".into(),
            n: 4,
            first: 100,
            last: 400,
            amount: 0.0,
            recent: Some(recent.replace('|', RECORD_SEPARATOR)),
        }
    }

    #[test]
    fn bare_instants_scored_events_and_events_with_ids_read_back_in_time_order() {
        let a = raw("300:9.0:|400::v4|100|200").parse(false).unwrap();
        let got: Vec<(i64, &str, Option<f64>)> =
            a.recent.iter().map(|e| (e.at, e.id.as_str(), e.score)).collect();
        assert_eq!(
            got,
            vec![
                (100, "", None),
                (200, "", None),
                (300, "", Some(9.0)),
                (400, "v4", None)
            ]
        );
    }

    #[test]
    fn favourite_values_follow_the_id() {
        let item = format!("400::v4{VALUE_SEPARATOR}Anna{VALUE_SEPARATOR}");
        let a = raw(&item).parse(true).unwrap();
        assert_eq!(a.recent[0].id, "v4");
        assert_eq!(a.recent[0].props, vec!["Anna".to_string(), String::new()]);
    }

    #[test]
    fn a_malformed_item_is_an_error_not_a_dropped_event() {
        assert!(raw("100:x").parse(false).is_err());
        assert!(raw("soon").parse(false).is_err());
    }
}
