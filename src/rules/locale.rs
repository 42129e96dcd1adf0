//! Dates, weekdays, numbers and money in the language a message is written in: the template
//! filters `date`, `weekday`, `number` and `money`. Month and weekday names, date patterns,
//! decimal and grouping separators come from CLDR (ICU4X's compiled data), never from tables of
//! ours. Two things are ours, deliberately: where the currency symbol goes (before the amount
//! in English, after it with a space elsewhere — ICU4X's currency formatter is experimental and
//! would add 49 s to a 7-minute build) and the symbol of a few currencies.

use std::cell::RefCell;
use std::collections::HashMap;

use fixed_decimal::{Decimal, FloatPrecision};
use icu_calendar::{Date, Iso};
use icu_datetime::fieldsets::enums::DateFieldSet;
use icu_datetime::{DateTimeFormatter, fieldsets};
use icu_decimal::DecimalFormatter;
use icu_locale_core::Locale;

/// How a date is written: `long` (`2026. december 14.`) or `short` (`2026. 12. 14.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateStyle {
    Long,
    Short,
}

impl DateStyle {
    pub fn parse(s: &str) -> Option<DateStyle> {
        match s {
            "long" => Some(DateStyle::Long),
            "short" => Some(DateStyle::Short),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Date(DateStyle),
    MonthDay,
    Weekday,
}

/// Formatters by (language, what they write); `None` where the data has none.
type DateFormatters = HashMap<(String, Kind), Option<DateTimeFormatter<DateFieldSet>>>;

thread_local! {
    // Building a formatter looks its data up; a message renders thousands of times.
    static DATES: RefCell<DateFormatters> = RefCell::new(HashMap::new());
    static NUMBERS: RefCell<HashMap<String, Option<DecimalFormatter>>> = RefCell::new(HashMap::new());
}

fn locale(tag: &str) -> Locale {
    tag.parse().unwrap_or_else(|_| "en".parse().expect("a valid tag"))
}

fn format_date(tag: &str, kind: Kind, date: Date<Iso>) -> String {
    DATES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let f = cache.entry((tag.to_string(), kind)).or_insert_with(|| {
            let prefs = locale(tag).into();
            let set = match kind {
                Kind::Date(DateStyle::Long) => DateFieldSet::YMD(fieldsets::YMD::long()),
                Kind::Date(DateStyle::Short) => DateFieldSet::YMD(fieldsets::YMD::short()),
                Kind::MonthDay => DateFieldSet::MD(fieldsets::MD::long()),
                Kind::Weekday => DateFieldSet::E(fieldsets::E::long()),
            };
            DateTimeFormatter::try_new(prefs, set).ok()
        });
        f.as_ref().map_or_else(
            || {
                format!(
                    "{:04}-{:02}-{:02}",
                    date.era_year().extended_year,
                    date.month().ordinal,
                    date.day_of_month().0
                )
            },
            |f| f.format(&date).to_string(),
        )
    })
}

/// A calendar date in the language `tag`.
pub fn date(tag: &str, y: i32, m: u8, d: u8, style: DateStyle) -> Option<String> {
    let date = Date::try_new_iso(y, m, d).ok()?;
    let text = format_date(tag, Kind::Date(style), date);
    // CLDR 47's Slovak long date lacks its month names in ICU4X's data ("14. M12 2026"); the
    // day-and-month format has them ("14. decembra"), and Slovak puts the year after it.
    if text.contains(" M") && text.chars().any(|c| c.is_ascii_digit()) && has_month_placeholder(&text) {
        return Some(format!("{} {y}", format_date(tag, Kind::MonthDay, date)));
    }
    Some(text)
}

/// `M12`-style month placeholders that ICU4X prints when a name is missing.
fn has_month_placeholder(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        w.strip_prefix('M')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// The weekday's name in the language `tag` (Monday = 1 … Sunday = 7).
pub fn weekday(tag: &str, monday_one: i8) -> Option<String> {
    // 2026-06-01 is a Monday.
    let date = Date::try_new_iso(2026, 6, u8::try_from(monday_one).ok()?).ok()?;
    (1..=7)
        .contains(&monday_one)
        .then(|| format_date(tag, Kind::Weekday, date))
}

/// A number in the language `tag`, with `digits` fraction digits (None: as many as it has).
pub fn number(tag: &str, value: f64, digits: Option<i16>) -> Option<String> {
    let mut d = Decimal::try_from_f64(value, FloatPrecision::RoundTrip).ok()?;
    if let Some(n) = digits {
        d.round(-n);
        d.pad_end(-n);
    }
    NUMBERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let f = cache
            .entry(tag.to_string())
            .or_insert_with(|| DecimalFormatter::try_new(locale(tag).into(), Default::default()).ok());
        f.as_ref().map(|f| f.format(&d).to_string())
    })
}

/// An amount of `currency` (ISO 4217) in the language `tag`: `€1,234.50`, `1 234,50 €`.
pub fn money(tag: &str, value: f64, currency: &str) -> Option<String> {
    let (symbol, digits) = match currency {
        "EUR" => ("€", 2),
        "USD" => ("$", 2),
        "GBP" => ("£", 2),
        "HUF" => ("Ft", 0),
        "CZK" => ("Kč", 2),
        "PLN" => ("zł", 2),
        other => (other, 2),
    };
    let amount = number(tag, value.abs(), Some(digits))?;
    let sign = if value < 0.0 { "-" } else { "" };
    Some(if tag == "en" || tag.starts_with("en-") {
        format!("{sign}{symbol}{amount}")
    } else {
        format!("{sign}{amount}\u{a0}{symbol}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_hungarian_slovak_and_english() {
        assert_eq!(
            date("hu", 2026, 12, 14, DateStyle::Long).unwrap(),
            "2026. december 14."
        );
        assert_eq!(
            date("sk", 2026, 12, 14, DateStyle::Long).unwrap(),
            "14. decembra 2026"
        );
        assert_eq!(
            date("en-GB", 2026, 12, 14, DateStyle::Long).unwrap(),
            "14 December 2026"
        );
        assert_eq!(
            date("en", 2026, 12, 14, DateStyle::Long).unwrap(),
            "December 14, 2026"
        );
        assert_eq!(
            date("hu", 2026, 12, 14, DateStyle::Short).unwrap(),
            "2026. 12. 14."
        );
        assert_eq!(
            date("sk", 2026, 12, 14, DateStyle::Short).unwrap(),
            "14. 12. 2026"
        );
        assert_eq!(
            date("en-GB", 2026, 12, 14, DateStyle::Short).unwrap(),
            "14/12/2026"
        );
        assert_eq!(date("hu", 2026, 2, 30, DateStyle::Long), None);
    }

    #[test]
    fn weekdays_numbers_and_money() {
        assert_eq!(weekday("hu", 1).unwrap(), "hétfő");
        assert_eq!(weekday("sk", 6).unwrap(), "sobota");
        assert_eq!(weekday("en", 7).unwrap(), "Sunday");
        assert_eq!(weekday("en", 8), None);
        assert_eq!(number("sk", 1234.5, None).unwrap(), "1\u{a0}234,5");
        assert_eq!(number("en", 1234.5, Some(2)).unwrap(), "1,234.50");
        // Hungarian groups only from five digits on (CLDR's minimum grouping).
        assert_eq!(number("hu", 1234.5, None).unwrap(), "1234,5");
        assert_eq!(number("hu", 12345.5, None).unwrap(), "12\u{a0}345,5");
        assert_eq!(money("en", 1234.5, "EUR").unwrap(), "€1,234.50");
        assert_eq!(money("sk", 1234.5, "EUR").unwrap(), "1\u{a0}234,50\u{a0}€");
        assert_eq!(money("hu", 4990.0, "HUF").unwrap(), "4990\u{a0}Ft");
        assert_eq!(money("en-GB", -5.0, "GBP").unwrap(), "-£5.00");
    }
}

/// The template filters, in the language of the text being rendered (`language` in the
/// context) and, for instants, the customer's zone (`customer.timezone`).
pub mod filters {
    use minijinja::value::{Value, ValueKind};
    use minijinja::{Error, ErrorKind, State};

    use super::DateStyle;

    fn language(state: &State) -> String {
        state
            .lookup("language")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "en".to_string())
    }

    /// Nothing known (`none`, undefined) formats as nothing, as a missing name prints "".
    fn absent(value: &Value) -> bool {
        value.is_none() || value.is_undefined()
    }

    fn invalid(filter: &str, expected: &str, value: &Value) -> Error {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{filter}: expected {expected}, got {value}"),
        )
    }

    /// A local calendar date from `YYYY-MM-DD`, or an RFC 3339 instant seen in the customer's zone.
    fn civil_date(state: &State, value: &Value) -> Option<jiff::civil::Date> {
        let text = value.as_str()?;
        if let Ok(d) = text.parse::<jiff::civil::Date>()
            && text.len() == 10
        {
            return Some(d);
        }
        let ts = text.parse::<jiff::Timestamp>().ok()?;
        let zone = state
            .lookup("customer")
            .and_then(|c| c.get_attr("timezone").ok())
            .and_then(|z| z.as_str().and_then(|z| jiff::tz::TimeZone::get(z).ok()))
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Some(ts.to_zoned(zone).date())
    }

    /// `{{ offer.expires_on | date }}`, `| date("short")`.
    pub fn date(state: &State, value: Value, style: Option<String>) -> Result<String, Error> {
        let style = match style.as_deref() {
            None => DateStyle::Long,
            Some(s) => DateStyle::parse(s).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("date: unknown style {s:?} (long or short)"),
                )
            })?,
        };
        if absent(&value) {
            return Ok(String::new());
        }
        let d = civil_date(state, &value).ok_or_else(|| invalid("date", "a date like 2026-12-14", &value))?;
        super::date(
            &language(state),
            i32::from(d.year()),
            d.month() as u8,
            d.day() as u8,
            style,
        )
        .ok_or_else(|| invalid("date", "a date like 2026-12-14", &value))
    }

    /// `{{ history.usual_weekday | weekday }}`, `{{ offer.expires_on | weekday }}`.
    pub fn weekday(state: &State, value: Value) -> Result<String, Error> {
        const ENGLISH: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        if absent(&value) {
            return Ok(String::new());
        }
        let n = match value.kind() {
            ValueKind::Number => i64::try_from(value.clone()).ok().map(|n| n as i8),
            _ => value
                .as_str()
                .and_then(|s| ENGLISH.iter().position(|w| *w == s))
                .map(|i| i as i8 + 1)
                .or_else(|| civil_date(state, &value).map(|d| d.weekday().to_monday_one_offset())),
        };
        n.and_then(|n| super::weekday(&language(state), n))
            .ok_or_else(|| invalid("weekday", "a date, a weekday or 1 (Monday) to 7", &value))
    }

    fn as_number(filter: &str, value: &Value) -> Result<f64, Error> {
        f64::try_from(value.clone()).map_err(|_| invalid(filter, "a number", value))
    }

    /// `{{ history.total_spend | number }}`, `| number(1)`.
    pub fn number(state: &State, value: Value, digits: Option<i16>) -> Result<String, Error> {
        if absent(&value) {
            return Ok(String::new());
        }
        let x = as_number("number", &value)?;
        super::number(&language(state), x, digits).ok_or_else(|| invalid("number", "a number", &value))
    }

    /// `{{ offer.amount | money }}` in `[messages] currency`.
    pub fn money(state: &State, value: Value) -> Result<String, Error> {
        if absent(&value) {
            return Ok(String::new());
        }
        let x = as_number("money", &value)?;
        let currency = state
            .lookup("business")
            .and_then(|b| b.get_attr("currency").ok())
            .and_then(|c| c.as_str().map(str::to_string))
            .unwrap_or_else(|| "EUR".to_string());
        super::money(&language(state), x, &currency).ok_or_else(|| invalid("money", "a number", &value))
    }
}
