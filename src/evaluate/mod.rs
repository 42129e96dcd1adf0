//! Rule evaluation at an instant T over every customer: three streams from the store
//! (customers, per-kind event aggregates, recorded decisions), merged by customer id
//! (`stream`), fed to the pure pipeline; decisions are recorded in batches or, for a preview,
//! only returned.

mod scope;
mod stream;

use stream::{CustomerInput, CustomerStream, KnownOffer, Reads};

use std::collections::BTreeMap;

use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Serialize;
use serde_json::json;

use crate::compose::markdown;
use crate::config::Config;
use crate::domain::Birthday;
use crate::health::YEAR_WINDOW;
use crate::rules::facts::CustomerFacts;
use crate::rules::pipeline::{Decision, Outcome, PastDecision, Policy, Reason, decide};
use crate::rules::series::step_key;
use crate::rules::trigger::{id_lookback, lookback};
use crate::rules::wake::{Decided, next_wake};
use crate::rules::{
    Channel, Offer, OfferValue, Rule, RuleSet, body_name, button_text_name, button_url_name, preheader_name,
    step_template_id, subject_name,
};
use crate::store::{CustomerRecord, CustomerWake, NewDecision, NewOffer, ScopeState, Store, StoreError};

/// Decisions written per transaction while the evaluation streams on.
const DECISIONS_PER_WRITE: usize = 5_000;
/// Customers' wakes written per transaction.
const WAKES_PER_WRITE: usize = 10_000;
/// Past this many customers to look at, an incremental evaluation reads everyone's rows in
/// one pass (the same decisions; a long list of ids costs more than it spares).
const MOST_CUSTOMERS_BY_ID: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("no rule with id {0:?} in the rules directory")]
    UnknownRule(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing a decision out")]
    Output(#[source] std::io::Error),
}

pub struct Request<'a> {
    pub at: i64,
    /// Only these rules (any state); empty means every enabled rule.
    pub only: &'a [String],
    /// Record the decisions (`evaluate`) or only return them (`preview`).
    pub record: bool,
    /// Render messages for at most this many sends per rule when not recording.
    pub samples_per_rule: usize,
    /// Decisions a simulation made on its earlier days, by customer id: they count as
    /// recorded (cooldowns, `once`, the cap, a series' next step), though nothing is.
    pub imagined: Option<&'a std::collections::HashMap<String, Vec<crate::rules::pipeline::PastDecision>>>,
    /// Only this customer (external id): `rekindle render`.
    pub customer: Option<&'a str>,
    /// A recorded evaluation of every customer looks only at those who changed or reach a
    /// boundary of their own since the last evaluation of the same rules (`rules::wake`),
    /// when that was at an earlier instant and nothing was imported in bulk since; `false`
    /// forces a full pass. The decisions are the same either way.
    pub incremental: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderedMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What the customer reads: an SMS's text, an email's plain-text part (without footer).
    pub body: String,
    /// What is recorded: an email's Markdown source (customer data escaped), else `body`.
    #[serde(skip)]
    pub source: String,
    /// URLs of the body that become tracked links: only those the marketer wrote.
    #[serde(skip)]
    pub links: Vec<String>,
    /// The translation used (`hu`, `en-GB`); `null` for the untranslated text.
    pub language: Option<String>,
    /// The language the text is written in: the translation's or `[messages]
    /// default_language` (the email's `lang`, its footer's words).
    #[serde(skip)]
    pub text_language: String,
    /// Email: the inbox's grey line after the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
    /// Email: the button under the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<RenderedButton>,
    /// The customer reads another language than the untranslated text's, and the message
    /// has no translation for it.
    #[serde(skip)]
    pub fell_back: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedButton {
    pub text: String,
    pub url: String,
}

/// An SMS's encoding and segments, as previews show them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SmsSize {
    pub segments: usize,
    pub encoding: crate::domain::SmsEncoding,
}

/// One decision as previews print it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionOut {
    pub rule: String,
    pub customer: String,
    pub decision: Outcome,
    pub reason: Option<Reason>,
    pub channel: Option<Channel>,
    /// RFC 3339 UTC, whole seconds.
    pub send_at: Option<String>,
    /// The occurrence (a series' own, for each of its steps).
    pub occurrence: String,
    /// 1, or the step of a series.
    pub step: u8,
    /// What the customer would read (`subject`, `body`), for every send a JSON preview shows.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub message: Option<RenderedMessage>,
    /// An SMS send's (or too-long SMS's) `segments` and `encoding`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSize>,
    /// See `RenderedMessage::fell_back`; counted by the text preview.
    #[serde(skip)]
    pub fell_back: bool,
}

#[derive(Debug, Default)]
pub struct Evaluation {
    /// Every decision, when collected (`evaluate`); empty from `evaluate_each`, whose caller
    /// was handed each one.
    pub decisions: Vec<DecisionOut>,
    /// How many decisions were made, and how many of them are sends.
    pub decided: u64,
    pub sends: u64,
    /// Newly recorded (a decision another run recorded first is not counted).
    pub recorded: u64,
    pub customers: u64,
    /// Only the customers who changed or were due were looked at (see `Request::incremental`).
    pub incremental: bool,
    /// Sends whose template failed to render: recorded as `skipped` / `template_error`.
    pub render_errors: u64,
}

/// Where `evaluate_each` hands each decision as it is made; an error stops the evaluation
/// (a preview whose reader went away).
pub type Sink<'a> = dyn FnMut(DecisionOut) -> std::io::Result<()> + Send + 'a;

/// Evaluates and returns every decision with the counts.
pub async fn evaluate(
    store: &Store,
    cfg: &Config,
    set: &RuleSet,
    req: &Request<'_>,
) -> Result<Evaluation, EvalError> {
    let mut decisions = Vec::new();
    let mut e = evaluate_each(store, cfg, set, req, &mut |d| {
        decisions.push(d);
        Ok(())
    })
    .await?;
    e.decisions = decisions;
    Ok(e)
}

/// Evaluates and hands each decision to `sink` as it is made, keeping none: memory stays flat
/// however large the book (a service's tick, a recorded evaluation, a JSON preview that
/// prints as it goes).
pub async fn evaluate_each(
    store: &Store,
    cfg: &Config,
    set: &RuleSet,
    req: &Request<'_>,
    sink: &mut Sink<'_>,
) -> Result<Evaluation, EvalError> {
    for id in req.only {
        if !set.rules.iter().any(|r| &r.id == id) {
            return Err(EvalError::UnknownRule(id.clone()));
        }
    }
    let rules: Vec<Rule> = set.selected(req.only).cloned().collect();
    let needs_health = rules.iter().any(|r| set.needs_health(r));
    // `history.*` looks a year back, like health; favourites are counted only then.
    let uses_history: Vec<bool> = rules.iter().map(|r| set.templates_use(r, "history")).collect();
    let needs_history = uses_history.iter().any(|u| *u);
    let mut window = rules.iter().map(|r| lookback(&r.trigger)).max().unwrap_or(0);
    if needs_health || needs_history {
        window = window.max(YEAR_WINDOW);
    }
    // Favourite values ride along with each recent event, only when a template reads them.
    let favourites: &[String] = if needs_history {
        &cfg.history.favourite_properties
    } else {
        &[]
    };
    // Events' ids only as far back as a trigger keys on them; favourite values need the row
    // anyway, so with them every recent event carries its id too.
    let id_window = if favourites.is_empty() {
        rules.iter().map(|r| id_lookback(&r.trigger)).max().unwrap_or(0)
    } else {
        window
    };
    let policy = policy_of(cfg);
    let default_zone = cfg.default_timezone.tz().clone();
    let now = jiff::Timestamp::now().as_second();

    let business = Value::from(Serde(business_vars(cfg)));
    let mut out = Evaluation::default();
    let mut pending: Vec<NewDecision> = Vec::new();
    let mut samples: BTreeMap<String, usize> = BTreeMap::new();
    if rules.is_empty() {
        return Ok(out);
    }
    let series = rules.iter().any(|r| r.is_series() || r.offer.is_some());
    // A recorded evaluation of everyone keeps each customer's wake for the next one.
    let mut tracking = match req.record && req.customer.is_none() && req.imagined.is_none() {
        true => Some(Tracking::begin(store, &rules, cfg, req).await?),
        false => None,
    };
    let only = tracking.as_ref().and_then(|t| t.only.as_deref());
    out.incremental = only.is_some();
    let mut stream = CustomerStream::open(
        store,
        req.at,
        Reads {
            since: req.at - window,
            ids_since: req.at - id_window,
            default_zone,
            series,
            favourites,
            later_events: tracking.is_some(),
            only,
        },
    )
    .await?;
    while let Some(CustomerInput {
        mut facts,
        mut past,
        offers,
        revision,
        next_event,
    }) = stream.next().await?
    {
        if req.customer.is_some_and(|only| only != facts.external_id) {
            continue;
        }
        if let Some(earlier) = req.imagined.and_then(|m| m.get(&facts.external_id)) {
            past.extend(earlier.iter().cloned());
        }
        if needs_health {
            facts.health = Some(facts.compute_health(&cfg.health, req.at));
        }
        out.customers += 1;
        let decisions = decide(&rules, &facts, &past, req.at, &policy, &cfg.health);
        let decided = decided_of(&decisions);
        // This customer's decisions as the next evaluation will read them from the store.
        let mut recorded_now: Vec<PastDecision> = Vec::new();
        for mut d in decisions {
            let rule = &rules[d.rule];
            // Every send is rendered, in a preview too: a template that fails for a customer's
            // data must show there as it will when recorded. The text is kept for samples.
            let keep_text = req.record
                || d.outcome == Outcome::Send && {
                    let n = samples.entry(rule.id.clone()).or_default();
                    *n += 1;
                    *n <= req.samples_per_rule
                };
            let mut sms = None;
            let mut fell_back = false;
            let step = &rule.steps[usize::from(d.step) - 1].message;
            let mut offer = None;
            let message = if d.outcome == Outcome::Send {
                let offer_vars = match &rule.offer {
                    Some(o) => {
                        let (vars, new) = offer_of(o, rule, &d, &facts, &offers, &cfg.messages.currency);
                        offer = new;
                        Some(vars)
                    }
                    None => None,
                };
                let history = uses_history[d.rule].then(|| history_vars(&facts, cfg, req.at));
                let rendered = render(
                    set,
                    rule,
                    &facts,
                    &d,
                    &Extras {
                        offer: offer_vars.as_ref(),
                        history: history.as_ref(),
                        business: Some(&business),
                    },
                    cfg.sms.charset,
                    &cfg.messages.default_language,
                );
                fell_back = rendered.as_ref().is_ok_and(|m| m.fell_back);
                match rendered {
                    Ok(m) if d.channel == Some(Channel::Sms) => {
                        let shape = crate::domain::measure_sms(&m.body);
                        sms = Some(SmsSize {
                            segments: shape.segments,
                            encoding: shape.encoding,
                        });
                        // Recorded as a skip, never truncated: a cut message can say the
                        // wrong thing, and the marketer sees it in the report.
                        if step.max_segments.is_some_and(|max| shape.segments > max) {
                            d.outcome = Outcome::Skipped;
                            d.reason = Some(Reason::TooLong);
                            d.send_at = None;
                            None
                        } else {
                            Some(m)
                        }
                    }
                    Ok(m) => Some(m),
                    Err(e) => {
                        // Recorded, never dropped: the report and metrics show it, and the
                        // occurrence is not retried every tick with the same failure.
                        tracing::warn!(rule = %rule.id, customer = %facts.external_id, error = %e, "message template failed to render; recorded as skipped (template_error)");
                        out.render_errors += 1;
                        d.outcome = Outcome::Skipped;
                        d.reason = Some(Reason::TemplateError);
                        d.send_at = None;
                        None
                    }
                }
            } else {
                None
            };
            let message = message.filter(|_| keep_text);
            if d.outcome != Outcome::Send {
                offer = None;
            }
            if req.record && d.outcome != Outcome::Deferred {
                pending.push(NewDecision {
                    rule_id: rule.id.clone(),
                    customer_id: facts.id,
                    occurrence_key: step_key(&d.occurrence.key, d.step),
                    step: d.step,
                    offer,
                    decision: d.outcome,
                    reason: d.reason,
                    channel: d.channel,
                    send_at: d.send_at,
                    decided_at: req.at,
                    subject: message.as_ref().and_then(|m| m.subject.clone()),
                    body: message.as_ref().map(|m| m.source.clone()),
                    links: message
                        .as_ref()
                        .map(|m| serde_json::to_string(&m.links).expect("strings serialise")),
                    preheader: message.as_ref().and_then(|m| m.preheader.clone()),
                    button_text: message
                        .as_ref()
                        .and_then(|m| m.button.as_ref().map(|b| b.text.clone())),
                    button_url: message
                        .as_ref()
                        .and_then(|m| m.button.as_ref().map(|b| b.url.clone())),
                    language: message.as_ref().map(|m| m.text_language.clone()),
                });
                if tracking.is_some() {
                    recorded_now.push(PastDecision {
                        rule_id: rule.id.clone(),
                        key: step_key(&d.occurrence.key, d.step),
                        outcome: d.outcome,
                        decided_at: req.at,
                        step: d.step,
                        delivery: None,
                        redeemed_at: None,
                    });
                }
                if pending.len() >= DECISIONS_PER_WRITE {
                    out.recorded += store.record_decisions(&pending, now).await?;
                    pending.clear();
                }
            }
            out.decided += 1;
            out.sends += u64::from(d.outcome == Outcome::Send);
            sink(DecisionOut {
                rule: rule.id.clone(),
                customer: facts.external_id.clone(),
                decision: d.outcome,
                reason: d.reason,
                channel: d.channel,
                send_at: d.send_at.map(crate::domain::fmt_instant),
                occurrence: d.occurrence.key,
                step: d.step,
                message,
                sms,
                fell_back,
            })
            .map_err(EvalError::Output)?;
        }
        if let Some(t) = tracking.as_mut() {
            let decided = if recorded_now.is_empty() {
                decided
            } else {
                // The wake is worked out from what the next tick will see: these decisions in
                // the history. Deciding again at T with them shows whether anything follows at
                // once (a step due without delay): then the next tick must look again.
                past.extend(recorded_now);
                decided_of(&decide(&rules, &facts, &past, req.at, &policy, &cfg.health))
            };
            let wake_at = next_wake(
                &rules,
                &facts,
                &past,
                decided,
                next_event,
                req.at,
                &policy,
                &cfg.health,
            );
            t.wakes.push(CustomerWake {
                customer_id: facts.id,
                revision,
                wake_at,
            });
            if t.wakes.len() >= WAKES_PER_WRITE {
                // A stored wake counts on the decisions it was worked out with: those first.
                if !pending.is_empty() {
                    out.recorded += store.record_decisions(&pending, now).await?;
                    pending.clear();
                }
                t.flush(store).await?;
            }
        }
    }
    drop(stream);
    if !pending.is_empty() {
        out.recorded += store.record_decisions(&pending, now).await?;
    }
    if let Some(t) = tracking {
        t.finish(store, req.at).await?;
    }
    Ok(out)
}

/// What decisions made at T mean for the customer's wake.
fn decided_of(decisions: &[Decision]) -> Decided {
    if decisions.iter().any(|d| d.outcome != Outcome::Deferred) {
        Decided::Recorded
    } else if decisions.is_empty() {
        Decided::Nothing
    } else {
        Decided::Deferred
    }
}

/// What a recorded evaluation of everyone keeps for the next one (`store::wakes`).
struct Tracking {
    scope: i64,
    /// The book's counters read before anything else.
    book: crate::store::BookState,
    /// The customers to look at, when this evaluation is incremental.
    only: Option<Vec<i64>>,
    wakes: Vec<CustomerWake>,
    /// Some wake was stored.
    stored: bool,
}

impl Tracking {
    /// Reads the scope's last evaluation and decides who is looked at. Nothing is written
    /// until a customer's wake is: a stored wake is a claim about that customer alone (made
    /// after their decisions were stored), true whether or not the evaluation completes, so one
    /// that fails half-way leaves nothing to undo.
    async fn begin(
        store: &Store,
        rules: &[Rule],
        cfg: &Config,
        req: &Request<'_>,
    ) -> Result<Tracking, StoreError> {
        let scope = scope::fingerprint(rules, cfg);
        let book = store.book_state().await?;
        let last = store.scope_state(scope).await?;
        // On SQLite a scope evaluated before the change counter existed cannot say who changed.
        let resumable = last.filter(|s| {
            s.generation == book.generation
                && s.evaluated_at < req.at
                && (book.changes.is_none() || s.changes.is_some())
        });
        let mut only = None;
        if let Some(last) = resumable.filter(|_| req.incremental) {
            let ids = store.customers_to_wake(scope, req.at, last.changes).await?;
            only = (ids.len() <= MOST_CUSTOMERS_BY_ID).then_some(ids);
        }
        Ok(Tracking {
            scope,
            book,
            only,
            wakes: Vec::new(),
            stored: false,
        })
    }

    async fn flush(&mut self, store: &Store) -> Result<(), StoreError> {
        if !self.wakes.is_empty() {
            store.save_wakes(self.scope, &self.wakes).await?;
            self.wakes.clear();
            self.stored = true;
        }
        Ok(())
    }

    /// Stores the last wakes and the scope's instant. A tick that read nobody writes nothing:
    /// on SQLite every write is a turn other writers wait for.
    async fn finish(mut self, store: &Store, at: i64) -> Result<(), StoreError> {
        self.flush(store).await?;
        if !self.stored {
            return Ok(());
        }
        store
            .save_scope(
                self.scope,
                ScopeState {
                    evaluated_at: at,
                    generation: self.book.generation,
                    changes: self.book.changes,
                },
            )
            .await
    }
}

/// The limits that hold across all rules, from the configuration (the pipeline sees only these).
pub fn policy_of(cfg: &Config) -> Policy {
    Policy {
        max_messages: cfg.policy.max_messages,
        per: cfg.policy.per.as_secs() as i64,
        quiet_sms: cfg.quiet_hours.sms,
        quiet_email: cfg.quiet_hours.email,
    }
}

fn customer_facts(c: &CustomerRecord, default_zone: &jiff::tz::TimeZone) -> CustomerFacts {
    let zone = c
        .timezone
        .as_deref()
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or_else(|| default_zone.clone());
    let mut f = CustomerFacts::new(c.external_id.clone(), zone);
    f.id = c.id;
    f.name = c.name.clone();
    // A hard-bounced address is no way to reach anyone.
    f.email = c.email.clone().filter(|_| c.email_bounced_at.is_none());
    f.phone = c.phone.clone();
    f.birthday = c.birthday.as_deref().and_then(|b| Birthday::parse(b).ok());
    f.consent_email = c.consent_email;
    f.consent_sms = c.consent_sms;
    f.unsubscribed_email = c.unsubscribed_email_at.is_some();
    f.unsubscribed_sms = c.unsubscribed_sms_at.is_some();
    f.tags = serde_json::from_str(&c.tags).unwrap_or_default();
    f.language = c
        .language
        .as_deref()
        .and_then(|l| crate::domain::Language::parse(l).ok());
    f.attributes = serde_json::from_str(&c.attributes).unwrap_or_default();
    f
}

/// `offer.*` for a send of a rule with an `[offer]`: the series' code if it has one (and, when
/// that code's earlier message never went out, this send carries it now), else a new code to be
/// generated when the decision is recorded — until then its placeholder stands in the text.
fn offer_of(
    o: &Offer,
    rule: &Rule,
    d: &Decision,
    c: &CustomerFacts,
    known: &[KnownOffer],
    currency: &str,
) -> (serde_json::Value, Option<NewOffer>) {
    let (percent, amount) = match o.value {
        OfferValue::Percent(p) => (Some(p), None),
        OfferValue::Amount(a) => (None, Some(a)),
    };
    let existing = known
        .iter()
        .find(|k| k.rule_id == rule.id && k.series == d.occurrence.key);
    let (code, expires_at, new) = match existing {
        Some(k) if k.issued => (k.code.clone(), k.expires_at, None),
        Some(k) => (
            k.code.clone(),
            k.expires_at,
            Some(NewOffer::Carry { code: k.code.clone() }),
        ),
        None => {
            let sent = d.send_at.unwrap_or(d.occurrence.at);
            let expires_at = end_of_local_day(sent + o.valid, &c.zone);
            let placeholder = crate::domain::offer_code::placeholder(&o.prefix);
            let new = NewOffer::Fresh {
                placeholder: placeholder.clone(),
                prefix: o.prefix.clone(),
                series: d.occurrence.key.clone(),
                percent,
                amount,
                currency: amount.map(|_| currency.to_string()),
                expires_at,
            };
            (placeholder, expires_at, Some(new))
        }
    };
    // "10% off", not "10.0% off": a whole number prints as one.
    let number = |x: Option<f64>| match x {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => json!(v as i64),
        other => json!(other),
    };
    let vars = json!({
        "code": code,
        "percent": number(percent),
        "amount": number(amount),
        "expires_on": local_date(expires_at, &c.zone),
    });
    (vars, new)
}

/// The last second of the customer's calendar day that holds `at`: a code "valid until
/// 2026-12-21" is honoured all of that day where the customer lives.
fn end_of_local_day(at: i64, zone: &jiff::tz::TimeZone) -> i64 {
    let Ok(ts) = jiff::Timestamp::from_second(at) else {
        return at;
    };
    let next_day = ts
        .to_zoned(zone.clone())
        .date()
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(zone.clone()).ok());
    next_day.map_or(at, |z| z.timestamp().as_second() - 1)
}

/// `YYYY-MM-DD` in the customer's zone.
fn local_date(at: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_second(at)
        .map(|ts| ts.to_zoned(zone.clone()).date().to_string())
        .unwrap_or_default()
}

/// `history.*` of a customer at `at` (see `rules::history`).
pub fn history_vars(c: &CustomerFacts, cfg: &Config, at: i64) -> serde_json::Value {
    let h = crate::rules::history::history(c, &cfg.health, at, &cfg.history.favourite_properties);
    json!({
        "visits": h.visits,
        "last_visit_on": h.last_visit.map(|t| local_date(t, &c.zone)),
        "usual_weekday": h.usual_weekday.map(weekday_name),
        "usual_hour": h.usual_hour,
        "favourite": h.favourites,
        "total_spend": round_cents(h.total_spend),
        "average_spend": h.average_spend.map(round_cents),
    })
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A weekday as templates get it before any language is applied (`| weekday` translates it).
fn weekday_name(w: jiff::civil::Weekday) -> &'static str {
    match w {
        jiff::civil::Weekday::Monday => "Monday",
        jiff::civil::Weekday::Tuesday => "Tuesday",
        jiff::civil::Weekday::Wednesday => "Wednesday",
        jiff::civil::Weekday::Thursday => "Thursday",
        jiff::civil::Weekday::Friday => "Friday",
        jiff::civil::Weekday::Saturday => "Saturday",
        jiff::civil::Weekday::Sunday => "Sunday",
    }
}

/// `business.*`: who sends the messages, and the currency `| money` writes.
pub fn business_vars(cfg: &Config) -> serde_json::Value {
    json!({
        "name": cfg.business.name.as_deref().unwrap_or(""),
        "address": cfg.business.address.as_deref().unwrap_or(""),
        "currency": cfg.messages.currency,
    })
}

/// What a message's context has besides the customer, the trigger and the rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    pub offer: Option<&'a serde_json::Value>,
    pub history: Option<&'a serde_json::Value>,
    /// Converted once per evaluation: the same for every message.
    pub business: Option<&'a Value>,
}

/// Renders a decision's message with the context templates see.
#[allow(clippy::too_many_arguments)]
pub fn render(
    set: &RuleSet,
    rule: &Rule,
    c: &CustomerFacts,
    d: &Decision,
    extras: &Extras<'_>,
    default_charset: crate::domain::SmsCharset,
    default_language: &crate::domain::Language,
) -> Result<RenderedMessage, minijinja::Error> {
    let message = &rule.steps[usize::from(d.step) - 1].message;
    let template_id = step_template_id(&rule.id, d.step);
    // The customer's language chooses a translation; the untranslated text is the fallback.
    let reads = c.language.as_ref().unwrap_or(default_language);
    let translation = message.translation_for(reads);
    let name = |base: String, own: bool| match translation {
        Some(t) if own => crate::rules::translated_name(&base, &t.language),
        _ => base,
    };
    // Dates and numbers are written in the language of the text: the translation's, or the
    // untranslated text's (`[messages] default_language`).
    let language = translation.map_or(default_language.as_str(), |t| t.language.as_str());
    // Built as minijinja's own value, once per message: a message renders up to five
    // templates, and each render of a serde value walks the whole tree again (11 % of a
    // preview's samples).
    let json = |v: Option<&serde_json::Value>| v.map(|v| Value::from(Serde(v)));
    let ctx = context! {
        customer => context! {
            id => c.external_id.as_str(),
            name => c.name.as_deref().unwrap_or(""),
            first_name => c.first_name(),
            attributes => Value::from(Serde(&c.attributes)),
            tags => Value::from(Serde(&c.tags)),
            timezone => c.zone.iana_name().unwrap_or("UTC"),
        },
        language => language,
        business => extras.business.cloned(),
        health => c.health.as_ref().map(|h| context! { score => h.score, band => h.band.as_str() }),
        trigger => Value::from(Serde(&d.occurrence.vars)),
        rule => context! { id => rule.id.as_str(), name => rule.name.as_str() },
        offer => json(extras.offer),
        history => json(extras.history),
    };
    let subject = match &message.subject {
        // A header never carries a line break from customer data.
        Some(_) if d.channel == Some(Channel::Email) => Some(
            set.templates
                .render(
                    &name(
                        subject_name(&template_id),
                        translation.is_some_and(|t| t.has_subject),
                    ),
                    &ctx,
                )?
                .replace(['\r', '\n'], " "),
        ),
        _ => None,
    };
    // An email-first message's body is Markdown (data escaped in it); an SMS-first one's is
    // plain text. Each is turned into what its channel carries.
    let body_template = name(body_name(&template_id), true);
    let markdown = message.channel == Channel::Email;
    let (body, mut links) = match (d.channel, markdown) {
        (Some(Channel::Sms), true) => {
            let md = markdown::escape_data(&set.templates.render_with_marks(&body_template, &ctx)?);
            let no_links = |_: usize| None;
            let plain = markdown::to_text(
                &markdown::unmarked(&md),
                &markdown::Linker::new(&[], &no_links, ""),
            );
            (plain, markdown::tracked_urls(&md))
        }
        (Some(Channel::Sms), false) => set.templates.render_marked(&body_template, &ctx)?,
        (_, true) => {
            let md = markdown::escape_data(&set.templates.render_with_marks(&body_template, &ctx)?);
            let links = markdown::tracked_urls(&md);
            (markdown::unmarked(&md), links)
        }
        (_, false) => {
            let (plain, links) = set.templates.render_marked(&body_template, &ctx)?;
            (markdown::escape_all(&plain), links)
        }
    };
    let body = match d.channel {
        Some(Channel::Sms) => message.sms_charset.unwrap_or(default_charset).apply(body),
        _ => body,
    };
    let email = d.channel == Some(Channel::Email);
    let source = body;
    let body = if email {
        let direct = |_: usize| None;
        markdown::to_text(&source, &markdown::Linker::new(&links, &direct, ""))
    } else {
        source.clone()
    };
    let preheader = match &message.preheader {
        Some(_) if email => Some(
            set.templates
                .render(
                    &name(
                        preheader_name(&template_id),
                        translation.is_some_and(|t| t.has_preheader),
                    ),
                    &ctx,
                )?
                .replace(['\r', '\n'], " "),
        ),
        _ => None,
    };
    let button = match &message.button {
        Some(_) if email => {
            let text = set.templates.render(
                &name(
                    button_text_name(&template_id),
                    translation.is_some_and(|t| t.has_button_text),
                ),
                &ctx,
            )?;
            let url = set.templates.render(
                &name(
                    button_url_name(&template_id),
                    translation.is_some_and(|t| t.has_button_url),
                ),
                &ctx,
            )?;
            let url = url.trim().to_string();
            // `rules check` saw its scheme and host written out: tracked like a body link.
            if !url.chars().any(|c| c.is_control() || c.is_whitespace()) {
                links.push(url.clone());
            }
            Some(RenderedButton {
                text: text.replace(['\r', '\n'], " "),
                url,
            })
        }
        _ => None,
    };
    Ok(RenderedMessage {
        subject,
        body,
        source,
        links,
        language: translation.map(|t| t.language.as_str().to_string()),
        text_language: language.to_string(),
        preheader,
        button,
        fell_back: translation.is_none() && reads.primary() != default_language.primary(),
    })
}
