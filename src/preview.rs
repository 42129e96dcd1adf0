//! The readable form of an evaluation: counts per rule and decision, then sample messages.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::evaluate::Evaluation;
use crate::rules::pipeline::Outcome;

const COLUMNS: [Outcome; 5] = [
    Outcome::Send,
    Outcome::HeldOut,
    Outcome::Deferred,
    Outcome::Suppressed,
    Outcome::Skipped,
];

/// What an SMS segment costs, for the preview's cost line.
#[derive(Debug, Clone, Copy)]
pub struct SegmentPrice<'a> {
    pub price: f64,
    pub currency: &'a str,
}

pub fn render_text(
    e: &Evaluation,
    at: i64,
    rule_order: &[String],
    samples_per_rule: usize,
    price: Option<SegmentPrice<'_>>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Decisions at {} over {} customers\n",
        crate::domain::fmt_instant(at),
        e.customers
    );
    let _ = writeln!(
        out,
        "{:<28} {:>6} {:>9} {:>9} {:>11} {:>8}  reasons",
        "rule", "send", "held_out", "deferred", "suppressed", "skipped"
    );
    for rule in rule_order {
        let mine: Vec<_> = e.decisions.iter().filter(|d| &d.rule == rule).collect();
        let count = |o: Outcome| mine.iter().filter(|d| d.decision == o).count();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &mine {
            if let Some(r) = d.reason {
                *reasons.entry(r.as_str()).or_default() += 1;
            }
        }
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = write!(out, "{rule:<28}");
        for (i, o) in COLUMNS.iter().enumerate() {
            let width = [6, 9, 9, 11, 8][i];
            let _ = write!(out, " {:>width$}", count(*o));
        }
        let _ = writeln!(out, "  {}", reasons.join(", "));
    }
    sms_lines(&mut out, e, rule_order, price);
    for rule in rule_order {
        let n = e
            .decisions
            .iter()
            .filter(|d| &d.rule == rule && d.fell_back)
            .count();
        if n > 0 {
            let _ = writeln!(
                out,
                "\n{rule}: {n} customer(s) get the untranslated text: the message has no translation for their language"
            );
        }
    }
    let mut samples: Vec<_> = e.decisions.iter().filter(|d| d.message.is_some()).collect();
    samples.sort_by_key(|d| rule_order.iter().position(|r| *r == d.rule));
    if !samples.is_empty() {
        let _ = writeln!(out, "\nSample messages (up to {samples_per_rule} per rule):");
        for d in samples {
            let m = d.message.as_ref().expect("filtered");
            let step = if d.step > 1 {
                format!(" (step {})", d.step)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "\n{}{step} -> {} by {} at {}",
                d.rule,
                d.customer,
                d.channel.map_or("-", |c| c.as_str()),
                d.send_at.as_deref().unwrap_or("-")
            );
            if let Some(s) = &m.subject {
                let _ = writeln!(out, "  Subject: {s}");
            }
            if let Some(p) = &m.preheader {
                let _ = writeln!(out, "  Preheader: {p}");
            }
            for line in m.body.lines() {
                let _ = writeln!(out, "  {line}");
            }
            if let Some(b) = &m.button {
                let _ = writeln!(out, "  [{}] -> {}", b.text, b.url);
            }
        }
    }
    out
}

/// Per rule with SMS sends: how many segments they take, how many need UCS-2, and what they
/// would cost — what a campaign costs before it is enabled.
fn sms_lines(out: &mut String, e: &Evaluation, rule_order: &[String], price: Option<SegmentPrice<'_>>) {
    let mut header = false;
    for rule in rule_order {
        let sizes: Vec<_> = e
            .decisions
            .iter()
            .filter(|d| &d.rule == rule && d.decision == Outcome::Send)
            .filter_map(|d| d.sms)
            .collect();
        if sizes.is_empty() {
            continue;
        }
        if !header {
            let _ = writeln!(out, "\nSMS (segments: messages)");
            header = true;
        }
        let mut by_segments: BTreeMap<usize, usize> = BTreeMap::new();
        for s in &sizes {
            *by_segments.entry(s.segments).or_default() += 1;
        }
        let ucs2 = sizes
            .iter()
            .filter(|s| s.encoding == crate::domain::SmsEncoding::Ucs2)
            .count();
        let total: usize = sizes.iter().map(|s| s.segments).sum();
        let spread: Vec<String> = by_segments.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        let _ = write!(
            out,
            "{rule:<28} {} — {total} segments, {:.0}% UCS-2",
            spread.join(", "),
            100.0 * ucs2 as f64 / sizes.len() as f64
        );
        if let Some(p) = price {
            let _ = write!(out, ", cost {:.2} {}", total as f64 * p.price, p.currency);
        }
        let _ = writeln!(out);
    }
}
