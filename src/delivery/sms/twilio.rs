//! Twilio's Messages API: a form POST with basic auth; errors carry Twilio's own codes.

use serde::Deserialize;

use super::{Failure, Sms, classify_http, network_failure, retry_after};
use crate::config::TwilioConfig;

pub struct Twilio {
    pub client: reqwest::Client,
    pub cfg: TwilioConfig,
    pub auth_token: String,
    pub status_callback: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
}

/// Codes that no retry can fix: invalid or unreachable numbers, and 21610, the recipient
/// replied STOP (which also unsubscribes them).
const PERMANENT: [i64; 6] = [21211, 21610, 21612, 21614, 21635, 30006];
/// "Unreachable destination handset": worth a few more tries, not a whole day of them.
const BOUNDED_RETRY: i64 = 30003;
const BOUNDED_RETRY_ATTEMPTS: u32 = 3;
const OPTED_OUT: i64 = 21610;

impl Twilio {
    pub async fn send(&self, sms: &Sms<'_>) -> Result<String, Failure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.cfg.base_url.trim_end_matches('/'),
            self.cfg.account_sid
        );
        let mut form = vec![
            ("To", sms.to),
            ("From", self.cfg.from.as_str()),
            ("Body", sms.body),
        ];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb.as_str()));
        }
        let response = self
            .client
            .post(&url)
            .basic_auth(&self.cfg.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| network_failure(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str::<Created>(&text)
                .map(|c| c.sid)
                .map_err(|_| Failure::Transient {
                    code: None,
                    message: "Twilio accepted the message but its answer had no sid".into(),
                    retry_after: None,
                    // It was accepted: sending again could duplicate it.
                    outcome_unknown: true,
                    retry_limit: Some(1),
                });
        }
        let err: ApiError = serde_json::from_str(&text).unwrap_or(ApiError {
            code: None,
            message: None,
        });
        let message = err.message.unwrap_or_else(|| format!("HTTP {status}"));
        match err.code {
            Some(code) if PERMANENT.contains(&code) => Err(Failure::Permanent {
                code: Some(code.to_string()),
                message,
                hard_bounce: false,
                opt_out: code == OPTED_OUT,
            }),
            Some(BOUNDED_RETRY) => Err(Failure::Transient {
                code: Some(BOUNDED_RETRY.to_string()),
                message,
                retry_after: wait,
                outcome_unknown: false,
                retry_limit: Some(BOUNDED_RETRY_ATTEMPTS),
            }),
            code => Err(classify_http(status, wait, code.map(|c| c.to_string()), message)),
        }
    }
}
