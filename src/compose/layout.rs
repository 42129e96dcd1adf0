//! The HTML around an email's body: the shipped layout (`layout.html`: table-based, styles
//! inline, at most 600 px wide, the business's name or logo on top, the accent colour on the
//! button and links, a footer saying who sent it and how to leave), or an operator's own
//! minijinja file (`[email.style] layout`), which may `{% extends "rekindle.html" %}` and
//! replace its blocks `header`, `content`, `button` and `footer`.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

/// The shipped layout, under the name an own layout extends.
pub const SHIPPED_NAME: &str = "rekindle.html";
const SHIPPED: &str = include_str!("layout.html");
const OWN_NAME: &str = "layout.html";

/// What layouts may use: anything else is a mistake `rules check` reports.
const VARIABLES: [&str; 12] = [
    "lang",
    "dir",
    "subject",
    "preheader",
    "content",
    "button",
    "accent",
    "business",
    "reason",
    "unsubscribe",
    "unsubscribe_note",
    "open_pixel",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

pub struct Layout {
    env: Environment<'static>,
    /// The template to render: the own layout's name, or the shipped one's.
    name: &'static str,
}

/// A button under the body.
#[derive(Debug, Clone, Serialize)]
pub struct ButtonView {
    pub text: String,
    /// Where it leads (the click-tracking link when tracked).
    pub url: String,
}

/// Who sends it: `[business]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BusinessView {
    pub name: String,
    pub address: Option<String>,
    pub logo_url: Option<String>,
    pub website: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnsubscribeView {
    pub url: String,
    pub text: String,
}

/// Everything one email's layout shows.
#[derive(Debug, Clone)]
pub struct View {
    pub lang: String,
    pub subject: String,
    pub preheader: Option<String>,
    /// The body as HTML (already escaped and rendered from Markdown).
    pub content: String,
    pub button: Option<ButtonView>,
    pub accent: String,
    pub business: BusinessView,
    /// Why the customer gets this.
    pub reason: Option<String>,
    pub unsubscribe: Option<UnsubscribeView>,
    /// Without a link: how to unsubscribe by replying.
    pub unsubscribe_note: Option<String>,
    pub open_pixel: Option<String>,
}

/// The writing direction of a language: the languages written in a right-to-left script by
/// default (Arabic, Hebrew, Persian, Urdu, Pashto, Sindhi, Uyghur, Dhivehi, Yiddish,
/// Central Kurdish); every other is left to right.
pub fn direction(lang: &str) -> &'static str {
    let primary = lang.split(['-', '_']).next().unwrap_or(lang).to_ascii_lowercase();
    match primary.as_str() {
        "ar" | "he" | "fa" | "ur" | "ps" | "sd" | "ug" | "dv" | "yi" | "ckb" => "rtl",
        _ => "ltr",
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_debug(true);
    // HTML-escape as the body's text is escaped (`&<>"'`): minijinja's own escaper also
    // writes `/` as `&#x2f;`, which no email needs and which makes every URL unreadable.
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == minijinja::AutoEscape::Html
            && !value.is_safe()
            && let Some(s) = value.as_str()
        {
            out.write_str(&super::markdown::escape(s))?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    // Every value is HTML-escaped (`.html` names), except `content`, which is marked safe.
    env.add_template(SHIPPED_NAME, SHIPPED)
        .expect("the shipped layout compiles (tested)");
    env
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout").field("name", &self.name).finish()
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::shipped()
    }
}

impl Layout {
    pub fn shipped() -> Layout {
        Layout {
            env: environment(),
            name: SHIPPED_NAME,
        }
    }

    /// An own layout, checked as `rules check` checks a rule's templates: its syntax, the
    /// variables it uses, a render with sample values, and that it shows the unsubscribe link.
    pub fn from_file(path: &Path) -> Result<Layout, LayoutError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| LayoutError::File {
            file: file.clone(),
            message: format!("cannot read the layout: {e}"),
        })?;
        Layout::from_source(&file, source)
    }

    pub fn from_source(file: &str, source: String) -> Result<Layout, LayoutError> {
        let at = |offset: Option<usize>, line: Option<usize>, message: String| {
            let (line, column) = match offset.filter(|o| *o <= source.len()) {
                Some(o) => {
                    let before = &source[..o];
                    let line = before.matches('\n').count() + 1;
                    let column = before[before.rfind('\n').map_or(0, |n| n + 1)..].chars().count() + 1;
                    (line, column)
                }
                None => (line.unwrap_or(1), 1),
            };
            LayoutError::At {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let mut env = environment();
        if let Err(e) = env.add_template_owned(OWN_NAME, source.clone()) {
            return Err(at(
                e.range().map(|r| r.start),
                e.line(),
                format!("template error: {}", e.detail().unwrap_or("syntax error")),
            ));
        }
        let layout = Layout { env, name: OWN_NAME };
        let template = layout.env.get_template(OWN_NAME).expect("just added");
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()))
            .collect();
        unknown.sort();
        if let Some(v) = unknown.first() {
            return Err(at(
                source.find(v.as_str()),
                None,
                format!(
                    "unknown layout variable `{v}` (a layout may use {})",
                    VARIABLES.join(", ")
                ),
            ));
        }
        let sample = View::sample();
        match layout.render(&sample) {
            Err(e) => Err(at(
                e.range().map(|r| r.start),
                e.line(),
                format!("template error: {}", e.detail().unwrap_or("cannot be rendered")),
            )),
            Ok(html) => {
                let url = sample
                    .unsubscribe
                    .as_ref()
                    .map(|u| u.url.as_str())
                    .unwrap_or_default();
                if !html.contains(url) {
                    return Err(LayoutError::File {
                        file: file.to_string(),
                        message: "the layout never shows `unsubscribe.url`: every email must carry its unsubscribe link \
                                  (keep the `footer` block, or write <a href=\"{{ unsubscribe.url }}\">…</a>)"
                            .into(),
                    });
                }
                Ok(layout)
            }
        }
    }

    pub fn render(&self, view: &View) -> Result<String, minijinja::Error> {
        let ctx = context! {
            lang => &view.lang,
            dir => direction(&view.lang),
            subject => &view.subject,
            preheader => &view.preheader,
            content => Value::from_safe_string(view.content.clone()),
            button => Value::from(Serde(&view.button)),
            accent => &view.accent,
            business => Value::from(Serde(&view.business)),
            reason => &view.reason,
            unsubscribe => Value::from(Serde(&view.unsubscribe)),
            unsubscribe_note => &view.unsubscribe_note,
            open_pixel => &view.open_pixel,
        };
        self.env.get_template(self.name)?.render(ctx)
    }
}

impl View {
    /// Plausible values of every variable, for checking a layout.
    pub fn sample() -> View {
        View {
            lang: "en".into(),
            subject: "We miss you, Anna".into(),
            preheader: Some("Your usual table is waiting".into()),
            content: "<p style=\"margin:0 0 16px 0;\">Hi Anna,</p>".into(),
            button: Some(ButtonView {
                text: "Book a table".into(),
                url: "https://cafe.example/book".into(),
            }),
            accent: "#8a4b2a".into(),
            business: BusinessView {
                name: "Café Aroma".into(),
                address: Some("Baross tér 3, 9021 Győr".into()),
                logo_url: None,
                website: Some("https://cafe.example".into()),
            },
            reason: Some("You receive this because you are a customer of Café Aroma.".into()),
            unsubscribe: Some(UnsubscribeView {
                url: "https://rekindle.cafe.example/u/sample-unsubscribe-link".into(),
                text: "Unsubscribe".into(),
            }),
            unsubscribe_note: None,
            open_pixel: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_layout_shows_body_button_footer_and_escapes_values() {
        let mut v = View::sample();
        v.business.name = "Kávé & <Co>".into();
        v.lang = "hu".into();
        let html = Layout::shipped().render(&v).unwrap();
        assert!(html.contains("<html lang=\"hu\" dir=\"ltr\">"), "{html}");
        assert!(html.contains("Hi Anna,"));
        assert!(html.contains(">Book a table</a>"));
        assert!(html.contains("background-color:#8a4b2a"));
        assert!(html.contains("Kávé &amp; &lt;Co&gt;"), "names are escaped");
        assert!(html.contains("Baross tér 3, 9021 Győr"));
        assert!(
            html.contains("https:&#x2f;&#x2f;rekindle.cafe.example&#x2f;u&#x2f;sample-unsubscribe-link")
                || html.contains("https://rekindle.cafe.example/u/sample-unsubscribe-link")
        );
        assert!(!html.contains("<style"), "styles are inline");
        assert_eq!(direction("ar-EG"), "rtl");
        assert_eq!(direction("sk"), "ltr");
    }

    #[test]
    fn an_own_layout_is_checked_where_it_goes_wrong() {
        let err = Layout::from_source("layout.html", "<p>\n  {{ content }\n</p>".into()).unwrap_err();
        match err {
            LayoutError::At { line, .. } => assert_eq!(line, 2),
            e => panic!("{e}"),
        }
        let err = Layout::from_source("layout.html", "{{ content }}\n{{ shop_name }}".into()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("layout.html:2:4: unknown layout variable `shop_name`"),
            "{err}"
        );
        let err = Layout::from_source("layout.html", "{{ content }}".into()).unwrap_err();
        assert!(err.to_string().contains("unsubscribe"), "{err}");
        let own = Layout::from_source(
            "layout.html",
            "{% extends \"rekindle.html\" %}{% block header %}<b>{{ business.name }}</b>{% endblock %}"
                .into(),
        )
        .unwrap();
        let html = own.render(&View::sample()).unwrap();
        assert!(
            html.contains("<b>Café Aroma</b>") && html.contains("Book a table"),
            "{html}"
        );
    }
}
