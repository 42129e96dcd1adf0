//! From text to checked rules, with a `FILE:LINE:COL` diagnostic for every problem found.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::{Diagnostic, Locator};
use super::model::{AttributeMatch, RawMessage, RawOffer, RawRule, RawTrigger};
use super::rule::{
    Audience, Channel, Goal, Limits, MAX_STEPS, Message, Offer, OfferValue, Rule, Step, Trigger, TriggerKind,
};
use super::template::Templates;
use crate::domain::parse_duration;
use crate::domain::{DEFAULT_SCHEDULE, Schedule, parse_clock};
use crate::health::Band;

/// serde's type errors (`invalid type: string "45", expected i64`) said the way a marketer
/// thinks of the value: `days: expected a whole number like 30, got the text "45"`.
fn in_marketers_words(message: &str, text: &str, at: usize) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_string();
    };
    let Some((found, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let expected = match expected.trim() {
        "i64" | "u64" | "i32" | "u32" | "u8" | "u16" | "usize" | "an integer" => "a whole number like 30",
        "f64" | "f32" | "a float" => "a number like 2.5",
        "a boolean" | "bool" => "true or false",
        "a string" | "string" | "String" => "text in quotes, like \"30d\"",
        "a sequence" | "a vector" => "a list in brackets, like [\"visit\"]",
        other if other.starts_with("struct") || other.starts_with("a map") => {
            "a table (a [section] or { … })"
        }
        other => other,
    };
    let found = if let Some(s) = found.strip_prefix("string ") {
        format!("the text {s}")
    } else if let Some(n) = found
        .strip_prefix("integer ")
        .or_else(|| found.strip_prefix("float "))
    {
        format!("the number {}", n.trim_matches('`'))
    } else if let Some(b) = found.strip_prefix("boolean ") {
        b.trim_matches('`').to_string()
    } else if found.starts_with("sequence") {
        "a list".to_string()
    } else if found.starts_with("map") {
        "a table".to_string()
    } else {
        found.to_string()
    };
    // The key is what stands before `=` on the value's line.
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let key = text[line_start..at.min(text.len())]
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty());
    match key {
        Some(k) => format!("{k}: expected {expected}, got {found}"),
        None => format!("expected {expected}, got {found}"),
    }
}

/// Default window in which a momentary trigger still fires after its moment.
const DEFAULT_MAX_AGE: i64 = 7 * 86_400;
const MAX_HOLDOUT_PERCENT: i64 = 50;

/// The template name of a translated part (`subject_name`/`body_name` + `@hu`).
pub fn translated_name(base: &str, language: &crate::domain::Language) -> String {
    format!("{base}@{}", language.as_str())
}

/// Checks one `[message.<tag>]` table like the message itself: its language, its keys (placed
/// in the file), and its templates against the same trigger's variables.
fn check_translation(
    c: &mut Checker,
    section: &super::translations::Section<'_>,
    id: &str,
    trigger_kind: TriggerKind,
    has_offer: bool,
    message: &Message,
    templates: &mut Templates,
) -> Option<super::rule::Translation> {
    let language = match crate::domain::Language::parse(section.tag) {
        Ok(l) => l,
        Err(e) => {
            c.err(section.header.clone(), format!("[message.{}]: {e}", section.tag));
            return None;
        }
    };
    let offset = section.body.start;
    let shift = |r: std::ops::Range<usize>| r.start + offset..r.end + offset;
    let raw: super::translations::RawTranslation = match toml::from_str(&c.at.text[section.body.clone()]) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().map_or(section.header.clone(), shift);
            let text = c.at.text;
            c.err(
                span.clone(),
                in_marketers_words(e.message().trim_end(), text, span.start),
            );
            return None;
        }
    };
    let uses_email = message.channel == Channel::Email || message.fallback == Some(Channel::Email);
    if let (Some(s), false) = (&raw.subject, uses_email) {
        c.err(shift(s.span()), "`subject` applies only to email");
    }
    if let (Some(p), false) = (&raw.preheader, uses_email) {
        c.err(shift(p.span()), "`preheader` applies only to email");
    }
    if let Some(b) = &raw.button {
        if !uses_email {
            c.err(shift(b.span()), "`button` applies only to email");
        } else if message.button.is_none() && b.get_ref().url.is_none() {
            c.err(
                shift(b.span()),
                "a translated button needs a `url` when the message itself has no button",
            );
        }
        if let Some(u) = &b.get_ref().url {
            check_button_url(c, u.get_ref(), shift(u.span()));
        }
    }
    let body = match (&raw.body, &raw.body_file) {
        (Some(b), None) => Some((b.get_ref().clone(), shift(b.span()))),
        (None, Some(f)) => {
            let path = c.rules_dir.join(f.get_ref().replace("{lang}", language.as_str()));
            match std::fs::read_to_string(&path) {
                Ok(text) => Some((text, shift(f.span()))),
                Err(e) => {
                    c.err(
                        shift(f.span()),
                        format!("cannot read body_file {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (Some(_), Some(f)) => {
            c.err(shift(f.span()), "give either `body` or `body_file`, not both");
            None
        }
        (None, None) => {
            c.err(
                section.header.clone(),
                "a translation needs a `body` (or `body_file`)",
            );
            None
        }
    }?;
    let mut parts = vec![(translated_name(&body_name(id), &language), body.0, body.1)];
    let button = raw.button.as_ref().map(Spanned::get_ref);
    for (base, part) in [
        (subject_name(id), raw.subject.as_ref()),
        (preheader_name(id), raw.preheader.as_ref()),
        (button_text_name(id), button.map(|b| &b.text)),
        (button_url_name(id), button.and_then(|b| b.url.as_ref())),
    ] {
        if let Some(s) = part {
            parts.push((
                translated_name(&base, &language),
                s.get_ref().clone(),
                shift(s.span()),
            ));
        }
    }
    for (name, source, span) in parts {
        check_template(c, name, source, span, trigger_kind, has_offer, templates);
    }
    Some(super::rule::Translation {
        language,
        has_subject: raw.subject.is_some(),
        has_preheader: raw.preheader.is_some(),
        has_button_text: button.is_some(),
        has_button_url: button.is_some_and(|b| b.url.is_some()),
    })
}

/// Template names of a rule inside the rule set's environment.
pub fn subject_name(rule_id: &str) -> String {
    format!("{rule_id}/subject")
}
pub fn body_name(rule_id: &str) -> String {
    format!("{rule_id}/body")
}
pub fn preheader_name(rule_id: &str) -> String {
    format!("{rule_id}/preheader")
}
pub fn button_text_name(rule_id: &str) -> String {
    format!("{rule_id}/button_text")
}
pub fn button_url_name(rule_id: &str) -> String {
    format!("{rule_id}/button_url")
}

/// A button leads where the marketer says: its URL starts with `https://` (or `http://`)
/// and a host written out, so a variable can fill in a path or query but never send the
/// customer elsewhere — and the click tracker may stand in for it.
fn check_button_url(c: &mut Checker, url: &str, span: Range<usize>) {
    let literal_end = [url.find("{{"), url.find("{%")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(url.len());
    let literal = &url[..literal_end];
    let rest = literal
        .strip_prefix("https://")
        .or_else(|| literal.strip_prefix("http://"));
    // The host is written out when the literal text goes past it (a `/`, `?` or `#` follows
    // it), or when the whole URL is literal.
    let host_written = rest.is_some_and(|r| match r.find(['/', '?', '#']) {
        Some(end) => end > 0,
        None => literal_end == url.len() && !r.is_empty(),
    });
    if !host_written {
        c.err(
            span,
            format!(
                "button url must start with https:// and a host written out (a variable may fill in the path or query), got {url:?}"
            ),
        );
    }
}

/// Collects the problems of one file while checking continues past each.
struct Checker<'a> {
    at: Locator<'a>,
    rules_dir: &'a Path,
    problems: Vec<Diagnostic>,
    /// Worth saying, but the rule may run.
    warnings: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        let d = self.at.at(span, message);
        self.problems.push(d);
    }

    fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        let d = self.at.at(span, message);
        self.warnings.push(d);
    }

    fn duration(&mut self, value: Option<&Spanned<String>>, default: i64, positive: bool) -> i64 {
        let Some(v) = value else { return default };
        match parse_duration(v.get_ref()) {
            Ok(0) if positive => {
                self.err(v.span(), "must be longer than 0");
                default
            }
            Ok(secs) => secs,
            Err(e) => {
                self.err(v.span(), e);
                default
            }
        }
    }

    fn in_range(&mut self, value: &Spanned<i64>, range: std::ops::RangeInclusive<i64>, what: &str) -> i64 {
        let v = *value.get_ref();
        if !range.contains(&v) {
            self.err(
                value.span(),
                format!(
                    "{what} must be between {} and {}, got {v}",
                    range.start(),
                    range.end()
                ),
            );
        }
        v
    }

    fn kind(&mut self, value: &Spanned<String>) -> String {
        let k = value.get_ref();
        if crate::domain::parse_kind(k).as_deref() != Ok(k.as_str()) {
            self.err(
                value.span(),
                format!("invalid event kind {k:?} (lower-case letters, digits, _ - .)"),
            );
        }
        k.clone()
    }

    fn kinds(&mut self, value: Option<&Spanned<Vec<String>>>) -> Option<Vec<String>> {
        let v = value?;
        if v.get_ref().is_empty() {
            self.err(v.span(), "must name at least one event kind (or be left out)");
        }
        for k in v.get_ref() {
            if crate::domain::parse_kind(k).as_deref() != Ok(k.as_str()) {
                self.err(
                    v.span(),
                    format!("invalid event kind {k:?} (lower-case letters, digits, _ - .)"),
                );
            }
        }
        Some(v.get_ref().clone())
    }
}

/// Checks one rule file's text. `templates` receives the rule's templates when they compile.
pub fn check_file(
    file: &Path,
    text: &str,
    rules_dir: &Path,
    templates: &mut Templates,
) -> Result<Rule, Vec<Diagnostic>> {
    let at = Locator { file, text };
    let sections = super::translations::sections(text);
    let raw: RawRule = match toml::from_str(&super::translations::blank(text, &sections)) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = in_marketers_words(e.message().trim_end(), text, span.start);
            return Err(vec![at.at(span, message)]);
        }
    };
    let mut c = Checker {
        at,
        rules_dir,
        problems: Vec::new(),
        warnings: Vec::new(),
    };

    let id = raw.id.get_ref().clone();
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        c.err(
            raw.id.span(),
            format!("invalid rule id {id:?} (lower-case letters, digits and - only)"),
        );
    }
    if raw.name.get_ref().trim().is_empty() {
        c.err(raw.name.span(), "name must not be empty");
    }
    let schedule = match &raw.schedule {
        None => Schedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses"),
        Some(s) => Schedule::parse(s.get_ref()).unwrap_or_else(|e| {
            c.err(s.span(), e);
            Schedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
        }),
    };
    let trigger = check_trigger(&mut c, &raw.trigger);
    let audience = check_audience(&mut c, &raw.audience);
    let limits = Limits {
        cooldown: raw.limits.cooldown.as_ref().map(|d| c.duration(Some(d), 0, true)),
        once: raw.limits.once,
    };
    let goal = raw.goal.as_ref().map(|g| Goal {
        events: c.kinds(Some(&g.events)).unwrap_or_default(),
        within: c.duration(Some(&g.within), 0, true),
    });
    let holdout_percent = raw
        .experiment
        .holdout_percent
        .as_ref()
        .map_or(0, |h| c.in_range(h, 0..=MAX_HOLDOUT_PERCENT, "holdout_percent"));

    let offer = raw.offer.as_ref().and_then(|o| check_offer(&mut c, o));
    let steps = trigger.as_ref().and_then(|trigger| {
        check_steps(
            &mut c,
            &raw,
            &id,
            trigger.kind(),
            raw.offer.is_some(),
            &sections,
            templates,
        )
    });
    match (trigger, steps) {
        (Some(trigger), Some(steps)) if c.problems.is_empty() => Ok(Rule {
            id,
            name: raw.name.into_inner(),
            enabled: raw.enabled,
            schedule,
            priority: raw.priority,
            trigger,
            audience,
            steps,
            offer,
            limits,
            goal,
            holdout_percent: holdout_percent as u8,
            file: file.to_path_buf(),
            warnings: c.warnings,
        }),
        _ => Err(c.problems),
    }
}

/// The template names of a step's parts: step 1 keeps the rule's own names (a `[message]`
/// rule's templates are named as they always were); later steps add `#<N>`.
pub fn step_template_id(rule_id: &str, step: u8) -> String {
    if step <= 1 {
        rule_id.to_string()
    } else {
        format!("{rule_id}#{step}")
    }
}

/// `[message]` or `[[steps]]` (exactly one of them), each step checked like a message, with
/// its templates and translations.
fn check_steps(
    c: &mut Checker,
    raw: &RawRule,
    id: &str,
    trigger_kind: TriggerKind,
    has_offer: bool,
    sections: &[super::translations::Section<'_>],
    templates: &mut Templates,
) -> Option<Vec<Step>> {
    let raws: Vec<&Spanned<RawMessage>> = match (&raw.message, &raw.steps) {
        (Some(m), None) => vec![m],
        (None, Some(steps)) => {
            if steps.get_ref().is_empty() {
                c.err(steps.span(), "[[steps]] needs at least one step");
            }
            if steps.get_ref().len() > MAX_STEPS {
                c.err(
                    steps.get_ref()[MAX_STEPS].span(),
                    format!("a series has at most {MAX_STEPS} steps"),
                );
            }
            steps.get_ref().iter().collect()
        }
        (Some(_), Some(steps)) => {
            c.err(steps.span(), "give either a [message] or [[steps]], not both");
            return None;
        }
        (None, None) => {
            c.err(
                raw.trigger.span(),
                "a rule needs a [message] (or a series of [[steps]]) to send",
            );
            return None;
        }
    };
    let series = raw.steps.is_some();
    for s in sections {
        match (s.step, series) {
            (None, true) => c.err(
                s.header.clone(),
                "this rule has [[steps]]: translate a step with [steps.<language>] after it",
            ),
            (Some(0), _) | (Some(_), false) => c.err(
                s.header.clone(),
                "[steps.<language>] translates the [[steps]] it follows; there is none before it",
            ),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    for (i, raw_step) in raws.into_iter().enumerate() {
        let number = (i + 1) as u8;
        let after = match (&raw_step.get_ref().after, number) {
            (Some(a), 1) => {
                let what = if series {
                    "step 1 goes out when the trigger fires"
                } else {
                    "a [message] goes out when the trigger fires"
                };
                c.err(a.span(), format!("{what}; `after` applies to steps 2 and later"));
                0
            }
            (Some(a), _) => c.duration(Some(a), 0, true),
            (None, 1) => 0,
            (None, n) => {
                c.err(
                    raw_step.span(),
                    format!(
                        "step {n} needs `after` (how long after step {} went out, like \"7d\")",
                        n - 1
                    ),
                );
                0
            }
        };
        let Some(mut message) = check_message(c, raw_step) else {
            continue;
        };
        let template_id = step_template_id(id, number);
        check_templates(
            c,
            raw_step.get_ref(),
            &template_id,
            trigger_kind,
            has_offer,
            &message,
            templates,
        );
        for section in sections
            .iter()
            .filter(|s| s.step.unwrap_or(1) == usize::from(number))
        {
            if let Some(t) = check_translation(
                c,
                section,
                &template_id,
                trigger_kind,
                has_offer,
                &message,
                templates,
            ) {
                if message
                    .translations
                    .iter()
                    .any(|other| other.language == t.language)
                {
                    c.err(
                        section.header.clone(),
                        format!("a second translation for {:?}", t.language.as_str()),
                    );
                } else {
                    message.translations.push(t);
                }
            }
        }
        steps.push(Step {
            number,
            after,
            message,
        });
    }
    Some(steps)
}

/// `[offer]`: a percentage or an amount (one of them), valid for a positive duration, with an
/// optional prefix that is read aloud at the till.
fn check_offer(c: &mut Checker, raw: &Spanned<RawOffer>) -> Option<Offer> {
    let o = raw.get_ref();
    let prefix = match &o.prefix {
        None => String::new(),
        Some(p) => {
            let v = p.get_ref();
            if v.is_empty() || v.len() > 8 || !v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                c.err(
                    p.span(),
                    format!("invalid prefix {v:?} (1 to 8 upper-case letters or digits, like \"BACK\")"),
                );
            }
            v.clone()
        }
    };
    let value = match (&o.percent, &o.amount) {
        (Some(p), None) => {
            let v = *p.get_ref();
            if !(v > 0.0 && v <= 100.0) {
                c.err(
                    p.span(),
                    format!("percent must be more than 0 and at most 100, got {v}"),
                );
            }
            OfferValue::Percent(v)
        }
        (None, Some(a)) => {
            let v = *a.get_ref();
            if !(v > 0.0 && v.is_finite()) {
                c.err(a.span(), format!("amount must be more than 0, got {v}"));
            }
            OfferValue::Amount(v)
        }
        (Some(_), Some(a)) => {
            c.err(a.span(), "give either `percent` or `amount`, not both");
            return None;
        }
        (None, None) => {
            c.err(
                raw.span(),
                "an offer needs a `percent` (like 10) or an `amount` (like 5.0)",
            );
            return None;
        }
    };
    let valid = c.duration(Some(&o.valid), 0, true);
    Some(Offer { prefix, value, valid })
}

fn check_trigger(c: &mut Checker, raw: &Spanned<RawTrigger>) -> Option<Trigger> {
    let t = raw.get_ref();
    let type_name = t.kind.get_ref().as_str();
    let Some(kind) = TriggerKind::parse(type_name) else {
        let all: Vec<&str> = TriggerKind::ALL.iter().map(|k| k.name()).collect();
        c.err(
            t.kind.span(),
            format!(
                "unknown trigger type {type_name:?} (expected {} or {})",
                all[..all.len() - 1].join(", "),
                all[all.len() - 1]
            ),
        );
        return None;
    };
    // Which parameters each type takes; any other present one is reported where it stands.
    let allowed = kind.keys();
    let present: [(&str, Option<Range<usize>>); 11] = [
        ("days", t.days.as_ref().map(Spanned::span)),
        ("events", t.events.as_ref().map(Spanned::span)),
        ("event", t.event.as_ref().map(Spanned::span)),
        ("delay", t.delay.as_ref().map(Spanned::span)),
        ("max_age", t.max_age.as_ref().map(Spanned::span)),
        ("days_before", t.days_before.as_ref().map(Spanned::span)),
        ("count", t.count.as_ref().map(Spanned::span)),
        ("score", t.score.as_ref().map(Spanned::span)),
        ("factor", t.factor.as_ref().map(Spanned::span)),
        ("missing", t.missing.as_ref().map(Spanned::span)),
        ("within", t.within.as_ref().map(Spanned::span)),
    ];
    for (name, span) in &present {
        if let Some(span) = span
            && !allowed.contains(name)
        {
            c.err(
                span.clone(),
                format!(
                    "`{name}` does not apply to {} {type_name} trigger",
                    article(type_name)
                ),
            );
        }
    }
    let table = raw.span();
    let required = |c: &mut Checker, name: &str, present: bool| {
        if !present {
            c.err(
                table.clone(),
                format!("{} {type_name} trigger needs `{name}`", article(type_name)),
            );
        }
        present
    };
    let max_age = |c: &mut Checker| c.duration(t.max_age.as_ref(), DEFAULT_MAX_AGE, true);
    let trigger = match kind {
        TriggerKind::Inactive => {
            let days = t.days.as_ref().map(|d| c.in_range(d, 1..=3650, "days"));
            let events = c.kinds(t.events.as_ref());
            required(c, "days", days.is_some()).then(|| Trigger::Inactive {
                days: days.unwrap_or(1),
                events,
            })?
        }
        TriggerKind::FirstEvent | TriggerKind::Event => {
            let event = t.event.as_ref().map(|e| c.kind(e));
            let delay = c.duration(t.delay.as_ref(), 0, false);
            let max_age = max_age(c);
            let event = required(c, "event", event.is_some()).then(|| event.unwrap_or_default())?;
            if kind == TriggerKind::Event {
                Trigger::Event {
                    event,
                    delay,
                    max_age,
                }
            } else {
                Trigger::FirstEvent {
                    event,
                    delay,
                    max_age,
                }
            }
        }
        TriggerKind::Birthday => Trigger::Birthday {
            days_before: t
                .days_before
                .as_ref()
                .map_or(0, |d| c.in_range(d, 0..=60, "days_before")),
        },
        TriggerKind::Anniversary => {
            let event = t.event.as_ref().map(|e| c.kind(e));
            Trigger::Anniversary {
                event: required(c, "event", event.is_some()).then(|| event.unwrap_or_default())?,
            }
        }
        TriggerKind::Milestone => {
            let event = t.event.as_ref().map(|e| c.kind(e));
            let count = t.count.as_ref().map(|n| c.in_range(n, 1..=100_000, "count"));
            let max_age = max_age(c);
            let ok = required(c, "event", event.is_some()) & required(c, "count", count.is_some());
            ok.then(|| Trigger::Milestone {
                event: event.unwrap_or_default(),
                count: count.unwrap_or(1),
                max_age,
            })?
        }
        TriggerKind::HealthBelow => {
            let score = t.score.as_ref().map(|s| c.in_range(s, 1..=100, "score"));
            required(c, "score", score.is_some()).then(|| Trigger::HealthBelow {
                score: score.unwrap_or(1),
            })?
        }
        TriggerKind::Overdue => {
            let factor = match &t.factor {
                Some(f) if !(*f.get_ref() >= 1.0 && *f.get_ref() <= 50.0) => {
                    c.err(
                        f.span(),
                        format!("factor must be between 1 and 50, got {}", f.get_ref()),
                    );
                    2.0
                }
                Some(f) => *f.get_ref(),
                None => 2.0,
            };
            Trigger::Overdue {
                factor,
                events: c.kinds(t.events.as_ref()),
            }
        }
        TriggerKind::Absence => {
            let event = t.event.as_ref().map(|e| c.kind(e));
            let missing = t.missing.as_ref().map(|e| c.kind(e));
            let within = t.within.as_ref().map(|w| c.duration(Some(w), 1, true));
            let max_age = max_age(c);
            let ok = required(c, "event", event.is_some())
                & required(c, "missing", missing.is_some())
                & required(c, "within", within.is_some());
            ok.then(|| Trigger::Absence {
                event: event.unwrap_or_default(),
                missing: missing.unwrap_or_default(),
                within: within.unwrap_or(1),
                max_age,
            })?
        }
    };
    Some(trigger)
}

fn check_audience(c: &mut Checker, a: &super::model::RawAudience) -> Audience {
    let bands = a.bands.as_ref().map(|b| {
        b.get_ref()
            .iter()
            .filter_map(|name| {
                let band = Band::parse(name);
                if band.is_none() {
                    c.err(
                        b.span(),
                        format!("unknown band {name:?} (expected healthy, at_risk or critical)"),
                    );
                }
                band
            })
            .collect()
    });
    if let Some(s) = &a.min_spend
        && !(s.get_ref().is_finite() && *s.get_ref() >= 0.0)
    {
        c.err(s.span(), "min_spend must be a non-negative number");
    }
    let attributes: BTreeMap<String, Vec<String>> = a
        .attributes
        .iter()
        .flatten()
        .map(|(k, v)| {
            let values = match v.get_ref() {
                AttributeMatch::One(s) => vec![s.clone()],
                AttributeMatch::AnyOf(list) => {
                    if list.is_empty() {
                        c.err(v.span(), format!("attribute {k:?} needs at least one value"));
                    }
                    list.clone()
                }
            };
            (k.to_ascii_lowercase(), values)
        })
        .collect();
    Audience {
        health_below: a
            .health_below
            .as_ref()
            .map(|h| c.in_range(h, 1..=100, "health_below")),
        health_at_least: a
            .health_at_least
            .as_ref()
            .map(|h| c.in_range(h, 0..=100, "health_at_least")),
        bands,
        min_events: a
            .min_events
            .as_ref()
            .map(|m| c.in_range(m, 0..=1_000_000, "min_events")),
        min_spend: a.min_spend.as_ref().map(|s| *s.get_ref()),
        tags: a.tags.clone().unwrap_or_default(),
        attributes,
    }
}

fn check_message(c: &mut Checker, raw: &Spanned<RawMessage>) -> Option<Message> {
    let m = raw.get_ref();
    let channel_of = |c: &mut Checker, v: &Spanned<String>| {
        let ch = Channel::parse(v.get_ref());
        if ch.is_none() {
            c.err(
                v.span(),
                format!("unknown channel {:?} (expected email or sms)", v.get_ref()),
            );
        }
        ch
    };
    let channel = channel_of(c, &m.channel);
    let fallback = m.fallback.as_ref().and_then(|f| channel_of(c, f));
    if let (Some(a), Some(b), Some(f)) = (channel, fallback, &m.fallback)
        && a == b
    {
        c.err(f.span(), "fallback must differ from channel");
    }
    let uses_email = channel == Some(Channel::Email) || fallback == Some(Channel::Email);
    match (&m.subject, uses_email) {
        (None, true) => c.err(raw.span(), "an email message needs a `subject`"),
        (Some(s), false) => c.err(s.span(), "`subject` applies only to email"),
        _ => {}
    }
    if let (Some(p), false) = (&m.preheader, uses_email) {
        c.err(p.span(), "`preheader` applies only to email");
    }
    let button = m.button.as_ref().and_then(|b| {
        if !uses_email {
            c.err(b.span(), "`button` applies only to email");
        }
        let Some(url) = &b.get_ref().url else {
            c.err(b.span(), "a button needs a `url` (where it leads)");
            return None;
        };
        check_button_url(c, url.get_ref(), url.span());
        Some(super::rule::Button {
            text: b.get_ref().text.get_ref().clone(),
            url: url.get_ref().clone(),
        })
    });
    let body = match (&m.body, &m.body_file) {
        (Some(b), None) => Some(b.get_ref().clone()),
        (None, Some(f)) => {
            let path: PathBuf = c.rules_dir.join(f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) => {
                    c.err(f.span(), format!("cannot read body_file {}: {e}", path.display()));
                    None
                }
            }
        }
        (Some(_), Some(f)) => {
            c.err(f.span(), "give either `body` or `body_file`, not both");
            None
        }
        (None, None) => {
            c.err(raw.span(), "a message needs a `body` (or `body_file`)");
            None
        }
    };
    let send_at = m.send_at.as_ref().and_then(|s| {
        let t = parse_clock(s.get_ref());
        if t.is_none() {
            c.err(
                s.span(),
                format!("invalid send_at {:?} (expected HH:MM, 24-hour)", s.get_ref()),
            );
        }
        t
    });
    let uses_sms = channel == Some(Channel::Sms) || fallback == Some(Channel::Sms);
    let max_segments = m.max_segments.as_ref().map(|v| {
        if !uses_sms {
            c.err(v.span(), "`max_segments` applies only to SMS");
        }
        c.in_range(v, 1..=10, "max_segments") as usize
    });
    let sms_charset = m.sms_charset.as_ref().and_then(|v| {
        if !uses_sms {
            c.err(v.span(), "`sms_charset` applies only to SMS");
        }
        let parsed = crate::domain::SmsCharset::parse(v.get_ref());
        if parsed.is_none() {
            c.err(
                v.span(),
                format!("unknown sms_charset {:?} (expected auto or gsm7)", v.get_ref()),
            );
        }
        parsed
    });
    // The text without its variables already needs more segments than allowed: every
    // customer's message would be skipped. Said as a warning, since variables can be empty.
    if let (Some(max), Some(b), Some(v)) = (max_segments, &body, &m.max_segments) {
        let fixed: String = strip_template_tags(b);
        let fixed = sms_charset.unwrap_or_default().apply(fixed);
        let shape = crate::domain::measure_sms(&fixed);
        if shape.segments > max {
            c.warn(
                v.span(),
                format!(
                    "the body's fixed text alone needs {} segments ({}), more than max_segments = {max}: every message would be skipped as too_long",
                    shape.segments,
                    match shape.encoding {
                        crate::domain::SmsEncoding::Gsm7 => "GSM-7",
                        crate::domain::SmsEncoding::Ucs2 => "UCS-2; sms_charset = \"gsm7\" may help",
                    }
                ),
            );
        }
    }
    // An email's body is Markdown: a link it writes out must be one a mail client may follow.
    if let (Some(Channel::Email), Some(b)) = (channel, &body) {
        for dest in crate::compose::markdown::unsafe_links(b) {
            let span = m
                .body
                .as_ref()
                .or(m.body_file.as_ref())
                .map_or(raw.span(), Spanned::span);
            c.err(
                span,
                format!("the link to {dest:?} cannot be followed from an email: links must start with https://, http://, mailto: or tel:"),
            );
        }
    }
    Some(Message {
        channel: channel?,
        fallback,
        subject: m.subject.as_ref().map(|s| s.get_ref().clone()),
        preheader: m.preheader.as_ref().map(|p| p.get_ref().clone()),
        button,
        body: body?,
        send_at,
        max_segments,
        sms_charset,
        translations: Vec::new(),
    })
}

/// A template's text with its `{{ }}`, `{% %}` and `{# #}` tags left out.
fn strip_template_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let tail = &rest[start..];
        let close = match tail.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        out.push_str(&rest[..start]);
        match tail.find(close) {
            Some(end) => rest = &tail[end + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Reports a template problem at the expression it is in: the `{{`/`{%` that opens it, found
/// in the rule file's text inside the TOML string's `span` (escapes in a basic string can move
/// it; then the string's start is the place). For a `body_file` the span names the key.
fn place(c: &mut Checker, span: &Range<usize>, source: &str, offset: Option<usize>, message: String) {
    let Some(offset) = offset.filter(|o| *o <= source.len()) else {
        c.err(span.clone(), message);
        return;
    };
    let open = source[..offset]
        .rfind("{{")
        .into_iter()
        .chain(source[..offset].rfind("{%"))
        .max()
        .unwrap_or(offset);
    let close = source[open..]
        .find("}}")
        .or_else(|| source[open..].find("%}"))
        .map_or(source.len(), |n| open + n + 2)
        .min(source.len());
    let expression = &source[open..close.max(offset)];
    let file_text = &c.at.text[span.clone()];
    let at = match file_text.find(expression) {
        Some(i) => span.start + i,
        None => span.start,
    };
    c.err(at..at, message);
}

fn check_templates(
    c: &mut Checker,
    raw: &RawMessage,
    id: &str,
    trigger_kind: TriggerKind,
    has_offer: bool,
    message: &Message,
    templates: &mut Templates,
) {
    let button = raw.button.as_ref().map(Spanned::get_ref);
    let parts = [
        (
            subject_name(id),
            message.subject.clone(),
            raw.subject.as_ref().map(Spanned::span),
        ),
        (
            preheader_name(id),
            message.preheader.clone(),
            raw.preheader.as_ref().map(Spanned::span),
        ),
        (
            button_text_name(id),
            message.button.as_ref().map(|b| b.text.clone()),
            button.map(|b| b.text.span()),
        ),
        (
            button_url_name(id),
            message.button.as_ref().map(|b| b.url.clone()),
            button.and_then(|b| b.url.as_ref()).map(Spanned::span),
        ),
        (
            body_name(id),
            Some(message.body.clone()),
            raw.body.as_ref().or(raw.body_file.as_ref()).map(Spanned::span),
        ),
    ];
    for (name, source, span) in parts {
        let (Some(source), Some(span)) = (source, span) else {
            continue;
        };
        check_template(c, name, source, span, trigger_kind, has_offer, templates);
    }
}

/// Compiles one template into the set and reports its problems where they stand.
fn check_template(
    c: &mut Checker,
    name: String,
    source: String,
    span: Range<usize>,
    trigger_kind: TriggerKind,
    has_offer: bool,
    templates: &mut Templates,
) {
    match templates.add(name.clone(), source.clone()) {
        Err(e) => {
            let detail = e.detail().unwrap_or("syntax error");
            let at = e.range().map(|r| r.start);
            place(c, &span, &source, at, format!("template error: {detail}"));
        }
        Ok(()) => {
            for p in templates.problems(&name, &source, trigger_kind, has_offer) {
                place(c, &span, &source, p.offset, p.message);
            }
        }
    }
}
