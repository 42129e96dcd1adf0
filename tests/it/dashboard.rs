//! The live report behind a login: `rekindle users add` writes an argon2id hash into the
//! configuration, `serve` shows `/report` only to a signed-in user, with a session cookie
//! that is HttpOnly, SameSite=Strict and Secure (public_url is https), and refuses a wrong
//! password and a forged cookie.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::{Backend, Workspace, command_in};
use crate::serve::{ENV, config, rule};
use crate::service::Service;

const PASSWORD: &str = "flat white at nine";

fn add_user(ws: &Workspace, name: &str, password: &str) -> crate::helpers::Run {
    let mut child = command_in(ws.dir.path(), &["users", "add", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    crate::helpers::Run::from(child.wait_with_output().unwrap())
}

fn no_redirects() -> reqwest::Client {
    crate::serve::client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_report_is_shown_only_after_signing_in() {
    let ws = Workspace::with_config(Backend::Sqlite, &config("[business]\nname = \"Café Aroma\"\n"));
    // Disabled: nothing changes while the page and the JSON are compared.
    ws.write(
        "rules/win-back.toml",
        &rule("email", "Come back").replace("name = \"Win back\"", "name = \"Win back\"\nenabled = false"),
    );
    crate::helpers::load(
        &ws,
        &format!(
            "{}\nann,Ann,ann@example.com,,,UTC,yes,,\nbo,Bo,bo@example.com,,,UTC,yes,,\n",
            crate::helpers::CUSTOMERS_HEADER
        ),
        &format!(
            "{}\na1,ann,visit,2026-01-10T10:00:00Z,12,\na2,ann,visit,2026-02-10T10:00:00Z,8,\nb1,bo,feedback,2026-02-11T10:00:00Z,,9\n",
            crate::helpers::EVENTS_HEADER
        ),
    );

    let r = add_user(&ws, "anna", "short");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("at least 10 characters"), "{r:?}");
    let r = add_user(&ws, "anna", PASSWORD);
    assert_eq!(r.code, 0, "{r:?}");
    let written = std::fs::read_to_string(ws.path("rekindle.toml")).unwrap();
    assert!(
        written.contains("[http.dashboard_users]\nanna = \"$argon2id$v=19$"),
        "{written}"
    );
    assert!(!written.contains(PASSWORD));
    assert!(
        written.starts_with("public_url = "),
        "the rest of the file is kept"
    );

    let svc = Service::start(&ws, &ENV);
    let http = no_redirects();
    // Without a session: to the login form, remembering where to go back.
    let r = http.get(svc.url("/report")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login?next=%2Freport");
    let r = http.get(svc.url("/login?next=%2Freport")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("type=\"password\""));

    // A wrong password, an unknown name: refused, no cookie.
    for (name, password) in [("anna", "not her password"), ("bob", PASSWORD)] {
        let r = http
            .post(svc.url("/login"))
            .form(&[("name", name), ("password", password), ("next", "/report")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        assert!(r.text().await.unwrap().contains("Wrong name or password"));
    }

    // The right one: a session cookie, and back to the report.
    let r = http
        .post(svc.url("/login"))
        .form(&[("name", "anna"), ("password", PASSWORD), ("next", "/report")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/report");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    assert!(!session.contains(PASSWORD) && !session.contains(crate::serve::LINK_SECRET));

    let r = http
        .get(svc.url("/report"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Café Aroma: how your customers are doing"),
        "{page}"
    );
    assert!(page.contains("id=\"rule-win-back\""), "{page}");
    // The live page shows the numbers `report --format json` gives for the same data.
    let json = ws.rekindle(&["report", "--format", "json", "--coming-days", "14"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    crate::report_page::assert_numbers_match(&page, &json);
    let r = http
        .get(svc.url("/report/rules/win-back"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(svc.url("/report/rules/nope"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Forged or tampered cookies, and the API's bearer token, get the login instead.
    let (user_and_expiry, _) = session.rsplit_once('.').unwrap();
    let forged = [
        format!("{user_and_expiry}.00000000000000000000000000000000"),
        session.replace("anna", "bob"),
        "rekindle_session=anna.99999999999.abc".to_string(),
    ];
    for cookie in forged {
        let r = http
            .get(svc.url("/report"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{cookie}");
    }
    let r = http
        .get(svc.url("/report"))
        .bearer_auth(crate::serve::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "no bearer tokens for the report"
    );
    // `next` never leads off the site.
    let r = http
        .post(svc.url("/login"))
        .form(&[
            ("name", "anna"),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION], "/report");
    // Signing out clears the cookie.
    let r = http
        .post(svc.url("/logout"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(svc.stop(Duration::from_secs(10)), 0);
}
