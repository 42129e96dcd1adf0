//! Redeeming offer codes from wherever the till is: the API, an event's `offer_code` (CSV or
//! API), or `rekindle offers redeem`. One path, so the rules (live once sent, once only, not
//! after expiry unless `[offers] accept_expired`) and the metric are the same everywhere.

use serde::Serialize;

use crate::domain::fmt_instant;
use crate::store::{OfferRecord, Redemption, Store, StoreError};

/// An offer as people and programs see it: instants in RFC 3339.
#[derive(Debug, Clone, Serialize)]
pub struct OfferView {
    pub code: String,
    pub rule: String,
    pub customer: String,
    pub occurrence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub issued_at: Option<String>,
    pub expires_at: String,
    pub redeemed_at: Option<String>,
    pub redeemed_event: Option<String>,
    pub redeemed_amount: Option<f64>,
}

impl From<&OfferRecord> for OfferView {
    fn from(o: &OfferRecord) -> Self {
        OfferView {
            code: o.code.clone(),
            rule: o.rule_id.clone(),
            customer: o.customer.clone(),
            occurrence: o.occurrence_key.clone(),
            percent: o.percent,
            amount: o.amount,
            currency: o.currency.clone(),
            issued_at: o.issued_at.map(fmt_instant),
            expires_at: fmt_instant(o.expires_at),
            redeemed_at: o.redeemed_at.map(fmt_instant),
            redeemed_event: o.redeemed_event.clone(),
            redeemed_amount: o.redeemed_amount,
        }
    }
}

/// Why a code was not redeemed, in words for the person at the till.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no such offer code")]
    Unknown,
    #[error("already redeemed at {}", fmt_instant(*.0))]
    AlreadyRedeemed(i64),
    #[error("expired at {}", fmt_instant(*.0))]
    Expired(i64),
}

/// The redemption of `typed` (as entered: case and surrounding space do not matter) at `at`.
pub async fn redeem(
    store: &Store,
    typed: &str,
    at: i64,
    event: Option<&str>,
    amount: Option<f64>,
    accept_expired: bool,
) -> Result<Result<OfferRecord, Refusal>, StoreError> {
    let code = crate::domain::offer_code::normalize(typed);
    Ok(
        match store
            .redeem_offer(&code, at, event, amount, accept_expired)
            .await?
        {
            Redemption::Redeemed(o) => {
                metrics::counter!(crate::metrics::OFFERS_REDEEMED, "rule" => o.rule_id.clone()).increment(1);
                tracing::info!(rule = %o.rule_id, "offer redeemed");
                Ok(o)
            }
            Redemption::Unknown => Err(Refusal::Unknown),
            Redemption::AlreadyRedeemed(o) => {
                Err(Refusal::AlreadyRedeemed(o.redeemed_at.unwrap_or_default()))
            }
            Redemption::Expired(o) => Err(Refusal::Expired(o.expires_at)),
        },
    )
}

/// The `offer_code` property of an event, if it has one (properties are a JSON object).
pub fn code_of_event(properties: &str) -> Option<String> {
    if !properties.contains("offer_code") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(properties).ok()?;
    v.get("offer_code")?
        .as_str()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Redeems the codes that stored events carry (`offer_code`), at each event's time with its
/// amount. Returns the refusals by index into `events`; the events themselves are stored
/// either way. Importing the same event again is not a second redemption.
pub async fn redeem_events(
    store: &Store,
    events: &[crate::store::NewEvent],
    accept_expired: bool,
) -> Result<Vec<(usize, Refusal)>, StoreError> {
    let mut refused = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Some(code) = code_of_event(&e.properties) else {
            continue;
        };
        match redeem(
            store,
            &code,
            e.occurred_at,
            Some(&e.external_id),
            e.amount,
            accept_expired,
        )
        .await?
        {
            Ok(_) => {}
            Err(Refusal::AlreadyRedeemed(_))
                if store
                    .offer(&crate::domain::offer_code::normalize(&code))
                    .await?
                    .is_some_and(|o| o.redeemed_event.as_deref() == Some(e.external_id.as_str())) => {}
            Err(r) => refused.push((i, r)),
        }
    }
    Ok(refused)
}
