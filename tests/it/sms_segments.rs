//! SMS that fit: encoding and segments in previews, `max_segments`, `sms_charset = "gsm7"`,
//! and what a campaign costs.

use crate::helpers::{Backend, Workspace, backends, load_lapsed, rekindle_in};

/// 120 characters with Hungarian letters outside GSM-7: two UCS-2 segments, one in GSM-7.
const BODY: &str = "Szia {{ customer.first_name }}! Hiányzol nekünk Győrben: gyere be a héten, a kávé mellé 10% kedvezmény jár. Aroma kávézó";

fn rule(extra: &str) -> String {
    format!(
        "id = \"win-back-sms\"\nname = \"W\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
         [message]\nchannel = \"sms\"\nbody = \"{BODY}\"\n{extra}"
    )
}

const T: &str = "2026-06-15T12:00:00Z";

fn preview(ws: &Workspace) -> Vec<serde_json::Value> {
    let r = ws.rekindle(&["rules", "preview", "--at", T, "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_long_sms_is_skipped_as_too_long_and_gsm7_makes_it_fit() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, "[quiet_hours]\nsms = \"\"\n");
        load_lapsed(&ws, 3, |i| format!(",+3630123450{i},,UTC,,yes"));
        ws.write("rules/r.toml", &rule("max_segments = 1\n"));
        let d = preview(&ws);
        assert_eq!(d.len(), 3);
        for d in &d {
            assert_eq!(
                (d["decision"].as_str(), d["reason"].as_str()),
                (Some("skipped"), Some("too_long")),
                "{d}"
            );
            assert_eq!(
                (d["segments"].as_u64(), d["encoding"].as_str()),
                (Some(2), Some("ucs2")),
                "{d}"
            );
        }
        // The same text, transliterated, is one GSM-7 segment and reads the same.
        ws.write(
            "rules/r.toml",
            &rule("max_segments = 1\nsms_charset = \"gsm7\"\n"),
        );
        let d = preview(&ws);
        for d in &d {
            assert_eq!(d["decision"], "send", "{d}");
            assert_eq!(
                (d["segments"].as_u64(), d["encoding"].as_str()),
                (Some(1), Some("gsm7")),
                "{d}"
            );
            let body = d["body"].as_str().unwrap();
            assert!(body.contains("Hianyzol nekünk Györben"), "{body}");
        }
        // Recorded and delivered as previewed: the skip is in the report, the outbox has
        // the transliterated text.
        ws.write("rules/r.toml", &rule("max_segments = 1\n"));
        assert_eq!(ws.rekindle(&["run", "--once", "--at", T]).code, 0);
        let r = ws.rekindle(&["report", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["rules"][0]["decisions"]["skipped/too_long"], 3, "{r:?}");
    }
}

#[test]
fn a_transliterated_sms_goes_out_as_previewed_and_the_report_says_what_it_cost() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[quiet_hours]\nsms = \"\"\n[sms]\ncharset = \"gsm7\"\nprice_per_segment = 0.07\n",
    );
    load_lapsed(&ws, 2, |i| format!(",+3630123450{i},,UTC,,yes"));
    ws.write("rules/r.toml", &rule(""));
    let r = ws.rekindle(&["run", "--once", "--at", T]);
    assert!(r.stdout.contains("sent 2"), "{r:?}");
    let sent = std::fs::read_to_string(ws.path("outbox/sms/sms.jsonl")).unwrap();
    assert!(sent.contains("Hianyzol nekünk Györben"), "{sent}");
    assert!(!sent.contains('ő'), "{sent}");
    let r = ws.rekindle(&["report", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (
            report["rules"][0]["sms_sent"].as_i64(),
            report["rules"][0]["sms_segments"].as_i64()
        ),
        (Some(2), Some(2)),
        "{r:?}"
    );
    assert!(
        (report["rules"][0]["sms_cost"].as_f64().unwrap() - 0.14).abs() < 1e-9,
        "{r:?}"
    );
    let r = ws.rekindle(&["report"]);
    assert!(
        r.stdout.contains("sms         2 sent, 2 segments, cost 0.14"),
        "{r:?}"
    );
}

#[test]
fn the_text_preview_shows_segments_ucs2_share_and_cost() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[quiet_hours]\nsms = \"\"\n[sms]\nprice_per_segment = 0.07\ncurrency = \"EUR\"\n",
    );
    load_lapsed(&ws, 4, |i| format!(",+3630123450{i},,UTC,,yes"));
    ws.write("rules/r.toml", &rule(""));
    let r = ws.rekindle(&["rules", "preview", "--at", T]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("win-back-sms                 2: 4 — 8 segments, 100% UCS-2, cost 0.56 EUR"),
        "{r:?}"
    );
}

#[test]
fn the_checker_knows_sms_options() {
    let check = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/r.toml"), text).unwrap();
        rekindle_in(dir.path(), &["rules", "check"])
    };
    // The fixed text alone is two UCS-2 segments: a warning, the rule still runs.
    let r = check(&rule("max_segments = 1\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("warning: rules/r.toml:9:16: the body's fixed text alone needs 2 segments"),
        "{r:?}"
    );
    assert!(r.stdout.contains("sms_charset = \"gsm7\" may help"), "{r:?}");
    let r = check(&rule("max_segments = 1\nsms_charset = \"gsm7\"\n"));
    assert!(r.code == 0 && !r.stdout.contains("warning"), "{r:?}");
    let r = check(&rule("sms_charset = \"latin2\"\n"));
    assert!(
        r.stdout
            .contains("rules/r.toml:9:15: unknown sms_charset \"latin2\""),
        "{r:?}"
    );
    let r = check(&rule("max_segments = 0\n"));
    assert!(
        r.stdout.contains("max_segments must be between 1 and 10"),
        "{r:?}"
    );
    let email = "id = \"e\"\nname = \"E\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
                 [message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\nmax_segments = 1\n";
    let r = check(email);
    assert!(
        r.stdout
            .contains("rules/r.toml:10:16: `max_segments` applies only to SMS"),
        "{r:?}"
    );
}
