//! Message templates (minijinja): compiled once per rule set, checked for unknown variables,
//! rendered when a decision is made.

use std::collections::HashSet;

use minijinja::Environment;
use serde::Serialize;

/// What a template may use besides `trigger.*`: fields of `customer`, `health` and `rule`.
const CUSTOMER_FIELDS: [&str; 5] = ["id", "name", "first_name", "attributes", "tags"];
const HEALTH_FIELDS: [&str; 2] = ["score", "band"];
const RULE_FIELDS: [&str; 2] = ["id", "name"];
/// Functions a template may call (minijinja reports them as undeclared names).
const GLOBALS: [&str; 4] = ["range", "dict", "namespace", "loop"];

/// The variables `trigger.*` offers for each trigger type.
pub fn trigger_fields(trigger_type: &str) -> &'static [&'static str] {
    match trigger_type {
        "inactive" => &["days_inactive", "last_event_at"],
        "overdue" => &["days_inactive", "last_event_at", "cadence_days"],
        "first_event" | "event" | "absence" => &["event_at"],
        "birthday" => &["days_before"],
        "anniversary" => &["years"],
        "milestone" => &["count"],
        "health_below" => &["score"],
        _ => &[],
    }
}

pub struct Templates {
    env: Environment<'static>,
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
        Templates { env }
    }

    /// Compiles a template; the error carries the line within the template.
    pub fn add(&mut self, name: String, source: String) -> Result<(), minijinja::Error> {
        self.env.add_template_owned(name, source)
    }

    /// Variables the template reads that no context offers, as `a.b` paths.
    pub fn unknown_variables(&self, name: &str, trigger_type: &str) -> Vec<String> {
        let Ok(t) = self.env.get_template(name) else {
            return Vec::new();
        };
        let used: HashSet<String> = t.undeclared_variables(true);
        let mut unknown: Vec<String> = used
            .into_iter()
            .filter(|path| !is_known(path, trigger_type))
            .collect();
        unknown.sort();
        unknown
    }

    /// Whether the template reads `health` at all.
    pub fn uses_health(&self, name: &str) -> bool {
        self.env
            .get_template(name)
            .is_ok_and(|t| t.undeclared_variables(false).contains("health"))
    }

    pub fn render(&self, name: &str, ctx: &impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(minijinja::value::Serde(ctx))
    }
}

fn is_known(path: &str, trigger_type: &str) -> bool {
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or("");
    let field = parts.next();
    match (root, field) {
        (g, None) if GLOBALS.contains(&g) => true,
        ("customer" | "health" | "trigger" | "rule", None) => true,
        ("customer", Some(f)) => CUSTOMER_FIELDS.contains(&f),
        ("health", Some(f)) => HEALTH_FIELDS.contains(&f),
        ("rule", Some(f)) => RULE_FIELDS.contains(&f),
        ("trigger", Some(f)) => trigger_fields(trigger_type).contains(&f),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_variables_are_listed_with_their_path() {
        let mut t = Templates::new();
        t.add(
            "b".into(),
            "Hi {{ customer.first_name }} {{ customer.nickname }} {{ trigger.days_inactive }} {{ trigger.years }} {{ shop }} {{ customer.attributes.tier }}".into(),
        )
        .unwrap();
        assert_eq!(
            t.unknown_variables("b", "inactive"),
            ["customer.nickname", "shop", "trigger.years"]
        );
    }
}
