//! Header handling shared by both CSV kinds: known columns by name, the rest kept as strings.

use std::collections::BTreeMap;

use csv::StringRecord;

/// The longest value a cell (a name, an address, an attribute, an event property) may hold.
pub const MAX_CELL_CHARS: usize = 1000;

/// Positions of the known columns in a header, and the names of the extra ones.
#[derive(Debug)]
pub(super) struct Columns {
    header: StringRecord,
    known: Vec<Option<usize>>,
    extra: Vec<(usize, String)>,
}

impl Columns {
    /// `known` lists the recognised column names; `required` those that must be present.
    pub(super) fn map(header: &StringRecord, known: &[&str], required: &[&str]) -> Result<Columns, String> {
        let names: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(format!("column {} has no name", i + 1));
            }
            if names[..i].contains(n) {
                return Err(format!("column {n:?} appears twice"));
            }
        }
        if let Some(missing) = required.iter().find(|r| !names.iter().any(|n| n == *r)) {
            return Err(format!("missing required column {missing:?}"));
        }
        let known_pos = known.iter().map(|k| names.iter().position(|n| n == k)).collect();
        let extra = names
            .iter()
            .enumerate()
            .filter(|(_, n)| !known.contains(&n.as_str()))
            .map(|(i, n)| (i, n.clone()))
            .collect();
        Ok(Columns {
            header: header.clone(),
            known: known_pos,
            extra,
        })
    }

    /// Refuses cells no store can keep or no person meant: a NUL character (PostgreSQL cannot
    /// store it, SQLite could, and both backends must behave alike) or a cell over
    /// `MAX_CELL_CHARS`. The column is named, so the CSV line and the API field say which.
    pub(super) fn check_cells(&self, record: &StringRecord) -> Result<(), String> {
        for (i, cell) in record.iter().enumerate() {
            let column = self.header.get(i).unwrap_or("?").trim().to_ascii_lowercase();
            if cell.contains('\0') {
                return Err(format!(
                    "{column}: contains a NUL character, which cannot be stored"
                ));
            }
            if cell.len() > MAX_CELL_CHARS && cell.chars().count() > MAX_CELL_CHARS {
                return Err(format!("{column}: longer than {MAX_CELL_CHARS} characters"));
            }
        }
        Ok(())
    }

    /// The trimmed cell of known column number `k` (index into `known`); "" when absent.
    pub(super) fn get<'r>(&self, record: &'r StringRecord, k: usize) -> &'r str {
        self.known[k].and_then(|i| record.get(i)).unwrap_or("").trim()
    }

    /// The non-empty extra cells as a JSON object (sorted keys, so equal rows serialise equally).
    pub(super) fn extras_json(&self, record: &StringRecord) -> String {
        let map: BTreeMap<&str, &str> = self
            .extra
            .iter()
            .filter_map(|(i, name)| {
                let v = record.get(*i)?.trim();
                (!v.is_empty()).then_some((name.as_str(), v))
            })
            .collect();
        serde_json::to_string(&map).expect("a map of strings always serialises")
    }
}

/// Empty means "none".
pub(super) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// External ids are free text from another system, but must be present and reasonable.
pub(super) fn external_id<'a>(raw: &'a str, what: &str) -> Result<&'a str, String> {
    match raw {
        "" => Err(format!("missing {what}")),
        s if s.len() > 200 => Err(format!("{what} is longer than 200 characters")),
        s if s.chars().any(char::is_control) => Err(format!("{what} contains control characters")),
        s => Ok(s),
    }
}
