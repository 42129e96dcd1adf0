//! A language tag as BCP 47 writes it (`hu`, `sk`, `en-GB`), normalised: the language in lower
//! case, a region in upper case, any other subtag as given.

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language(String);

impl Language {
    pub fn parse(raw: &str) -> Result<Language, Invalid> {
        let raw = raw.trim().replace('_', "-");
        let bad = || {
            Invalid(format!(
                "invalid language {raw:?} (expected a tag such as hu, sk or en-GB)"
            ))
        };
        let mut parts = raw.split('-');
        let primary = parts
            .next()
            .filter(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
        let mut out = primary.ok_or_else(bad)?.to_ascii_lowercase();
        for part in parts {
            if !(1..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad());
            }
            out.push('-');
            if part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                out.push_str(&part.to_ascii_uppercase());
            } else {
                out.push_str(part);
            }
        }
        Ok(Language(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language without its region or script (`en` of `en-GB`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        assert_eq!(Language::parse("HU").unwrap().as_str(), "hu");
        assert_eq!(Language::parse("en_gb").unwrap().as_str(), "en-GB");
        assert_eq!(Language::parse("en-GB").unwrap().primary(), "en");
        assert!(Language::parse("hungarian").is_err());
        assert!(Language::parse("h").is_err());
        assert!(Language::parse("en-").is_err());
    }
}
