//! Event kinds: the words rules name (`visit`, `booking`), one spelling each.

/// Kinds are what rules name (`visit`, `booking`): lower-case words, so `Visit ` and `visit`
/// cannot silently become two kinds.
pub fn parse_kind(raw: &str) -> Result<String, String> {
    let kind = raw.trim().to_ascii_lowercase();
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(kind)
    } else {
        Err(format!(
            "kind: invalid event kind {raw:?} (letters, digits, _ - . only)"
        ))
    }
}
