//! What an email says, composed from a decision's stored parts: the Markdown body as HTML and
//! as plain text (`markdown`), inside the business's layout (`layout`), with a footer saying
//! who sent it, why, and how to leave — in the language of the message. Pure: the delivery
//! adapter (`delivery::email`) and `rekindle render` both call [`compose`].

pub mod layout;
pub mod markdown;

pub use layout::{BusinessView, ButtonView, Layout, LayoutError, UnsubscribeView, View};

/// The accent colour when `[email.style] accent` is not set: a dark teal that keeps white
/// button text readable (contrast above 4.5:1) and is not one half of a red/green pair.
pub const DEFAULT_ACCENT: &str = "#1f6f78";

/// Gmail clips a message whose HTML is larger than this ("[Message clipped]").
pub const MAX_HTML_BYTES: usize = 100 * 1024;

/// How the business presents itself in every email (`[business]`, `[email.style]`).
pub struct Branding {
    pub business: BusinessView,
    pub accent: String,
    pub layout: Layout,
}

impl Branding {
    /// From the configuration; the business's name falls back to the sender's display name.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Branding, LayoutError> {
        let b = &cfg.business;
        let name = b
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| cfg.email.from.name.clone().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| cfg.email.from.email.domain().to_string());
        let layout = match &cfg.email.style.layout {
            Some(path) => Layout::from_file(path)?,
            None => Layout::shipped(),
        };
        Ok(Branding {
            business: BusinessView {
                name,
                address: b.address.clone().filter(|a| !a.trim().is_empty()),
                logo_url: b.logo_url.clone(),
                website: b.website.clone(),
            },
            accent: cfg
                .email
                .style
                .accent
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCENT.to_string()),
            layout,
        })
    }
}

/// A decision's email, as stored.
pub struct Parts<'a> {
    pub subject: &'a str,
    pub preheader: Option<&'a str>,
    /// Markdown, customer data escaped (`markdown::escape_data`).
    pub body: &'a str,
    /// (text, url)
    pub button: Option<(&'a str, &'a str)>,
    /// The language the text is written in (BCP 47).
    pub language: &'a str,
    /// The URLs that may be tracked, in document order (the button's last).
    pub tracked: &'a [String],
}

/// The ways out and the open pixel of one message.
#[derive(Debug, Clone, Default)]
pub struct Exits {
    pub unsubscribe_url: Option<String>,
    /// Without a link: the mailbox and the subject a reply must carry.
    pub mailto: Option<(String, String)>,
    pub open_pixel: Option<String>,
}

/// An email's two bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub html: String,
    pub text: String,
}

/// Composes the HTML and plain-text bodies. `track(n)` is the click-tracking link of the
/// `n`th tracked URL (`None`: links go straight to their destinations).
pub fn compose(
    parts: &Parts<'_>,
    branding: &Branding,
    exits: &Exits,
    track: &dyn Fn(usize) -> Option<String>,
) -> Result<Composed, minijinja::Error> {
    let words = crate::wording::texts(Some(parts.language), parts.language);
    let html_linker = markdown::Linker::new(parts.tracked, track, &branding.accent);
    let content = markdown::to_html(parts.body, &html_linker);
    let button = parts.button.map(|(text, url)| ButtonView {
        text: text.to_string(),
        url: html_linker.button(url),
    });
    let text_linker = markdown::Linker::new(parts.tracked, track, &branding.accent);
    let mut text = markdown::to_text(parts.body, &text_linker);
    let business = &branding.business;
    let reason = words.email_reason.replace("{name}", &business.name);
    let unsubscribe_note = exits.mailto.as_ref().map(|(address, subject)| {
        words
            .email_unsubscribe_mailto
            .replace("{address}", address)
            .replace("{subject}", subject)
    });
    if let Some((label, url)) = parts.button {
        text.push_str(&format!("\n\n{label}: {}", text_linker.button(url)));
    }
    text.push_str("\n\n--\n");
    text.push_str(&business.name);
    if let Some(address) = &business.address {
        text.push_str(&format!("\n{address}"));
    }
    text.push_str(&format!("\n{reason}"));
    if let Some(url) = &exits.unsubscribe_url {
        text.push_str(&format!("\n{}: {url}", words.email_unsubscribe));
    } else if let Some(note) = &unsubscribe_note {
        text.push_str(&format!("\n{note}"));
    }
    text.push('\n');
    let html = branding.layout.render(&View {
        lang: parts.language.to_string(),
        subject: parts.subject.to_string(),
        preheader: parts.preheader.map(str::to_string),
        content,
        button,
        accent: branding.accent.clone(),
        business: business.clone(),
        reason: Some(reason),
        unsubscribe: exits.unsubscribe_url.as_ref().map(|url| UnsubscribeView {
            url: url.clone(),
            text: words.email_unsubscribe.clone(),
        }),
        unsubscribe_note: exits
            .unsubscribe_url
            .is_none()
            .then_some(unsubscribe_note)
            .flatten(),
        open_pixel: exits.open_pixel.clone(),
    })?;
    Ok(Composed { html, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding() -> Branding {
        Branding {
            business: BusinessView {
                name: "Café Aroma".into(),
                address: Some("Baross tér 3, 9021 Győr".into()),
                logo_url: None,
                website: None,
            },
            accent: "#8a4b2a".into(),
            layout: Layout::shipped(),
        }
    }

    fn parts<'a>(body: &'a str, tracked: &'a [String], language: &'a str) -> Parts<'a> {
        Parts {
            subject: "We miss you",
            preheader: Some("10% off this week"),
            body,
            button: Some(("Book a table", "https://cafe.example/book")),
            language,
            tracked,
        }
    }

    /// The words a reader sees in the HTML's body: tags dropped, entities decoded, URLs left
    /// out; the preheader (hidden: the inbox shows it) is not part of the page.
    fn words_of_html(html: &str) -> Vec<String> {
        let mut body = html[html.find("<body").unwrap()..].to_string();
        if let Some(start) = body.find("<div style=\"display:none") {
            let end = start + body[start..].find("</div>").unwrap();
            body.replace_range(start..end, "");
        }
        let mut out = String::new();
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        let out = out
            .replace("&amp;", "&")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&nbsp;", " ")
            .replace("&zwnj;", " ")
            .replace("&#847;", " ");
        words(&out)
    }

    fn words(text: &str) -> Vec<String> {
        text.split(|c: char| c.is_whitespace() || "()".contains(c))
            .map(|w| w.trim_matches(|c: char| c.is_ascii_punctuation()))
            .filter(|w| !w.is_empty() && !w.starts_with("http"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_text_part_says_what_the_html_says() {
        let body =
            "Hi Anna,\n\nit has been **42 days**. [See the menu](https://cafe.example/menu)\n\n- one\n- two";
        let tracked = vec![
            "https://cafe.example/menu".to_string(),
            "https://cafe.example/book".to_string(),
        ];
        let exits = Exits {
            unsubscribe_url: Some("https://r.example/u/1.abc".into()),
            ..Exits::default()
        };
        let track = |n: usize| Some(format!("https://r.example/c/1-{n}.sig"));
        let c = compose(&parts(body, &tracked, "en"), &branding(), &exits, &track).unwrap();
        let html_words = words_of_html(&c.html);
        // The HTML opens with the business's name as its header; the text names it in its footer.
        let text_words: Vec<String> = ["Café", "Aroma"]
            .iter()
            .map(|w| w.to_string())
            .chain(words(&c.text))
            .collect();
        assert_eq!(html_words, text_words, "\n{}\n---\n{}", c.html, c.text);
        assert!(
            c.text.contains("Book a table: https://r.example/c/1-1.sig"),
            "{}",
            c.text
        );
        assert!(
            c.text.contains("See the menu (https://r.example/c/1-0.sig)"),
            "{}",
            c.text
        );
        assert!(
            c.html
                .contains("href=\"https:&#x2f;&#x2f;r.example&#x2f;c&#x2f;1-1.sig\"")
                || c.html.contains("href=\"https://r.example/c/1-1.sig\""),
            "{}",
            c.html
        );
        assert!(
            c.text
                .contains("You receive this because you are a customer of Café Aroma.")
        );
        assert!(
            c.text.ends_with("Unsubscribe: https://r.example/u/1.abc\n"),
            "{}",
            c.text
        );
    }

    #[test]
    fn the_footer_speaks_the_messages_language() {
        let exits = Exits {
            mailto: Some(("leave@cafe.example".into(), "unsubscribe-1.abc".into())),
            ..Exits::default()
        };
        let c = compose(&parts("Szia!", &[], "hu"), &branding(), &exits, &|_| None).unwrap();
        assert!(c.html.contains("lang=\"hu\""));
        assert!(
            c.text
                .contains("Azért kapja ezt az üzenetet, mert a(z) Café Aroma vendége."),
            "{}",
            c.text
        );
        assert!(c.text.contains("leave@cafe.example"), "{}", c.text);
        assert!(c.html.contains("unsubscribe-1.abc"), "{}", c.html);
    }

    #[test]
    fn a_long_body_stays_under_gmails_clipping_size() {
        let paragraph = "Our autumn menu has arrived: pumpkin soup, **chestnut cake** and the first mulled wine of the season. ";
        let body = vec![paragraph.repeat(6); 60].join("\n\n");
        assert!(body.len() > 35_000, "a long body: {} bytes", body.len());
        let c = compose(&parts(&body, &[], "en"), &branding(), &Exits::default(), &|_| {
            None
        })
        .unwrap();
        assert!(c.html.len() < MAX_HTML_BYTES, "{} bytes", c.html.len());
    }
}
