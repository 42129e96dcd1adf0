//! The HTTP side of `rekindle serve` (axum): the ingest API behind bearer tokens, the public
//! links in messages, provider callbacks, and the health and metrics endpoints. Handlers are
//! thin: they validate, call the store, and answer JSON (or a small page for people).

mod api;
mod auth;
mod dashboard;
mod offers;
mod ops;
mod public;
pub mod server;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::Config;
use crate::links::LinkSigner;
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

pub use auth::ApiTokens;

/// What every handler may use.
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub rules: watch::Receiver<Option<Arc<RuleSet>>>,
    pub tokens: ApiTokens,
    pub links: Option<LinkSigner>,
    /// Signs the dashboard's session cookies (`REKINDLE_LINK_SECRET`, with or without
    /// `public_url`).
    pub sessions: Option<LinkSigner>,
    pub twilio_auth_token: Option<String>,
    pub gateway_secret: Option<String>,
    pub metrics: Option<PrometheusHandle>,
    /// Whether scheduled evaluations keep failing (`/readyz` says so).
    pub evaluations: Arc<crate::serve::evaluations::EvaluationHealth>,
}

impl AppState {
    /// The state of a configuration (its secrets came from the environment with it).
    pub fn new(
        store: Store,
        config: Arc<Config>,
        rules: watch::Receiver<Option<Arc<RuleSet>>>,
        metrics: Option<PrometheusHandle>,
    ) -> Result<AppState, crate::links::SecretError> {
        let s = &config.secrets;
        let signer = LinkSigner::from_secrets(config.public_url.as_deref(), s)?;
        if signer.is_none() && !config.http.dashboard_users.is_empty() {
            return Err(crate::links::SecretError::Missing {
                what: "http.dashboard_users",
            });
        }
        let sessions = signer.clone();
        let links = signer.filter(LinkSigner::has_public_url);
        let expose = |v: &Option<crate::config::Secret>| v.as_ref().map(|s| s.expose().to_string());
        Ok(AppState {
            tokens: ApiTokens::parse(s.api_tokens.as_ref().map_or("", |t| t.expose())),
            links,
            sessions,
            twilio_auth_token: expose(&s.twilio_auth_token),
            gateway_secret: expose(&s.gateway),
            store,
            config,
            rules,
            metrics,
            evaluations: Arc::default(),
        })
    }
}

pub type Shared = State<Arc<AppState>>;

/// Every route of the service.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.http.max_body_bytes;
    let api = Router::new()
        .route("/v1/events", post(api::post_events))
        .route(
            "/v1/customers/{id}",
            get(api::get_customer)
                .put(api::put_customer)
                .delete(api::delete_customer),
        )
        .route("/v1/customers/{id}/unsubscribe", post(api::unsubscribe_customer))
        .route("/v1/offers/{code}/redeem", post(offers::redeem_offer))
        .route("/webhooks/bounce", post(webhooks::bounce))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .merge(api)
        .route(
            "/u/{token}",
            get(public::unsubscribe_page).post(public::unsubscribe_now),
        )
        .route("/c/{token}", get(public::click))
        .route("/o/{token}", get(public::open_pixel))
        .route("/webhooks/twilio", post(webhooks::twilio))
        .route("/webhooks/gateway", post(webhooks::gateway))
        .route("/report", get(dashboard::report))
        .route("/report/rules/{id}", get(dashboard::report_rule))
        .route("/login", get(dashboard::login_form).post(dashboard::login))
        .route("/logout", post(dashboard::logout))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, None, "no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        // A body that trickles in is cut off: a slow client must not hold a connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.config.http.body_timeout,
        ))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Counts and logs every request by route pattern and status. The pattern, not the path: a
/// path may carry a signed token or a customer id, and tokens stay out of logs.
async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics::counter!(crate::metrics::HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    tracing::info!(%method, route, status, ms = started.elapsed().as_millis() as u64, "http request");
    response
}

/// The longest error text (and field name) an answer carries.
const MAX_ERROR_CHARS: usize = 300;

/// A JSON error: `{"error": "...", "field": "..."}` with a 4xx or 5xx status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    field: Option<String>,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// The message is clipped: an error about a 900 KB value must not send the value back.
    pub fn new(status: StatusCode, field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: field.map(|f| crate::domain::clip(f, MAX_ERROR_CHARS)),
            message: crate::domain::clip(&message.into(), MAX_ERROR_CHARS),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            field: self.field.as_deref(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        // The detail goes to the log, not to the caller.
        tracing::error!(error = %e, "store error while answering a request");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the store is unavailable; retry later",
        )
    }
}

/// The request body, or a JSON error when it is too large or unreadable.
fn body(raw: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    raw.map_err(|r| ApiError::new(r.status(), None, r.body_text()))
}

/// Parses a JSON body; a syntax or type error names where it is.
fn json_body(raw: Result<Bytes, BytesRejection>) -> Result<serde_json::Value, ApiError> {
    parse_json(&body(raw)?)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, None, format!("malformed JSON: {e}")))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
