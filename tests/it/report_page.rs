//! The owner's report: `report --format html` is one self-contained page whose numbers are the
//! JSON's, it opens in a browser without fetching anything, and a decision still inside its
//! goal window is counted apart, never as a failure.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{Backend, CUSTOMERS_HEADER, EVENTS_HEADER, Workspace, backends, load};

const RULE: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
events = ["visit"]
days = 30
[message]
channel = "email"
subject = "We miss you"
body = "Come back, {{ customer.first_name }}."
[goal]
events = ["visit"]
within = "14d"
[experiment]
holdout_percent = 20
"#;

/// Forty customers who came weekly from January and stopped in April or later (some came back
/// after the message), each with a feedback score; health snapshots every week of May.
fn workspace(backend: Backend) -> Workspace {
    let ws = Workspace::with_config(
        backend,
        "[business]\nname = \"Café Aroma\"\n[health]\nactivity_events = [\"visit\", \"booking\"]\n",
    );
    ws.write("rules/win-back.toml", RULE);
    let mut customers = format!("{CUSTOMERS_HEADER}\n");
    let mut events = format!("{EVENTS_HEADER}\n");
    for c in 0..40 {
        customers.push_str(&format!(
            "c{c:02},Guest {c},c{c}@example.com,,,Europe/Budapest,yes,,\n"
        ));
        let weeks = 14 + c % 8;
        for w in 0..weeks {
            let day = jiff::civil::date(2026, 1, 5)
                .checked_add(jiff::Span::new().days(7 * w))
                .unwrap();
            events.push_str(&format!(
                "v{c}-{w},c{c:02},visit,{day}T09:00:00Z,{}.5,\n",
                8 + c % 5
            ));
        }
        events.push_str(&format!(
            "f{c},c{c:02},feedback,2026-03-01T10:00:00Z,,{}\n",
            c % 11
        ));
        if c % 4 == 0 {
            events.push_str(&format!("back{c},c{c:02},visit,2026-06-20T09:00:00Z,12,\n"));
        }
    }
    load(&ws, &customers, &events);
    for day in ["2026-05-04", "2026-05-11", "2026-05-18", "2026-05-25"] {
        let r = ws.rekindle(&["health", "recompute", "--at", &format!("{day}T12:00:00Z")]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let r = ws.rekindle(&["run", "--once", "--at", "2026-06-10T12:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    ws
}

const UNTIL: &str = "2026-07-15T12:00:00Z";

/// The value at a dotted path (`rules.0.funnel.1.n`).
fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, key| match key.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[key],
    })
}

/// Every `data-json="PATH" data-value="VALUE"` pair of a page, in order.
fn numbers(html: &str) -> Vec<(String, String)> {
    html.split("data-json=\"")
        .skip(1)
        .map(|rest| {
            let path = rest.split('"').next().unwrap().to_string();
            let value = rest
                .split("data-value=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap()
                .to_string();
            (path, value)
        })
        .collect()
}

fn same_number(json: &Value, shown: &str) -> bool {
    match json {
        Value::Null => shown.is_empty(),
        Value::Number(n) => shown
            .parse::<f64>()
            .is_ok_and(|s| (s - n.as_f64().unwrap()).abs() < 1e-9),
        _ => false,
    }
}

pub(crate) fn assert_numbers_match(html: &str, json: &Value) {
    let shown = numbers(html);
    assert!(shown.len() >= 12, "the page marks its numbers: {shown:?}");
    for (path, value) in &shown {
        let expected = at(json, path);
        assert!(
            same_number(expected, value),
            "{path}: the page shows {value:?}, the JSON has {expected}"
        );
    }
}

#[test]
fn the_html_report_is_one_offline_page_whose_numbers_are_the_jsons() {
    for backend in backends() {
        let ws = workspace(backend);
        let args = [
            "report",
            "--until",
            UNTIL,
            "--since",
            "2026-01-01",
            "--coming-days",
            "3",
        ];
        let r = ws.rekindle(&[&args[..], &["--format", "json"]].concat());
        assert_eq!(r.code, 0, "{r:?}");
        let json: Value = serde_json::from_str(&r.stdout).unwrap();
        let r = ws.rekindle(&[&args[..], &["--format", "html", "-o", "report.html"]].concat());
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("wrote report.html"), "{r:?}");
        let html = std::fs::read_to_string(ws.path("report.html")).unwrap();

        // Self-contained: no script, nothing loaded from anywhere.
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            !html.contains("<script") && !html.contains("<link"),
            "{backend:?}"
        );
        for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(!html.contains(attr), "{attr} in the page");
        }
        assert!(html.matches("<svg").count() >= 4, "charts inline");
        assert!(html.contains("Café Aroma: how your customers are doing"));
        assert_numbers_match(&html, &json);

        // The business's numbers: 40 answers give an NPS, the weekly health and the months.
        let b = &json["business"];
        assert_eq!(b["nps"]["answers"], 40, "{backend:?}");
        assert!(b["nps"]["score"].is_number());
        assert_eq!(b["health_weeks"].as_array().unwrap().len(), 4, "{b}");
        let months: Vec<&str> = b["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["month"].as_str().unwrap())
            .collect();
        assert_eq!(months.first(), Some(&"2026-01"));
        assert_eq!(months.last(), Some(&"2026-07"));
        let lapsed: i64 = b["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["lapsed"].as_i64().unwrap())
            .sum();
        assert!(lapsed >= 30, "most stopped coming: {b}");
        let came_back: i64 = b["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["reactivated_after_message"].as_i64().unwrap())
            .sum();
        assert!(came_back >= 1, "some came back after the message: {b}");
        assert_eq!(json["coming"]["days"], 3);
        // The rule: its funnel and a verdict in words.
        let rule = &json["rules"][0];
        assert_eq!(rule["funnel"][0]["label"], "matched");
        assert!(rule["summary"].as_str().unwrap().ends_with('.'), "{rule}");
        assert!(html.contains(rule["summary"].as_str().unwrap()));
    }
}

#[test]
fn a_decision_inside_its_goal_window_is_counted_apart_not_as_a_failure() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write(
        "rules/win-back.toml",
        &RULE.replace("holdout_percent = 20", "holdout_percent = 0"),
    );
    load(
        &ws,
        &format!("{CUSTOMERS_HEADER}\nann,Ann,ann@example.com,,,Europe/Budapest,yes,,\n"),
        &format!("{EVENTS_HEADER}\na1,ann,visit,2026-05-01T10:00:00Z,,\n"),
    );
    let r = ws.rekindle(&["run", "--once", "--at", "2026-06-10T12:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    let report = |until: &str| -> Value {
        let r = ws.rekindle(&["report", "--until", until, "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        serde_json::from_str::<Value>(&r.stdout).unwrap()["rules"][0].clone()
    };
    // Two days after the message, Ann may still come within her 14 days: not a failure.
    let early = report("2026-06-12T12:00:00Z");
    assert_eq!(
        (early["contacted"].as_i64(), early["open_window"].as_i64()),
        (Some(0), Some(1)),
        "{early}"
    );
    let r = ws.rekindle(&["report", "--until", "2026-06-12T12:00:00Z"]);
    assert!(
        r.stdout.contains("too early   1 still inside their goal window"),
        "{r:?}"
    );
    // Once the window closed without a visit, she counts as contacted and not converted.
    let late = report("2026-06-30T12:00:00Z");
    assert_eq!(
        (
            late["contacted"].as_i64(),
            late["contacted_converted"].as_i64(),
            late["open_window"].as_i64()
        ),
        (Some(1), Some(0), Some(0)),
        "{late}"
    );
}

/// A probe that lists, in the browser, every marked number and every resource the page loaded.
const PROBE: &str = r#"<script>
window.addEventListener("load", function () {
  var out = { numbers: [], resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }) };
  document.querySelectorAll("[data-json]").forEach(function (el) {
    out.numbers.push([el.getAttribute("data-json"), el.getAttribute("data-value"), el.textContent.trim()]);
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn the_report_page_in_a_browser_shows_the_jsons_numbers_and_loads_nothing() {
    let Some(browser) = crate::email_look::chromium() else {
        return;
    };
    let ws = workspace(Backend::Sqlite);
    let args = [
        "report",
        "--until",
        UNTIL,
        "--since",
        "2026-01-01",
        "--coming-days",
        "3",
    ];
    let json: Value =
        serde_json::from_str(&ws.rekindle(&[&args[..], &["--format", "json"]].concat()).stdout).unwrap();
    let r = ws.rekindle(&[&args[..], &["--format", "html", "-o", "report.html"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    let html = std::fs::read_to_string(ws.path("report.html")).unwrap();
    ws.write("probe.html", &html.replace("</body>", &format!("{PROBE}</body>")));
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", ws.path("probe.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let probe = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe ran: {dom}"))
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let probe: Value = serde_json::from_str(&probe).unwrap();
    assert_eq!(probe["resources"], serde_json::json!([]), "nothing is fetched");
    let numbers = probe["numbers"].as_array().unwrap();
    assert!(numbers.len() >= 12, "{probe}");
    for n in numbers {
        let (path, value, text) = (
            n[0].as_str().unwrap(),
            n[1].as_str().unwrap(),
            n[2].as_str().unwrap(),
        );
        let expected = at(&json, path);
        assert!(same_number(expected, value), "{path}: {value:?} vs {expected}");
        // Counts are shown as they are.
        if let Some(i) = expected.as_i64() {
            assert_eq!(text, i.to_string(), "{path}");
        }
    }
    let shot = crate::email_look::artifacts().join("report.png");
    let _ = std::fs::remove_file(&shot);
    Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,1400",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", ws.path("report.html").display()))
        .output()
        .expect("chromium runs");
    assert!(shot.exists(), "screenshot {}", shot.display());
}
