//! One customer as a marketer looks at them: the record, their events and the health score
//! with its breakdown, as of an instant.

use serde::Serialize;

use crate::domain::fmt_instant;
use crate::health::HealthConfig;
use crate::health::{Facts, Health};
use crate::store::{CustomerRecord, EventRecord, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Profile {
    pub customer: CustomerRecord,
    pub events: Vec<EventRecord>,
    pub health: Health,
    pub at: i64,
}

/// The JSON shape of `customers show --format json`.
#[derive(Debug, Serialize)]
pub struct ProfileJson<'a> {
    pub customer: &'a str,
    pub health: &'a Health,
}

impl Profile {
    pub fn json(&self) -> ProfileJson<'_> {
        ProfileJson {
            customer: &self.customer.external_id,
            health: &self.health,
        }
    }
}

impl Profile {
    /// What `history.*` holds for this customer at the profile's instant: the same
    /// computation evaluation does, here from the customer's own events.
    pub fn history(
        &self,
        cfg: &HealthConfig,
        zone: &jiff::tz::TimeZone,
        favourites: &[String],
    ) -> crate::rules::history::History {
        use crate::rules::facts::{CustomerFacts, KindStats, RecentEvent};
        let mut facts = CustomerFacts::new(self.customer.external_id.clone(), zone.clone());
        let mut events: Vec<&EventRecord> = self.events.iter().filter(|e| e.occurred_at <= self.at).collect();
        events.sort_by_key(|e| e.occurred_at);
        for e in &events {
            let s = facts.kinds.entry(e.kind.clone()).or_insert_with(|| KindStats {
                first: e.occurred_at,
                ..KindStats::default()
            });
            s.count += 1;
            s.last = e.occurred_at;
            s.amount += e.amount.unwrap_or(0.0);
            let properties: serde_json::Value = serde_json::from_str(&e.properties).unwrap_or_default();
            s.recent.push(RecentEvent {
                at: e.occurred_at,
                id: e.external_id.clone(),
                score: e.score,
                props: favourites
                    .iter()
                    .map(|p| {
                        properties
                            .get(p)
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect(),
            });
        }
        crate::rules::history::history(&facts, cfg, self.at, favourites)
    }
}

/// Loads the customer with this external id, or `None` when there is none.
pub async fn load(
    store: &Store,
    cfg: &HealthConfig,
    external_id: &str,
    at: i64,
) -> Result<Option<Profile>, StoreError> {
    let Some(customer) = store.customer_by_external_id(external_id).await? else {
        return Ok(None);
    };
    let events = store.events_of_customer(customer.id, at).await?;
    let mut facts = Facts::new(at);
    for e in &events {
        facts.observe(cfg, &e.kind, e.occurred_at, e.score);
    }
    let health = facts.assess(cfg);
    Ok(Some(Profile {
        customer,
        events,
        health,
        at,
    }))
}

impl Profile {
    /// The readable breakdown for `customers show`: every component with what produced it.
    pub fn render_text(&self, cfg: &HealthConfig, default_timezone: &str) -> String {
        use std::fmt::Write;
        let c = &self.customer;
        let h = &self.health;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let unsub = |t: Option<i64>| if t.is_some() { ", unsubscribed" } else { "" };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Customer {}  {}",
            c.external_id,
            c.name.as_deref().unwrap_or("(no name)")
        );
        let _ = writeln!(
            out,
            "  email       {} (consent: {}{})",
            c.email.as_deref().unwrap_or("-"),
            yes_no(c.consent_email),
            unsub(c.unsubscribed_email_at)
        );
        let _ = writeln!(
            out,
            "  phone       {} (consent: {}{})",
            c.phone.as_deref().unwrap_or("-"),
            yes_no(c.consent_sms),
            unsub(c.unsubscribed_sms_at)
        );
        let _ = writeln!(out, "  birthday    {}", c.birthday.as_deref().unwrap_or("-"));
        match &c.timezone {
            Some(tz) => writeln!(out, "  time zone   {tz}"),
            None => writeln!(out, "  time zone   {default_timezone} (default)"),
        }
        .ok();
        let tags: Vec<String> = serde_json::from_str(&c.tags).unwrap_or_default();
        let _ = writeln!(
            out,
            "  tags        {}",
            if tags.is_empty() {
                "-".into()
            } else {
                tags.join(", ")
            }
        );
        let attrs: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&c.attributes).unwrap_or_default();
        let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "  attributes  {}",
            if attrs.is_empty() {
                "-".into()
            } else {
                attrs.join(", ")
            }
        );
        let activity = self.events.iter().filter(|e| cfg.is_activity(&e.kind)).count();
        let _ = writeln!(out, "  events      {} ({} activity)", self.events.len(), activity);

        let at = fmt_instant(self.at);
        let _ = writeln!(out, "\nHealth as of {at}: {} ({})", h.score, h.band.as_str());
        let recency_why = match h.days_since_last {
            None => "no activity yet".to_string(),
            Some(d) => format!(
                "{d:.1} days since last activity; usual gap {:.1} days",
                h.cadence_days
            ),
        };
        let since = self.at - crate::health::FREQUENCY_WINDOW;
        let recent = self
            .events
            .iter()
            .filter(|e| cfg.is_activity(&e.kind) && e.occurred_at > since)
            .count();
        let feedback_why = if h.feedback == 0.5
            && !self
                .events
                .iter()
                .any(|e| e.kind == crate::health::FEEDBACK_KIND && e.score.is_some())
        {
            "no feedback score in the last year".to_string()
        } else {
            format!("latest feedback score {:.1}/10", h.feedback * 10.0)
        };
        let w = cfg.weights;
        let _ = writeln!(out, "  recency     {:.4}  {recency_why}", h.recency);
        let _ = writeln!(
            out,
            "  frequency   {:.4}  {recent} activities in the last 90 days x {:.1} / 90",
            h.frequency, h.cadence_days
        );
        let _ = writeln!(out, "  feedback    {:.4}  {feedback_why}", h.feedback);
        let _ = writeln!(
            out,
            "  score = round(100 x ({}x{:.4} + {}x{:.4} + {}x{:.4})) = {}",
            w.recency, h.recency, w.frequency, h.frequency, w.feedback, h.feedback, h.score
        );
        out
    }
}

/// An instant as RFC 3339 UTC with whole seconds.
/// What rekindle decided for a customer and what became of each message, newest first:
/// what support needs when a customer asks "why did I get this?".
pub fn render_history(rows: &[crate::store::HistoryRow]) -> String {
    use std::fmt::Write;
    let mut out = String::from("\nRecent decisions (newest first)\n");
    if rows.is_empty() {
        out.push_str("  none yet\n");
        return out;
    }
    for r in rows {
        let rule = if r.step > 1 {
            format!("{} step {}", r.rule, r.step)
        } else {
            r.rule.clone()
        };
        let _ = write!(out, "  {}  {rule:<24} {}", fmt_instant(r.decided_at), r.decision);
        if let Some(reason) = &r.reason {
            let _ = write!(out, " ({reason})");
        }
        if let Some(ch) = &r.channel {
            let _ = write!(out, " by {ch}");
        }
        if let (Some(id), Some(status)) = (r.message_id, &r.message_status) {
            let _ = write!(out, " → message {id} {status}");
            if let Some(n) = r.attempts.filter(|n| *n > 1) {
                let _ = write!(out, " after {n} attempts");
            }
            if let Some(e) = &r.last_error {
                let _ = write!(out, ": {e}");
            }
        }
        out.push('\n');
    }
    out
}
