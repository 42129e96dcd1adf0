//! Emails that look like the business: Markdown bodies with customer data escaped, the shipped
//! layout (button, footer, preheader, accent), `rekindle render`, own layouts, the checks
//! `rules check` and the configuration make — through the real binary, on both backends where
//! the store is involved, and in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{Backend, TEST_LINK_SECRET, Workspace, backends, load};

const RULE: &str = r#"id = "win-back"
name = "Win back"
[trigger]
type = "inactive"
events = ["visit"]
days = 30
[message]
channel = "email"
subject = "We miss you, {{ customer.first_name }}"
preheader = "Your usual table is waiting, {{ customer.first_name }}"
body = """
Hi {{ customer.name }},

it has been **{{ trigger.days_inactive }} days** since your last visit.
Your note: {{ customer.attributes.note }}

See [the menu](https://cafe.example/menu?c={{ customer.id }}) before you come.
"""
button = { text = "Book a table", url = "https://cafe.example/book" }
"#;

const CONFIG: &str = "public_url = \"https://rekindle.example\"\n\
    [business]\nname = \"Café Aroma\"\naddress = \"Baross tér 3, 9021 Győr\"\n\
    [email]\nfrom = \"Café Aroma <hello@cafe.example>\"\n\
    [email.style]\naccent = \"#8a4b2a\"\n";

/// A customer whose name and note try to inject markup, a script and links.
const NAME: &str = "**Ev** <script>alert(1)</script>";
const NOTE: &str = "[x](javascript:alert(1)) or https://evil.example/a";

fn workspace(backend: Backend) -> Workspace {
    let ws = Workspace::with_config(backend, CONFIG);
    ws.write("rules/win-back.toml", RULE);
    load(
        &ws,
        &format!(
            "id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,note\n\
             anna,Anna Kovács,anna@example.com,,,Europe/Budapest,yes,,,likes the window seat\n\
             ev,{NAME},ev@example.com,,,Europe/Budapest,yes,,,{NOTE}\n"
        ),
        "id,customer_id,kind,occurred_at,amount,score\n\
         a1,anna,visit,2026-05-01T10:00:00Z,,\n\
         e1,ev,visit,2026-05-01T10:00:00Z,,\n",
    );
    ws
}

fn secret() -> [(&'static str, &'static str); 1] {
    [("REKINDLE_LINK_SECRET", TEST_LINK_SECRET)]
}

/// `rekindle render win-back anna -o FILE` at the instant the tests use; returns the HTML.
fn render_html(ws: &Workspace, file: &str) -> String {
    let r = ws.rekindle_env(
        &[
            "render",
            "win-back",
            "anna",
            "--at",
            "2026-06-15T12:00:00Z",
            "-o",
            file,
        ],
        &secret(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::read_to_string(ws.path(file)).unwrap()
}

/// The decoded parts of an email, read by Python's own MIME parser (not ours).
struct Parts {
    headers: String,
    text: String,
    html: String,
}

fn parts(eml: &Path) -> Parts {
    let script = "import sys, json, email\nfrom email import policy\n\
        m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.default)\n\
        out = {'headers': ''.join(f'{k}: {v}\\n' for k, v in m.items())}\n\
        for p in m.walk():\n\
        \x20   t = p.get_content_type()\n\
        \x20   if t in ('text/plain', 'text/html'): out[t] = p.get_content()\n\
        print(json.dumps(out))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(eml)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Parts {
        headers: v["headers"].as_str().unwrap().to_string(),
        text: v["text/plain"].as_str().unwrap().to_string(),
        html: v["text/html"].as_str().unwrap().to_string(),
    }
}

/// The email sent to `to`, from the outbox.
fn sent_to(ws: &Workspace, to: &str) -> Parts {
    let dir = ws.path("outbox/email");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("To: {to}"))
        {
            return parts(&path);
        }
    }
    panic!("no email to {to} in {}", dir.display());
}

#[tokio::test]
async fn a_markdown_email_in_the_business_layout_with_customer_data_kept_inert() {
    for backend in backends() {
        let ws = workspace(backend);
        let r = ws.rekindle_env(&["run", "--once", "--at", "2026-06-15T12:00:00Z"], &secret());
        assert_eq!(r.code, 0, "{backend:?}: {r:?}");

        let anna = sent_to(&ws, "anna@example.com");
        let h = &anna.html;
        // The marketer's Markdown is rendered, in the layout, with the accent colour.
        assert!(h.contains("<html lang=\"en\" dir=\"ltr\">"), "{h}");
        assert!(h.contains("<strong>45 days</strong>"), "{h}");
        assert!(
            h.contains("Your usual table is waiting, Anna"),
            "the preheader: {h}"
        );
        assert!(h.contains(">Book a table</a>"), "{h}");
        assert!(
            h.contains("background-color:#8a4b2a"),
            "the button in the accent colour: {h}"
        );
        // Both marketer links go through the click tracker; nothing else does.
        assert_eq!(h.matches("href=\"https://rekindle.example/c/").count(), 2, "{h}");
        assert!(!h.contains("href=\"https://cafe.example"), "{h}");
        // The footer: who sent it, where they are, why, and the way out.
        assert!(h.contains("Baross tér 3, 9021 Győr"), "{h}");
        assert!(
            h.contains("You receive this because you are a customer of Café Aroma."),
            "{h}"
        );
        assert!(h.contains("href=\"https://rekindle.example/u/"), "{h}");
        assert!(h.len() < 100 * 1024, "{} bytes", h.len());
        assert!(!h.contains("<style"), "styles are inline");
        // The text part says the same, links as `text (url)`.
        let t = &anna.text;
        assert!(t.contains("it has been 45 days since your last visit."), "{t}");
        assert!(t.contains("See the menu (https://rekindle.example/c/"), "{t}");
        assert!(t.contains("Book a table: https://rekindle.example/c/"), "{t}");
        assert!(t.contains("Unsubscribe: https://rekindle.example/u/"), "{t}");
        assert!(
            anna.headers
                .contains("List-Unsubscribe: <https://rekindle.example/u/"),
            "{}",
            anna.headers
        );

        // What came from the customer prints literally: no bold, no script, no link.
        let ev = sent_to(&ws, "ev@example.com");
        let h = &ev.html;
        assert!(
            h.contains("Hi **Ev** &lt;script&gt;alert(1)&lt;/script&gt;,"),
            "{h}"
        );
        assert!(!h.contains("<script") && !h.contains("<strong>Ev"), "{h}");
        assert!(
            h.contains("[x](javascript:alert(1)) or https://evil.example/a"),
            "{h}"
        );
        assert!(
            !h.contains("href=\"javascript") && !h.contains("href=\"https://evil"),
            "{h}"
        );
        assert!(ev.text.contains(&format!("Hi {NAME},")), "{}", ev.text);
        assert!(ev.text.contains(NOTE), "{}", ev.text);

        // The click tracker leads only where the marketer pointed: the menu, then the button.
        let store = ws.store().await;
        let links = store.message_links(2).await.unwrap().unwrap().1.unwrap();
        let links: Vec<String> = serde_json::from_str(&links).unwrap();
        assert_eq!(
            links,
            ["https://cafe.example/menu?c=ev", "https://cafe.example/book"],
            "{backend:?}"
        );
        store.close().await;
    }
}

/// A decision whose list of tracked links was damaged (edited by hand in the database) still
/// reaches its customer: the links lead straight to their places, untracked, and the log says so.
#[tokio::test]
async fn an_email_whose_tracked_links_cannot_be_read_goes_out_untracked() {
    let ws = workspace(Backend::Sqlite);
    let at = ["--at", "2026-06-15T12:00:00Z"];
    let r = ws.rekindle_env(&["evaluate", at[0], at[1]], &secret());
    assert_eq!(r.code, 0, "{r:?}");
    let store = ws.store().await;
    let rekindle::store::Store::Sqlite(pool) = &store else {
        unreachable!("a SQLite workspace")
    };
    let damaged =
        sqlx::query("UPDATE decisions SET links = '[\"https://cafe.example/menu' WHERE links IS NOT NULL")
            .execute(pool)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(damaged, 2, "both emails carry tracked links");
    store.close().await;

    let r = ws.rekindle_env(&["run", "--once", at[0], at[1]], &secret());
    assert_eq!(r.code, 0, "{r:?}");
    let anna = sent_to(&ws, "anna@example.com");
    assert!(
        anna.html.contains("href=\"https://cafe.example/menu?c=anna\""),
        "the link leads to its place: {}",
        anna.html
    );
    assert!(
        anna.html.contains("href=\"https://cafe.example/book\""),
        "{}",
        anna.html
    );
    assert!(
        !anna.html.contains("https://rekindle.example/c/"),
        "{}",
        anna.html
    );
    assert!(
        anna.html.contains("href=\"https://rekindle.example/u/"),
        "the way out stays: {}",
        anna.html
    );
    assert!(
        r.stderr.contains("tracked links of the message cannot be read"),
        "{r:?}"
    );
}

#[test]
fn render_shows_what_a_customer_would_get_and_records_nothing() {
    let ws = workspace(Backend::Sqlite);
    let at = "2026-06-15T12:00:00Z";
    let r = ws.rekindle_env(&["render", "win-back", "anna", "--at", at], &secret());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Subject: We miss you, Anna"), "{r:?}");
    assert!(
        r.stdout.contains("Preheader: Your usual table is waiting, Anna"),
        "{r:?}"
    );
    assert!(r.stdout.contains("it has been 45 days"), "{r:?}");
    // No message to count clicks for: links go straight to where they lead.
    assert!(
        r.stdout.contains("Book a table: https://cafe.example/book"),
        "{r:?}"
    );

    let html = render_html(&ws, "anna.html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains(">Book a table</a>"),
        "{html}"
    );
    assert!(html.contains("href=\"https://cafe.example/book\""), "{html}");

    let r = ws.rekindle_env(
        &["render", "win-back", "anna", "--at", at, "-o", "anna.eml"],
        &secret(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let eml = parts(&ws.path("anna.eml"));
    assert!(
        eml.headers.contains("Subject: We miss you, Anna"),
        "{}",
        eml.headers
    );
    assert!(eml.html.contains("Baross tér 3"), "{}", eml.html);

    // Nothing was recorded or sent.
    let r = ws.rekindle(&["messages", "list", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.trim().is_empty(), "{r:?}");
    let r = ws.rekindle(&["report", "--format", "json"]);
    assert!(!r.stdout.contains("\"send\""), "{r:?}");
    assert!(
        !ws.path("outbox/email").exists()
            || std::fs::read_dir(ws.path("outbox/email"))
                .unwrap()
                .next()
                .is_none()
    );

    // Who would get nothing is told why; an unknown customer is an error.
    let r = ws.rekindle_env(
        &["render", "win-back", "anna", "--at", "2026-05-10T12:00:00Z"],
        &secret(),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("sends nothing to anna"), "{r:?}");
    let r = ws.rekindle(&["render", "win-back", "nobody", "--at", at]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no customer with id \"nobody\""), "{r:?}");
    let r = ws.rekindle(&["render", "win-back", "anna", "--at", at, "-o", "anna.pdf"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("FILE.html or FILE.eml"), "{r:?}");
}

#[test]
fn rules_preview_shows_the_preheader_and_button_of_its_samples() {
    let ws = workspace(Backend::Sqlite);
    let r = ws.rekindle(&["rules", "preview", "--at", "2026-06-15T12:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("  Subject: We miss you, Anna"), "{r:?}");
    assert!(
        r.stdout
            .contains("  Preheader: Your usual table is waiting, Anna"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("  [Book a table] -> https://cafe.example/book"),
        "{r:?}"
    );
}

#[test]
fn smtp_needs_the_business_address_and_the_outbox_does_not() {
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[email]\ntransport = \"smtp\"\nunsubscribe_mailto = \"leave@cafe.example\"\n",
    );
    let r = ws.rekindle(&["migrate"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("`business.address`"), "{r:?}");
    let ws = Workspace::with_config(Backend::Sqlite, "[email.style]\naccent = \"brown\"\n");
    let r = ws.rekindle(&["migrate"]);
    assert!(
        r.stderr.contains("`email.style.accent`") && r.stderr.contains("#rrggbb"),
        "{r:?}"
    );
    let ws = Workspace::new(Backend::Sqlite);
    assert_eq!(ws.rekindle(&["migrate"]).code, 0);
}

#[test]
fn an_own_layout_is_checked_like_a_rule_and_used_for_every_email() {
    let ws = workspace(Backend::Sqlite);
    let config = std::fs::read_to_string(ws.path("rekindle.toml"))
        .unwrap()
        .replace(
            "[email.style]\n",
            "[email.style]\nlayout = \"templates/layout.html\"\n",
        );
    ws.write("rekindle.toml", &config);

    ws.write(
        "templates/layout.html",
        "<html>\n<body>\n{{ content }\n</body>\n</html>\n",
    );
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let layout = ws.path("templates/layout.html").display().to_string();
    assert!(
        r.stdout.contains(&format!("{layout}:3:")) || r.stdout.contains("templates/layout.html:3:"),
        "FILE:LINE:COL: {r:?}"
    );
    assert!(r.stdout.contains("template error"), "{r:?}");
    // Delivery refuses to start with it rather than send unstyled or broken mail.
    let r = ws.rekindle_env(&["run", "--once", "--at", "2026-06-15T12:00:00Z"], &secret());
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("email.style.layout"), "{r:?}");

    ws.write("templates/layout.html", "<html><body>{{ content }}</body></html>");
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("unsubscribe"),
        "a layout must keep the way out: {r:?}"
    );

    ws.write(
        "templates/layout.html",
        "{% extends \"rekindle.html\" %}\n{% block header %}<h1 style=\"color:{{ accent }}\">{{ business.name }} · since 1998</h1>{% endblock %}\n",
    );
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    let html = render_html(&ws, "anna.html");
    assert!(
        html.contains("<h1 style=\"color:#8a4b2a\">Café Aroma · since 1998</h1>"),
        "{html}"
    );
    assert!(
        html.contains(">Book a table</a>") && html.contains("Baross tér 3"),
        "{html}"
    );
}

#[test]
fn rules_check_finds_email_parts_that_cannot_work() {
    let ws = Workspace::new(Backend::Sqlite);
    ws.write(
        "rules/sms.toml",
        "id = \"sms\"\nname = \"s\"\n[trigger]\ntype = \"inactive\"\nevents = [\"visit\"]\ndays = 30\n\
         [message]\nchannel = \"sms\"\nbody = \"Hi\"\nbutton = { text = \"Go\", url = \"https://cafe.example\" }\n",
    );
    ws.write(
        "rules/email.toml",
        "id = \"email\"\nname = \"e\"\n[trigger]\ntype = \"inactive\"\nevents = [\"visit\"]\ndays = 30\n\
         [message]\nchannel = \"email\"\nsubject = \"Hi\"\n\
         body = \"Click [here](javascript:alert(1))\"\n\
         button = { text = \"Go\", url = \"{{ customer.attributes.site }}/book\" }\n",
    );
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let has = |file: &str, line: usize, text: &str| {
        let prefix = format!("rules/{file}:{line}:");
        lines.iter().any(|l| l.contains(&prefix) && l.contains(text))
    };
    assert!(has("sms.toml", 10, "`button` applies only to email"), "{r:?}");
    assert!(has("email.toml", 10, "cannot be followed from an email"), "{r:?}");
    assert!(
        has("email.toml", 11, "button url must start with https://"),
        "{r:?}"
    );
}

/// Headless Chromium: Debian's `chromium`. Under `CI=true` it must be there (`.ci/run`
/// installs it); elsewhere a missing browser skips the test, loudly.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(PathBuf::from);
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is not installed under CI=true: `.ci/run` installs it");
        }
        eprintln!("WARNING: chromium is not installed; the email layout browser test is NOT run");
    }
    found
}

/// Where screenshots are kept for people to look at (CI keeps the target directory).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A page holding the email in a frame of the width under test (Chromium's window is at least
/// 500 px wide), and a script that measures, in the browser, whether the body text, button and
/// footer are visible inside the frame and whether anything overflows it horizontally.
const PROBE: &str = r#"<!DOCTYPE html><html><body style="margin:0">
<iframe id="email" src="email.html" style="border:0;width:WIDTHpx;height:900px"></iframe>
<script>
window.addEventListener("load", function () {
  var frame = document.getElementById("email");
  var doc = frame.contentDocument, win = frame.contentWindow;
  function find(text) {
    var r = doc.evaluate("//*[text()[contains(., '" + text + "')]]", doc, null, 9, null);
    return r.singleNodeValue;
  }
  function seen(text) {
    var el = find(text);
    if (!el) return "missing";
    var b = el.getBoundingClientRect(), s = win.getComputedStyle(el);
    if (b.width <= 0 || b.height <= 0 || s.visibility === "hidden" || s.display === "none") return "hidden";
    if (b.left < 0 || b.right > win.innerWidth + 0.5) return "outside " + b.left + ".." + b.right;
    return "ok";
  }
  var out = {
    width: win.innerWidth,
    scroll: doc.documentElement.scrollWidth,
    body: seen("since your last visit"),
    button: seen("Book a table"),
    footer: seen("You receive this because"),
    address: seen("Baross tér 3"),
    unsubscribe: seen("Unsubscribe"),
    preheader: seen("Your usual table is waiting")
  };
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body></html>"#;

#[test]
fn the_shipped_layout_reads_well_in_a_browser_at_phone_and_desktop_widths() {
    let Some(browser) = chromium() else {
        return;
    };
    let ws = workspace(Backend::Sqlite);
    render_html(&ws, "email.html");
    for width in [375, 800] {
        ws.write("probe.html", &PROBE.replace("WIDTH", &width.to_string()));
        let size = format!("--window-size={},900", width.max(500));
        let url = format!("file://{}", ws.path("probe.html").display());
        let dom = Command::new(&browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args([
                "--allow-file-access-from-files",
                "--virtual-time-budget=5000",
                &size,
                "--dump-dom",
            ])
            .arg(&url)
            .output()
            .expect("chromium runs");
        let dom = String::from_utf8_lossy(&dom.stdout);
        let json = dom
            .split("<pre id=\"probe\">")
            .nth(1)
            .and_then(|rest| rest.split("</pre>").next())
            .unwrap_or_else(|| panic!("the probe ran: {dom}"))
            .replace("&quot;", "\"");
        let probe: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(probe["width"], width, "{probe}");
        for part in ["body", "button", "footer", "address", "unsubscribe"] {
            assert_eq!(probe[part], "ok", "{part} at {width}px: {probe}");
        }
        // The preheader is for the inbox list, never shown in the email itself.
        assert_eq!(probe["preheader"], "hidden", "{probe}");
        assert!(
            probe["scroll"].as_i64().unwrap() <= width,
            "nothing is wider than the screen at {width}px: {probe}"
        );
        let shot = artifacts().join(format!("email-{width}.png"));
        let _ = std::fs::remove_file(&shot);
        // The frame page, so the phone width is the email's width.
        let status = Command::new(&browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args([
                "--allow-file-access-from-files",
                &format!("--window-size={width},900"),
            ])
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(shot.exists(), "screenshot {}: {status:?}", shot.display());
    }
}

/// The email example of rules/README.md, with its Hungarian translation, is a rule that checks
/// and renders as the guide says (the button's URL stays the untranslated one).
#[test]
fn the_marketers_guide_email_example_checks_and_renders_in_hungarian() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/README.md")).unwrap();
    let section = &guide[guide.find("## Emails that look like your business").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```\n").unwrap()];
    let ws = Workspace::with_config(
        Backend::Sqlite,
        "[history]\nfavourite_properties = [\"item\"]\n[business]\nname = \"Café Aroma\"\naddress = \"Baross tér 3, 9021 Győr\"\n",
    );
    ws.write(
        "rules/win-back.toml",
        &format!(
            "id = \"win-back\"\nname = \"Win back\"\n[trigger]\ntype = \"inactive\"\nevents = [\"visit\"]\ndays = 30\n{example}"
        ),
    );
    let r = ws.rekindle(&["rules", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    load(
        &ws,
        "id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,language\n\
         eszter,Eszter Kiss,eszter@example.com,,,Europe/Budapest,yes,,,hu\n",
        "id,customer_id,kind,occurred_at,amount,score,item\ne1,eszter,visit,2026-05-01T10:00:00Z,,,flat white\n",
    );
    let r = ws.rekindle(&["render", "win-back", "eszter", "--at", "2026-06-15T12:00:00Z"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Subject: Hiányzol, Eszter"), "{r:?}");
    assert!(r.stdout.contains("Preheader: Vár a szokásos asztalod"), "{r:?}");
    assert!(r.stdout.contains("Már 45 napja nem láttunk."), "{r:?}");
    assert!(
        r.stdout
            .contains("Asztalfoglalás: https://cafe-aroma.example/book"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("Azért kapja ezt az üzenetet, mert a(z) Café Aroma vendége."),
        "{r:?}"
    );
}
