//! Erasure ("forget this customer") and the hashed suppression list that outlives it.
//!
//! An erased customer keeps an anonymous row (marked by `erased_at`; its external id becomes
//! one no import or request can name, see `erased_id`; every personal field empty) so
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
        const SUPPRESS: &str = "INSERT INTO suppressions (address_hash, channel, created_at, reason) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (address_hash, channel) DO NOTHING";
        const SCRUB: [&str; 7] = [
            "DELETE FROM events WHERE customer_id = $1",
            "DELETE FROM health_snapshots WHERE customer_id = $1",
            // Occurrence keys can carry the external ids of the customer's events.
            "UPDATE decisions SET subject = NULL, body = NULL, links = NULL, preheader = NULL, button_text = NULL, \
             button_url = NULL, occurrence_key = 'erased-' || id WHERE customer_id = $1",
            // A queued message must never go out to someone erased.
            "UPDATE messages SET status = 'skipped', reason = 'erased', last_detail = 'erased' \
             WHERE customer_id = $1 AND status = 'queued'",
            "UPDATE messages SET last_error = NULL, last_detail = NULL WHERE customer_id = $1",
            "UPDATE message_events SET detail = NULL WHERE message_id IN (SELECT id FROM messages WHERE customer_id = $1)",
            // Their codes stop working and stop naming them; issued and redeemed still count.
            "UPDATE offers SET code = 'erased-' || id, occurrence_key = 'erased-' || id, redeemed_event = NULL \
             WHERE customer_id = $1",
        ];
        const ANONYMISE: &str = "UPDATE customers SET external_id = $2, name = NULL, email = NULL, phone = NULL, \
            birthday = NULL, timezone = NULL, consent_email = FALSE, consent_sms = FALSE, attributes = '{}', \
            tags = '[]', erased_at = $3, updated_at = $3, erased_email_hash = $4, erased_phone_hash = $5 WHERE id = $1";
        // SQLite leaves deleted and overwritten rows in free pages, where a look at the file
        // still finds the name and address: this connection zeroes them for the erasure, and
        // the write-ahead log (which holds older page images) is emptied afterwards.
        let sqlite = matches!(self, Store::Sqlite(_));
        on_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            if sqlite {
                sqlx::query("PRAGMA secure_delete = ON").execute(&mut *conn).await?;
            }
            let erased: Result<bool, StoreError> = async {
                // SQLite: the write lock is taken at the start. A transaction that reads first
                // and writes later fails at once (no busy wait) when another write committed in
                // between, and a scheduled tick writes every few seconds.
                let mut tx = if sqlite {
                    sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?
                } else {
                    sqlx::Connection::begin(&mut *conn).await?
                };
                let Some(c) = sqlx::query_as::<_, ErasedContact>(FIND).bind(external_id).fetch_optional(&mut *tx).await? else {
                    return Ok(false);
                };
                let mut keep = Vec::new();
                if let Some(email) = &c.email
                    && (c.unsubscribed_email_at.is_some() || c.email_bounced_at.is_some())
                {
                    let reason = if c.unsubscribed_email_at.is_some() { "unsubscribed" } else { "bounced" };
                    keep.push((address_hash("email", email), "email", reason));
                }
                if let Some(phone) = &c.phone
                    && c.unsubscribed_sms_at.is_some()
                {
                    keep.push((address_hash("sms", phone), "sms", "unsubscribed"));
                }
                for (hash, channel, reason) in &keep {
                    sqlx::query(SUPPRESS).bind(hash).bind(*channel).bind(now).bind(*reason).execute(&mut *tx).await?;
                }
                for sql in SCRUB {
                    sqlx::query(sql).bind(c.id).execute(&mut *tx).await?;
                }
                let email_hash = c.email.as_deref().map(|e| address_hash("email", e));
                let phone_hash = c.phone.as_deref().map(|p| address_hash("sms", p));
                sqlx::query(ANONYMISE)
                    .bind(c.id)
                    .bind(erased_id(c.id))
                    .bind(now)
                    .bind(email_hash)
                    .bind(phone_hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            .await;
            if sqlite {
                sqlx::query("PRAGMA secure_delete = OFF").execute(&mut *conn).await?;
                drop(conn);
                if matches!(erased, Ok(true)) {
                    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
                }
            }
            erased
        })
    }
}

/// The external id an erased row takes: it starts with a control character, which every edge
/// (CSV, API) refuses in an id, so no request can ever name, create or overwrite it.
pub fn erased_id(internal_id: i64) -> String {
    format!("{ERASED_PREFIX}erased {internal_id}")
}

/// The mark `erased_id` starts with (migration 0008 writes the same for older rows).
const ERASED_PREFIX: char = '\u{1}';

/// Whether an external id is an erased row's (for showing it to people as "(erased)").
pub fn is_erased_id(external_id: &str) -> bool {
    external_id.starts_with(ERASED_PREFIX)
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
