//! SMS providers: `outbox` (the default: one JSON line per message in a file, nothing leaves
//! the machine), `twilio` (its Messages REST API) and `webhook` (the business's own gateway,
//! JSON signed with HMAC-SHA256).

mod outbox;
mod twilio;
pub mod webhook;

use std::time::Duration;

pub use webhook::{SIGNATURE_HEADER, signature};

use super::retry::Failure;
use crate::config::{GATEWAY_SECRET_VAR, Secret, Secrets, SmsConfig, SmsProviderKind, TWILIO_TOKEN_VAR};

#[derive(Debug, thiserror::Error)]
pub enum SmsSetupError {
    #[error("sms.outbox_dir {dir}: {source}")]
    Outbox { dir: String, source: std::io::Error },
    #[error("sms.{provider} needs the environment variable {var}")]
    MissingSecret {
        provider: &'static str,
        var: &'static str,
    },
    #[error("sms: cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

enum Provider {
    Outbox(outbox::Outbox),
    Twilio(twilio::Twilio),
    Webhook(webhook::Webhook),
}

pub struct SmsSender {
    provider: Provider,
}

/// Everything the providers need to know about one SMS.
pub struct Sms<'a> {
    pub message_id: i64,
    pub to: &'a str,
    pub body: &'a str,
}

impl SmsSender {
    pub fn new(
        cfg: &SmsConfig,
        secrets: &Secrets,
        public_url: Option<&str>,
    ) -> Result<SmsSender, SmsSetupError> {
        let secret = |provider, var, value: &Option<Secret>| {
            value
                .as_ref()
                .map(|s| s.expose().to_string())
                .ok_or(SmsSetupError::MissingSecret { provider, var })
        };
        let client = || {
            // One crypto provider for the whole binary (ring, as sqlx and lettre use).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(cfg.timeout.max(Duration::from_secs(1)))
                .build()
        };
        let provider = match cfg.provider {
            SmsProviderKind::Outbox => {
                Provider::Outbox(outbox::Outbox::new(&cfg.outbox_dir).map_err(|source| {
                    SmsSetupError::Outbox {
                        dir: cfg.outbox_dir.display().to_string(),
                        source,
                    }
                })?)
            }
            SmsProviderKind::Twilio => Provider::Twilio(twilio::Twilio {
                client: client()?,
                cfg: cfg.twilio.clone(),
                auth_token: secret("twilio", TWILIO_TOKEN_VAR, &secrets.twilio_auth_token)?,
                status_callback: public_url.map(|u| format!("{}/webhooks/twilio", u.trim_end_matches('/'))),
            }),
            SmsProviderKind::Webhook => Provider::Webhook(webhook::Webhook {
                client: client()?,
                url: cfg.webhook.url.clone(),
                secret: secret("webhook", GATEWAY_SECRET_VAR, &secrets.gateway)?,
            }),
        };
        Ok(SmsSender { provider })
    }

    /// Sends one SMS; returns the provider's reference for it.
    pub async fn send(&self, sms: &Sms<'_>) -> Result<String, Failure> {
        match &self.provider {
            Provider::Outbox(p) => p.send(sms).await,
            Provider::Twilio(p) => p.send(sms).await,
            Provider::Webhook(p) => p.send(sms).await,
        }
    }
}

/// HTTP answers every provider shares: 429 and 5xx are worth retrying (honouring
/// `Retry-After` in seconds), any other 4xx is not.
fn classify_http(
    status: reqwest::StatusCode,
    retry_after: Option<i64>,
    code: Option<String>,
    message: String,
) -> Failure {
    if status.as_u16() == 429 || status.is_server_error() {
        Failure::Transient {
            code: code.or_else(|| Some(status.as_u16().to_string())),
            message,
            retry_after,
            outcome_unknown: false,
            retry_limit: None,
        }
    } else {
        Failure::Permanent {
            code: code.or_else(|| Some(status.as_u16().to_string())),
            message,
            hard_bounce: false,
            opt_out: false,
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
}

/// A request that never got an answer: the network, DNS, a timeout.
fn network_failure(e: &reqwest::Error) -> Failure {
    // A timeout after the request was sent may still have delivered it.
    Failure::transient(format!("request failed: {e}"), e.is_timeout())
}
