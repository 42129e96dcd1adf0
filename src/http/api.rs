//! The ingest API: events in batches, customers one at a time, erasure and unsubscribe.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiError, Shared, json_body, now};
use crate::import::{ItemError, customer_from_json, events_from_json};
use crate::rules::Channel;
use crate::store::CustomerRecord;

/// Items per `POST /v1/events`: a batch is one transaction; larger loads belong to the CSV import.
pub const MAX_EVENTS_PER_BATCH: usize = 10_000;

#[derive(Serialize)]
struct Rejected {
    index: usize,
    #[serde(flatten)]
    error: ItemError,
}

/// `{"events": [...]}` (or a bare array). Good items are stored, bad ones listed with their
/// index and field: 200 when all were stored, 422 when some were refused.
pub async fn post_events(
    State(state): Shared,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let items = match json_body(raw)? {
        Value::Array(items) => Some(items),
        Value::Object(mut o) => match o.remove("events") {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("events"),
            "expected {\"events\": [...]}",
        )
    })?;
    if items.len() > MAX_EVENTS_PER_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("events"),
            format!("at most {MAX_EVENTS_PER_BATCH} events per request"),
        ));
    }
    let named: HashSet<String> = items
        .iter()
        .filter_map(|i| match i.get("customer_id")? {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let customers = state.store.customer_ids_for(&named).await?;
    let mut good = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, result) in events_from_json(&items, customers).into_iter().enumerate() {
        match result {
            Ok(e) => good.push(e),
            Err(error) => rejected.push(Rejected { index, error }),
        }
    }
    let mut warnings = Vec::new();
    if !good.is_empty() {
        state.store.upsert_events(&good, now()).await?;
        // An event's offer code that cannot be redeemed does not refuse the event.
        let refused =
            crate::offers::redeem_events(&state.store, &good, state.config.offers.accept_expired).await?;
        for (i, refusal) in refused {
            warnings.push(json!({
                "event_id": good[i].external_id,
                "field": "properties.offer_code",
                "warning": refusal.to_string(),
            }));
        }
    }
    let status = if rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut body = json!({"accepted": good.len(), "rejected": rejected});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    Ok((status, Json(body)).into_response())
}

/// A customer as the API shows it.
#[derive(Serialize)]
struct CustomerView {
    id: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    birthday: Option<String>,
    timezone: Option<String>,
    language: Option<String>,
    consent_email: bool,
    consent_sms: bool,
    unsubscribed_email_at: Option<String>,
    unsubscribed_sms_at: Option<String>,
    email_bounced_at: Option<String>,
    tags: Value,
    attributes: Value,
}

fn view(c: &CustomerRecord) -> CustomerView {
    let at = |t: Option<i64>| t.map(crate::domain::fmt_instant);
    CustomerView {
        id: c.external_id.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        birthday: c.birthday.clone(),
        timezone: c.timezone.clone(),
        language: c.language.clone(),
        consent_email: c.consent_email,
        consent_sms: c.consent_sms,
        unsubscribed_email_at: at(c.unsubscribed_email_at),
        unsubscribed_sms_at: at(c.unsubscribed_sms_at),
        email_bounced_at: at(c.email_bounced_at),
        tags: serde_json::from_str(&c.tags).unwrap_or(Value::Null),
        attributes: serde_json::from_str(&c.attributes).unwrap_or(Value::Null),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, Some("id"), format!("no customer {id:?}"))
}

/// Creates (201) or replaces (200) a customer. Unsubscribe state is the service's own and is
/// never changed by a PUT.
pub async fn put_customer(
    State(state): Shared,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // CSV cells are trimmed, so a path id is too: `abc%20` is customer `abc` everywhere.
    let id = id.trim().to_string();
    let body = json_body(raw)?;
    let customer = customer_from_json(&id, &body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.field.as_deref(), e.error))?;
    let existed = state.store.customer_by_external_id(&id).await?.is_some();
    state.store.upsert_customers(&[customer], now()).await?;
    let stored = state
        .store
        .customer_by_external_id(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(&stored))).into_response())
}

/// The customer with their health score and its breakdown, as of now.
pub async fn get_customer(State(state): Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    // CSV cells are trimmed, so a path id is too: `abc%20` is customer `abc` everywhere.
    let id = id.trim().to_string();
    let profile = crate::profile::load(&state.store, &state.config.health, &id, now())
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"customer": view(&profile.customer), "health": profile.health})).into_response())
}

/// Erasure: personal data and events are deleted; see `store::suppressions`.
pub async fn delete_customer(State(state): Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    // CSV cells are trimmed, so a path id is too: `abc%20` is customer `abc` everywhere.
    let id = id.trim().to_string();
    let contact = state.store.customer_by_external_id(&id).await?;
    if state.store.erase_customer(&id, now()).await? {
        tracing::info!(customer = %id, "customer erased");
        if let Some(c) = contact {
            let cfg = state.config.clone();
            let forgotten = tokio::task::spawn_blocking(move || {
                crate::delivery::forget::forget_in_outboxes(&cfg, c.email.as_deref(), c.phone.as_deref())
            })
            .await;
            match forgotten {
                Ok(Ok(n)) if n > 0 => {
                    tracing::info!(customer = %id, messages = n, "erased customer's messages removed from the outboxes")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(customer = %id, error = %e, "could not remove the erased customer's messages from the outboxes")
                }
                Err(e) => tracing::error!(error = %e, "outbox clean-up task failed"),
            }
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(&id))
    }
}

/// `{"channel": "email" | "sms" | "all"}`; an empty body means all channels.
pub async fn unsubscribe_customer(
    State(state): Shared,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // CSV cells are trimmed, so a path id is too: `abc%20` is customer `abc` everywhere.
    let id = id.trim().to_string();
    let bad_channel = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("channel"),
            "expected \"email\", \"sms\" or \"all\"",
        )
    };
    // An empty body means every channel.
    let body = match super::body(raw)? {
        b if b.iter().all(u8::is_ascii_whitespace) => Value::Null,
        b => match super::parse_json(&b)? {
            Value::Object(o) => Value::Object(o),
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    "expected a JSON object such as {\"channel\": \"email\"}",
                ));
            }
        },
    };
    let channels = match body.get("channel") {
        None => vec![Channel::Email, Channel::Sms],
        Some(Value::String(c)) if c == "all" => vec![Channel::Email, Channel::Sms],
        Some(Value::String(c)) => vec![Channel::parse(c).ok_or_else(bad_channel)?],
        Some(_) => return Err(bad_channel()),
    };
    let channel = if channels.len() == 2 {
        "all"
    } else {
        channels[0].as_str()
    };
    let t = now();
    for c in &channels {
        if !state.store.unsubscribe(&id, *c, t).await? {
            return Err(not_found(&id));
        }
        metrics::counter!(crate::metrics::UNSUBSCRIBES, "channel" => c.as_str(), "source" => "api")
            .increment(1);
    }
    tracing::info!(customer = %id, channel, "unsubscribed through the API");
    let stored = state
        .store
        .customer_by_external_id(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&stored)).into_response())
}
