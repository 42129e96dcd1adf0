//! The demo's customers answer the win-back series, so that its report shows what a working
//! programme looks like. **Synthetic**: the demo says so, and these are the model's numbers.
//!
//! After each step of the series that went out, a contacted customer comes back 1–6 days later
//! with probability 25 % (step 1), 15 % (step 2) or 10 % (step 3) and shows the code at the
//! till, spending 8–30 EUR. A held-out customer (no message) comes back within the same four
//! weeks with probability 12 %, spending the same. Most of the response comes after the first
//! message and the programme roughly doubles the return rate — illustrative numbers in the
//! range small businesses report for win-back offers, not a claim about any business.

use std::collections::HashMap;

use crate::health::DAY_SECONDS;
use crate::store::{NewEvent, Store, StoreError};

/// The example rule the model answers.
pub const SERIES_RULE: &str = "win-back-30d";
/// Chance of coming back after step 1, 2, 3 (contacted), and within four weeks (held out).
const RETURN_AFTER_STEP: [f64; 3] = [0.25, 0.15, 0.10];
const RETURN_HELD_OUT: f64 = 0.12;

/// Simulates the answers to what the series did at `day` (its decisions and sends of that
/// evaluation), as events no later than `end`. Returns how many customers came back.
pub async fn respond(store: &Store, rng: &mut fastrand::Rng, day: i64, end: i64) -> Result<u64, StoreError> {
    let rows = store.series_rows(SERIES_RULE, day).await?;
    let external: HashMap<i64, String> = store
        .customer_ids()
        .await?
        .into_iter()
        .map(|(e, i)| (i, e))
        .collect();
    let mut events = Vec::new();
    for r in rows.iter().filter(|r| r.decided_at == day) {
        let held_out = r.decision == "held_out";
        let chance = if held_out {
            RETURN_HELD_OUT
        } else if r.sent_at.is_some() {
            RETURN_AFTER_STEP.get(r.step as usize - 1).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        if rng.f64() >= chance {
            continue;
        }
        let spread = if held_out { 28 } else { 6 };
        let at = day + rng.i64(1..=spread) * DAY_SECONDS + rng.i64(0..8) * 3600;
        let Some(customer) = external.get(&r.customer_id) else {
            continue;
        };
        if at > end {
            continue;
        }
        // The code the customer shows at the till, if the series gave them one.
        let code = store
            .customer_offers(customer)
            .await?
            .into_iter()
            .rfind(|o| o.issued_at.is_some() && o.redeemed_at.is_none())
            .map(|o| o.code);
        let n = events.len() / 2;
        let amount = f64::from(rng.u32(800..3000)) / 100.0;
        events.push(NewEvent {
            external_id: format!("demo-return-{day}-{n}"),
            customer_id: r.customer_id,
            kind: "visit".into(),
            occurred_at: at,
            amount: None,
            score: None,
            properties: "{}".into(),
        });
        events.push(NewEvent {
            external_id: format!("demo-till-{day}-{n}"),
            customer_id: r.customer_id,
            kind: "purchase".into(),
            occurred_at: at + 1800,
            amount: Some(amount),
            score: None,
            properties: match code {
                Some(c) if !held_out => serde_json::json!({ "offer_code": c }).to_string(),
                _ => "{}".into(),
            },
        });
    }
    if events.is_empty() {
        return Ok(0);
    }
    store.upsert_events(&events, day).await?;
    crate::offers::redeem_events(store, &events, false).await?;
    Ok(events.len() as u64 / 2)
}
