//! Provider callbacks: Twilio (status callbacks and inbound replies), the business's own SMS
//! gateway, and bounce reports. Every request is authenticated (a provider signature, or the
//! API's bearer token for bounces); receipts only ever move a message forward.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Shared, body, now};
use crate::domain::Phone;
use crate::rules::Channel;
use crate::store::{Receipt, SentMessage};

/// Twilio's error for "the recipient replied STOP": sending again is refused, so the number
/// counts as unsubscribed.
const TWILIO_UNSUBSCRIBED: &str = "21610";

/// `X-Twilio-Signature`: base64 HMAC-SHA1 under the auth token of the full URL Twilio called
/// followed by every POST parameter, name then value, sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, None, message)
}

/// What an inbound SMS asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
    None,
}

/// Twilio's `OptOutType` when present, else the standard keywords (any case, spaces ignored).
pub fn inbound_keyword(opt_out_type: Option<&str>, body: &str) -> Keyword {
    // Phones insert spaces and people type them: " s t o p " is STOP, as the README promises.
    let word: String = opt_out_type
        .unwrap_or(body)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Keyword::OptOut,
        "START" | "UNSTOP" => Keyword::OptIn,
        "HELP" => Keyword::Help,
        _ => Keyword::None,
    }
}

pub async fn twilio(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (Some(token), Some(base)) = (&state.twilio_auth_token, &state.config.public_url) else {
        return Err(forbidden(
            "Twilio callbacks need public_url and REKINDLE_TWILIO_AUTH_TOKEN to be configured",
        ));
    };
    let bytes = body(raw)?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, None, format!("malformed form body: {e}")))?;
    // The URL as Twilio was told it: the configured public URL, not whatever Host a proxy sent.
    let mut url = format!("{}/webhooks/twilio", base.trim_end_matches('/'));
    if let Some(q) = query {
        url.push('?');
        url.push_str(&q);
    }
    let expected = twilio_signature(token, &url, &params);
    let presented = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::links::same_secret(&expected, presented) {
        tracing::warn!("rejected a Twilio callback with a missing or wrong signature");
        return Err(forbidden("invalid X-Twilio-Signature"));
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(status) = param("MessageStatus") {
        let sid = param("MessageSid").unwrap_or("");
        let code = param("ErrorCode").filter(|c| !c.is_empty() && *c != "0");
        let receipt = match status {
            "delivered" => Some(Receipt::Delivered),
            "undelivered" | "failed" => Some(Receipt::Failed {
                reason: if status == "failed" {
                    "provider_failed"
                } else {
                    "undelivered"
                },
                code,
            }),
            // queued, sending, sent, accepted…: nothing the ledger does not know.
            _ => None,
        };
        if let (Some(receipt), Some(m)) = (receipt, state.store.message_by_provider_ref(sid).await?) {
            apply_receipt(&state, &m, receipt).await?;
            if code == Some(TWILIO_UNSUBSCRIBED) {
                state
                    .store
                    .unsubscribe_by_message(m.id, Channel::Sms, now())
                    .await?;
            }
        }
    } else if let Some(from) = param("From") {
        let keyword = inbound_keyword(param("OptOutType"), param("Body").unwrap_or(""));
        if let (Ok(phone), Keyword::OptOut | Keyword::OptIn) = (Phone::parse(from), keyword) {
            let subscribed = keyword == Keyword::OptIn;
            let n = state
                .store
                .set_sms_subscription(phone.as_str(), subscribed, now())
                .await?;
            metrics::counter!(crate::metrics::UNSUBSCRIBES, "channel" => "sms",
                "source" => if subscribed { "sms_start" } else { "sms_stop" })
            .increment(n);
            tracing::info!(customers = n, subscribed, "SMS keyword reply");
        }
    }
    // An empty TwiML answer: no automatic reply from us (Twilio sends its own STOP/HELP texts).
    Ok((
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
}

async fn apply_receipt(
    state: &super::AppState,
    m: &SentMessage,
    receipt: Receipt<'_>,
) -> Result<bool, ApiError> {
    let applied = state.store.record_receipt(m.id, receipt, now()).await?;
    let status = match receipt {
        Receipt::Delivered => "delivered",
        Receipt::Failed { .. } => "failed",
        Receipt::Bounced { .. } => "bounced",
    };
    if applied {
        metrics::counter!(crate::metrics::RECEIPTS, "channel" => m.channel.as_str(), "status" => status)
            .increment(1);
        tracing::info!(message = m.id, customer = %m.customer_external_id, rule = %m.rule_id, status, "receipt");
    }
    Ok(applied)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayReceipt {
    id: String,
    status: String,
    #[serde(default)]
    error_code: Option<String>,
}

/// The SMS gateway's receipts: `{"id": "rekindle-42", "status": "delivered"|"failed"|
/// "undelivered", "error_code": "…"}`, signed like the messages we send it.
pub async fn gateway(
    State(state): Shared,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(secret) = &state.gateway_secret else {
        return Err(forbidden(
            "gateway receipts need REKINDLE_SMS_WEBHOOK_SECRET to be configured",
        ));
    };
    let bytes = body(raw)?;
    let expected = crate::delivery::sms::webhook::signature(secret, &bytes);
    let presented = headers
        .get(crate::delivery::sms::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::links::same_secret(&expected, presented) {
        tracing::warn!("rejected a gateway receipt with a missing or wrong signature");
        return Err(forbidden("invalid X-Rekindle-Signature"));
    }
    let r: GatewayReceipt = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            format!("invalid receipt: {e}"),
        )
    })?;
    let receipt = match r.status.as_str() {
        "delivered" => Receipt::Delivered,
        "failed" | "undelivered" => Receipt::Failed {
            reason: "undelivered",
            code: r.error_code.as_deref(),
        },
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("status"),
                "expected \"delivered\", \"failed\" or \"undelivered\"",
            ));
        }
    };
    // A receipt speaks for the gateway's own channel: a signed receipt naming an email's
    // reference must not move that email (the references of the two channels can be guessed).
    let Some(m) = state
        .store
        .message_by_provider_ref(&r.id)
        .await?
        .filter(|m| m.channel == crate::domain::Channel::Sms)
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Some("id"),
            "no SMS message with this id",
        ));
    };
    let applied = apply_receipt(&state, &m, receipt).await?;
    Ok(Json(json!({"applied": applied})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BounceReport {
    message_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    code: Option<String>,
}

/// A bounce that arrived after the SMTP server accepted the message (a DSN read by the
/// business's mail system): `{"message_id": "<rekindle.42@example.com>", "type": "hard" |
/// "soft", "code": "5.1.1"}`. A hard bounce suppresses future email to that address.
pub async fn bounce(State(state): Shared, raw: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let bytes = body(raw)?;
    let r: BounceReport = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            format!("invalid bounce report: {e}"),
        )
    })?;
    let hard = match r.kind.as_str() {
        "hard" => true,
        "soft" => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("type"),
                "expected \"hard\" or \"soft\"",
            ));
        }
    };
    let bare = r.message_id.trim().trim_start_matches('<').trim_end_matches('>');
    let Some(m) = state.store.message_by_provider_ref(&format!("<{bare}>")).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Some("message_id"),
            "no message with this Message-ID",
        ));
    };
    // A soft bounce changes nothing: the mail system retries on its own.
    let applied = if hard {
        let applied = apply_receipt(
            &state,
            &m,
            Receipt::Bounced {
                code: r.code.as_deref(),
            },
        )
        .await?;
        state.store.mark_email_bounced(m.id, now()).await?;
        applied
    } else {
        false
    };
    Ok(Json(json!({"applied": applied})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // From Twilio's "Validating signatures" documentation.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn opt_out_keywords_in_any_case_with_spaces() {
        for w in [
            "STOP",
            " stop ",
            "StopAll",
            "unsubscribe",
            "CANCEL",
            "end",
            "Quit",
        ] {
            assert_eq!(inbound_keyword(None, w), Keyword::OptOut, "{w}");
        }
        assert_eq!(inbound_keyword(None, "start"), Keyword::OptIn);
        assert_eq!(inbound_keyword(None, " UNSTOP"), Keyword::OptIn);
        assert_eq!(inbound_keyword(None, "help"), Keyword::Help);
        assert_eq!(inbound_keyword(None, "please stop"), Keyword::None);
        assert_eq!(
            inbound_keyword(Some("STOP"), "arrêtez"),
            Keyword::OptOut,
            "OptOutType wins"
        );
    }
}
