//! The three ordered streams evaluation reads — customers, their per-kind event aggregates,
//! their recorded decisions — merged by customer id into one customer at a time. One pass over
//! each; no query per customer.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;

use crate::domain::MessageStatus;
use crate::rules::facts::{CustomerFacts, KindStats};
use crate::rules::pipeline::{Delivery, PastDecision};
use crate::rules::series::series_key;
use crate::store::{DecisionRow, KindAggregate, NextEvent, RevisedCustomer, Store, StoreError};

/// One customer with what the pipeline needs: their facts (health not yet computed) and the
/// decisions already recorded for them.
pub struct CustomerInput {
    pub facts: CustomerFacts,
    pub past: Vec<PastDecision>,
    /// Their series' offer codes (read only when a rule has steps or an offer).
    pub offers: Vec<KnownOffer>,
    /// The customer's revision as read (their wake is kept against it).
    pub revision: i64,
    /// Their earliest event dated after T: it becomes a fact when T reaches it.
    pub next_event: Option<i64>,
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
    customers: BoxStream<'s, Result<RevisedCustomer, StoreError>>,
    aggregates: BoxStream<'s, Result<KindAggregate, StoreError>>,
    history: BoxStream<'s, Result<DecisionRow, StoreError>>,
    /// Each customer's earliest event after T, ascending customer id (read out first: they are
    /// few, and a fourth statement open beside the others would need one more connection).
    later: std::vec::IntoIter<NextEvent>,
    next_customer: Option<RevisedCustomer>,
    next_agg: Option<KindAggregate>,
    next_past: Option<DecisionRow>,
    next_later: Option<NextEvent>,
    default_zone: jiff::tz::TimeZone,
}

/// What a `CustomerStream` reads besides the customers themselves.
pub struct Reads<'a> {
    /// The start of the look-back for individual events.
    pub since: i64,
    /// Events after this carry their external ids.
    pub ids_since: i64,
    pub default_zone: jiff::tz::TimeZone,
    /// Recorded decisions carry their message's delivery and their offer.
    pub series: bool,
    pub favourites: &'a [String],
    /// Each customer's earliest event after T (for their wake).
    pub later_events: bool,
    /// Only these customers (ascending ids); `None`: everyone.
    pub only: Option<&'a [i64]>,
}

impl<'s> CustomerStream<'s> {
    /// Aggregates cover events in (`since`, `at`]: the longest look-back the rules need; those
    /// after `ids_since` carry their external ids.
    pub async fn open(store: &'s Store, at: i64, reads: Reads<'_>) -> Result<CustomerStream<'s>, StoreError> {
        // The customers' statement starts first: a change committed after it started leaves a
        // revision that no longer matches the one read, so the customer is looked at again
        // even if the other statements, started later, saw the change already.
        let mut customers = store.customers_ordered(reads.only);
        let next_customer = customers.try_next().await?;
        let mut later = match reads.later_events {
            true => store.next_events(at, reads.only).try_collect::<Vec<_>>().await?,
            false => Vec::new(),
        }
        .into_iter();
        let next_later = later.next();
        let mut aggregates =
            store.kind_aggregates(at, reads.since, reads.ids_since, reads.favourites, reads.only);
        let mut history = store.decision_history(reads.series, reads.only);
        let next_agg = aggregates.try_next().await?;
        let next_past = history.try_next().await?;
        Ok(CustomerStream {
            customers,
            aggregates,
            history,
            later,
            next_customer,
            next_agg,
            next_past,
            next_later,
            default_zone: reads.default_zone,
        })
    }

    pub async fn next(&mut self) -> Result<Option<CustomerInput>, StoreError> {
        let Some(RevisedCustomer { record, revision }) = self.next_customer.take() else {
            return Ok(None);
        };
        self.next_customer = self.customers.try_next().await?;
        let mut next_event = None;
        while let Some(n) = self.next_later.take_if(|n| n.customer_id <= record.id) {
            if n.customer_id == record.id {
                next_event = Some(n.next_at);
            }
            self.next_later = self.later.next();
        }
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
        Ok(Some(CustomerInput {
            facts,
            past,
            offers,
            revision,
            next_event,
        }))
    }
}
