use csv::StringRecord;

use super::columns::{Columns, external_id, non_empty};
use super::{Stored, Table};
use crate::domain::{Birthday, Email, Phone, TimeZoneName, parse_flag};
use crate::store::{BulkLoad, NewCustomer, Store, StoreError};

/// The columns the customer import knows (any other becomes an attribute).
pub const KNOWN: [&str; 10] = [
    "id",
    "name",
    "email",
    "phone",
    "birthday",
    "timezone",
    "consent_email",
    "consent_sms",
    "tags",
    "language",
];
// Indexes into KNOWN.
const ID: usize = 0;
const NAME: usize = 1;
const EMAIL: usize = 2;
const PHONE: usize = 3;
const BIRTHDAY: usize = 4;
const TIMEZONE: usize = 5;
const CONSENT_EMAIL: usize = 6;
const CONSENT_SMS: usize = 7;
const TAGS: usize = 8;
const LANGUAGE: usize = 9;

/// Where each customer column sits in this file.
pub struct CustomerColumns {
    columns: Columns,
    /// Whose national phone numbers the file may hold (`[import] default_country`).
    country: Option<phonenumber::country::Id>,
}

impl CustomerColumns {
    pub(super) fn with_country(mut self, country: Option<phonenumber::country::Id>) -> Self {
        self.country = country;
        self
    }
}

impl Table for CustomerColumns {
    type Row = NewCustomer;

    fn from_header(header: &StringRecord) -> Result<Self, String> {
        Columns::map(header, &KNOWN, &["id"]).map(|columns| CustomerColumns {
            columns,
            country: None,
        })
    }

    fn parse(&self, r: &StringRecord) -> Result<NewCustomer, String> {
        let c = &self.columns;
        c.check_cells(r)?;
        let field = |k| c.get(r, k);
        let err = |column: &str, e: crate::domain::Invalid| format!("{column}: {e}");
        let email = non_empty(field(EMAIL))
            .map(Email::parse)
            .transpose()
            .map_err(|e| err("email", e))?;
        let phone = non_empty(field(PHONE))
            .map(|p| Phone::parse_in(p, self.country))
            .transpose()
            .map_err(|e| err("phone", e))?;
        let birthday = non_empty(field(BIRTHDAY))
            .map(Birthday::parse)
            .transpose()
            .map_err(|e| err("birthday", e))?;
        let timezone = non_empty(field(TIMEZONE))
            .map(TimeZoneName::parse)
            .transpose()
            .map_err(|e| err("timezone", e))?;
        let language = non_empty(field(LANGUAGE))
            .map(crate::domain::Language::parse)
            .transpose()
            .map_err(|e| err("language", e))?;
        let consent_email = parse_flag(field(CONSENT_EMAIL)).map_err(|e| err("consent_email", e))?;
        let consent_sms = parse_flag(field(CONSENT_SMS)).map_err(|e| err("consent_sms", e))?;
        let mut tags: Vec<&str> = Vec::new();
        for tag in field(TAGS).split(';').map(str::trim).filter(|t| !t.is_empty()) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(NewCustomer {
            external_id: external_id(field(ID), "id")?.to_string(),
            name: non_empty(field(NAME)).map(str::to_string),
            email: email.map(|e| e.as_str().to_string()),
            phone: phone.map(|p| p.as_str().to_string()),
            birthday: birthday.map(|b| b.to_string()),
            timezone: timezone.map(|t| t.as_str().to_string()),
            consent_email,
            consent_sms,
            language: language.map(|l| l.as_str().to_string()),
            attributes: c.extras_json(r),
            tags: serde_json::to_string(&tags).expect("strings serialise"),
        })
    }

    async fn upsert(
        store: Store,
        bulk: Option<BulkLoad>,
        rows: Vec<NewCustomer>,
        now: i64,
    ) -> Stored<NewCustomer> {
        let result = store.upsert_customers(&rows, now).await;
        Stored { rows, bulk, result }
    }

    async fn count(store: &Store) -> Result<i64, StoreError> {
        store.count_customers().await
    }
}
