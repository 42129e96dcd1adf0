//! Email bodies are Markdown (CommonMark, pulldown-cmark): the marketer's text is read as
//! Markdown, customer data never is. When a body is rendered for a decision, every value a
//! template printed still stands between the data marks (`links::DATA_START`/`DATA_END`):
//! [`escape_data`] backslash-escapes what Markdown would read inside them, so a customer
//! named `**x**` or `[x](javascript:…)` prints literally. The stored body is that Markdown
//! source; [`to_html`] and [`to_text`] render it when the email is built.
//!
//! Links are numbered in one document order (link destinations, then the `http(s)://` URLs of
//! plain text outside links) by [`walk`], at decision time to list the URLs that may be
//! tracked ([`tracked_urls`]) and at send time to put the click-tracking links in their place.

use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::links::{DATA_END, DATA_START, Segment};

/// Characters Markdown may read as syntax anywhere in a line.
fn always_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' | '|'
    )
}

/// Characters that start a block (heading, list, setext underline) at the start of a line.
fn line_start_special(c: char) -> bool {
    matches!(c, '#' | '-' | '+' | '=')
}

/// Escapes the Markdown syntax inside data marks (the marks stay, for [`tracked_urls`]).
/// Only what could be read as syntax is escaped, so the stored source stays readable.
pub fn escape_data(marked: &str) -> String {
    let mut out = String::with_capacity(marked.len() + 8);
    let mut in_data = false;
    // Only whitespace (or marks) since the last line break, and only digits since then.
    let mut line_start = true;
    let mut only_digits = false;
    for c in marked.chars() {
        match c {
            DATA_START => in_data = true,
            DATA_END => in_data = false,
            _ => {}
        }
        if c == DATA_START || c == DATA_END {
            out.push(c);
            continue;
        }
        let ordered_list_marker = only_digits && matches!(c, '.' | ')');
        if in_data && (always_special(c) || (line_start && line_start_special(c)) || ordered_list_marker) {
            out.push('\\');
        }
        out.push(c);
        only_digits = (line_start || only_digits) && c.is_ascii_digit();
        line_start = c == '\n' || (line_start && c.is_whitespace());
    }
    out
}

/// The whole text, for a body that is not Markdown (an SMS-first message falling back to
/// email): everything is escaped as if it were data, and the URLs still count as written.
pub fn escape_all(text: &str) -> String {
    let mut marked = String::with_capacity(text.len() + 2);
    marked.push(DATA_START);
    marked.push_str(text);
    marked.push(DATA_END);
    escape_data(&marked)
        .chars()
        .filter(|c| *c != DATA_START && *c != DATA_END)
        .collect()
}

fn parser(source: &str) -> Parser<'_> {
    // Plain CommonMark: no tables, footnotes or strikethrough (`~` and `|` in text stay text).
    Parser::new_ext(source, Options::empty())
}

/// Events with adjacent text merged (pulldown-cmark splits text at escapes and entities, and
/// a URL must be found whole), each with the source range it came from.
fn events(source: &str) -> Vec<(Event<'_>, Range<usize>)> {
    let mut out: Vec<(Event<'_>, Range<usize>)> = Vec::new();
    for (event, range) in parser(source).into_offset_iter() {
        if let (Event::Text(t), Some((Event::Text(prev), prev_range))) = (&event, out.last_mut()) {
            *prev = format!("{prev}{t}").into();
            prev_range.end = range.end;
            continue;
        }
        out.push((event, range));
    }
    out
}

/// Something [`walk`] hands to its visitor, in document order.
pub enum Piece<'e> {
    /// Markdown structure (start or end of a block or a span).
    Start(&'e Tag<'e>),
    End(&'e TagEnd),
    /// Text to show; `url` is true for an `http(s)://` URL found in plain text (not inside a
    /// link), which may become a link itself.
    Text {
        text: &'e str,
        url: bool,
    },
    /// Inline code (shown as written).
    Code(&'e str),
    /// A line break inside a paragraph (a marketer's line break is kept, as in chat apps).
    Break,
    Rule,
}

/// Walks a body's Markdown in document order, telling the visitor how many data marks are
/// open where each piece starts (0 throughout for a stored body, which has none).
fn walk<'e>(source: &str, events: &'e [(Event<'e>, Range<usize>)], mut visit: impl FnMut(Piece<'e>, i64)) {
    let mut in_link = 0usize;
    // Marks open at `counted` in the source.
    let (mut counted, mut open) = (0usize, 0i64);
    for (event, range) in events {
        if range.start >= counted {
            open += marks_open(&source[counted..range.start]);
            counted = range.start;
        }
        match event {
            Event::Start(tag) => {
                if matches!(tag, Tag::Link { .. } | Tag::Image { .. }) {
                    in_link += 1;
                }
                visit(Piece::Start(tag), open);
            }
            Event::End(end) => {
                if matches!(end, TagEnd::Link | TagEnd::Image) {
                    in_link = in_link.saturating_sub(1);
                }
                visit(Piece::End(end), open);
            }
            // Raw HTML in a body is shown as the text it is, never passed through.
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => {
                if in_link > 0 {
                    visit(Piece::Text { text: t, url: false }, open);
                    continue;
                }
                let mut inside = open;
                for segment in crate::links::segments(t) {
                    let (text, url) = match segment {
                        Segment::Text(text) => (text, false),
                        Segment::Url(text) => (text, true),
                    };
                    visit(Piece::Text { text, url }, inside);
                    inside += marks_open(text);
                }
            }
            Event::Code(t) => visit(Piece::Code(t), open),
            Event::SoftBreak | Event::HardBreak => visit(Piece::Break, open),
            Event::Rule => visit(Piece::Rule, open),
            // Not enabled by the options: nothing to show.
            _ => {}
        }
    }
}

/// Whether `url`'s scheme and host came from the marketer: no data mark before the end of its
/// host, and it did not start inside a value (`open_marks` > 0).
fn written_by_marketer(url: &str, open_marks: i64) -> bool {
    if open_marks > 0 {
        return false;
    }
    let authority_end = url
        .find("://")
        .map(|s| s + 3)
        .and_then(|s| url[s..].find(['/', '?', '#']).map(|e| s + e))
        .unwrap_or(url.len());
    !url[..authority_end].contains([DATA_START, DATA_END])
}

/// The text without its data marks.
pub fn unmarked(s: &str) -> String {
    s.chars().filter(|c| *c != DATA_START && *c != DATA_END).collect()
}

fn marks_open(s: &str) -> i64 {
    s.chars().fold(0, |n, c| match c {
        DATA_START => n + 1,
        DATA_END => n - 1,
        _ => n,
    })
}

/// The URLs of a marked body (after [`escape_data`]) that may become tracked links, in
/// [`walk`] order: link destinations and plain-text URLs whose scheme and host the marketer
/// wrote (a value may fill in a path or query, never the destination), safe in a `Location`
/// header. Data marks are taken out of them.
pub fn tracked_urls(marked: &str) -> Vec<String> {
    let events = events(marked);
    let mut out = Vec::new();
    walk(marked, &events, |piece, open| {
        let url = match piece {
            Piece::Start(Tag::Link { dest_url, .. }) => dest_url.as_ref(),
            Piece::Text { text, url: true } => text,
            _ => return,
        };
        let clean = unmarked(url);
        if is_web(&clean)
            && written_by_marketer(url, open)
            && !clean.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            out.push(clean);
        }
    });
    out
}

fn is_web(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Schemes a link may have in an email; anything else (`javascript:`, `data:`) shows as text.
fn safe_href(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["https://", "http://", "mailto:", "tel:"]
        .iter()
        .any(|s| lower.starts_with(s))
}

/// The link destinations of a body template that a mail client must not follow
/// (`javascript:`, `data:` …); one that a template tag fills in is judged when rendered.
pub fn unsafe_links(source: &str) -> Vec<String> {
    parser(source)
        .filter_map(|e| match e {
            Event::Start(Tag::Link { dest_url, .. }) => Some(dest_url.to_string()),
            _ => None,
        })
        .filter(|d| !d.starts_with("{{") && !d.starts_with("{%") && !safe_href(d))
        .collect()
}

/// Where each URL of a body goes: a tracked URL (the `n`th of the decision's list, met in the
/// same order) to `track(n, url)`, any other link straight to its destination.
pub struct Linker<'a> {
    pub tracked: &'a [String],
    /// The click-tracking link for the `n`th tracked URL; `None`: no tracking.
    pub track: &'a dyn Fn(usize) -> Option<String>,
    /// Links' colour (`[email.style] accent`), written inline for clients that strip styles.
    pub accent: &'a str,
    next: std::cell::Cell<usize>,
}

impl<'a> Linker<'a> {
    pub fn new(tracked: &'a [String], track: &'a dyn Fn(usize) -> Option<String>, accent: &'a str) -> Self {
        Linker {
            tracked,
            track,
            accent,
            next: std::cell::Cell::new(0),
        }
    }

    /// Where `url` leads, if it is the next tracked URL.
    fn tracked(&self, url: &str) -> Option<String> {
        let n = self.next.get();
        if self.tracked.get(n).is_some_and(|t| t == url) {
            self.next.set(n + 1);
            Some((self.track)(n).unwrap_or_else(|| url.to_string()))
        } else {
            None
        }
    }

    /// How many tracked URLs the body used: the button's, if tracked, comes next.
    pub fn used(&self) -> usize {
        self.next.get()
    }

    /// The button's destination: tracked when it is the next tracked URL.
    pub fn button(&self, url: &str) -> String {
        self.tracked(url).unwrap_or_else(|| url.to_string())
    }
}

/// Text in HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    pulldown_cmark_escape::escape_html(&mut out, s).expect("writing to a String cannot fail");
    out
}

/// A URL in an attribute: escaped, and percent-encoded where a URL must be.
fn escape_href(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    pulldown_cmark_escape::escape_href(&mut out, url).expect("writing to a String cannot fail");
    out
}

/// A body's HTML: each element styled inline (Gmail drops `<style>` rules it does not like),
/// every text escaped, links tracked per `linker`.
pub fn to_html(body: &str, linker: &Linker<'_>) -> String {
    let events = events(body);
    let mut html = String::with_capacity(body.len() * 2);
    // The href of each open link, or `None` for a link shown as text (unsafe scheme).
    let mut open_links: Vec<bool> = Vec::new();
    let p = "margin:0 0 16px 0;";
    walk(body, &events, |piece, _| {
        match piece {
        Piece::Start(tag) => match tag {
            Tag::Paragraph => html.push_str(&format!("<p style=\"{p}\">")),
            Tag::Heading { level, .. } => html.push_str(&format!(
                "<{level} style=\"margin:0 0 12px 0;font-size:{};line-height:1.3;\">",
                match level {
                    pulldown_cmark::HeadingLevel::H1 => "24px",
                    pulldown_cmark::HeadingLevel::H2 => "20px",
                    _ => "17px",
                }
            )),
            Tag::BlockQuote(_) => html.push_str(
                "<blockquote style=\"margin:0 0 16px 0;padding:0 0 0 12px;border-left:3px solid #d0d0d0;color:#555555;\">",
            ),
            Tag::CodeBlock(_) => html.push_str(&format!(
                "<pre style=\"{p}white-space:pre-wrap;font-family:Menlo,Consolas,monospace;font-size:14px;\">"
            )),
            Tag::List(Some(start)) => {
                html.push_str(&format!("<ol start=\"{start}\" style=\"{p}padding-left:24px;\">"))
            }
            Tag::List(None) => html.push_str(&format!("<ul style=\"{p}padding-left:24px;\">")),
            Tag::Item => html.push_str("<li style=\"margin:0 0 4px 0;\">"),
            Tag::Emphasis => html.push_str("<em>"),
            Tag::Strong => html.push_str("<strong>"),
            Tag::Link { dest_url, .. } => {
                let href = linker.tracked(dest_url).or_else(|| safe_href(dest_url).then(|| dest_url.to_string()));
                match href {
                    Some(href) => {
                        html.push_str(&format!(
                            "<a href=\"{}\" style=\"color:{};text-decoration:underline;\">",
                            escape_href(&href),
                            linker.accent
                        ));
                        open_links.push(true);
                    }
                    None => open_links.push(false),
                }
            }
            // No remote images in a body: an image shows as its description.
            _ => {}
        },
        Piece::End(end) => match end {
            TagEnd::Paragraph => html.push_str("</p>\n"),
            TagEnd::Heading(level) => html.push_str(&format!("</{level}>\n")),
            TagEnd::BlockQuote(_) => html.push_str("</blockquote>\n"),
            TagEnd::CodeBlock => html.push_str("</pre>\n"),
            TagEnd::List(true) => html.push_str("</ol>\n"),
            TagEnd::List(false) => html.push_str("</ul>\n"),
            TagEnd::Item => html.push_str("</li>\n"),
            TagEnd::Emphasis => html.push_str("</em>"),
            TagEnd::Strong => html.push_str("</strong>"),
            // The guard pops every link; only one shown as a link is closed.
            TagEnd::Link if open_links.pop() == Some(true) => html.push_str("</a>"),
            _ => {}
        },
        Piece::Text { text, url: true } => match linker.tracked(text) {
            Some(href) => html.push_str(&format!(
                "<a href=\"{}\" style=\"color:{};text-decoration:underline;\">{}</a>",
                escape_href(&href),
                linker.accent,
                escape(text)
            )),
            None => html.push_str(&escape(text)),
        },
        Piece::Text { text, url: false } => html.push_str(&escape(text)),
        Piece::Code(code) => html.push_str(&format!(
            "<code style=\"font-family:Menlo,Consolas,monospace;\">{}</code>",
            escape(code)
        )),
        Piece::Break => html.push_str("<br>\n"),
        Piece::Rule => html.push_str("<hr style=\"border:0;border-top:1px solid #e0e0e0;margin:16px 0;\">\n"),
    }
    });
    html
}

/// A body's plain text: the same words, links as `text (url)`, lists with `-` or numbers,
/// paragraphs apart by a blank line.
pub fn to_text(body: &str, linker: &Linker<'_>) -> String {
    let events = events(body);
    let mut text = String::with_capacity(body.len());
    // Each open link: its destination (None when shown as text), where its text began, and
    // whether it is an autolink (`<https://…>`, which shows its own URL).
    let mut open_links: Vec<(Option<String>, usize, String, bool)> = Vec::new();
    // Each open list: the next number, or None for bullets.
    let mut lists: Vec<Option<u64>> = Vec::new();
    walk(body, &events, |piece, _| match piece {
        Piece::Start(Tag::List(start)) => lists.push(*start),
        Piece::Start(Tag::Item) => {
            let indent = "  ".repeat(lists.len().saturating_sub(1));
            match lists.last_mut() {
                Some(Some(n)) => {
                    text.push_str(&format!("{indent}{n}. "));
                    *n += 1;
                }
                _ => text.push_str(&format!("{indent}- ")),
            }
        }
        Piece::Start(Tag::Link {
            dest_url, link_type, ..
        }) => {
            let href = linker
                .tracked(dest_url)
                .or_else(|| safe_href(dest_url).then(|| dest_url.to_string()));
            let autolink = matches!(link_type, LinkType::Autolink | LinkType::Email);
            open_links.push((href, text.len(), dest_url.to_string(), autolink));
        }
        Piece::End(TagEnd::Link) => {
            if let Some((Some(href), start, dest, autolink)) = open_links.pop() {
                // A link whose text is its own URL shows the URL once (the tracked one).
                if autolink || text[start..].trim() == dest {
                    text.truncate(start);
                    text.push_str(&href);
                } else {
                    text.push_str(&format!(" ({href})"));
                }
            }
        }
        Piece::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) => {
            trim_end_spaces(&mut text);
            text.push_str("\n\n");
        }
        Piece::End(TagEnd::Item) => {
            trim_end_newlines(&mut text);
            text.push('\n');
        }
        Piece::End(TagEnd::List(_)) => {
            lists.pop();
            if lists.is_empty() {
                text.push('\n');
            }
        }
        Piece::Start(_) | Piece::End(_) => {}
        Piece::Text { text: t, url: true } => match linker.tracked(t) {
            Some(href) => text.push_str(&href),
            None => text.push_str(t),
        },
        Piece::Text { text: t, url: false } | Piece::Code(t) => text.push_str(t),
        Piece::Break => {
            trim_end_spaces(&mut text);
            text.push('\n');
        }
        Piece::Rule => text.push_str("----\n\n"),
    });
    trim_end_newlines(&mut text);
    text
}

fn trim_end_spaces(s: &mut String) {
    while s.ends_with([' ', '\t']) {
        s.pop();
    }
}

fn trim_end_newlines(s: &mut String) {
    while s.ends_with(['\n', ' ']) {
        s.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body as a template renders it: `{name}` stands for a printed value.
    fn marked(template: &str, value: &str) -> String {
        template.replace("{v}", &format!("{DATA_START}{value}{DATA_END}"))
    }

    fn body(template: &str, value: &str) -> (String, Vec<String>) {
        let md = escape_data(&marked(template, value));
        (unmarked(&md), tracked_urls(&md))
    }

    fn no_track(_: usize) -> Option<String> {
        None
    }

    fn html(md: &str, tracked: &[String]) -> String {
        to_html(md, &Linker::new(tracked, &no_track, "#8a4b2a"))
    }

    fn text(md: &str, tracked: &[String]) -> String {
        to_text(md, &Linker::new(tracked, &no_track, "#8a4b2a"))
    }

    #[test]
    fn the_marketers_markdown_is_rendered() {
        let md = "Hi Anna,\n\nit has been **42 days** since your last *coffee*.\nCome by.\n\n- one\n- two\n";
        let h = html(md, &[]);
        assert!(h.contains("<strong>42 days</strong>"), "{h}");
        assert!(h.contains("<em>coffee</em>"), "{h}");
        assert!(h.contains("coffee</em>.<br>\nCome by."), "{h}");
        assert!(h.contains("<li style=\"margin:0 0 4px 0;\">one</li>"), "{h}");
        let t = text(md, &[]);
        assert_eq!(
            t,
            "Hi Anna,\n\nit has been 42 days since your last coffee.\nCome by.\n\n- one\n- two"
        );
    }

    #[test]
    fn customer_data_prints_literally_and_never_becomes_markup_or_a_link() {
        for name in [
            "**x**",
            "<script>alert(1)</script>",
            "[x](javascript:alert(1))",
            "# Heading",
            "- item",
            "1. first",
            "`code`",
            "a &amp; b",
            "_under_",
        ] {
            let (md, links) = body("Hi {v}, welcome back.", name);
            assert!(links.is_empty(), "{name}: {links:?}");
            let h = html(&md, &links);
            assert!(
                !h.contains("<strong>") && !h.contains("<script") && !h.contains("<a "),
                "{name}: {h}"
            );
            assert!(
                !h.contains("<h1") && !h.contains("<li") && !h.contains("<code") && !h.contains("<em>"),
                "{name}: {h}"
            );
            assert!(h.contains(&escape(name)), "{name} is shown as written: {h}");
            assert_eq!(text(&md, &links), format!("Hi {name}, welcome back."));
        }
        // At the start of a line, too.
        let (md, _) = body("{v}\n\nWelcome back.", "# Big\n- x");
        let h = html(&md, &[]);
        assert!(!h.contains("<h1") && !h.contains("<li"), "{h}");
    }

    #[test]
    fn only_urls_the_marketer_wrote_are_tracked() {
        let (_, links) = body(
            "Book at [our site](https://cafe.example/book?c={v}) or https://cafe.example/menu.\nSee {v}",
            "c-1",
        );
        assert_eq!(
            links,
            ["https://cafe.example/book?c=c-1", "https://cafe.example/menu"]
        );
        let (_, links) = body(
            "Visit {v} today or <https://cafe.example/x>",
            "https://evil.example/x",
        );
        assert_eq!(links, ["https://cafe.example/x"]);
        let (_, links) = body("[Open]({v}) https://{v}/path", "https://evil.example");
        assert!(links.is_empty(), "{links:?}");
        // The destination from data is not a tracked link; its host came from the customer.
        let (md, links) = body("Hi {v} see https://cafe.example/a", "https://evil.example/a");
        assert_eq!(links, ["https://cafe.example/a"]);
        let track = |n: usize| Some(format!("https://r.example/c/{n}"));
        let h = to_html(&md, &Linker::new(&links, &track, "#000"));
        assert!(
            h.contains("https://evil.example/a") && !h.contains("href=\"https://evil"),
            "{h}"
        );
        assert!(h.contains("href=\"https://r.example/c/0\""), "{h}");
    }

    #[test]
    fn links_are_tracked_in_order_and_unsafe_schemes_are_text() {
        let md =
            "[Book](https://cafe.example/book) and https://cafe.example/menu\n\n[bad](javascript:alert(1))";
        let tracked = tracked_urls(md);
        assert_eq!(
            tracked,
            ["https://cafe.example/book", "https://cafe.example/menu"]
        );
        let track = |n: usize| Some(format!("https://r.example/c/{n}"));
        let linker = Linker::new(&tracked, &track, "#8a4b2a");
        let h = to_html(md, &linker);
        assert!(
            h.contains("<a href=\"https://r.example/c/0\" style=\"color:#8a4b2a;"),
            "{h}"
        );
        assert!(h.contains("href=\"https://r.example/c/1\""), "{h}");
        assert!(!h.contains("javascript"), "{h}");
        assert_eq!(linker.used(), 2);
        let t = to_text(md, &Linker::new(&tracked, &track, "#8a4b2a"));
        assert_eq!(t, "Book (https://r.example/c/0) and https://r.example/c/1\n\nbad");
    }

    #[test]
    fn raw_html_in_a_body_is_escaped() {
        let h = html("Hello <b>there</b>\n\n<div onclick=\"x\">hi</div>", &[]);
        assert!(!h.contains("<b>") && !h.contains("<div"), "{h}");
        assert!(
            h.contains("&lt;b&gt;there&lt;&#x2f;b&gt;") || h.contains("&lt;b&gt;"),
            "{h}"
        );
    }

    #[test]
    fn a_plain_text_body_is_escaped_whole() {
        let md = escape_all("50% *off* at https://cafe.example/x");
        assert_eq!(
            text(&md, &tracked_urls(&md)),
            "50% *off* at https://cafe.example/x"
        );
    }
}
