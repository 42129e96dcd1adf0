//! The business's own SMS gateway: a JSON POST signed with HMAC-SHA256 over the exact body.

use hmac::{KeyInit, Mac};
use serde_json::json;

use super::{Failure, Sms, classify_http, network_failure, retry_after};

/// The header carrying `sha256=<hex>` of the body under the shared secret.
pub const SIGNATURE_HEADER: &str = "X-Rekindle-Signature";

pub struct Webhook {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: String,
}

/// `sha256=<hex HMAC>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub async fn send(&self, sms: &Sms<'_>) -> Result<String, Failure> {
        let id = format!("rekindle-{}", sms.message_id);
        let body = json!({"id": id, "to": sms.to, "body": sms.body}).to_string();
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, body.as_bytes()))
            .body(body)
            .send()
            .await
            .map_err(|e| network_failure(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(id);
        }
        let wait = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        Err(classify_http(
            status,
            wait,
            None,
            format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()),
        ))
    }
}
