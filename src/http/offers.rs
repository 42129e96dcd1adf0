//! `POST /v1/offers/{code}/redeem`: a till redeems a customer's code, exactly once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared, body, now, parse_json};
use crate::offers::{OfferView, Refusal, redeem};

/// The optional body: which event redeemed it, its amount, and when (default: now).
#[derive(Debug, Default)]
struct RedeemRequest {
    event_id: Option<String>,
    amount: Option<f64>,
    at: Option<i64>,
}

/// Reads the body field by field, so that a wrong value is refused naming its field.
fn parse_request(body: &serde_json::Value) -> Result<RedeemRequest, ApiError> {
    let invalid =
        |field: &str, message: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, Some(field), message);
    let serde_json::Value::Object(fields) = body else {
        return Err(invalid("body", "expected a JSON object (or no body)"));
    };
    let mut req = RedeemRequest::default();
    for (key, value) in fields {
        match (key.as_str(), value) {
            (_, serde_json::Value::Null) => {}
            ("event_id", serde_json::Value::String(s)) => {
                req.event_id = Some(s.trim().to_string()).filter(|s| !s.is_empty());
            }
            ("event_id", _) => return Err(invalid("event_id", "expected the redeeming event's id as text")),
            ("amount", serde_json::Value::Number(n)) => match n.as_f64() {
                Some(a) if a.is_finite() && a.abs() < crate::import::MAX_AMOUNT => req.amount = Some(a),
                _ => {
                    return Err(invalid(
                        "amount",
                        "amount must be between -999999999999 and 999999999999",
                    ));
                }
            },
            ("amount", _) => return Err(invalid("amount", "expected a number like 12.5")),
            ("at", serde_json::Value::String(t)) => {
                req.at = Some(crate::domain::parse_rfc3339(t).map_err(|_| {
                    invalid("at", "invalid timestamp (expected RFC 3339 with an offset, e.g. 2026-05-01T10:00:00+02:00)")
                })?);
            }
            ("at", _) => return Err(invalid("at", "expected an RFC 3339 timestamp as text")),
            (other, _) => {
                return Err(invalid(other, "unknown field (expected event_id, amount or at)"));
            }
        }
    }
    Ok(req)
}

pub async fn redeem_offer(
    State(state): Shared,
    Path(code): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(raw)?;
    let req = if bytes.iter().all(u8::is_ascii_whitespace) {
        RedeemRequest::default()
    } else {
        parse_request(&parse_json(&bytes)?)?
    };
    let at = req.at.unwrap_or_else(now);
    let event = req.event_id.as_deref();
    let accept_expired = state.config.offers.accept_expired;
    match redeem(&state.store, &code, at, event, req.amount, accept_expired).await? {
        Ok(o) => Ok((StatusCode::OK, Json(OfferView::from(&o))).into_response()),
        Err(r) => {
            let status = match r {
                Refusal::Unknown => StatusCode::NOT_FOUND,
                Refusal::AlreadyRedeemed(_) => StatusCode::CONFLICT,
                Refusal::Expired(_) => StatusCode::GONE,
            };
            Err(ApiError::new(status, Some("code"), r.to_string()))
        }
    }
}
