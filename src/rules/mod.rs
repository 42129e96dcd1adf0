//! Trigger rules: the TOML format marketers write, its checker, and the pure evaluation that
//! turns a customer's facts into decisions.

mod check;
mod diagnostic;
mod model;
mod rule;
mod template;
mod translations;

pub mod facts;
pub mod history;
pub mod locale;
pub mod pipeline;
pub mod series;
pub mod trigger;
pub mod wake;

use std::path::{Path, PathBuf};

pub use check::{
    body_name, button_text_name, button_url_name, check_file, preheader_name, step_template_id, subject_name,
    translated_name,
};
pub use diagnostic::Diagnostic;
pub use rule::{Audience, Button, Channel, Goal, Limits, Message, Offer, OfferValue, Rule, Step, Trigger};
pub use template::Templates;

/// A checked set of rules, in evaluation order (priority descending, then id), with their
/// compiled templates.
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub templates: Templates,
    pub dir: PathBuf,
}

impl RuleSet {
    /// Checks every `*.toml` file in `dir`. Any problem anywhere rejects the whole set: a
    /// half-valid set would silently drop a campaign the marketer believes is live.
    /// `favourites`: `[history] favourite_properties`, the `history.favourite.*` names
    /// templates may use.
    pub fn load(dir: &Path, favourites: &[String]) -> Result<RuleSet, Vec<Diagnostic>> {
        let files = rule_files(dir).map_err(|e| {
            vec![Diagnostic {
                file: dir.to_path_buf(),
                line: 1,
                col: 1,
                message: format!("cannot read the rules directory: {e}"),
            }]
        })?;
        let mut templates = Templates::with_favourites(favourites);
        let mut rules: Vec<Rule> = Vec::new();
        let mut problems = Vec::new();
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(Diagnostic {
                        file,
                        line: 1,
                        col: 1,
                        message: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            match check_file(&file, &text, dir, &mut templates) {
                Ok(rule) => {
                    if let Some(first) = rules.iter().find(|r| r.id == rule.id) {
                        let (line, col) = id_position(&text);
                        problems.push(Diagnostic {
                            file: file.clone(),
                            line,
                            col,
                            message: format!(
                                "duplicate rule id {:?} (also in {})",
                                rule.id,
                                first.file.display()
                            ),
                        });
                    } else {
                        rules.push(rule);
                    }
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        rules.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        Ok(RuleSet {
            rules,
            templates,
            dir: dir.to_path_buf(),
        })
    }

    /// The rules an evaluation runs: these ids (enabled or not), or every enabled rule when
    /// none are named.
    pub fn selected<'a>(&'a self, only: &'a [String]) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| {
            if only.is_empty() {
                r.enabled
            } else {
                only.contains(&r.id)
            }
        })
    }

    /// Whether evaluating `rule` needs health scores: its trigger, audience or templates use them.
    pub fn needs_health(&self, rule: &Rule) -> bool {
        rule.needs_health(self.templates_use(rule, "health"))
    }

    /// Whether any template of `rule` (any step, any translation) reads `root`.
    pub fn templates_use(&self, rule: &Rule, root: &str) -> bool {
        rule.steps.iter().any(|step| {
            let id = step_template_id(&rule.id, step.number);
            [subject_name(&id), body_name(&id)].iter().any(|n| {
                self.templates.uses(n, root)
                    || step
                        .message
                        .translations
                        .iter()
                        .any(|t| self.templates.uses(&translated_name(n, &t.language), root))
            })
        })
    }
}

/// The rule files of a directory, sorted so diagnostics come in a stable order.
fn rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Where `id = …` stands in a file that already parsed (for the duplicate-id message).
fn id_position(text: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("id") && l.contains('='))
        .map_or((1, 1), |(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
}
