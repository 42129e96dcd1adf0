//! Translations of a message: `[message.hu]`, `[message.sk]`, `[message.en-GB]` tables holding
//! `subject`, `body` or `body_file` — or, in a series, `[steps.hu]` after a `[[steps]]`, which
//! translates that step. They are read from their own part of the file (toml's
//! spans do not survive serde's `flatten`), which is then blanked with spaces — keeping every
//! byte offset — so that the rest of the rule parses as before and every problem, in a
//! translation or not, is placed at its FILE:LINE:COL.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// One `[message.<tag>]` table: where its header and its keys stand in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'t> {
    pub tag: &'t str,
    /// The `[[steps]]` it follows (1-based), or `None` for `[message.<tag>]`.
    pub step: Option<usize>,
    pub header: Range<usize>,
    pub body: Range<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTranslation {
    pub subject: Option<Spanned<String>>,
    pub preheader: Option<Spanned<String>>,
    pub button: Option<Spanned<super::model::RawButton>>,
    pub body: Option<Spanned<String>>,
    pub body_file: Option<Spanned<String>>,
}

/// Every `[message.<tag>]` and `[steps.<tag>]` table of a rule file, in order.
pub fn sections(text: &str) -> Vec<Section<'_>> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    let header_tag = |line: &str, table: &str| -> Option<(usize, usize)> {
        let start = line.len() - line.trim_start().len();
        let rest = line.trim_start().strip_prefix(table)?;
        let end = rest.find(']')?;
        let after = rest[end + 1..].trim();
        (after.is_empty() || after.starts_with('#')).then_some((start + table.len(), end))
    };
    let mut out = Vec::new();
    let mut steps = 0;
    for (i, (start, line)) in lines.iter().enumerate() {
        if line.trim_start().starts_with("[[steps]]") {
            steps += 1;
        }
        let (step, (tag_at, tag_len)) = match header_tag(line, "[message.") {
            Some(h) => (None, h),
            None => match header_tag(line, "[steps.") {
                Some(h) => (Some(steps), h),
                None => continue,
            },
        };
        let body_start = start + line.len();
        let body_end = lines[i + 1..]
            .iter()
            .find(|(_, l)| l.trim_start().starts_with('['))
            .map_or(text.len(), |(s, _)| *s);
        out.push(Section {
            tag: text[start + tag_at..start + tag_at + tag_len].trim_matches('"'),
            step,
            header: *start..body_start,
            body: body_start..body_end,
        });
    }
    out
}

/// The file with those tables replaced by spaces (line breaks kept, so positions stay).
pub fn blank(text: &str, sections: &[Section<'_>]) -> String {
    let mut out = text.to_string();
    for s in sections {
        // One space per byte: offsets after the table must not move.
        let replaced: String = text[s.header.start..s.body.end]
            .chars()
            .flat_map(|c| {
                let fill = if c == '\n' || c == '\r' { c } else { ' ' };
                std::iter::repeat_n(fill, if fill == ' ' { c.len_utf8() } else { 1 })
            })
            .collect();
        out.replace_range(s.header.start..s.body.end, &replaced);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_tables_are_found_and_blanked_in_place() {
        let text = "id = \"x\"\n[message]\nbody = \"Hi\"\n[message.hu]\nbody = \"Szia, Győr\"\n\n[message.en-GB] # British\nbody = \"Hiya\"\n[goal]\nwithin = \"7d\"\n";
        let s = sections(text);
        assert_eq!(s.iter().map(|s| s.tag).collect::<Vec<_>>(), ["hu", "en-GB"]);
        assert_eq!(&text[s[0].body.clone()], "body = \"Szia, Győr\"\n\n");
        assert_eq!(&text[s[1].body.clone()], "body = \"Hiya\"\n");
        let b = blank(text, &s);
        assert_eq!(b.len(), text.len());
        assert!(!b.contains("Szia") && !b.contains("Hiya") && b.contains("[goal]"));
        assert_eq!(b.matches('\n').count(), text.matches('\n').count());
    }

    #[test]
    fn step_translations_belong_to_the_step_they_follow() {
        let text = "[[steps]]\nbody = \"a\"\n[steps.hu]\nbody = \"á\"\n[[steps]]\nafter = \"7d\"\nbody = \"b\"\n[steps.sk]\nbody = \"b2\"\n";
        let s = sections(text);
        assert_eq!(
            s.iter().map(|s| (s.tag, s.step)).collect::<Vec<_>>(),
            [("hu", Some(1)), ("sk", Some(2))]
        );
        let b = blank(text, &s);
        assert_eq!(b.matches("[[steps]]").count(), 2);
        assert!(!b.contains("b2") && !b.contains('á'));
    }
}
