//! Erasure ("forget this customer") and the hashed suppression list that outlives it.
//!
//! An erased customer keeps an anonymous row (`erased:<id>`, every personal field empty) so
//! the decisions and messages counted in reports survive; their events, snapshots and every
//! rendered message text are deleted. If they had opted out (or their address bounced), a
//! SHA-256 of the normalised address is kept per channel: a customer later created with that
//! address starts unsubscribed, yet the address itself is gone.

use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use super::{NewCustomer, Store, StoreError, on_pool};

/// The suppression key of an address on a channel (`email` or `sms`). Addresses are stored
/// already normalised (lower-case domain, E.164), so the same address gives the same hash.
pub fn address_hash(channel: &str, address: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"rekindle-suppression\0");
    h.update(channel.as_bytes());
    h.update(b"\0");
    h.update(address.trim().to_lowercase().as_bytes());
    hex::encode(h.finalize())
}

#[derive(sqlx::FromRow)]
struct ErasedContact {
    id: i64,
    email: Option<String>,
    phone: Option<String>,
    unsubscribed_email_at: Option<i64>,
    unsubscribed_sms_at: Option<i64>,
    email_bounced_at: Option<i64>,
}

impl Store {
    /// Erases a customer in one transaction. False when there is no such (unerased) customer.
    pub async fn erase_customer(&self, external_id: &str, now: i64) -> Result<bool, StoreError> {
        const FIND: &str = "SELECT id, email, phone, unsubscribed_email_at, unsubscribed_sms_at, email_bounced_at \
            FROM customers WHERE external_id = $1 AND erased_at IS NULL";
        const SUPPRESS: &str = "INSERT INTO suppressions (address_hash, channel, created_at) VALUES ($1, $2, $3) \
            ON CONFLICT (address_hash, channel) DO NOTHING";
        const SCRUB: [&str; 6] = [
            "DELETE FROM events WHERE customer_id = $1",
            "DELETE FROM health_snapshots WHERE customer_id = $1",
            "UPDATE decisions SET subject = NULL, body = NULL WHERE customer_id = $1",
            // A queued message must never go out to someone erased.
            "UPDATE messages SET status = 'skipped', reason = 'erased', last_detail = 'erased' \
             WHERE customer_id = $1 AND status = 'queued'",
            "UPDATE messages SET subject = NULL, body = '', last_error = NULL, last_detail = NULL WHERE customer_id = $1",
            "UPDATE message_events SET detail = NULL WHERE message_id IN (SELECT id FROM messages WHERE customer_id = $1)",
        ];
        const ANONYMISE: &str = "UPDATE customers SET external_id = $2, name = NULL, email = NULL, phone = NULL, \
            birthday = NULL, timezone = NULL, consent_email = FALSE, consent_sms = FALSE, attributes = '{}', \
            tags = '[]', erased_at = $3, updated_at = $3 WHERE id = $1";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(c) = sqlx::query_as::<_, ErasedContact>(FIND).bind(external_id).fetch_optional(&mut *tx).await? else {
                return Ok(false);
            };
            let mut keep = Vec::new();
            if let Some(email) = &c.email
                && (c.unsubscribed_email_at.is_some() || c.email_bounced_at.is_some())
            {
                keep.push((address_hash("email", email), "email"));
            }
            if let Some(phone) = &c.phone
                && c.unsubscribed_sms_at.is_some()
            {
                keep.push((address_hash("sms", phone), "sms"));
            }
            for (hash, channel) in &keep {
                sqlx::query(SUPPRESS).bind(hash).bind(*channel).bind(now).execute(&mut *tx).await?;
            }
            for sql in SCRUB {
                sqlx::query(sql).bind(c.id).execute(&mut *tx).await?;
            }
            sqlx::query(ANONYMISE).bind(c.id).bind(format!("erased:{}", c.id)).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// Whether any suppression exists (most databases have none: then nothing else is asked).
pub(super) const ANY_SUPPRESSION: &str = "SELECT count(*) FROM (SELECT 1 FROM suppressions LIMIT 1) s";
pub(super) const SUPPRESS_EMAIL: &str = "UPDATE customers SET unsubscribed_email_at = COALESCE(unsubscribed_email_at, $2) \
    WHERE external_id = $1";
pub(super) const SUPPRESS_SMS: &str = "UPDATE customers SET unsubscribed_sms_at = COALESCE(unsubscribed_sms_at, $2) \
    WHERE external_id = $1";

/// (hash, channel, external id) of every address among `rows`.
pub(super) fn suppression_keys<'a>(rows: &[&'a NewCustomer]) -> Vec<(String, &'static str, &'a str)> {
    let mut keys = Vec::new();
    for c in rows {
        if let Some(e) = &c.email {
            keys.push((address_hash("email", e), "email", c.external_id.as_str()));
        }
        if let Some(p) = &c.phone {
            keys.push((address_hash("sms", p), "sms", c.external_id.as_str()));
        }
    }
    keys
}

/// The query finding which of `keys` are suppressed.
pub(super) fn suppressed_query<DB: sqlx::Database>(keys: &[(String, &'static str, &str)]) -> QueryBuilder<DB>
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new("SELECT address_hash, channel FROM suppressions WHERE address_hash IN (");
    let mut list = q.separated(", ");
    for (hash, _, _) in keys {
        list.push_bind(hash.clone());
    }
    q.push(")");
    q
}
