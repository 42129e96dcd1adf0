//! Files as a Hungarian or Slovak Excel writes them: `;` between columns, a byte-order mark or
//! windows-1250, decimal commas, national phone numbers.

use crate::helpers::{Backend, Workspace};

/// windows-1250 bytes of a text that only uses its Central European letters.
fn windows_1250(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1250.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[tokio::test]
async fn a_hungarian_excel_export_imports_with_its_own_letters_numbers_and_amounts() {
    let ws = Workspace::with_config(Backend::Sqlite, "[import]\ndefault_country = \"HU\"\n");
    let customers = "id;name;email;phone;city\n\
                     c1;Kovács Éva;eva@example.com;06 30 123 4567;Győr\n\
                     c2;Szőke Ödön;;+36 20 765 4321;Szeged\n\
                     c3;Rossz Szám;;06 30 12;Pécs\n";
    std::fs::write(ws.path("customers.csv"), windows_1250(customers)).unwrap();
    // Without the flag: every line with an accent is refused, and the way out is named.
    let r = ws.rekindle(&["import", "customers", "customers.csv"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("customers.csv:2: not valid UTF-8"), "{r:?}");
    assert!(r.stderr.contains("--encoding windows-1250"), "{r:?}");
    let r = ws.rekindle(&[
        "import",
        "customers",
        "customers.csv",
        "--encoding",
        "windows-1250",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("rejected 1"), "{r:?}");
    assert!(
        r.stderr
            .contains("customers.csv:4: phone: invalid phone number \"06 30 12\""),
        "{r:?}"
    );
    let store = ws.store().await;
    let eva = store.customer_by_external_id("c1").await.unwrap().unwrap();
    assert_eq!(eva.name.as_deref(), Some("Kovács Éva"));
    assert_eq!(eva.phone.as_deref(), Some("+36301234567"));
    assert_eq!(eva.attributes, r#"{"city":"Győr"}"#);
    let odon = store.customer_by_external_id("c2").await.unwrap().unwrap();
    assert_eq!(
        (odon.name.as_deref(), odon.phone.as_deref()),
        (Some("Szőke Ödön"), Some("+36207654321"))
    );

    // Events with a byte-order mark, `;` and decimal commas (also grouped thousands).
    ws.write(
        "events.csv",
        "\u{feff}id;customer_id;kind;occurred_at;amount\n\
         e1;c1;purchase;2026-05-01T10:00:00+02:00;4,50\n\
         e2;c1;purchase;2026-05-02T10:00:00+02:00;1 234,50\n\
         e3;c1;purchase;2026-05-03T10:00:00+02:00;négy\n",
    );
    let r = ws.rekindle(&["import", "events", "events.csv"]);
    assert!(r.stdout.contains("imported 2, updated 0, rejected 1"), "{r:?}");
    assert!(r.stderr.contains("events.csv:4: amount"), "{r:?}");
    let amounts: Vec<f64> = match &store {
        rekindle::store::Store::Sqlite(pool) => sqlx::query_scalar("SELECT amount FROM events ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap(),
        rekindle::store::Store::Postgres(_) => unreachable!(),
    };
    assert_eq!(amounts, [4.5, 1234.5]);
}

#[tokio::test]
async fn a_slovak_number_and_iso_8859_2_work_too() {
    let ws = Workspace::with_config(Backend::Sqlite, "[import]\ndefault_country = \"sk\"\n");
    let (bytes, _, _) = encoding_rs::ISO_8859_2.encode("id;name;phone\nk1;Ľubica Šťastná;0905 123 456\n");
    std::fs::write(ws.path("c.csv"), bytes).unwrap();
    let r = ws.rekindle(&["import", "customers", "c.csv", "--encoding", "iso-8859-2"]);
    assert_eq!(r.code, 0, "{r:?}");
    let store = ws.store().await;
    let k1 = store.customer_by_external_id("k1").await.unwrap().unwrap();
    assert_eq!(k1.name.as_deref(), Some("Ľubica Šťastná"));
    assert_eq!(k1.phone.as_deref(), Some("+421905123456"));
    let bad = Workspace::with_config(Backend::Sqlite, "[import]\ndefault_country = \"Hungary\"\n");
    let r = bad.rekindle(&["migrate"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("`import.default_country`: unknown country code"),
        "{r:?}"
    );
    let r = ws.rekindle(&["import", "customers", "c.csv", "--encoding", "ebcdic"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("expected utf-8, windows-1250 or iso-8859-2"),
        "{r:?}"
    );
}
