//! The three ordered streams evaluation reads — customers, their per-kind event aggregates,
//! their recorded decisions — merged by customer id into one customer at a time. One pass over
//! each; no query per customer.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;

use crate::domain::MessageStatus;
use crate::rules::facts::{CustomerFacts, KindStats};
use crate::rules::pipeline::{Delivery, PastDecision};
use crate::rules::series::series_key;
use crate::store::{CustomerRecord, DecisionRow, KindAggregate, Store, StoreError};

/// One customer with what the pipeline needs: their facts (health not yet computed) and the
/// decisions already recorded for them.
pub struct CustomerInput {
    pub facts: CustomerFacts,
    pub past: Vec<PastDecision>,
    /// Their series' offer codes (read only when a rule has steps or an offer).
    pub offers: Vec<KnownOffer>,
}

/// An offer code a series already has.
#[derive(Debug, Clone)]
pub struct KnownOffer {
    pub rule_id: String,
    /// The series' occurrence key.
    pub series: String,
    pub code: String,
    pub expires_at: i64,
    /// The message of the decision carrying it went out: the code is live.
    pub issued: bool,
}

pub struct CustomerStream<'s> {
    customers: BoxStream<'s, Result<CustomerRecord, StoreError>>,
    aggregates: BoxStream<'s, Result<KindAggregate, StoreError>>,
    history: BoxStream<'s, Result<DecisionRow, StoreError>>,
    next_agg: Option<KindAggregate>,
    next_past: Option<DecisionRow>,
    default_zone: jiff::tz::TimeZone,
}

impl<'s> CustomerStream<'s> {
    /// Aggregates cover events in (`since`, `at`]: the longest look-back the rules need; those
    /// after `ids_since` carry their external ids.
    pub async fn open(
        store: &'s Store,
        at: i64,
        since: i64,
        ids_since: i64,
        default_zone: jiff::tz::TimeZone,
        series: bool,
        favourites: &[String],
    ) -> Result<CustomerStream<'s>, StoreError> {
        let customers = store.customers_ordered();
        let mut aggregates = store.kind_aggregates(at, since, ids_since, favourites);
        let mut history = store.decision_history(series);
        let next_agg = aggregates.try_next().await?;
        let next_past = history.try_next().await?;
        Ok(CustomerStream {
            customers,
            aggregates,
            history,
            next_agg,
            next_past,
            default_zone,
        })
    }

    pub async fn next(&mut self) -> Result<Option<CustomerInput>, StoreError> {
        let Some(record) = self.customers.try_next().await? else {
            return Ok(None);
        };
        let mut facts = super::customer_facts(&record, &self.default_zone);
        while let Some(a) = self.next_agg.take_if(|a| a.customer_id <= record.id) {
            if a.customer_id == record.id {
                facts.kinds.insert(
                    a.kind,
                    KindStats {
                        count: a.count,
                        first: a.first,
                        last: a.last,
                        amount: a.amount,
                        recent: a.recent,
                    },
                );
            }
            self.next_agg = self.aggregates.try_next().await?;
        }
        let mut past = Vec::new();
        let mut offers = Vec::new();
        while let Some(p) = self.next_past.take_if(|p| p.customer_id <= record.id) {
            if p.customer_id == record.id {
                let step = u8::try_from(p.step).unwrap_or(u8::MAX);
                let delivery = p
                    .message_status
                    .as_deref()
                    .and_then(MessageStatus::parse)
                    .map(|status| Delivery {
                        status,
                        sent_at: p.sent_at,
                    });
                if let (Some(code), Some(expires_at)) = (p.offer_code, p.offer_expires_at) {
                    offers.push(KnownOffer {
                        rule_id: p.rule_id.clone(),
                        series: series_key(&p.occurrence_key, step).to_string(),
                        code,
                        expires_at,
                        issued: p.sent_at.is_some(),
                    });
                }
                past.push(PastDecision {
                    rule_id: p.rule_id,
                    key: p.occurrence_key,
                    outcome: p.decision,
                    decided_at: p.decided_at,
                    step,
                    delivery,
                    redeemed_at: p.offer_redeemed_at,
                });
            }
            self.next_past = self.history.try_next().await?;
        }
        Ok(Some(CustomerInput { facts, past, offers }))
    }
}
