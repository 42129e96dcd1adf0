//! Signed links in messages: one-click unsubscribe (and, with the service, click and open
//! tracking). A token is the message id and an HMAC over it, so links cannot be forged or
//! enumerated without the secret (`REKINDLE_LINK_SECRET`).

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

/// Where links point, and the key that signs them.
#[derive(Clone)]
pub struct LinkSigner {
    base: String,
    secret: Vec<u8>,
}

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Unsubscribe,
    Click,
    Open,
}

impl LinkKind {
    fn path(self) -> &'static str {
        match self {
            LinkKind::Unsubscribe => "u",
            LinkKind::Click => "c",
            LinkKind::Open => "o",
        }
    }
}

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

/// The signing secret from the environment: `None` when unset, an error when too short.
pub fn secret_from_env() -> Result<Option<Vec<u8>>, SecretError> {
    let secret = std::env::var(SECRET_VAR).ok().filter(|s| !s.trim().is_empty());
    check_secret(secret.map(String::into_bytes))
}

fn check_secret(secret: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, SecretError> {
    match secret {
        Some(s) if s.len() < MIN_SECRET_BYTES => Err(SecretError::TooShort(s.len())),
        other => Ok(other),
    }
}

impl LinkSigner {
    /// The signer of a configuration: with `public_url` the secret is required; without it a
    /// secret still signs the tokens of mailto unsubscribes. `None` when neither is set.
    pub fn from_env(public_url: Option<&str>) -> Result<Option<LinkSigner>, SecretError> {
        match (public_url, secret_from_env()?) {
            (Some(url), Some(secret)) => Ok(Some(LinkSigner::new(url, &secret))),
            (Some(_), None) => Err(SecretError::Missing { what: "public_url" }),
            (None, Some(secret)) => Ok(Some(LinkSigner::new("", &secret))),
            (None, None) => Ok(None),
        }
    }

    /// Whether links can point anywhere (`public_url` is set), not only sign tokens.
    pub fn has_public_url(&self) -> bool {
        !self.base.is_empty()
    }

    pub fn new(public_url: &str, secret: &[u8]) -> LinkSigner {
        LinkSigner {
            base: public_url.trim_end_matches('/').to_string(),
            secret: secret.to_vec(),
        }
    }

    /// The kind is part of what is signed: an open token is not an unsubscribe token.
    fn mac(&self, kind: LinkKind, payload: &str) -> String {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(format!("{}:{payload}", kind.path()).as_bytes());
        // 128 bits are plenty against guessing and keep URLs short.
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    fn sign(&self, kind: LinkKind, payload: &str) -> String {
        format!("{payload}.{}", self.mac(kind, payload))
    }

    /// The payload of a genuine token (constant-time comparison of the tag).
    fn open<'t>(&self, kind: LinkKind, token: &'t str) -> Option<&'t str> {
        let (payload, tag) = token.rsplit_once('.')?;
        same_secret(&self.mac(kind, payload), tag).then_some(payload)
    }

    /// The token of an unsubscribe or open link of a message.
    pub fn token(&self, kind: LinkKind, message_id: i64) -> String {
        self.sign(kind, &message_id.to_string())
    }

    pub fn url(&self, kind: LinkKind, message_id: i64) -> String {
        format!("{}/{}/{}", self.base, kind.path(), self.token(kind, message_id))
    }

    /// The tracking link standing for the `n`th URL (from 0) of a message's body.
    pub fn click_url(&self, message_id: i64, n: usize) -> String {
        format!(
            "{}/c/{}",
            self.base,
            self.sign(LinkKind::Click, &format!("{message_id}-{n}"))
        )
    }

    /// The message id an unsubscribe or open token stands for, if the token is genuine.
    pub fn verify(&self, kind: LinkKind, token: &str) -> Option<i64> {
        self.open(kind, token)?.parse().ok()
    }

    /// The message id and link number of a genuine click token.
    pub fn verify_click(&self, token: &str) -> Option<(i64, usize)> {
        let (id, n) = self.open(LinkKind::Click, token)?.split_once('-')?;
        Some((id.parse().ok()?, n.parse().ok()?))
    }
}

/// Whether a presented signature equals the expected one, in constant time: comparing
/// byte by byte with an early exit would tell a forger how much of a guess was right.
pub fn same_secret(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A piece of a message body: plain text, or a URL a customer can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Url(&'a str),
}

/// Splits a body into text and `http(s)://` URLs, in order. The click endpoint numbers URLs
/// the same way, so a click token can only ever lead to a URL that was in its message.
pub fn segments(body: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = find_scheme(rest) {
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        // Sentence punctuation right after a URL is not part of it.
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')']) {
            end -= 1;
        }
        let url = &tail[..end];
        if url.len() <= "https://".len() {
            out.push(Segment::Text(&rest[..start + end.max(1)]));
            rest = &rest[start + end.max(1)..];
            continue;
        }
        if start > 0 {
            out.push(Segment::Text(&rest[..start]));
        }
        out.push(Segment::Url(url));
        rest = &tail[end..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

fn find_scheme(s: &str) -> Option<usize> {
    match (s.find("https://"), s.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `n`th URL of a body, if it has that many.
pub fn nth_url(body: &str, n: usize) -> Option<&str> {
    segments(body)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Url(u) => Some(u),
            Segment::Text(_) => None,
        })
        .nth(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let s = LinkSigner::new("https://engage.example.com/", b"secret");
        let t = s.token(LinkKind::Unsubscribe, 42);
        assert_eq!(s.verify(LinkKind::Unsubscribe, &t), Some(42));
        assert!(
            s.url(LinkKind::Unsubscribe, 42)
                .starts_with("https://engage.example.com/u/42.")
        );
        let tampered = t.replacen("42.", "43.", 1);
        assert_eq!(s.verify(LinkKind::Unsubscribe, &tampered), None, "another id");
        let other = LinkSigner::new("https://engage.example.com", b"other");
        assert_eq!(other.verify(LinkKind::Unsubscribe, &t), None, "another key");
        assert_eq!(s.verify(LinkKind::Unsubscribe, "42"), None);
        assert_eq!(s.verify(LinkKind::Unsubscribe, "x.y"), None);
        let open = s.token(LinkKind::Open, 42);
        assert_eq!(
            s.verify(LinkKind::Unsubscribe, &open),
            None,
            "an open token does not unsubscribe"
        );
    }

    #[test]
    fn a_short_secret_is_refused_and_says_how_to_make_one() {
        assert_eq!(check_secret(Some(b"a".to_vec())), Err(SecretError::TooShort(1)));
        assert!(check_secret(Some(vec![b'x'; 31])).is_err());
        assert!(check_secret(Some(vec![b'x'; 32])).is_ok());
        assert_eq!(check_secret(None), Ok(None));
        let msg = SecretError::TooShort(1).to_string();
        assert!(
            msg.contains("at least 32") && msg.contains("openssl rand"),
            "{msg}"
        );
    }

    #[test]
    fn click_tokens_carry_the_link_number_and_cannot_be_renumbered() {
        let s = LinkSigner::new("https://e.example", b"k");
        let url = s.click_url(7, 2);
        let token = url.strip_prefix("https://e.example/c/").unwrap();
        assert_eq!(s.verify_click(token), Some((7, 2)));
        assert_eq!(s.verify_click(&token.replacen("7-2", "7-3", 1)), None);
        assert_eq!(s.verify(LinkKind::Click, token), None);
    }

    #[test]
    fn urls_are_found_without_trailing_punctuation() {
        let body = "Book at https://cafe.example/book?x=1&y=2. Or see (http://cafe.example/menu), bye";
        assert_eq!(
            segments(body),
            [
                Segment::Text("Book at "),
                Segment::Url("https://cafe.example/book?x=1&y=2"),
                Segment::Text(". Or see ("),
                Segment::Url("http://cafe.example/menu"),
                Segment::Text("), bye"),
            ]
        );
        assert_eq!(nth_url(body, 1), Some("http://cafe.example/menu"));
        assert_eq!(nth_url(body, 2), None);
        assert_eq!(
            segments("just https:// here"),
            [Segment::Text("just https://"), Segment::Text(" here")]
        );
    }
}
