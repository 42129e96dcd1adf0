use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::{FromRow, QueryBuilder};

use super::suppressions::{
    ANY_SUPPRESSION, SUPPRESS_EMAIL, SUPPRESS_SMS, suppressed_query, suppression_keys,
};
use super::{ROWS_PER_STATEMENT, Store, StoreError, last_per_key, on_pool};

/// A customer as an import or the API hands it over, already validated.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<String>,
    pub timezone: Option<String>,
    pub consent_email: bool,
    pub consent_sms: bool,
    /// A normalised BCP 47 tag; `None` means the configured default.
    pub language: Option<String>,
    /// JSON object of strings.
    pub attributes: String,
    /// JSON array of strings.
    pub tags: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct CustomerRecord {
    pub id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<String>,
    pub timezone: Option<String>,
    pub consent_email: bool,
    pub consent_sms: bool,
    pub unsubscribed_email_at: Option<i64>,
    pub unsubscribed_sms_at: Option<i64>,
    /// A hard bounce: the address no longer counts as a way to reach the customer.
    pub email_bounced_at: Option<i64>,
    pub attributes: String,
    pub tags: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub language: Option<String>,
}

impl Store {
    /// Inserts new customers and updates changed ones, in one transaction. Returns how many rows
    /// were inserted or actually changed (an identical row is left untouched). Unsubscribe state
    /// is never touched here: an import must not resubscribe anyone.
    pub async fn upsert_customers(&self, rows: &[NewCustomer], now: i64) -> Result<u64, StoreError> {
        let rows = last_per_key(rows, |r| r.external_id.as_str());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut affected = 0;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO customers (external_id, name, email, phone, birthday, timezone, \
                     consent_email, consent_sms, attributes, tags, created_at, updated_at, language) ",
                );
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.external_id.as_str())
                        .push_bind(c.name.as_deref())
                        .push_bind(c.email.as_deref())
                        .push_bind(c.phone.as_deref())
                        .push_bind(c.birthday.as_deref())
                        .push_bind(c.timezone.as_deref())
                        .push_bind(c.consent_email)
                        .push_bind(c.consent_sms)
                        .push_bind(c.attributes.as_str())
                        .push_bind(c.tags.as_str())
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(c.language.as_deref());
                });
                q.push(
                    " ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, \
                     email = excluded.email, phone = excluded.phone, birthday = excluded.birthday, \
                     timezone = excluded.timezone, consent_email = excluded.consent_email, \
                     consent_sms = excluded.consent_sms, attributes = excluded.attributes, \
                     tags = excluded.tags, updated_at = excluded.updated_at, language = excluded.language \
                     WHERE customers.name IS DISTINCT FROM excluded.name \
                     OR customers.email IS DISTINCT FROM excluded.email \
                     OR customers.phone IS DISTINCT FROM excluded.phone \
                     OR customers.birthday IS DISTINCT FROM excluded.birthday \
                     OR customers.timezone IS DISTINCT FROM excluded.timezone \
                     OR customers.consent_email <> excluded.consent_email \
                     OR customers.consent_sms <> excluded.consent_sms \
                     OR customers.attributes <> excluded.attributes \
                     OR customers.tags <> excluded.tags \
                     OR customers.language IS DISTINCT FROM excluded.language",
                );
                affected += q.build().execute(&mut *tx).await?.rows_affected();
            }
            // An erased customer who had opted out stays opted out when re-created.
            let any: i64 = sqlx::query_scalar(ANY_SUPPRESSION).fetch_one(&mut *tx).await?;
            if any > 0 {
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let keys = suppression_keys(chunk);
                    if keys.is_empty() {
                        continue;
                    }
                    let hits: Vec<(String, String)> =
                        suppressed_query(&keys).build_query_as().fetch_all(&mut *tx).await?;
                    for (hash, channel, customer) in &keys {
                        if hits.iter().any(|(h, c)| h == hash && c == channel) {
                            let sql = if *channel == "email" { SUPPRESS_EMAIL } else { SUPPRESS_SMS };
                            sqlx::query(sql).bind(*customer).bind(now).execute(&mut *tx).await?;
                        }
                    }
                }
            }
            tx.commit().await?;
            Ok(affected)
        })
    }

    pub async fn count_customers(&self) -> Result<i64, StoreError> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(pool).await?))
    }

    pub async fn customer_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        const SQL: &str = "SELECT id, external_id, name, email, phone, birthday, timezone, consent_email, \
            consent_sms, unsubscribed_email_at, unsubscribed_sms_at, email_bounced_at, attributes, tags, \
            created_at, updated_at, language FROM customers WHERE external_id = $1 AND erased_at IS NULL";
        on_pool!(self, pool => Ok(sqlx::query_as(SQL).bind(external_id).fetch_optional(pool).await?))
    }

    /// External id → internal id for every customer: one pass, so an event import resolves its
    /// customers from memory instead of asking once per row.
    pub async fn customer_ids(&self) -> Result<HashMap<String, i64>, StoreError> {
        on_pool!(self, pool => {
            let mut rows = sqlx::query_as::<_, (String, i64)>("SELECT external_id, id FROM customers").fetch(pool);
            let mut map = HashMap::new();
            while let Some((ext, id)) = rows.try_next().await? {
                map.insert(ext, id);
            }
            Ok(map)
        })
    }

    /// External id → internal id for the given customers only (an API batch names a few).
    pub async fn customer_ids_for(&self, external_ids: &[&str]) -> Result<HashMap<String, i64>, StoreError> {
        let mut map = HashMap::new();
        for chunk in external_ids.chunks(ROWS_PER_STATEMENT) {
            on_pool!(self, pool => {
                let mut q = QueryBuilder::new("SELECT external_id, id FROM customers WHERE external_id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(pool).await?;
                map.extend(rows);
            });
        }
        Ok(map)
    }

    /// Internal ids of every customer not erased, in ascending order.
    pub async fn customer_ids_ordered(&self) -> Result<Vec<i64>, StoreError> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT id FROM customers WHERE erased_at IS NULL ORDER BY id").fetch_all(pool).await?))
    }
}

impl Store {
    /// Unsubscribes a customer from a channel (`email` or `sms`); the first time counts.
    /// Returns false when there is no such customer.
    pub async fn unsubscribe(
        &self,
        external_id: &str,
        channel: crate::rules::Channel,
        at: i64,
    ) -> Result<bool, StoreError> {
        const EMAIL: &str = "UPDATE customers SET unsubscribed_email_at = COALESCE(unsubscribed_email_at, $2), \
            updated_at = $2 WHERE external_id = $1";
        const SMS: &str = "UPDATE customers SET unsubscribed_sms_at = COALESCE(unsubscribed_sms_at, $2), \
            updated_at = $2 WHERE external_id = $1";
        let sql = match channel {
            crate::rules::Channel::Email => EMAIL,
            crate::rules::Channel::Sms => SMS,
        };
        on_pool!(self, pool => Ok(sqlx::query(sql).bind(external_id).bind(at).execute(pool).await?.rows_affected() > 0))
    }
}
