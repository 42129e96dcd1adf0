//! The secrets, read from the environment once when the configuration is loaded (under
//! systemd, from an EnvironmentFile). They print as `***`, so a `{:?}` of the configuration
//! in a log or an error never shows one.

use std::fmt;

/// The environment variable holding the signing secret.
pub const SECRET_VAR: &str = "REKINDLE_LINK_SECRET";

/// A shorter secret could be guessed offline from one signed link.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{what} needs signed links: set {SECRET_VAR} to at least {MIN_SECRET_BYTES} random bytes (generate one with `openssl rand -hex 32`)"
    )]
    Missing { what: &'static str },
    #[error(
        "{SECRET_VAR} is {0} bytes long; it must be at least {MIN_SECRET_BYTES} (generate one with `openssl rand -hex 32`)"
    )]
    TooShort(usize),
}

/// The environment variables that hold secrets.
pub const API_TOKENS_VAR: &str = "REKINDLE_API_TOKENS";
pub const TWILIO_TOKEN_VAR: &str = "REKINDLE_TWILIO_AUTH_TOKEN";
pub const GATEWAY_SECRET_VAR: &str = "REKINDLE_SMS_WEBHOOK_SECRET";
pub const SMTP_PASSWORD_VAR: &str = "REKINDLE_SMTP_PASSWORD";

/// A value that must not be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// Signs unsubscribe, click and open links and mailto unsubscribe tokens.
    pub link: Option<Secret>,
    /// Comma-separated bearer tokens of the ingest API.
    pub api_tokens: Option<Secret>,
    pub twilio_auth_token: Option<Secret>,
    pub gateway: Option<Secret>,
    pub smtp_password: Option<Secret>,
    /// Why the link secret was refused (too short), kept until something needs links: a
    /// command that signs nothing must not fail over it.
    pub link_problem: Option<SecretError>,
}

impl Secrets {
    /// Reads every secret through `var` (the process environment, or a test's map).
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Secrets {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty()).map(Secret);
        let (link, link_problem) = match get(SECRET_VAR) {
            Some(s) if s.0.len() < MIN_SECRET_BYTES => (None, Some(SecretError::TooShort(s.0.len()))),
            other => (other, None),
        };
        Secrets {
            link,
            api_tokens: get(API_TOKENS_VAR),
            twilio_auth_token: get(TWILIO_TOKEN_VAR),
            gateway: get(GATEWAY_SECRET_VAR),
            smtp_password: get(SMTP_PASSWORD_VAR),
            link_problem,
        }
    }

    /// The link secret, or why there is none that may be used.
    pub fn link_secret(&self) -> Result<Option<&Secret>, SecretError> {
        match &self.link_problem {
            Some(problem) => Err(problem.clone()),
            None => Ok(self.link.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secrets::read(|name| (name == API_TOKENS_VAR).then(|| "hunter2".to_string()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && shown.contains("***"), "{shown}");
        let short = Secrets::read(|name| (name == SECRET_VAR).then(|| "a".to_string()));
        assert_eq!(short.link_secret(), Err(SecretError::TooShort(1)));
    }
}
