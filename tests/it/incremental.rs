//! Incremental ticks decide exactly what full evaluations decide. Two stores get the same
//! generated book and the same changes between ticks (new events, some dated in the future;
//! customers editing their details; messages going out, bouncing or staying queued); one is
//! evaluated incrementally at each tick, the other in full, and their recorded decisions must
//! match decision for decision, on every backend. Conversions too: one store marks them after
//! each tick looking only at the customers whose answer can have changed, the other looks at
//! every decision, and each decision's conversion instant must match (codes are redeemed
//! between ticks, some dated before the last tick or after this one). The example rules cover every trigger, a
//! series with an offer and goals, hold-outs, cooldowns and `once`; the configuration adds a
//! tight frequency cap (deferrals) and a rule gated on health bands.

use rekindle::config::Config;
use rekindle::conversions::{self, ConversionMark};
use rekindle::evaluate::{Request, evaluate_each};
use rekindle::rules::RuleSet;
use rekindle::store::{NewCustomer, NewEvent, Redemption, Store};

use crate::helpers::{Backend, Workspace, backends};
use crate::rules_support::ts;

/// A rule whose audience reads the health band: a customer drifting into "at risk" as the days
/// pass (no event needed) must be found by an incremental tick too.
const BAND_RULE: &str = r#"id = "drifting"
name = "Drifting"
[trigger]
type = "inactive"
days = 5
[audience]
bands = ["at_risk"]
[message]
channel = "email"
subject = "We miss you"
body = "It has been {{ trigger.days_inactive }} days, {{ customer.first_name }}."
"#;

/// A quick series on every booking: follow-ups a day and three days after the one before went
/// out, until a visit. Its steps wait on delivery, which the ticks leave unfinished for some.
const NUDGE_RULE: &str = r#"id = "nudges"
name = "Nudges"
[trigger]
type = "event"
event = "booking"
max_age = "20d"
[[steps]]
channel = "email"
fallback = "sms"
subject = "About your booking"
body = "See you soon, {{ customer.first_name }}."
[[steps]]
after = "1d"
channel = "sms"
fallback = "email"
subject = "Reminder"
body = "Still on for {{ trigger.event_at }}?"
[[steps]]
after = "3d"
channel = "email"
subject = "Last one"
body = "We kept your table."
[goal]
events = ["visit"]
within = "7d"
"#;

/// A small, deterministic generator (SplitMix64): a failing case is reproduced by its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const DAY: i64 = 86_400;
const KINDS: [&str; 4] = ["visit", "visit", "booking", "feedback"];
const ZONES: [&str; 3] = ["Europe/Budapest", "UTC", "America/New_York"];

fn customer(g: &mut Gen, i: usize) -> NewCustomer {
    let birthday = match g.below(4) {
        0 => None,
        1 => Some("2000-02-29".to_string()),
        _ => Some(format!(
            "19{:02}-{:02}-{:02}",
            50 + g.below(50),
            1 + g.below(12),
            1 + g.below(28)
        )),
    };
    NewCustomer {
        external_id: format!("c{i:03}"),
        name: Some(format!("Customer {i}")),
        email: g.chance(85).then(|| format!("c{i}@example.com")),
        phone: g.chance(60).then(|| format!("+3630{:07}", 1_000_000 + i)),
        birthday,
        timezone: Some(g.pick(&ZONES).to_string()),
        consent_email: g.chance(80),
        consent_sms: g.chance(60),
        language: None,
        attributes: "{}".into(),
        tags: "[]".into(),
    }
}

fn event(g: &mut Gen, n: &mut usize, customer_id: i64, around: i64, spread_days: i64) -> NewEvent {
    *n += 1;
    let kind = *g.pick(&KINDS);
    let offset = g.below((2 * spread_days * DAY) as u64) as i64 - spread_days * DAY;
    NewEvent {
        external_id: format!("e{n:05}"),
        customer_id,
        kind: kind.to_string(),
        occurred_at: around + offset,
        amount: (kind == "visit").then(|| (g.below(4000) as f64) / 100.0),
        score: (kind == "feedback").then(|| g.below(11) as f64),
        properties: "{}".into(),
    }
}

/// Every recorded decision, offer codes (random per store) masked, in a stable order.
async fn decisions(store: &Store) -> Vec<String> {
    const SQL: &str = "SELECT d.rule_id, d.customer_id, d.occurrence_key, d.step, d.decision, \
        COALESCE(d.reason, ''), COALESCE(d.channel, ''), COALESCE(d.send_at, -1), d.decided_at, \
        COALESCE(d.subject, ''), COALESCE(d.body, ''), COALESCE(o.code, ''), COALESCE(d.converted_at, -1) \
        FROM decisions d LEFT JOIN offers o ON o.decision_id = d.id \
        ORDER BY d.customer_id, d.rule_id, d.occurrence_key";
    type Row = (
        String,
        i64,
        String,
        i64,
        String,
        String,
        String,
        i64,
        i64,
        String,
        String,
        String,
        i64,
    );
    const CODES: &str = "SELECT code FROM offers";
    let (rows, codes): (Vec<Row>, Vec<String>) = match store {
        Store::Sqlite(p) => (
            sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
            sqlx::query_scalar(CODES).fetch_all(p).await.unwrap(),
        ),
        Store::Postgres(p) => (
            sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
            sqlx::query_scalar(CODES).fetch_all(p).await.unwrap(),
        ),
    };
    // A series' later steps carry the code of its first.
    let mask = |s: &str| {
        codes
            .iter()
            .fold(s.to_string(), |s, code| s.replace(code.as_str(), "<code>"))
    };
    rows.into_iter()
        .map(|(rule, c, key, step, d, reason, ch, send_at, at, subject, body, code, converted)| {
            format!(
                "{rule} c{c} {key} step{step} {d} {reason} {ch} send_at={send_at} at={at} {:?} {:?} offer={} converted={converted}",
                mask(&subject),
                mask(&body),
                !code.is_empty()
            )
        })
        .collect()
}

/// What delivery would have done by `at`, the same in both stores: most queued messages go
/// out, some bounce, a few stay queued for another tick.
async fn deliver(store: &Store, at: i64, tick: i64) {
    store.materialize_messages(at, None).await.unwrap();
    const BOUNCE: &str = "UPDATE messages SET status = 'bounced', updated_at = $1 \
        WHERE status = 'queued' AND (customer_id + $2) % 7 = 0";
    const SEND: &str = "UPDATE messages SET status = 'sent', sent_at = $1, updated_at = $1 \
        WHERE status = 'queued' AND (customer_id + $2) % 3 <> 0 AND scheduled_at <= $1";
    for sql in [BOUNCE, SEND] {
        match store {
            Store::Sqlite(p) => {
                sqlx::query(sql).bind(at).bind(tick).execute(p).await.unwrap();
            }
            Store::Postgres(p) => {
                sqlx::query(sql).bind(at).bind(tick).execute(p).await.unwrap();
            }
        }
    }
}

/// Redeems the issued, unredeemed code at `pick` (modulo their number) in a stable order, the
/// same one in both stores (their codes differ).
async fn redeem(store: &Store, pick: u64, at: i64) {
    const SQL: &str = "SELECT o.code FROM offers o JOIN messages m ON m.decision_id = o.decision_id \
        WHERE m.sent_at IS NOT NULL AND o.redeemed_at IS NULL ORDER BY o.customer_id, o.rule_id, o.occurrence_key";
    let codes: Vec<String> = match store {
        Store::Sqlite(p) => sqlx::query_scalar(SQL).fetch_all(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(SQL).fetch_all(p).await.unwrap(),
    };
    if codes.is_empty() {
        return;
    }
    let code = &codes[(pick % codes.len() as u64) as usize];
    let done = store
        .redeem_offer(code, at, None, Some(12.5), true)
        .await
        .unwrap();
    assert!(matches!(done, Redemption::Redeemed(_)), "{code}: {done:?}");
}

struct Side {
    _ws: Workspace,
    store: Store,
    incremental: bool,
    /// Customers looked at over all ticks.
    looked_at: u64,
    /// Where the last conversion pass left off (the incremental side).
    conversions: Option<ConversionMark>,
    /// Conversion passes that looked at some customers only.
    narrow_passes: u64,
}

async fn side(backend: Backend, incremental: bool) -> Side {
    let ws = Workspace::new(backend);
    // As the service opens it: evaluation reads three streams while it writes.
    let db = rekindle::config::DatabaseConfig {
        url: ws.db_url.clone(),
        max_connections: 4,
    };
    let store = Store::open(&db).await.unwrap();
    Side {
        _ws: ws,
        store,
        incremental,
        looked_at: 0,
        conversions: None,
        narrow_passes: 0,
    }
}

fn config_and_rules() -> (Config, RuleSet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for entry in std::fs::read_dir("rules").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            // Every example rule runs, the one shipped disabled too.
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("enabled = false", "");
            std::fs::write(rules.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    std::fs::write(rules.join("drifting.toml"), BAND_RULE).unwrap();
    std::fs::write(rules.join("nudges.toml"), NUDGE_RULE).unwrap();
    let path = dir.path().join("rekindle.toml");
    let text = "default_timezone = \"Europe/Budapest\"\n[policy]\nmax_messages = 2\nper = \"5d\"\n";
    let mut cfg = Config::parse(text, &path).unwrap_or_else(|e| panic!("{e}"));
    cfg.rules_dir = rules.clone();
    let set = RuleSet::load(&rules, &cfg.history.favourite_properties).unwrap_or_else(|e| panic!("{e:?}"));
    (cfg, set, dir)
}

async fn run_case(backend: Backend, seed: u64) {
    let (cfg, set, _dir) = config_and_rules();
    let mut g = Gen(seed);
    let mut sides = [side(backend, true).await, side(backend, false).await];
    let start = ts("2026-03-02T09:00:00Z");

    let customers: Vec<NewCustomer> = (0..12 + g.below(14) as usize)
        .map(|i| customer(&mut g, i))
        .collect();
    let mut n_events = 0;
    let mut events = Vec::new();
    for id in 1..=customers.len() as i64 {
        for _ in 0..g.below(16) {
            // A year of history, and a few bookings dated after the first tick.
            events.push(event(&mut g, &mut n_events, id, start - 150 * DAY, 160));
        }
    }
    for s in &sides {
        s.store.upsert_customers(&customers, start).await.unwrap();
        s.store.upsert_events(&events, start).await.unwrap();
    }

    let gaps = [3600, 6 * 3600, DAY, DAY + 7 * 3600, 3 * DAY, 9 * DAY, 31 * DAY];
    let mut at = start;
    let mut customers = customers;
    let initial = customers.len();
    for tick in 0..(10 + g.below(6) as i64) {
        at += *g.pick(&gaps);
        // What happens between ticks, the same in both stores.
        let mut news = Vec::new();
        for _ in 0..g.below(4) {
            // The first customers' ids are 1..=initial on both backends (later ones are the
            // store's to number: PostgreSQL's sequence skips on an upsert).
            let id = 1 + g.below(initial as u64) as i64;
            news.push(event(&mut g, &mut n_events, id, at, 4));
        }
        let mut edited = Vec::new();
        // A new customer with up to two events, never looked at before (their id is the
        // store's: filled in below).
        let mut newcomer = None;
        let mut newcomer_events = Vec::new();
        if g.chance(25) {
            let i = customers.len();
            let mut c = customer(&mut g, i);
            // Often their birthday today: a customer with no events yet is decided for too.
            if g.chance(50) {
                let today = jiff::Timestamp::from_second(at)
                    .unwrap()
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date();
                c.birthday = Some(format!("1990-{:02}-{:02}", today.month(), today.day()));
            }
            customers.push(c);
            edited.push(customers[i].clone());
            newcomer = Some(customers[i].external_id.clone());
            for _ in 0..g.below(3) {
                newcomer_events.push(event(&mut g, &mut n_events, 0, at - 40 * DAY, 45));
            }
        }
        if g.chance(40) {
            let i = g.below(customers.len() as u64) as usize;
            let c = &mut customers[i];
            match g.below(3) {
                0 => c.consent_email = !c.consent_email,
                1 => c.consent_sms = !c.consent_sms,
                _ => c.email = c.email.is_none().then(|| format!("new{i}@example.com")),
            }
            edited.push(c.clone());
        }
        // A code redeemed at the till: now, days ago (entered late), or booked for later.
        let redemption = g.chance(50).then(|| {
            let dated = at + *g.pick(&[0, -3 * DAY, -DAY / 2, 2 * DAY]);
            (g.next(), dated)
        });
        for s in &mut sides {
            // Customers first: a new customer's events name them.
            if !edited.is_empty() {
                s.store.upsert_customers(&edited, at).await.unwrap();
            }
            let mut news = news.clone();
            if let Some(external) = &newcomer {
                let ids = s.store.customer_ids_for(&[external.as_str()]).await.unwrap();
                news.extend(newcomer_events.iter().map(|e| NewEvent {
                    customer_id: ids[external],
                    ..e.clone()
                }));
            }
            if !news.is_empty() {
                s.store.upsert_events(&news, at).await.unwrap();
            }
            let req = Request {
                at,
                only: &[],
                record: true,
                samples_per_rule: 0,
                imagined: None,
                customer: None,
                incremental: s.incremental,
            };
            let e = evaluate_each(&s.store, &cfg, &set, &req, &mut |_| Ok(()))
                .await
                .unwrap();
            s.looked_at += e.customers;
            deliver(&s.store, at, tick).await;
            if let Some((pick, dated)) = redemption {
                redeem(&s.store, pick, dated).await;
            }
            if s.incremental {
                let (pass, mark) = conversions::mark_since(&s.store, &set, at, s.conversions.as_ref())
                    .await
                    .unwrap();
                s.conversions = Some(mark);
                s.narrow_passes += u64::from(pass.customers.is_some_and(|n| n < customers.len()));
            } else {
                conversions::mark_all(&s.store, &set, at).await.unwrap();
            }
        }
        let [inc, full] = &sides;
        let (a, b) = (decisions(&inc.store).await, decisions(&full.store).await);
        if a != b {
            let only_inc: Vec<_> = a.iter().filter(|d| !b.contains(d)).collect();
            let only_full: Vec<_> = b.iter().filter(|d| !a.contains(d)).collect();
            panic!(
                "{backend:?} seed {seed}, tick {tick} at {}: incremental and full evaluation disagree\n\
                 only incremental: {only_inc:#?}\nonly full: {only_full:#?}",
                rekindle::domain::fmt_instant(at)
            );
        }
    }
    let [inc, full] = &sides;
    let recorded = decisions(&full.store).await;
    assert!(
        recorded.iter().any(|d| !d.ends_with("converted=-1")),
        "seed {seed}: no decision converted; the conversion passes were not compared"
    );
    assert!(
        inc.narrow_passes > 0,
        "seed {seed}: every conversion pass looked at every customer"
    );
    assert!(
        !recorded.is_empty(),
        "seed {seed}: the generated book made no decision at all; the comparison proves nothing"
    );
    assert!(
        inc.looked_at < full.looked_at,
        "seed {seed}: the incremental ticks looked at {} customers, as many as the full ones ({})",
        inc.looked_at,
        full.looked_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_ticks_record_the_same_decisions_as_full_evaluations() {
    let cases: u64 = std::env::var("INCREMENTAL_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(6);
    for backend in backends() {
        for seed in 0..cases {
            run_case(backend, 0x5eed_0000 + seed).await;
        }
    }
}

/// Customers `c0000`… with one visit each on 2026-05-01: a 30-day win-back finds them all
/// lapsed from 2026-05-31 10:00.
fn one_visit_each(ws: &Workspace, n: usize, file: &str, first_event: usize) {
    let mut customers = String::from(crate::helpers::CUSTOMERS_HEADER);
    let mut events = String::from(crate::helpers::EVENTS_HEADER);
    for i in 0..n {
        customers.push_str(&format!("\nc{i:04},C{i},c{i}@example.com,,,UTC,yes,,"));
        events.push_str(&format!(
            "\ne{:05},c{i:04},visit,2026-05-01T10:00:00Z,,",
            first_event + i
        ));
    }
    customers.push('\n');
    ws.write("customers.csv", &customers);
    ws.write(file, &events);
    assert_eq!(ws.rekindle(&["import", "customers", "customers.csv"]).code, 0);
    assert_eq!(ws.rekindle(&["import", "events", file]).code, 0);
}

fn evaluate(ws: &Workspace, at: &str, extra: &[&str]) -> String {
    let r = ws.rekindle(&[&["evaluate", "--at", at], extra].concat());
    assert_eq!(r.code, 0, "{:?}: {r:?}", ws.backend);
    r.stdout
}

#[test]
fn evaluate_looks_only_at_who_changed_or_is_due_and_in_full_after_a_bulk_import() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        ws.write(
            "rules/win-back.toml",
            "id = \"win-back\"\nname = \"W\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
             [message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
        );
        // More customers in one import batch than are marked one by one.
        one_visit_each(&ws, 2_100, "events.csv", 0);
        let first = evaluate(&ws, "2026-05-10T09:00:00Z", &[]);
        assert!(first.contains("over 2100 customers at"), "{backend:?}: {first}");
        // Nobody changed and nobody is due: nobody is read.
        let quiet = evaluate(&ws, "2026-05-11T09:00:00Z", &[]);
        assert!(
            quiet.contains("over 0 customers (changed or due since the last evaluation)"),
            "{backend:?}: {quiet}"
        );
        // Everyone's 30 days are up: all of them are due, and all are decided.
        let due = evaluate(&ws, "2026-06-01T09:00:00Z", &[]);
        assert!(
            due.contains("over 2100 customers (changed or due") && due.contains("2100 newly recorded"),
            "{backend:?}: {due}"
        );
        // Their wakes were worked out with those decisions in their history: nobody is due.
        assert!(evaluate(&ws, "2026-06-01T10:00:00Z", &[]).contains("over 0 customers (changed"));
        // One new visit: one customer changed.
        ws.write(
            "one.csv",
            &format!(
                "{}\nlate,c0007,visit,2026-06-01T11:30:00Z,,\n",
                crate::helpers::EVENTS_HEADER
            ),
        );
        assert_eq!(ws.rekindle(&["import", "events", "one.csv"]).code, 0);
        let one = evaluate(&ws, "2026-06-01T12:00:00Z", &[]);
        assert!(one.contains("over 1 customers (changed"), "{backend:?}: {one}");
        // A bulk import is not marked customer by customer: the next evaluation is a full one.
        one_visit_each(&ws, 2_100, "more.csv", 10_000);
        let after_bulk = evaluate(&ws, "2026-06-01T13:00:00Z", &[]);
        assert!(
            after_bulk.contains("over 2100 customers at"),
            "{backend:?}: {after_bulk}"
        );
        // `--full` looks at everyone whatever happened.
        let full = evaluate(&ws, "2026-06-01T14:00:00Z", &["--full"]);
        assert!(full.contains("over 2100 customers at"), "{backend:?}: {full}");
        assert!(evaluate(&ws, "2026-06-01T15:00:00Z", &[]).contains("over 0 customers (changed"));
    }
}

/// Every message in the ledger as delivery left it, offer codes aside.
async fn messages(store: &Store) -> Vec<String> {
    const SQL: &str = "SELECT customer_id, rule_id, channel, status, scheduled_at, COALESCE(sent_at, -1) \
        FROM messages ORDER BY customer_id, rule_id, scheduled_at, channel";
    type Row = (i64, String, String, String, i64, i64);
    let rows: Vec<Row> = match store {
        Store::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
    };
    rows.iter().map(|r| format!("{r:?}")).collect()
}

#[tokio::test]
async fn a_replay_of_run_once_with_and_without_full_records_and_delivers_the_same() {
    for backend in backends() {
        let mut g = Gen(0x0ace);
        let (_, _, rules) = config_and_rules();
        let mut customers = String::from(crate::helpers::CUSTOMERS_HEADER);
        let mut events = String::from(crate::helpers::EVENTS_HEADER);
        let start = ts("2026-06-01T07:00:00Z");
        let mut n = 0;
        for i in 0..40 {
            let c = customer(&mut g, i);
            customers.push_str(&format!(
                "\n{},{},{},{},{},{},{},{},",
                c.external_id,
                c.name.unwrap(),
                c.email.unwrap_or_default(),
                c.phone.unwrap_or_default(),
                c.birthday.unwrap_or_default(),
                c.timezone.unwrap(),
                if c.consent_email { "yes" } else { "" },
                if c.consent_sms { "yes" } else { "" },
            ));
            for _ in 0..g.below(14) {
                let e = event(&mut g, &mut n, 0, start - 100 * DAY, 110);
                let at = rekindle::domain::fmt_instant(e.occurred_at);
                let (amount, score) = (e.amount.map(|a| a.to_string()), e.score.map(|s| s.to_string()));
                events.push_str(&format!(
                    "\n{},{},{},{at},{},{}",
                    e.external_id,
                    c.external_id,
                    e.kind,
                    amount.unwrap_or_default(),
                    score.unwrap_or_default()
                ));
            }
        }
        customers.push('\n');
        events.push('\n');
        let sides: Vec<Workspace> = (0..2)
            .map(|_| {
                let ws = Workspace::with_config(backend, "default_timezone = \"Europe/Budapest\"");
                for entry in std::fs::read_dir(rules.path().join("rules")).unwrap() {
                    let path = entry.unwrap().path();
                    let text = std::fs::read_to_string(&path).unwrap();
                    ws.write(
                        &format!("rules/{}", path.file_name().unwrap().to_str().unwrap()),
                        &text,
                    );
                }
                crate::helpers::load(&ws, &customers, &events);
                ws
            })
            .collect();
        let mut at = start;
        for day in 0..12 {
            for hours in [0, 2, 5] {
                let when = rekindle::domain::fmt_instant(at + hours * 3600);
                for (ws, full) in sides.iter().zip([false, true]) {
                    let args = [
                        &["run", "--once", "--at", when.as_str()][..],
                        if full { &["--full"] } else { &[] },
                    ];
                    let r = ws.rekindle(&args.concat());
                    assert_eq!(r.code, 0, "{backend:?}: {r:?}");
                }
            }
            if day == 4 {
                // A visit arrives between ticks, in both.
                let visit = format!(
                    "{}\nnew,c003,visit,{},,\n",
                    crate::helpers::EVENTS_HEADER,
                    rekindle::domain::fmt_instant(at + 6 * 3600)
                );
                for ws in &sides {
                    ws.write("new.csv", &visit);
                    assert_eq!(ws.rekindle(&["import", "events", "new.csv"]).code, 0);
                }
            }
            at += DAY;
        }
        let (inc, full) = (sides[0].store().await, sides[1].store().await);
        let (a, b) = (decisions(&inc).await, decisions(&full).await);
        assert!(!b.is_empty(), "{backend:?}: the replay decided nothing");
        assert_eq!(a, b, "{backend:?}: the recorded decisions differ");
        let (a, b) = (messages(&inc).await, messages(&full).await);
        assert!(
            b.iter().any(|m| m.contains("\"sent\"")),
            "{backend:?}: nothing was delivered: {b:?}"
        );
        assert_eq!(a, b, "{backend:?}: the delivered messages differ");
    }
}
