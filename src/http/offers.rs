//! `POST /v1/offers/{code}/redeem`: a till redeems a customer's code, exactly once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, Shared, body, now, parse_json};
use crate::offers::{OfferView, Refusal, redeem};

/// The optional body: which event redeemed it, its amount, and when (default: now).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemRequest {
    event_id: Option<String>,
    amount: Option<f64>,
    at: Option<String>,
}

pub async fn redeem_offer(
    State(state): Shared,
    Path(code): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(raw)?;
    let req: RedeemRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        RedeemRequest::default()
    } else {
        parse_json(&bytes)?
    };
    let at = match &req.at {
        None => now(),
        Some(t) => crate::domain::parse_rfc3339(t).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("at"),
                format!("invalid timestamp {t:?} (expected RFC 3339 with an offset)"),
            )
        })?,
    };
    if let Some(a) = req.amount
        && !(a.is_finite() && a.abs() < crate::import::MAX_AMOUNT)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amount"),
            "amount must be a number between -999999999999 and 999999999999",
        ));
    }
    let event = req.event_id.as_deref().map(str::trim).filter(|e| !e.is_empty());
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
