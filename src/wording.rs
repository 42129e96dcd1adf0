//! The words customers see — the unsubscribe pages and the email footer — one TOML file per
//! language in `wording/`, chosen like a message's translation: the customer's exact tag, else the same
//! language, else `[messages] default_language`, else English.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageTexts {
    pub invalid_title: String,
    pub invalid_body: String,
    pub unsubscribe_title: String,
    pub unsubscribe_question: String,
    pub unsubscribe_button: String,
    pub done_title: String,
    pub done_body: String,
    /// `{name}` is the business's name.
    pub sent_by: String,
    /// The email footer: why the customer gets this (`{name}`: the business).
    pub email_reason: String,
    /// The email footer's unsubscribe link.
    pub email_unsubscribe: String,
    /// Without one-click links: `{address}` and `{subject}` of the reply that unsubscribes.
    pub email_unsubscribe_mailto: String,
}

/// Every language the pages speak: add a file and a line here.
const FILES: [(&str, &str); 3] = [
    ("en", include_str!("wording/en.toml")),
    ("hu", include_str!("wording/hu.toml")),
    ("sk", include_str!("wording/sk.toml")),
];

/// The shipped files, parsed once: the email footer is composed for every message sent,
/// and parsing its file each time was 2–3 % of a delivery's CPU (BENCHMARKS.md).
static PARSED: std::sync::LazyLock<Vec<(&str, PageTexts)>> = std::sync::LazyLock::new(|| {
    FILES
        .iter()
        .map(|(tag, text)| {
            (
                *tag,
                toml::from_str(text).expect("the shipped page texts parse (tested)"),
            )
        })
        .collect()
});

/// The texts for a customer who reads `language` (`None`: unknown).
pub fn texts(language: Option<&str>, default_language: &str) -> &'static PageTexts {
    let primary = |tag: &str| tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
    let pick = |tag: &str| {
        PARSED
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(tag))
            .or_else(|| PARSED.iter().find(|(t, _)| *t == primary(tag)))
    };
    let (_, texts) = language
        .and_then(pick)
        .or_else(|| pick(default_language))
        .unwrap_or(&PARSED[0]);
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_language_parses_and_is_chosen_like_a_translation() {
        for (tag, _) in FILES {
            assert!(!texts(Some(tag), "en").unsubscribe_button.is_empty());
        }
        assert_eq!(texts(Some("hu-HU"), "en").unsubscribe_button, "Leiratkozom");
        assert_eq!(texts(Some("de"), "sk").unsubscribe_button, "Odhlásiť sa");
        assert_eq!(texts(None, "xx").unsubscribe_button, "Unsubscribe");
    }
}
