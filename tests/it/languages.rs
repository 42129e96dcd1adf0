//! Messages in the customer's language: `[message.hu]` translations chosen by the customer's
//! `language`, checked like the message itself.

use crate::helpers::{Backend, EVENTS_HEADER, Workspace, backends, load, rekindle_in};

const RULE: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
days = 30
[message]
channel = "sms"
body = "Hi {{ customer.first_name }}, we miss you! 10% off this week."

[message.hu]
body = "Szia {{ customer.first_name }}! Hiányzol nekünk: 10% kedvezmény a héten."

[message.sk]
body = "Ahoj {{ customer.first_name }}, chýbaš nám! Tento týždeň 10 % zľava."
"#;

#[test]
fn each_customer_reads_their_own_language_or_the_untranslated_text() {
    for backend in backends() {
        let ws = Workspace::with_config(backend, "[quiet_hours]\nsms = \"\"\n");
        ws.write("rules/win-back.toml", RULE);
        let customers = "id,name,phone,consent_sms,language\n\
                         ildi,Ildikó Nagy,+36301230001,yes,hu\n\
                         jan,Ján Novák,+421905000002,yes,SK\n\
                         amy,Amy Brown,+447700900003,yes,en-GB\n\
                         hans,Hans Maier,+491510000004,yes,de\n\
                         ann,Ann Lee,+15550000005,yes,\n";
        let events: String = ["ildi", "jan", "amy", "hans", "ann"]
            .iter()
            .map(|c| format!("v-{c},{c},visit,2026-05-01T10:00:00Z,,\n"))
            .collect();
        load(&ws, customers, &format!("{EVENTS_HEADER}\n{events}"));
        let r = ws.rekindle(&[
            "rules",
            "preview",
            "--at",
            "2026-06-15T12:00:00Z",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        let by: std::collections::HashMap<String, serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|d| (d["customer"].as_str().unwrap().to_string(), d))
            .collect();
        let body = |c: &str| by[c]["body"].as_str().unwrap().to_string();
        assert_eq!(
            body("ildi"),
            "Szia Ildikó! Hiányzol nekünk: 10% kedvezmény a héten."
        );
        assert_eq!(by["ildi"]["language"], "hu");
        assert_eq!(body("jan"), "Ahoj Ján, chýbaš nám! Tento týždeň 10 % zľava.");
        assert_eq!(by["jan"]["language"], "sk", "the tag is normalised (SK → sk)");
        for c in ["amy", "hans", "ann"] {
            assert!(body(c).starts_with("Hi "), "{c}: {}", body(c));
            assert!(by[c]["language"].is_null(), "{c}");
        }
        // Only Hans reads a language the message is not written in.
        let r = ws.rekindle(&["rules", "preview", "--at", "2026-06-15T12:00:00Z"]);
        assert!(
            r.stdout
                .contains("win-back: 1 customer(s) get the untranslated text"),
            "{r:?}"
        );
    }
}

#[test]
fn a_bad_language_in_a_customer_file_is_refused_by_line() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write("c.csv", "id,language\nok,hu\nbad,hungarian\n");
    let r = ws.rekindle(&["import", "customers", "c.csv"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("c.csv:3: language: invalid language \"hungarian\""),
        "{r:?}"
    );
}

#[test]
fn translations_are_checked_like_the_message_and_placed() {
    let check = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/r.toml"), text).unwrap();
        rekindle_in(dir.path(), &["rules", "check"])
    };
    assert_eq!(check(RULE).code, 0);
    // A variable the trigger does not offer, inside the Hungarian body (line 11).
    let r = check(&RULE.replace("Szia {{ customer.first_name }}", "Szia {{ customer.nickname }}"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("rules/r.toml:11:14: unknown template variable `customer.nickname`"),
        "{r:?}"
    );
    let r = check(&RULE.replace("[message.sk]", "[message.slovak]"));
    assert!(
        r.stdout
            .contains("rules/r.toml:13:1: [message.slovak]: invalid language"),
        "{r:?}"
    );
    let r = check(&RULE.replace("[message.sk]\n", "[message.sk]\nsubject = \"x\"\n"));
    assert!(
        r.stdout
            .contains("rules/r.toml:14:11: `subject` applies only to email"),
        "{r:?}"
    );
    let r = check(&RULE.replace("[message.sk]", "[message.HU]"));
    assert!(
        r.stdout
            .contains("rules/r.toml:13:1: a second translation for \"hu\""),
        "{r:?}"
    );
    let r = check(&RULE.replace("body = \"Ahoj", "colour = 1\nbody = \"Ahoj"));
    assert!(
        r.stdout.contains("rules/r.toml:14:1: unknown field `colour`"),
        "{r:?}"
    );
}
