//! Personal offer codes: looking one up, and redeeming it exactly once. A code is live once
//! the message carrying it went out (`messages.sent_at`); the single conditional UPDATE is what
//! makes two tills redeeming the same code at the same moment succeed once.

use sqlx::FromRow;

use super::{Store, StoreError, on_pool};

/// A code with who it is for and where it stands.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct OfferRecord {
    pub code: String,
    pub rule_id: String,
    pub customer: String,
    /// The series' occurrence.
    pub occurrence_key: String,
    pub percent: Option<f64>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub reserved_at: i64,
    pub expires_at: i64,
    /// When the message carrying it went out; `None`: not issued (cannot be redeemed).
    pub issued_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    pub redeemed_event: Option<String>,
    pub redeemed_amount: Option<f64>,
}

/// How a redemption ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption {
    Redeemed(OfferRecord),
    /// No such code, or one whose message never went out.
    Unknown,
    AlreadyRedeemed(OfferRecord),
    Expired(OfferRecord),
}

const SELECT: &str = "SELECT o.code, o.rule_id, c.external_id AS customer, o.occurrence_key, o.percent, o.amount, \
    o.currency, o.reserved_at, o.expires_at, m.sent_at AS issued_at, o.redeemed_at, o.redeemed_event, o.redeemed_amount \
    FROM offers o JOIN customers c ON c.id = o.customer_id LEFT JOIN messages m ON m.decision_id = o.decision_id \
    WHERE o.code = $1";

impl Store {
    /// The offer with this (normalised) code.
    pub async fn offer(&self, code: &str) -> Result<Option<OfferRecord>, StoreError> {
        on_pool!(self, pool => Ok(sqlx::query_as(SELECT).bind(code).fetch_optional(pool).await?))
    }

    /// A customer's codes (issued or only reserved), oldest first.
    pub async fn customer_offers(&self, external_id: &str) -> Result<Vec<OfferRecord>, StoreError> {
        let sql = SELECT.replace("WHERE o.code = $1", "WHERE c.external_id = $1 ORDER BY o.id");
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(external_id).fetch_all(pool).await?))
    }

    /// Redeems a live code at `at`, with the event that redeemed it (if any) and its amount.
    /// A code past its expiry is refused unless `accept_expired`.
    pub async fn redeem_offer(
        &self,
        code: &str,
        at: i64,
        event: Option<&str>,
        amount: Option<f64>,
        accept_expired: bool,
    ) -> Result<Redemption, StoreError> {
        // The customer counts as changed, in the same transaction: a later conversion pass
        // finds a redemption dated before its last one among the changed customers.
        const REDEEM: &str = "UPDATE offers SET redeemed_at = $2, redeemed_event = $3, redeemed_amount = $4 \
            WHERE code = $1 AND redeemed_at IS NULL AND ($5 OR expires_at >= $2) \
            AND EXISTS (SELECT 1 FROM messages m WHERE m.decision_id = offers.decision_id AND m.sent_at IS NOT NULL) \
            RETURNING customer_id";
        let redeemed: Option<i64> = match self {
            Store::Sqlite(pool) => {
                let _turn = super::write_turns::take_turn(pool).await;
                let mut tx = pool.begin().await?;
                let redeemed = sqlx::query_scalar(REDEEM)
                    .bind(code)
                    .bind(at)
                    .bind(event)
                    .bind(amount)
                    .bind(accept_expired)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(customer) = redeemed {
                    super::wakes::mark_changed_sqlite(&mut tx, std::iter::once(customer)).await?;
                }
                tx.commit().await?;
                redeemed
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let redeemed = sqlx::query_scalar(REDEEM)
                    .bind(code)
                    .bind(at)
                    .bind(event)
                    .bind(amount)
                    .bind(accept_expired)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(customer) = redeemed {
                    super::wakes::mark_changed_postgres(&mut tx, std::iter::once(customer)).await?;
                }
                tx.commit().await?;
                redeemed
            }
        };
        let Some(offer) = self.offer(code).await? else {
            return Ok(Redemption::Unknown);
        };
        Ok(if redeemed.is_some() {
            Redemption::Redeemed(offer)
        } else if offer.issued_at.is_none() {
            Redemption::Unknown
        } else if offer.redeemed_at.is_some() {
            Redemption::AlreadyRedeemed(offer)
        } else {
            Redemption::Expired(offer)
        })
    }
}
