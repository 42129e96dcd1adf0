//! The API's JSON items, validated exactly as CSV rows are: each object becomes a header and a
//! record and goes through the same `Table::parse`, so the two ways in cannot drift apart.

use std::collections::HashMap;
use std::sync::Arc;

use csv::StringRecord;
use serde_json::{Map, Value};

use super::Table;
use super::customers::CustomerColumns;
use super::events::EventColumns;
use crate::store::{NewCustomer, NewEvent};

/// Why one item was refused, and which field is at fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemError {
    pub field: Option<String>,
    pub error: String,
}

impl ItemError {
    fn at(field: impl Into<String>, error: impl Into<String>) -> ItemError {
        ItemError {
            field: Some(clip(&field.into())),
            error: clip(&error.into()),
        }
    }

    /// The item as a whole is wrong (not an object).
    fn whole(error: impl Into<String>) -> ItemError {
        ItemError {
            field: None,
            error: clip(&error.into()),
        }
    }
}

/// A batch of event objects. `customers` maps the external customer ids the batch names.
pub fn events_from_json(
    items: &[Value],
    customers: HashMap<String, i64>,
) -> Vec<Result<NewEvent, ItemError>> {
    let customers = Arc::new(customers);
    // Items of one batch mostly share their keys: one column map per distinct key set.
    let mut tables: HashMap<Vec<String>, Result<EventColumns, ItemError>> = HashMap::new();
    items
        .iter()
        .map(|item| {
            let (header, record) = to_record(item)?;
            let key: Vec<String> = header.iter().map(str::to_string).collect();
            let table = tables.entry(key).or_insert_with(|| {
                EventColumns::from_header(&header)
                    .map(|t| t.with_customers(customers.clone()))
                    .map_err(|e| header_error(&e))
            });
            match table {
                Ok(t) => t.parse(&record).map_err(|e| item_error(&e, header.iter())),
                Err(e) => Err(e.clone()),
            }
        })
        .collect()
}

/// A customer object for `PUT /v1/customers/{id}`: the path's id, the body's fields, and an
/// `attributes` object for anything else (as extra CSV columns are).
pub fn customer_from_json(id: &str, item: &Value) -> Result<NewCustomer, ItemError> {
    let Value::Object(fields) = item else {
        return Err(ItemError::whole("expected a JSON object"));
    };
    let id = id.trim();
    if let Some(body_id) = fields.get("id")
        && body_id.as_str().map(str::trim) != Some(id)
    {
        return Err(ItemError::at("id", "differs from the id in the path"));
    }
    let mut flat = Map::new();
    flat.insert("id".into(), Value::String(id.to_string()));
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("id", _) => {}
            ("attributes", Value::Object(attrs)) => {
                for (name, value) in attrs {
                    if super::customers::KNOWN.contains(&name.to_ascii_lowercase().as_str()) {
                        return Err(ItemError::at(
                            format!("attributes.{name}"),
                            "names a standard field; set it at the top level",
                        ));
                    }
                    flat.insert(name.clone(), value.clone());
                }
            }
            ("attributes", _) => {
                return Err(ItemError::at("attributes", "expected an object of strings"));
            }
            ("tags", Value::Array(tags)) => {
                let mut joined = Vec::new();
                for t in tags {
                    match t.as_str() {
                        Some(t) if !t.contains(';') => joined.push(t),
                        _ => {
                            return Err(ItemError::at("tags", "expected an array of strings without ';'"));
                        }
                    }
                }
                flat.insert("tags".into(), Value::String(joined.join(";")));
            }
            (k, _) if super::customers::KNOWN.contains(&k) => {
                flat.insert(k.to_string(), v.clone());
            }
            (k, _) => {
                return Err(ItemError::at(
                    k.to_string(),
                    "unknown field (extra data goes under \"attributes\")",
                ));
            }
        }
    }
    let (header, record) = to_record(&Value::Object(flat))?;
    let table = CustomerColumns::from_header(&header).map_err(|e| header_error(&e))?;
    table.parse(&record).map_err(|e| item_error(&e, header.iter()))
}

/// The object's keys as a header and its values as a record.
fn to_record(item: &Value) -> Result<(StringRecord, StringRecord), ItemError> {
    let Value::Object(fields) = item else {
        return Err(ItemError::whole("expected a JSON object"));
    };
    let mut header = StringRecord::new();
    let mut record = StringRecord::new();
    for (k, v) in fields {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            Value::Array(_) | Value::Object(_) => {
                return Err(ItemError::at(k.clone(), "expected a string, number or boolean"));
            }
        };
        header.push_field(k);
        record.push_field(&text);
    }
    Ok((header, record))
}

fn header_error(message: &str) -> ItemError {
    // "missing required column \"kind\"" names the field.
    let field = message.split('"').nth(1).map(str::to_string);
    ItemError {
        field: field.map(|f| clip(&f)),
        error: clip(&message.replace("column", "field")),
    }
}

/// Row errors read `field: problem`, `missing field` or `field is …`.
/// The item's own field names (known columns and extra data alike) name the field at fault.
fn item_error<'h>(message: &str, names: impl Iterator<Item = &'h str>) -> ItemError {
    let field = names
        .filter(|k| {
            message.starts_with(&format!("{k}:"))
                || message == format!("missing {k}")
                || message.starts_with(&format!("{k} "))
        })
        .max_by_key(|k| k.len())
        .map(|k| k.to_string());
    ItemError {
        field: field.map(|f| clip(&f)),
        error: clip(message),
    }
}

/// Errors quote the values they refuse; a huge value is not sent back whole.
fn clip(text: &str) -> String {
    crate::domain::clip(text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_errors_name_their_field() {
        let customers = HashMap::from([("c1".to_string(), 1)]);
        let event_from_json = |v: &Value, c: &HashMap<String, i64>| {
            events_from_json(std::slice::from_ref(v), c.clone()).remove(0)
        };
        let ok = json!({"id": "e1", "customer_id": "c1", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z", "amount": 12.5, "table": 4});
        let e = event_from_json(&ok, &customers).unwrap();
        assert_eq!(
            (e.customer_id, e.kind.as_str(), e.amount),
            (1, "visit", Some(12.5))
        );
        assert_eq!(e.properties, r#"{"table":"4"}"#);
        let field = |v: Value| event_from_json(&v, &customers).unwrap_err().field;
        assert_eq!(
            field(json!({"id": "e1", "customer_id": "c1", "kind": "visit"})),
            Some("occurred_at".into())
        );
        assert_eq!(
            field(
                json!({"id": "e1", "customer_id": "zz", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z"})
            ),
            Some("customer_id".into())
        );
        assert_eq!(
            field(
                json!({"id": "e1", "customer_id": "c1", "kind": "vi sit", "occurred_at": "2026-05-01T10:00:00Z"})
            ),
            Some("kind".into())
        );
        assert_eq!(
            field(
                json!({"id": "", "customer_id": "c1", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z"})
            ),
            Some("id".into())
        );
        assert_eq!(
            field(
                json!({"id": "e1", "customer_id": "c1", "kind": "visit", "occurred_at": "2026-05-01T10:00:00Z", "score": 11})
            ),
            Some("score".into())
        );
        assert_eq!(
            field(json!({"id": "e1", "customer_id": "c1", "kind": ["x"], "occurred_at": 1})),
            Some("kind".into())
        );
    }

    #[test]
    fn customer_bodies_are_validated_like_csv_rows() {
        let c = customer_from_json(
            "c1",
            &json!({"name": "Ann", "email": "ANN@Example.com", "consent_email": true, "tags": ["vip", "regular"], "attributes": {"city": "Lyon"}}),
        )
        .unwrap();
        assert_eq!(c.external_id, "c1");
        assert!(c.consent_email && !c.consent_sms);
        assert_eq!(c.tags, r#"["vip","regular"]"#);
        assert_eq!(c.attributes, r#"{"city":"Lyon"}"#);
        let field = |v: Value| customer_from_json("c1", &v).unwrap_err().field;
        assert_eq!(field(json!({"email": "not-an-address"})), Some("email".into()));
        assert_eq!(field(json!({"phone": "12"})), Some("phone".into()));
        assert_eq!(
            field(json!({"timezone": "Mars/Olympus"})),
            Some("timezone".into())
        );
        assert_eq!(field(json!({"id": "c2"})), Some("id".into()));
        assert_eq!(field(json!({"favourite": "tea"})), Some("favourite".into()));
        assert_eq!(
            field(json!({"attributes": {"email": "x"}})),
            Some("attributes.email".into())
        );
    }
}
