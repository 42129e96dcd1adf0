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
    /// A dashboard session cookie (never a URL).
    Session,
}

impl LinkKind {
    fn path(self) -> &'static str {
        match self {
            LinkKind::Unsubscribe => "u",
            LinkKind::Click => "c",
            LinkKind::Open => "o",
            LinkKind::Session => "s",
        }
    }
}

pub use crate::config::{MIN_SECRET_BYTES, SECRET_VAR, SecretError};

impl LinkSigner {
    /// The signer of a configuration: with `public_url` the secret is required; without it a
    /// secret still signs the tokens of mailto unsubscribes. `None` when neither is set; an
    /// error when the secret is too short (see `config::Secrets`).
    pub fn from_secrets(
        public_url: Option<&str>,
        secrets: &crate::config::Secrets,
    ) -> Result<Option<LinkSigner>, SecretError> {
        let secret = secrets.link_secret()?.map(|s| s.expose().as_bytes());
        match (public_url, secret) {
            (Some(url), Some(secret)) => Ok(Some(LinkSigner::new(url, secret))),
            (Some(_), None) => Err(SecretError::Missing { what: "public_url" }),
            (None, Some(secret)) => Ok(Some(LinkSigner::new("", secret))),
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

    /// A session cookie's value: the user and when it expires, signed.
    pub fn session_token(&self, user: &str, expires: i64) -> String {
        self.sign(LinkKind::Session, &format!("{user}.{expires}"))
    }

    /// The user of a genuine session cookie that has not expired at `now`.
    pub fn verify_session(&self, token: &str, now: i64) -> Option<String> {
        let payload = self.open(LinkKind::Session, token)?;
        let (user, expires) = payload.rsplit_once('.')?;
        (expires.parse::<i64>().ok()? > now).then(|| user.to_string())
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

/// Marks where template output came from a variable: the renderer wraps every value it
/// prints in these two private-use characters (`rules::Templates`), and `tracked_urls` takes
/// them out again. Text inside them is customer data and never becomes a tracked link.
pub const DATA_START: char = '\u{E000}';
pub const DATA_END: char = '\u{E001}';

/// Takes the data marks out of rendered text, returning the plain text and the URLs that may
/// become tracked links, in order: those whose scheme and host were written by the marketer
/// (a variable may fill in a path or query, never the destination), and that are safe to put
/// in a `Location` header (no control characters, no spaces).
pub fn tracked_urls(marked: &str) -> (String, Vec<String>) {
    let plain: String = marked
        .chars()
        .filter(|c| *c != DATA_START && *c != DATA_END)
        .collect();
    let mut links = Vec::new();
    // Walk the marked text with the same URL finder, tracking whether we are inside data.
    let mut offset = 0;
    for segment in segments(marked) {
        let (text, is_url) = match segment {
            Segment::Text(t) => (t, false),
            Segment::Url(u) => (u, true),
        };
        let before = &marked[..offset];
        let depth = before.matches(DATA_START).count() as i64 - before.matches(DATA_END).count() as i64;
        if is_url && depth <= 0 {
            let authority_end = text
                .find("://")
                .map(|s| s + 3)
                .and_then(|s| text[s..].find(['/', '?', '#']).map(|e| s + e))
                .unwrap_or(text.len());
            let clean: String = text
                .chars()
                .filter(|c| *c != DATA_START && *c != DATA_END)
                .collect();
            let host_from_marketer = !text[..authority_end].contains([DATA_START, DATA_END]);
            let header_safe = !clean.chars().any(|c| c.is_control() || c.is_whitespace());
            if host_from_marketer && header_safe {
                links.push(clean);
            }
        }
        offset += text.len();
    }
    (plain, links)
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
        let secrets = |value: &str| {
            let value = value.to_string();
            crate::config::Secrets::read(move |name| (name == SECRET_VAR).then(|| value.clone()))
        };
        let url = Some("https://r.example");
        assert_eq!(
            LinkSigner::from_secrets(url, &secrets("a")).err(),
            Some(SecretError::TooShort(1))
        );
        assert!(LinkSigner::from_secrets(url, &secrets(&"x".repeat(31))).is_err());
        assert!(LinkSigner::from_secrets(url, &secrets(&"x".repeat(32))).is_ok());
        assert!(matches!(
            LinkSigner::from_secrets(url, &secrets("")),
            Err(SecretError::Missing { .. })
        ));
        assert!(matches!(LinkSigner::from_secrets(None, &secrets("")), Ok(None)));
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
    fn only_urls_the_marketer_wrote_are_tracked() {
        let d = |s: &str| format!("{DATA_START}{s}{DATA_END}");
        // A URL inside customer data is text; the marketer's own URL is tracked, also with a
        // query a variable filled in.
        let marked = format!(
            "Hi {}, book at https://cafe.example/book?c={} now",
            d("Bob https://evil.example/phish"),
            d("c 42")
        );
        let (plain, links) = tracked_urls(&marked);
        assert_eq!(
            plain,
            "Hi Bob https://evil.example/phish, book at https://cafe.example/book?c=c 42 now"
        );
        assert_eq!(links, ["https://cafe.example/book?c=c"]);
        // A variable may not choose the host.
        let (_, links) = tracked_urls(&format!("https://{}/x", d("evil.example")));
        assert!(links.is_empty(), "{links:?}");
        let (_, links) = tracked_urls(&format!("https://cafe.example{}", d(".evil.example/")));
        assert!(links.is_empty(), "{links:?}");
        // A control character (which made /c/… answer 500) keeps a URL out of tracking.
        let (_, links) = tracked_urls(&format!("https://cafe.example/?n={}", d("a\u{7}b")));
        assert!(links.is_empty(), "{links:?}");
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
