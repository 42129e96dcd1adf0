//! Dashboard users (`[http] dashboard_users`): their passwords hashed with argon2id, and
//! `rekindle users add NAME` writing the hash into the configuration file — in its
//! `[http.dashboard_users]` table, every other line of the file left as it was.

use argon2::password_hash::PasswordHasher;

/// Shorter passwords are refused: the report shows the whole business.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("{0:?} is not a user name (letters, digits, `-`, `_`, `.`, `@`; at most 64)")]
    Name(String),
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// An argon2id PHC string (`$argon2id$v=19$…`) with a random salt.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// The configuration text with `name = "hash"` set in `[http.dashboard_users]`: replaced if
/// the user is there, added under the table's header if the table is, else the table is
/// appended.
pub fn with_user(config: &str, name: &str, hash: &str) -> String {
    let entry = format!("{name} = \"{hash}\"");
    let lines: Vec<&str> = config.lines().collect();
    let header = lines.iter().position(|l| l.trim() == "[http.dashboard_users]");
    let Some(h) = header else {
        let mut out = config.trim_end().to_string();
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str("# Who may sign in to /report (rekindle users add NAME).\n[http.dashboard_users]\n");
        out.push_str(&entry);
        out.push('\n');
        return out;
    };
    let end = lines[h + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |n| h + 1 + n);
    let key_of = |l: &str| {
        l.split('=')
            .next()
            .map(|k| k.trim().trim_matches('"').to_string())
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match (h + 1..end).find(|&i| key_of(lines[i]).as_deref() == Some(name)) {
        Some(i) => out[i] = entry,
        None => out.insert(h + 1, entry),
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Checks a new user's name and password and returns their hash.
pub fn new_user(name: &str, password: &str) -> Result<String, UserError> {
    if !crate::config::is_user_name(name) {
        return Err(UserError::Name(name.to_string()));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::ShortPassword);
    }
    hash_password(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_added_replaced_or_gets_a_table_and_the_rest_is_kept() {
        let base = "# my settings\n[http]\nlisten = \"0.0.0.0:8080\"\n";
        let one = with_user(base, "anna", "$argon2id$A");
        assert_eq!(
            one,
            "# my settings\n[http]\nlisten = \"0.0.0.0:8080\"\n\n# Who may sign in to /report (rekindle users add NAME).\n[http.dashboard_users]\nanna = \"$argon2id$A\"\n"
        );
        let two = with_user(
            &format!("{one}[sms]\nprovider = \"outbox\"\n"),
            "ben",
            "$argon2id$B",
        );
        assert!(
            two.contains("[http.dashboard_users]\nben = \"$argon2id$B\"\nanna = \"$argon2id$A\"\n[sms]"),
            "{two}"
        );
        let replaced = with_user(&two, "anna", "$argon2id$C");
        assert!(
            replaced.contains("anna = \"$argon2id$C\"") && !replaced.contains("$argon2id$A"),
            "{replaced}"
        );
        assert!(replaced.starts_with("# my settings\n"));
    }

    #[test]
    fn passwords_are_argon2id_and_short_ones_are_refused() {
        assert_eq!(new_user("anna", "short"), Err(UserError::ShortPassword));
        assert_eq!(
            new_user("an na", "long enough pass"),
            Err(UserError::Name("an na".into()))
        );
        let hash = new_user("anna", "correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        use argon2::password_hash::PasswordVerifier;
        let a = argon2::Argon2::default();
        assert!(a.verify_password(b"correct horse battery", hash.as_str()).is_ok());
        assert!(a.verify_password(b"wrong", hash.as_str()).is_err());
    }
}
