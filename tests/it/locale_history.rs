//! Messages that speak the customer's language — dates, weekdays, money — and remember their
//! habits (`history.*`), through `rules preview` on both backends.

use serde_json::Value;

use crate::helpers::{Workspace, backends, load};

const RULE: &str = r#"id = "regulars"
name = "Regulars"
[trigger]
type = "inactive"
days = 30
[message]
channel = "email"
subject = "Hi"
body = "{{ trigger.last_event_at | date }} | {{ trigger.last_event_at | date('short') }} | {{ history.usual_weekday | weekday }} | {{ history.favourite.item }} | {{ history.favourite.staff or '-' }} | {{ history.total_spend | money }} | {{ history.visits }}"
[message.hu]
body = "{{ trigger.last_event_at | date }} | {{ trigger.last_event_at | date('short') }} | {{ history.usual_weekday | weekday }} | {{ history.favourite.item }} | {{ history.favourite.staff or '-' }} | {{ history.total_spend | money }} | {{ history.visits }}"
[message.sk]
body = "{{ trigger.last_event_at | date }} | {{ trigger.last_event_at | date('short') }} | {{ history.usual_weekday | weekday }} | {{ history.favourite.item }} | {{ history.favourite.staff or '-' }} | {{ history.total_spend | money }} | {{ history.visits }}"
"#;

#[test]
fn dates_weekdays_money_and_favourites_in_each_language() {
    for backend in backends() {
        let ws = Workspace::with_config(
            backend,
            "[messages]\ndefault_language = \"en\"\ncurrency = \"EUR\"\n[history]\nfavourite_properties = [\"item\", \"staff\"]\n",
        );
        ws.write("rules/regulars.toml", RULE);
        let mut customers = String::from("id,name,email,timezone,consent_email,language\n");
        let mut events = String::from("id,customer_id,kind,occurred_at,amount,score,item,staff\n");
        for (id, lang) in [
            ("hu1", "hu"),
            ("sk1", "sk"),
            ("en1", "en"),
            ("gb1", "en-GB"),
            ("xx1", ""),
        ] {
            customers.push_str(&format!(
                "{id},N {id},{id}@example.com,Europe/Budapest,yes,{lang}\n"
            ));
            // Three Saturday mornings in Budapest (09:00 local), the last on 2 May 2026; a flat
            // white twice, then an espresso; Eszter served twice.
            for (n, (at, item, staff)) in [
                ("2026-04-18T07:00:00Z", "flat white", "Eszter"),
                ("2026-04-25T07:00:00Z", "espresso", ""),
                ("2026-05-02T07:00:00Z", "flat white", "Eszter"),
            ]
            .iter()
            .enumerate()
            {
                events.push_str(&format!("{id}-{n},{id},visit,{at},4.5,,{item},{staff}\n"));
            }
        }
        // A tie (one latte, one cappuccino): the most recent wins. Two visits are no habit.
        customers.push_str("tie,Tie,tie@example.com,Europe/Budapest,yes,en\n");
        events.push_str("tie-1,tie,visit,2026-04-20T07:00:00Z,,,latte,\n");
        events.push_str("tie-2,tie,visit,2026-05-01T07:00:00Z,,,cappuccino,\n");
        load(&ws, &customers, &events);

        let r = ws.rekindle(&[
            "rules",
            "preview",
            "--at",
            "2026-06-15T12:00:00Z",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        let bodies: std::collections::HashMap<String, String> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|d| {
                let body = d["body"].as_str().unwrap_or_else(|| panic!("{d}")).to_string();
                (d["customer"].as_str().unwrap().to_string(), body)
            })
            .collect();
        let nb = '\u{a0}';
        assert_eq!(
            bodies["hu1"],
            format!("2026. május 2. | 2026. 05. 02. | szombat | flat white | Eszter | 13,50{nb}€ | 3"),
            "{backend:?}"
        );
        assert_eq!(
            bodies["sk1"],
            format!("2. mája 2026 | 2. 5. 2026 | sobota | flat white | Eszter | 13,50{nb}€ | 3")
        );
        assert_eq!(
            bodies["en1"],
            "May 2, 2026 | 5/2/26 | Saturday | flat white | Eszter | €13.50 | 3"
        );
        // en-GB has no translation of its own: the English text, with English dates (the text's
        // language), as the customer reads English.
        assert_eq!(bodies["gb1"], bodies["en1"]);
        assert_eq!(bodies["xx1"], bodies["en1"], "no language: the default");
        assert_eq!(
            bodies["tie"],
            "May 1, 2026 | 5/1/26 |  | cappuccino | - | €0.00 | 2"
        );

        // `customers show` says the same of a customer.
        let r = ws.rekindle(&[
            "customers",
            "show",
            "hu1",
            "--at",
            "2026-06-15T12:00:00Z",
            "--format",
            "json",
        ]);
        let shown: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
        assert_eq!(shown["habits"]["favourite"]["item"], "flat white");
        assert_eq!(shown["habits"]["usual_weekday"], "Saturday");
        assert_eq!(shown["habits"]["usual_hour"], 9);
        let r = ws.rekindle(&["customers", "show", "hu1", "--at", "2026-06-15T12:00:00Z"]);
        assert!(r.stdout.contains("favourite   item: flat white"), "{r:?}");

        // An unknown favourite or history field is a rule error that names what exists.
        ws.write(
            "rules/regulars.toml",
            &RULE.replace("favourite.staff", "favourite.drink"),
        );
        let r = ws.rekindle(&["rules", "check"]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stdout.contains("unknown template variable `history.favourite.drink`: [history] favourite_properties offers item, staff"),
            "{r:?}"
        );
        ws.write(
            "rules/regulars.toml",
            &RULE.replace("history.visits", "history.visitz"),
        );
        let r = ws.rekindle(&["rules", "check"]);
        assert!(
            r.stdout.contains("unknown template variable `history.visitz`"),
            "{r:?}"
        );
        // A filter given what it cannot format is found before anything runs.
        ws.write(
            "rules/regulars.toml",
            &RULE.replace("history.total_spend | money", "customer.name | money"),
        );
        let r = ws.rekindle(&["rules", "check"]);
        assert!(r.stdout.contains("money: expected a number"), "{r:?}");
    }
}
