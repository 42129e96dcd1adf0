//! The opt-out list as a file: exported to carry it to another store or tool, imported from a
//! business's previous tool. Whoever is on it is never emailed or texted on that channel.

use std::collections::HashMap;

use super::{Store, StoreError, address_hash, on_pool};

/// One entry of the list. `address` is known for a customer still in the store, absent for
/// one who was erased (only the hash is left) or an entry imported as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// `email` or `sms`.
    pub channel: String,
    pub address: Option<String>,
    /// rekindle's hash of the normalised address (see `address_hash`).
    pub hash: String,
    pub reason: String,
    /// Unix seconds.
    pub since: i64,
}

/// (hash, channel, reason, since) of a listed entry.
type Listed = (String, String, String, i64);
/// (address, since, reason) of a customer who opted out or bounced.
type Contact = (String, i64, String);

impl Store {
    /// Everyone who said no or cannot be reached, per channel: the suppression list and every
    /// current customer who unsubscribed (or whose email bounced), once per address.
    pub async fn suppression_list(&self) -> Result<Vec<Suppression>, StoreError> {
        const LISTED: &str = "SELECT address_hash, channel, reason, created_at FROM suppressions";
        const EMAIL: &str = "SELECT email, COALESCE(unsubscribed_email_at, email_bounced_at), \
            CASE WHEN unsubscribed_email_at IS NOT NULL THEN 'unsubscribed' ELSE 'bounced' END \
            FROM customers WHERE erased_at IS NULL AND email IS NOT NULL \
            AND (unsubscribed_email_at IS NOT NULL OR email_bounced_at IS NOT NULL)";
        const SMS: &str = "SELECT phone, unsubscribed_sms_at, 'unsubscribed' FROM customers \
            WHERE erased_at IS NULL AND phone IS NOT NULL AND unsubscribed_sms_at IS NOT NULL";
        let (listed, emails, phones): (Vec<Listed>, Vec<Contact>, Vec<Contact>) = on_pool!(self, pool => (
            sqlx::query_as(LISTED).fetch_all(pool).await?,
            sqlx::query_as(EMAIL).fetch_all(pool).await?,
            sqlx::query_as(SMS).fetch_all(pool).await?,
        ));
        let mut out: Vec<Suppression> = Vec::new();
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for (channel, rows) in [("email", emails), ("sms", phones)] {
            for (address, since, reason) in rows {
                let hash = address_hash(channel, &address);
                if seen
                    .insert((hash.clone(), channel.to_string()), out.len())
                    .is_none()
                {
                    out.push(Suppression {
                        channel: channel.to_string(),
                        address: Some(address),
                        hash,
                        reason,
                        since,
                    });
                }
            }
        }
        for (hash, channel, reason, since) in listed {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                seen.entry((hash.clone(), channel.clone()))
            {
                slot.insert(out.len());
                out.push(Suppression {
                    channel,
                    address: None,
                    hash,
                    reason,
                    since,
                });
            }
        }
        out.sort_by(|a, b| (a.since, &a.channel, &a.hash).cmp(&(b.since, &b.channel, &b.hash)));
        Ok(out)
    }

    /// Adds entries to the suppression list and unsubscribes every current customer they name
    /// (by address, or by hash). Returns (entries new to the list, customers unsubscribed now).
    pub async fn import_suppressions(
        &self,
        rows: &[Suppression],
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        const LIST: &str = "INSERT INTO suppressions (address_hash, channel, created_at, reason) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (address_hash, channel) DO NOTHING";
        const CONTACTS: &str = "SELECT id, email, phone FROM customers WHERE erased_at IS NULL \
            AND (email IS NOT NULL OR phone IS NOT NULL)";
        const EMAIL: &str =
            "UPDATE customers SET unsubscribed_email_at = $2 WHERE id = $1 AND unsubscribed_email_at IS NULL";
        const SMS: &str =
            "UPDATE customers SET unsubscribed_sms_at = $2 WHERE id = $1 AND unsubscribed_sms_at IS NULL";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut listed = 0;
            for r in rows {
                listed += sqlx::query(LIST)
                    .bind(&r.hash)
                    .bind(&r.channel)
                    .bind(r.since)
                    .bind(&r.reason)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            // One pass over the customers: their addresses are hashed here, the way the list
            // stores them, so an entry given only as a hash finds its customer too.
            let wanted: std::collections::HashSet<(&str, &str)> =
                rows.iter().map(|r| (r.hash.as_str(), r.channel.as_str())).collect();
            let contacts: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(CONTACTS).fetch_all(&mut *tx).await?;
            let mut unsubscribed = 0;
            for (id, email, phone) in contacts {
                if let Some(e) = email
                    && wanted.contains(&(address_hash("email", &e).as_str(), "email"))
                {
                    unsubscribed += sqlx::query(EMAIL).bind(id).bind(now).execute(&mut *tx).await?.rows_affected();
                }
                if let Some(p) = phone
                    && wanted.contains(&(address_hash("sms", &p).as_str(), "sms"))
                {
                    unsubscribed += sqlx::query(SMS).bind(id).bind(now).execute(&mut *tx).await?.rows_affected();
                }
            }
            tx.commit().await?;
            Ok((listed, unsubscribed))
        })
    }
}
