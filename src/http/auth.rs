//! Bearer tokens for the ingest API. With no token configured the API refuses everything:
//! it never runs open by accident.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// The accepted tokens, kept as SHA-256 digests: comparing fixed-length digests in constant
/// time reveals neither a token's content nor its length.
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<[u8; 32]>);

impl ApiTokens {
    /// Comma-separated tokens; blanks are ignored.
    pub fn parse(list: &str) -> ApiTokens {
        ApiTokens(
            list.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every token is compared, so the time does not tell which one matched.
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |acc, t| acc | t.ct_eq(&digest))
            .into()
    }
}

pub async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let unauthorized = |message: &str| {
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, None, message).into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        r
    };
    if state.tokens.is_empty() {
        return unauthorized(
            "no API token is configured (REKINDLE_API_TOKENS): the API refuses every request",
        );
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(token) if state.tokens.accepts(token) => next.run(request).await,
        Some(_) => unauthorized("invalid bearer token"),
        None => unauthorized("missing bearer token (Authorization: Bearer <token>)"),
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme name is case-insensitive
/// (RFC 7235 §2.1), so `bearer` and `BEARER` are the same scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_is_not() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn only_configured_tokens_are_accepted() {
        let t = ApiTokens::parse(" alpha , ,beta");
        assert!(t.accepts("alpha") && t.accepts("beta"));
        assert!(!t.accepts("alph") && !t.accepts("") && !t.accepts("alpha,beta"));
        assert!(ApiTokens::parse("").is_empty());
    }
}
