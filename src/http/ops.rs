//! For operations: liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;

/// Alive: the process answers.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready: the store answers, a valid rule set is loaded, and scheduled evaluations are not
/// failing again and again.
pub async fn readyz(State(state): Shared) -> Response {
    let rules = state.rules.borrow().as_ref().map(|r| r.rules.len());
    let store = state.store.ping().await;
    let evaluations = state.evaluations.problem();
    let ready = rules.is_some() && store.is_ok() && evaluations.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "store": if store.is_ok() { "ok" } else { "unreachable" },
        "rules": rules,
        "evaluations": evaluations.as_deref().unwrap_or("ok"),
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): Shared) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}
