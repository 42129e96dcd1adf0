//! Property-based fuzzing of everything that reads outside input: rule files, CSV files and
//! the JSON API. Time-boxed by case counts for CI (`PROPTEST_CASES` raises them for a longer
//! run). The properties: no panic, no 5xx, and every rejection says where the problem is.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;

use crate::helpers::{Backend, Workspace};

const VALID_RULE: &str = include_str!("../../rules/win-back-30d.toml");
const FEEDBACK_RULE: &str = include_str!("../../rules/feedback-request.toml");

/// Characters that matter to TOML, templates and durations.
const ALPHABET: &[char] = &[
    ' ', '=', '[', ']', '"', '\'', '{', '}', '#', '\n', '.', ',', '0', '7', 'd', 'h', 'x', '_', '-', '%',
    'é', '\t', '\\',
];

/// Applies (position, operation, character) edits: insert, delete or replace one character.
fn mutate(text: &str, edits: &[(usize, u8, usize)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (pos, op, c) in edits {
        let c = ALPHABET[c % ALPHABET.len()];
        let at = pos % (chars.len() + 1);
        match op % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = c,
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn a_mangled_rule_file_is_rejected_with_a_place_inside_it_never_a_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..10),
        which in any::<bool>(),
    ) {
        let text = mutate(if which { VALID_RULE } else { FEEDBACK_RULE }, &edits);
        let dir = Path::new("rules");
        let mut templates = rekindle::rules::Templates::new();
        if let Err(problems) = rekindle::rules::check_file(&dir.join("r.toml"), &text, dir, &mut templates) {
            prop_assert!(!problems.is_empty());
            let lines = text.lines().count().max(1);
            for p in problems {
                prop_assert!(p.line >= 1 && p.col >= 1, "{p}");
                prop_assert!(p.line <= lines + 1, "{p} is past the end of a {lines}-line file");
                prop_assert!(p.to_string().starts_with("rules/r.toml:"), "{p}");
            }
        }
    }
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2026-05-01T10:00:00Z")),
        Just(serde_json::Value::from("c1")),
        Just(serde_json::Value::from("visit")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("customer_id".to_string()),
                    Just("kind".to_string()),
                    Just("occurred_at".to_string()),
                    Just("amount".to_string()),
                    Just("score".to_string()),
                    Just("email".to_string()),
                    Just("tags".to_string()),
                    Just("attributes".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn json_items_are_validated_like_csv_rows_and_errors_name_a_field(items in prop::collection::vec(json_value(), 0..6)) {
        let customers = std::collections::HashMap::from([("c1".to_string(), 1)]);
        for (item, result) in items.iter().zip(rekindle::import::events_from_json(&items, customers)) {
            if let Err(e) = result {
                prop_assert!(!e.error.is_empty());
                if let Some(field) = e.field {
                    let keys: Vec<&String> = item.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                    let known = ["id", "customer_id", "kind", "occurred_at", "amount", "score"];
                    prop_assert!(known.contains(&field.as_str()) || keys.contains(&&field), "{field} in {item}");
                }
            }
        }
        for item in &items {
            let _ = rekindle::import::customer_from_json("c9", item);
        }
    }
}

/// A CSV line from pieces that break naive parsers: quotes, separators, newlines, non-ASCII.
fn csv_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9@.+ ]{0,12}",
        Just("\"quoted, with comma\"".to_string()),
        Just("\"multi\nline\"".to_string()),
        Just("\"".to_string()),
        Just("Zoë".to_string()),
        Just("+1 555 010 9999".to_string()),
        Just("2026-02-29".to_string()),
        Just("--02-29".to_string()),
        Just("Europe/Paris".to_string()),
        Just("yes".to_string()),
    ]
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn a_mangled_csv_imports_what_it_can_and_names_the_line_of_the_rest(
        rows in prop::collection::vec(prop::collection::vec(csv_field(), 0..10), 0..12)
    ) {
        let ws = Workspace::new(Backend::Sqlite);
        let mut text = String::from("id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags\n");
        for (i, fields) in rows.iter().enumerate() {
            text.push_str(&format!("c{i},{}\n", fields.join(",")));
        }
        let path = ws.write("customers.csv", &text);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (summary, lines) = rt.block_on(async {
            let store = ws.store().await;
            let mut lines = Vec::new();
            let summary = rekindle::import::import_customers(
                &store,
                &path,
                rekindle::import::FileFormat::default(),
                None,
                &indicatif::ProgressBar::hidden(),
                |r| lines.push((r.line, r.reason.clone())),
            )
            .await
            .expect("a readable file never fails as a whole");
            store.close().await;
            (summary, lines)
        });
        let physical_lines = text.lines().count() as u64;
        for (line, reason) in &lines {
            prop_assert!(*line >= 2 && *line <= physical_lines, "line {line} of {physical_lines}: {reason}");
            prop_assert!(!reason.is_empty());
        }
        prop_assert_eq!(summary.rejected as usize, lines.len());
    }
}

/// The HTTP API in-process (the same router `serve` runs), on a real SQLite store.
fn api_state(ws: &Workspace) -> Arc<rekindle::http::AppState> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(ws.store());
    let (_tx, rx) = tokio::sync::watch::channel(None);
    Arc::new(rekindle::http::AppState {
        store,
        config: Arc::new(rekindle::config::Config::default()),
        rules: rx,
        tokens: rekindle::http::ApiTokens::parse("t"),
        links: None,
        sessions: None,
        twilio_auth_token: None,
        gateway_secret: None,
        metrics: None,
        evaluations: Arc::default(),
    })
}

proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn the_json_api_answers_bad_bodies_with_4xx_never_5xx(
        body in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|v| serde_json::json!({"events": [v]}).to_string()),
            ".{0,40}",
        ],
        route in 0usize..4,
    ) {
        let ws = Workspace::new(Backend::Sqlite);
        let state = api_state(&ws);
        let (method, uri) = [
            ("POST", "/v1/events"),
            ("PUT", "/v1/customers/c1"),
            ("POST", "/v1/customers/c1/unsubscribe"),
            ("POST", "/webhooks/bounce"),
        ][route];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", "Bearer t")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            rekindle::http::router(state.clone()).oneshot(request).await.unwrap().status()
        });
        prop_assert!(status.as_u16() < 500, "{method} {uri} {body:?} -> {status}");
    }
}
