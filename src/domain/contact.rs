use std::fmt;
use std::str::FromStr;

use super::Invalid;

/// An email address that lettre will accept as a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, Invalid> {
        let raw = raw.trim();
        // lettre's parser is the one that will build the envelope, so its verdict is the one
        // that matters; it also refuses CR/LF, which keeps header injection out.
        lettre::Address::from_str(raw)
            .map(|_| Email(raw.to_string()))
            .map_err(|_| Invalid(format!("invalid email address {raw:?}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form: `+` then 8 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Accepts the usual human separators (spaces, dashes, dots, parentheses) and drops them.
    pub fn parse(raw: &str) -> Result<Phone, Invalid> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Phone(compact))
        } else {
            Err(Invalid(format!(
                "invalid phone number {:?} (expected E.164: + and 8-15 digits)",
                raw.trim()
            )))
        }
    }

    /// A number as a business's own spreadsheet writes it: international (`+36 30 …`), or
    /// national for `country` (`06 30 123 4567` in Hungary, `0905 123 456` in Slovakia), read
    /// with that country's numbering plan and refused when it is not a valid number there.
    pub fn parse_in(raw: &str, country: Option<phonenumber::country::Id>) -> Result<Phone, Invalid> {
        let trimmed = raw.trim();
        let Some(country) = country.filter(|_| !trimmed.starts_with('+')) else {
            return Phone::parse(raw);
        };
        let invalid = || {
            Invalid(format!(
                "invalid phone number {trimmed:?} (not a valid number in {country:?}, nor E.164)"
            ))
        };
        let number = phonenumber::parse(Some(country), trimmed).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        Phone::parse(&number.format().mode(phonenumber::Mode::E164).to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_needs_a_domain() {
        assert!(Email::parse("anna@example.com").is_ok());
        assert!(Email::parse("anna.example.com").is_err());
        assert!(Email::parse("anna@").is_err());
        assert!(Email::parse("a\r\nBcc: x@y.z").is_err());
    }

    #[test]
    fn national_numbers_are_read_with_their_country_plan() {
        use phonenumber::country::Id;
        let hu = |s| Phone::parse_in(s, Some(Id::HU)).map(|p| p.as_str().to_string());
        assert_eq!(hu("06 30 123 4567").as_deref(), Ok("+36301234567"));
        assert_eq!(hu("+36 30 123 4567").as_deref(), Ok("+36301234567"));
        assert!(hu("06 30 123").is_err(), "too short for Hungary");
        let sk = Phone::parse_in("0905 123 456", Some(Id::SK)).unwrap();
        assert_eq!(sk.as_str(), "+421905123456");
        // Without a country, only E.164 is accepted, as before.
        assert!(Phone::parse_in("06 30 123 4567", None).is_err());
    }

    #[test]
    fn phone_drops_separators_and_checks_length() {
        assert_eq!(Phone::parse("+36 30 123-4567").unwrap().as_str(), "+36301234567");
        assert!(Phone::parse("06301234567").is_err(), "no plus");
        assert!(Phone::parse("+1234567").is_err(), "7 digits");
        assert!(Phone::parse("+1234567890123456").is_err(), "16 digits");
        assert!(Phone::parse("+3630abc4567").is_err());
    }
}
