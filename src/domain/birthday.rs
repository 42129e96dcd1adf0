use std::fmt;

use jiff::civil::Date;

use super::Invalid;

/// A birthday: a month and day, and the year when the customer gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birthday {
    pub year: Option<i16>,
    pub month: i8,
    pub day: i8,
}

impl Birthday {
    /// `YYYY-MM-DD`, or `--MM-DD` when the year is unknown (the ISO 8601 form).
    pub fn parse(raw: &str) -> Result<Birthday, Invalid> {
        let raw = raw.trim();
        let bad = || {
            Invalid(format!(
                "invalid birthday {raw:?} (expected YYYY-MM-DD or --MM-DD)"
            ))
        };
        if let Some(md) = raw.strip_prefix("--") {
            // 2000 is a leap year, so --02-29 is accepted.
            let date: Date = format!("2000-{md}").parse().map_err(|_| bad())?;
            if md.len() != 5 {
                return Err(bad());
            }
            return Ok(Birthday {
                year: None,
                month: date.month(),
                day: date.day(),
            });
        }
        let date: Date = raw.parse().map_err(|_| bad())?;
        if raw.len() != 10 {
            return Err(bad());
        }
        Ok(Birthday {
            year: Some(date.year()),
            month: date.month(),
            day: date.day(),
        })
    }
}

impl fmt::Display for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "--{:02}-{:02}", self.month, self.day),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_round_trip() {
        assert_eq!(Birthday::parse("1990-02-28").unwrap().to_string(), "1990-02-28");
        assert_eq!(Birthday::parse("--02-29").unwrap().to_string(), "--02-29");
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(Birthday::parse("1991-02-29").is_err());
        assert!(Birthday::parse("--13-01").is_err());
        assert!(Birthday::parse("12/05/1990").is_err());
    }
}
