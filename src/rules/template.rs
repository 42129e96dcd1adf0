//! Message templates (minijinja): compiled once per rule set, checked for unknown variables,
//! rendered when a decision is made.

use std::collections::HashSet;

use minijinja::Environment;
use serde::Serialize;

use super::rule::TriggerKind;

/// What a template may use besides `trigger.*`: fields of `customer`, `health` and `rule`.
const CUSTOMER_FIELDS: [&str; 6] = ["id", "name", "first_name", "attributes", "tags", "timezone"];
/// `business.*`: from `[business]` and `[messages] currency`.
const BUSINESS_FIELDS: [&str; 3] = ["name", "address", "currency"];
const HEALTH_FIELDS: [&str; 2] = ["score", "band"];
const RULE_FIELDS: [&str; 2] = ["id", "name"];
/// `offer.*`, in a rule with an `[offer]`.
pub const OFFER_FIELDS: [&str; 4] = ["code", "percent", "amount", "expires_on"];
/// Functions a template may call (minijinja reports them as undeclared names).
const GLOBALS: [&str; 4] = ["range", "dict", "namespace", "loop"];

pub struct Templates {
    env: Environment<'static>,
    /// `[history] favourite_properties`: the `history.favourite.*` names templates may use.
    favourites: Vec<String>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        // Plain text messages: nothing is escaped here. HTML bodies escape at render time.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // Errors carry the byte range of the failing expression, so `rules check` can point
        // at it (FILE:LINE:COL of the `{{`).
        env.set_debug(true);
        // Every printed value is marked as data (see `links::tracked_urls`): a URL a customer
        // put in their name must never become a tracked link on the business's domain. Marks
        // already inside the value are dropped, so data cannot fake the end of its own mark.
        // (Plain text: the auto-escape is off, so a value prints as its Display.)
        env.add_filter("date", super::locale::filters::date);
        env.add_filter("weekday", super::locale::filters::weekday);
        env.add_filter("number", super::locale::filters::number);
        env.add_filter("money", super::locale::filters::money);
        env.set_formatter(|out, _state, value| {
            let mut text = value.to_string();
            text.retain(|c| c != crate::links::DATA_START && c != crate::links::DATA_END);
            let mut mark = [0u8; 4];
            out.write_str(crate::links::DATA_START.encode_utf8(&mut mark))?;
            out.write_str(&text)?;
            out.write_str(crate::links::DATA_END.encode_utf8(&mut mark))?;
            Ok(())
        });
        Templates {
            env,
            favourites: Vec::new(),
        }
    }

    /// A set whose templates may use `history.favourite.<p>` for these properties.
    pub fn with_favourites(favourites: &[String]) -> Templates {
        Templates {
            favourites: favourites.to_vec(),
            ..Templates::new()
        }
    }

    /// Compiles a template; the error carries the line within the template.
    pub fn add(&mut self, name: String, source: String) -> Result<(), minijinja::Error> {
        self.env.add_template_owned(name, source)
    }

    /// Variables the template reads that no context offers, as `a.b` paths.
    pub fn unknown_variables(&self, name: &str, trigger: TriggerKind, has_offer: bool) -> Vec<String> {
        let Ok(t) = self.env.get_template(name) else {
            return Vec::new();
        };
        let used: HashSet<String> = t.undeclared_variables(true);
        let mut unknown: Vec<String> = used
            .into_iter()
            .filter(|path| !is_known(path, trigger, has_offer, &self.favourites))
            .collect();
        unknown.sort();
        unknown
    }

    /// Whether the template reads `health` at all.
    pub fn uses_health(&self, name: &str) -> bool {
        self.uses(name, "health")
    }

    /// Whether the template reads the variable `root` (`health`, `history`) at all.
    pub fn uses(&self, name: &str, root: &str) -> bool {
        self.env
            .get_template(name)
            .is_ok_and(|t| t.undeclared_variables(false).contains(root))
    }

    /// Renders to plain text (the data marks removed).
    pub fn render(&self, name: &str, ctx: &impl Serialize) -> Result<String, minijinja::Error> {
        Ok(self.render_marked(name, ctx)?.0)
    }

    /// Renders with every printed value between data marks (`links::DATA_START`/`DATA_END`).
    pub fn render_with_marks(&self, name: &str, ctx: &impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(minijinja::value::Serde(ctx))
    }

    /// Renders to plain text and the URLs that may be tracked (see `links::tracked_urls`).
    pub fn render_marked(
        &self,
        name: &str,
        ctx: &impl Serialize,
    ) -> Result<(String, Vec<String>), minijinja::Error> {
        let marked = self
            .env
            .get_template(name)?
            .render(minijinja::value::Serde(ctx))?;
        Ok(crate::links::tracked_urls(&marked))
    }
}

/// A template problem found before the rule may run, at a byte offset of the template source
/// (`None` when minijinja could not say where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub offset: Option<usize>,
    pub message: String,
}

impl Templates {
    /// Everything `rules check` can find in a compiled template: unknown variables, unknown
    /// filters and tests (also in branches a sample does not take), and any error rendering it
    /// against a representative context of its trigger type raises.
    pub fn problems(
        &self,
        name: &str,
        source: &str,
        trigger: TriggerKind,
        has_offer: bool,
    ) -> Vec<TemplateProblem> {
        let mut out = Vec::new();
        for var in self.unknown_variables(name, trigger, has_offer) {
            let message = if !has_offer && var.split('.').next() == Some("offer") {
                format!("`{var}` needs an [offer] in this rule")
            } else if var.starts_with("history.favourite.") {
                format!(
                    "unknown template variable `{var}`: [history] favourite_properties offers {}",
                    if self.favourites.is_empty() {
                        "none".to_string()
                    } else {
                        self.favourites.join(", ")
                    }
                )
            } else {
                format!("unknown template variable `{var}`")
            };
            out.push(TemplateProblem {
                offset: find_path(source, &var),
                message,
            });
        }
        for (offset, kind, word) in filter_and_test_names(source) {
            if !self.knows(kind, word) {
                out.push(TemplateProblem {
                    offset: Some(offset),
                    message: format!("unknown {} `{word}`", kind.noun()),
                });
            }
        }
        if out.is_empty()
            && let Err(e) = self.render(name, &sample_context(trigger, has_offer))
        {
            out.push(TemplateProblem {
                offset: e.range().map(|r| r.start),
                message: format!("template error: {}", e.detail().unwrap_or("cannot be rendered")),
            });
        }
        out
    }

    /// Whether the environment has a filter or test of this name: an expression using it is
    /// evaluated, and only "unknown filter/test" counts (a wrong argument type does not).
    fn knows(&self, kind: NameKind, word: &str) -> bool {
        let expr = match kind {
            NameKind::Filter => format!("x | {word}"),
            NameKind::Test => format!("x is {word}"),
        };
        match self.env.compile_expression_owned(expr) {
            Err(_) => false,
            Ok(e) => match e.eval(minijinja::context! { x => "1" }) {
                Ok(_) => true,
                Err(err) => !matches!(
                    err.kind(),
                    minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest
                ),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Filter,
    Test,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Filter => "filter",
            NameKind::Test => "test",
        }
    }
}

/// The filter (`| name`) and test (`is [not] name`) names inside `{{ }}` and `{% %}` blocks,
/// with their byte offsets; string literals are skipped so a `|` inside quotes is text.
fn filter_and_test_names(source: &str) -> Vec<(usize, NameKind, &str)> {
    let mut out = Vec::new();
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut in_block = false;
    let mut expect: Option<NameKind> = None;
    while i < bytes.len() {
        let rest = &source[i..];
        if !in_block {
            if rest.starts_with("{{") || rest.starts_with("{%") {
                in_block = true;
                i += 2;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
            continue;
        }
        if rest.starts_with("}}") || rest.starts_with("%}") {
            in_block = false;
            expect = None;
            i += 2;
            continue;
        }
        let c = bytes[i];
        if c == b'"' || c == b'\'' {
            // Skip the string literal, honouring backslash escapes.
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != c {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            expect = None;
            continue;
        }
        if c == b'|' {
            expect = Some(NameKind::Filter);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map_or(source.len(), |n| i + n);
            let word = &source[i..end];
            match (expect, word) {
                (_, "is") => expect = Some(NameKind::Test),
                (Some(NameKind::Test), "not") => {}
                (Some(kind), w) => {
                    out.push((i, kind, w));
                    expect = None;
                }
                (None, _) => {}
            }
            i = end;
            continue;
        }
        if !c.is_ascii_whitespace() {
            expect = None;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// Where a variable path such as `customer.nickname` (or its root) first appears.
fn find_path(source: &str, path: &str) -> Option<usize> {
    source.find(path).or_else(|| {
        let root = path.split('.').next()?;
        source
            .match_indices(root)
            .find(|(i, _)| {
                let before = source[..*i].chars().next_back();
                let after = source[i + root.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
            .map(|(i, _)| i)
    })
}

/// The context a template of this trigger type sees, with plausible values of the right
/// types (a number where evaluation puts a number), so a render catches what data would.
pub fn sample_context(trigger: TriggerKind, has_offer: bool) -> serde_json::Value {
    use serde_json::json;
    let trigger: serde_json::Map<String, serde_json::Value> = trigger
        .template_fields()
        .iter()
        .map(|f| {
            let v = match *f {
                "last_event_at" | "event_at" => json!("2026-10-01T10:00:00Z"),
                "cadence_days" => json!(14.5),
                _ => json!(3),
            };
            (f.to_string(), v)
        })
        .collect();
    json!({
        "customer": {"id": "c-0001", "name": "Anna Kovács", "first_name": "Anna", "attributes": {}, "tags": [],
                     "timezone": "Europe/Budapest"},
        "language": "en",
        "business": {"name": "Café Aroma", "address": "Fő utca 1, Győr", "currency": "EUR"},
        "health": {"score": 62, "band": "at_risk"},
        "trigger": trigger,
        "rule": {"id": "sample", "name": "Sample rule"},
        "offer": has_offer.then(|| json!({"code": "BACK-XXXXX-XXXXX", "percent": 10, "amount": null, "expires_on": "2026-10-22"})),
        "history": {"visits": 12, "last_visit_on": "2026-09-01", "usual_weekday": "Saturday", "usual_hour": 9,
                    "favourite": {}, "total_spend": 182.5, "average_spend": 15.2},
    })
}

fn is_known(path: &str, trigger: TriggerKind, has_offer: bool, favourites: &[String]) -> bool {
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or("");
    let field = parts.next();
    match (root, field) {
        ("history", None) => true,
        ("language", None) => true,
        ("business", None) => true,
        ("business", Some(f)) => BUSINESS_FIELDS.contains(&f),
        ("history", Some("favourite")) => parts.next().is_none_or(|p| favourites.iter().any(|f| f == p)),
        ("history", Some(f)) => super::history::FIELDS.contains(&f),
        (g, None) if GLOBALS.contains(&g) => true,
        ("customer" | "health" | "trigger" | "rule", None) => true,
        ("offer", None) => has_offer,
        ("offer", Some(f)) => has_offer && OFFER_FIELDS.contains(&f),
        ("customer", Some(f)) => CUSTOMER_FIELDS.contains(&f),
        ("health", Some(f)) => HEALTH_FIELDS.contains(&f),
        ("rule", Some(f)) => RULE_FIELDS.contains(&f),
        ("trigger", Some(f)) => trigger.template_fields().contains(&f),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(source: &str) -> Vec<TemplateProblem> {
        let mut t = Templates::new();
        t.add("b".into(), source.into()).unwrap();
        t.problems("b", source, TriggerKind::Inactive, false)
    }

    #[test]
    fn unknown_filters_and_tests_are_found_where_they_stand_even_in_untaken_branches() {
        let src = "Hi {{ customer.first_name | upper }}{% if false %}{{ customer.name | shout }}{% endif %}";
        let p = problems(src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].message, "unknown filter `shout`");
        assert_eq!(p[0].offset, src.find("shout"));
        let p = problems("{% if customer.tags is nonempty %}x{% endif %}{{ '|nope' }}");
        assert_eq!(
            p.iter().map(|p| p.message.as_str()).collect::<Vec<_>>(),
            ["unknown test `nonempty`"]
        );
        assert!(
            problems("{{ customer.name | default('friend') | title }} {% if x is not defined %}{% endif %}")
                .is_empty()
                || problems("{{ customer.name | default('friend') | title }}").is_empty()
        );
    }

    #[test]
    fn a_render_error_with_sample_data_is_a_problem() {
        // A number has no `upper`: what every customer's render would hit.
        let p = problems("{{ trigger.days_inactive.upper() }}");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.starts_with("template error"), "{p:?}");
        assert!(problems("{{ trigger.days_inactive + 1 }} days").is_empty());
    }

    #[test]
    fn unknown_variables_are_listed_with_their_path() {
        let mut t = Templates::new();
        t.add(
            "b".into(),
            "Hi {{ customer.first_name }} {{ customer.nickname }} {{ trigger.days_inactive }} {{ trigger.years }} {{ shop }} {{ customer.attributes.tier }}".into(),
        )
        .unwrap();
        assert_eq!(
            t.unknown_variables("b", TriggerKind::Inactive, false),
            ["customer.nickname", "shop", "trigger.years"]
        );
    }
}
