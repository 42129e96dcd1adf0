//! `rekindle rules check`: every kind of mistake, reported as FILE:LINE:COL: message.

use crate::helpers::rekindle_in;

const GOOD: &str = r#"id = "ok"
name = "Fine"
[trigger]
type = "inactive"
days = 30
[message]
channel = "email"
subject = "Hi {{ customer.first_name }}"
body = "It has been {{ trigger.days_inactive }} days."
"#;

/// Runs `rules check` on a directory holding just `files`; returns (exit code, stdout).
fn check(files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for (name, text) in files {
        let path = rules.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let r = rekindle_in(dir.path(), &["rules", "check"]);
    (r.code, r.stdout)
}

fn assert_problem(text: &str, expected: &str) {
    let (code, out) = check(&[("r.toml", text)]);
    assert_eq!(code, 1, "expected failure for {expected:?}; got {out}");
    assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
}

#[test]
fn a_good_rule_and_the_shipped_examples_pass() {
    let (code, out) = check(&[("ok.toml", GOOD)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 rules OK"), "{out}");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let r = rekindle_in(&shipped, &["rules", "check", shipped.to_str().unwrap()]);
    assert_eq!(r.code, 0, "shipped rules must check clean: {r:?}");
}

#[test]
fn toml_syntax_error() {
    assert_problem(&GOOD.replace("days = 30", "days = = 30"), "rules/r.toml:5:8:");
}

#[test]
fn unknown_keys_top_level_and_nested() {
    assert_problem(
        &format!("{GOOD}colour = \"red\"\n"),
        "rules/r.toml:10:1: unknown field `colour`",
    );
    assert_problem(
        &GOOD.replace("days = 30", "days = 30\nhours = 2"),
        "rules/r.toml:6:1: unknown field `hours`",
    );
}

#[test]
fn wrong_type() {
    assert_problem(
        &GOOD.replace("days = 30", "days = \"30\""),
        "rules/r.toml:5:8: days: expected a whole number like 30, got the text \"30\"",
    );
}

#[test]
fn bad_cron_and_bad_duration() {
    assert_problem(
        &GOOD.replace("[trigger]", "schedule = \"0 9 * *\"\n[trigger]"),
        "rules/r.toml:3:12: invalid schedule \"0 9 * *\"",
    );
    assert_problem(
        &format!("{GOOD}[limits]\ncooldown = \"2 weeks\"\n"),
        "rules/r.toml:11:12: invalid duration \"2 weeks\"",
    );
}

#[test]
fn unknown_trigger_type_and_misplaced_parameter() {
    assert_problem(
        &GOOD.replace("\"inactive\"", "\"inactivity\""),
        "rules/r.toml:4:8: unknown trigger type \"inactivity\"",
    );
    assert_problem(
        &GOOD.replace("days = 30", "days = 30\ncount = 3"),
        "rules/r.toml:6:9: `count` does not apply to an inactive trigger",
    );
}

#[test]
fn missing_required_fields() {
    assert_problem(
        &GOOD.replace("days = 30\n", ""),
        "rules/r.toml:3:1: an inactive trigger needs `days`",
    );
    assert_problem(
        &GOOD.replace("subject = \"Hi {{ customer.first_name }}\"\n", ""),
        "rules/r.toml:6:1: an email message needs a `subject`",
    );
    assert_problem(&GOOD.replace("name = \"Fine\"\n", ""), "missing field `name`");
}

#[test]
fn template_syntax_and_unknown_variables() {
    assert_problem(
        &GOOD.replace("{{ trigger.days_inactive }}", "{{ trigger.days_inactive }"),
        "rules/r.toml:9:21: template error",
    );
    // Each problem points at the `{{` of its expression, not at the start of the string.
    assert_problem(
        &GOOD.replace("customer.first_name", "customer.nickname"),
        "rules/r.toml:8:15: unknown template variable `customer.nickname`",
    );
    assert_problem(
        &GOOD.replace("trigger.days_inactive", "trigger.years"),
        "rules/r.toml:9:21: unknown template variable `trigger.years`",
    );
}

#[test]
fn unknown_filters_tests_and_render_errors_are_rule_errors() {
    // A typo in a filter used to pass the check and then drop every decision of the rule.
    assert_problem(
        &GOOD.replace(
            "{{ trigger.days_inactive }}",
            "{{ trigger.days_inactive | round_up }}",
        ),
        "rules/r.toml:9:21: unknown filter `round_up`",
    );
    // Also inside a branch that sample data would not take.
    assert_problem(
        &GOOD.replace(
            "Hi {{ customer.first_name }}",
            "Hi{% if customer.tags %} {{ customer.first_name | shout }}{% endif %}",
        ),
        "rules/r.toml:8:37: unknown filter `shout`",
    );
    assert_problem(
        &GOOD.replace(
            "{{ trigger.days_inactive }}",
            "{% if customer.name is nice %}x{% endif %}",
        ),
        "rules/r.toml:9:21: unknown test `nice`",
    );
    // Rendered against a representative customer: a number has no `upper` method.
    assert_problem(
        &GOOD.replace(
            "{{ trigger.days_inactive }}",
            "{{ trigger.days_inactive.upper() }}",
        ),
        "rules/r.toml:9:21: template error",
    );
    // A multi-line body: the line and column of the expression inside the file.
    assert_problem(
        &GOOD.replace(
            "body = \"It has been {{ trigger.days_inactive }} days.\"",
            "body = \"\"\"\nHello,\n\nit has been {{ trigger.days_inactive | dayz }} days.\n\"\"\"",
        ),
        "rules/r.toml:12:13: unknown filter `dayz`",
    );
}

#[test]
fn holdout_out_of_range_and_bad_id() {
    assert_problem(
        &format!("{GOOD}[experiment]\nholdout_percent = 60\n"),
        "rules/r.toml:11:19: holdout_percent must be between 0 and 50, got 60",
    );
    assert_problem(
        &GOOD.replace("\"ok\"", "\"Win Back\""),
        "rules/r.toml:1:6: invalid rule id \"Win Back\"",
    );
}

#[test]
fn every_problem_in_a_file_is_reported_not_just_the_first() {
    let text = GOOD
        .replace("days = 30", "days = 0")
        .replace("\"email\"", "\"fax\"");
    let (code, out) = check(&[("r.toml", &text)]);
    assert_eq!(code, 1);
    assert!(
        out.contains("rules/r.toml:5:8: days must be between 1 and 3650, got 0"),
        "{out}"
    );
    assert!(
        out.contains("rules/r.toml:7:11: unknown channel \"fax\""),
        "{out}"
    );
}

#[test]
fn duplicate_ids_name_both_files() {
    let (code, out) = check(&[("a.toml", GOOD), ("b.toml", GOOD)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rules/b.toml:1:1: duplicate rule id \"ok\" (also in "),
        "{out}"
    );
    assert!(out.contains("a.toml"), "{out}");
}

#[test]
fn a_broken_rule_stops_preview_and_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/ok.toml"), GOOD).unwrap();
    std::fs::write(
        dir.path().join("rules/bad.toml"),
        GOOD.replace("\"ok\"", "\"bad\"").replace("30", "-1"),
    )
    .unwrap();
    for cmd in [&["rules", "preview"][..], &["evaluate"][..]] {
        let r = rekindle_in(dir.path(), cmd);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stderr.contains("rules/bad.toml:5:8: days must be between"),
            "{r:?}"
        );
        assert!(r.stderr.contains("nothing was evaluated"), "{r:?}");
    }
}

#[test]
fn body_file_is_read_relative_to_the_rules_directory() {
    let with_file = GOOD.replace(
        "body = \"It has been {{ trigger.days_inactive }} days.\"",
        "body_file = \"templates/win-back.txt\"",
    );
    let (code, out) = check(&[
        ("r.toml", &with_file),
        ("templates/win-back.txt", "Hello {{ customer.first_name }}"),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(&[("r.toml", &with_file)]);
    assert_eq!(code, 1);
    assert!(out.contains("rules/r.toml:9:13: cannot read body_file"), "{out}");
    let (code, out) = check(&[
        ("r.toml", &with_file),
        ("templates/win-back.txt", "Hi {{ customer.shoe }}"),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("unknown template variable `customer.shoe`"), "{out}");
}

#[test]
fn type_errors_are_said_in_a_marketers_words() {
    assert_problem(
        &GOOD.replace("days = 30", "days = \"45\""),
        "rules/r.toml:5:8: days: expected a whole number like 30, got the text \"45\"",
    );
    assert_problem(
        &GOOD.replace("id = \"ok\"", "id = \"ok\"\nenabled = \"yes\""),
        "rules/r.toml:2:11: enabled: expected true or false, got the text \"yes\"",
    );
}

const SERIES: &str = r#"id = "wb"
name = "Win back"
[trigger]
type = "inactive"
days = 30
[[steps]]
channel = "email"
subject = "We miss you"
body = "Here is {{ offer.percent }}% off: {{ offer.code }} (until {{ offer.expires_on }})."
[[steps]]
after = "7d"
channel = "sms"
body = "Your code {{ offer.code }} is waiting."
[offer]
prefix = "BACK"
percent = 10
valid = "21d"
"#;

#[test]
fn a_series_with_an_offer_checks_and_its_mistakes_are_placed() {
    let (code, out) = check(&[("wb.toml", SERIES)]);
    assert_eq!(code, 0, "{out}");
    // `after` belongs to steps 2 and later, and step 2 needs one.
    assert_problem(
        &SERIES.replacen("[[steps]]\nchannel", "[[steps]]\nafter = \"1d\"\nchannel", 1),
        "rules/r.toml:7:9: step 1 goes out when the trigger fires; `after` applies to steps 2 and later",
    );
    assert_problem(&SERIES.replace("after = \"7d\"\n", ""), "step 2 needs `after`");
    assert_problem(
        &SERIES.replace("after = \"7d\"", "after = \"7 days\""),
        "rules/r.toml:11:9:",
    );
    // offer.* in a rule without [offer] is an error where it stands.
    let no_offer = SERIES.split("[offer]").next().unwrap().to_string();
    assert_problem(&no_offer, "rules/r.toml:9:");
    assert_problem(&no_offer, "`offer.percent` needs an [offer] in this rule");
    assert_problem(
        &SERIES.replace("percent = 10", "percent = 120"),
        "rules/r.toml:16:11: percent must be more than 0 and at most 100",
    );
    assert_problem(
        &SERIES.replace("prefix = \"BACK\"", "prefix = \"back!\""),
        "rules/r.toml:15:10: invalid prefix",
    );
    assert_problem(
        &SERIES.replace("percent = 10", "percent = 10\namount = 5.0"),
        "give either `percent` or `amount`",
    );
    // Both forms, or neither.
    assert_problem(
        &format!("{SERIES}[message]\nchannel = \"sms\"\nbody = \"x\"\n"),
        "give either a [message] or [[steps]], not both",
    );
    let eleven = (2..=11).fold(
        SERIES.split("[[steps]]\nafter").next().unwrap().to_string(),
        |s, _| s + "[[steps]]\nafter = \"1d\"\nchannel = \"sms\"\nbody = \"x\"\n",
    );
    assert_problem(
        &(eleven + "[offer]\npercent = 5\nvalid = \"7d\"\n"),
        "a series has at most 10 steps",
    );
    // A step's translation follows its step.
    let translated = SERIES.replace(
        "[offer]",
        "[steps.hu]\nbody = \"A kódod {{ offer.code }} vár.\"\n[offer]",
    );
    let (code, out) = check(&[("wb.toml", &translated)]);
    assert_eq!(code, 0, "{out}");
    assert_problem(
        &translated.replace("{{ offer.code }} vár", "{{ offer.kod }} vár"),
        "unknown template variable `offer.kod`",
    );
}
