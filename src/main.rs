//! The `rekindle` command line: argument parsing only; every command calls into the library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cli::when::{When, parse_when};
use indicatif::{ProgressBar, ProgressStyle};
use rekindle::config::Config;
use rekindle::domain::MessageStatus;
use rekindle::store::Store;

/// Exit code when an import finished but rejected some rows (fatal errors exit 1, usage 2).
pub(crate) const EXIT_ROWS_REJECTED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "rekindle",
    version,
    about = "Keeps a small business's customers from drifting away"
)]
struct Cli {
    /// Configuration file [default: ./rekindle.toml, built-in defaults if missing]
    #[arg(long, global = true, env = "REKINDLE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo café (a year of generated history), replay its last four weeks into the outboxes, print the report
    Demo {
        /// Where to build it
        #[arg(long, default_value = "rekindle-demo")]
        dir: PathBuf,
    },
    /// Write a generated book of business (customers.csv, events.csv) for benchmarks and trials
    #[command(hide = true)]
    Generate {
        /// How many customers
        #[arg(long, default_value_t = 1000)]
        customers: usize,
        /// Seed of the generator (the same seed gives the same book)
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// History ends at this instant (RFC 3339) [default: now]
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
        /// Directory to write the two files into
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Create or upgrade the database schema (every command does this on its own too)
    Migrate,
    /// Load customers or events from a CSV file (re-importing the same file changes nothing)
    #[command(subcommand)]
    Import(ImportCommand),
    /// Look at customers
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Health scores
    #[command(subcommand)]
    Health(HealthCommand),
    /// Check and preview trigger rules
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Evaluate every enabled rule, deliver every message due, and exit
    Run {
        /// Run one round and exit (the long-running service is `serve`)
        #[arg(long)]
        once: bool,
        /// Act as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
    },
    /// What each rule achieved: decisions, deliveries, conversions against the held-out group
    Report {
        /// Only decisions made at or after this instant (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        since: Option<When>,
        /// Count conversions up to this instant [default: now]
        #[arg(long, value_parser = parse_when)]
        until: Option<When>,
        /// Only this rule
        #[arg(long)]
        rule: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run the service: rules on their schedules, delivery workers, the HTTP API (until SIGTERM)
    Serve,
    /// Evaluate every enabled rule at an instant and record the decisions
    Evaluate {
        /// Evaluate as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
    },
    /// Look at messages and requeue failed ones
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// Write data out of the store
    #[command(subcommand)]
    Export(ExportCommand),
    /// Operations on the store as a whole
    #[command(subcommand)]
    Store(StoreCommand),
    /// Apply an unsubscribe request that reached the `unsubscribe_mailto` mailbox
    Unsubscribe {
        /// The token from the request's subject line (`unsubscribe-…`; the whole subject works too)
        #[arg(long)]
        token: String,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The opt-out list (channel,address,sha256,reason,since): every unsubscribe and bounce, erased customers as hashes
    Suppressions {
        /// The CSV file to write (`-` for standard output)
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy everything (customers, events, decisions, messages, suppressions, snapshots) into another database
    Copy {
        /// The target database URL (postgres://… or sqlite://…); created and migrated if needed
        #[arg(long)]
        to: String,
        /// Replace what the target holds (without it a non-empty target is refused)
        #[arg(long)]
        force: bool,
    },
}

/// A message status as typed on the command line.
fn parse_status(s: &str) -> Result<MessageStatus, String> {
    MessageStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = MessageStatus::ALL.iter().map(|m| m.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

#[derive(clap::Args)]
struct MessageSelection {
    /// Only messages in this status (queued, sending, sent, delivered, bounced, failed, skipped, expired)
    #[arg(long, value_parser = parse_status)]
    status: Option<MessageStatus>,
    /// Only messages of this rule
    #[arg(long)]
    rule: Option<String>,
    /// Only messages to this customer (their id as imported)
    #[arg(long)]
    customer: Option<String>,
    /// Only messages that changed at or after this instant (a date = midnight in default_timezone, or RFC 3339)
    #[arg(long, value_parser = parse_when)]
    since: Option<When>,
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// Messages with their status, attempts, next attempt and last error, newest first
    List {
        #[command(flatten)]
        select: MessageSelection,
        /// At most this many
        #[arg(long, default_value_t = cli::messages::DEFAULT_LIMIT)]
        limit: i64,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Put failed or expired messages back in the queue (the same message, sent at the next run)
    Retry {
        /// Message ids (from `messages list`); or choose them with --status/--rule/--customer/--since
        ids: Vec<i64>,
        #[command(flatten)]
        select: MessageSelection,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate every rule file; prints FILE:LINE:COL: message per problem, exit 1 if any
    Check {
        /// Rules directory [default: rules_dir from the configuration]
        dir: Option<PathBuf>,
    },
    /// Show the decisions an evaluation would make, without recording anything
    Preview {
        /// Only these rules (disabled ones too); default: every enabled rule
        rule_ids: Vec<String>,
        /// Preview as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// customers.csv: id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,…
    Customers {
        /// The CSV file
        file: PathBuf,
    },
    /// events.csv: id,customer_id,kind,occurred_at,amount,score,…
    Events {
        /// The CSV file
        file: PathBuf,
    },
    /// An opt-out list (channel,address or sha256,reason,since): those on it are never contacted on that channel
    Suppressions {
        /// The CSV file
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// A customer with their health score and every component behind it
    Show {
        /// The customer's id (as in the imported file)
        id: String,
        /// Evaluate as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Store a health snapshot for every customer as of an instant
    Recompute {
        /// Score as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
    },
}

fn parse_instant(s: &str) -> Result<i64, String> {
    rekindle::domain::parse_rfc3339(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service reports what it does at info; one-shot commands only warn.
    let default_level = if matches!(cli.command, Command::Serve) {
        "info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_sqlite=warn,apalis_postgres=warn"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // `… | head` closed the pipe: the reader has what it wanted.
        Err(e) if cli::output::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::output::describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into the journal or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Sample messages a text preview renders per rule.
const PREVIEW_SAMPLES: usize = 3;

/// Loads the rule set, printing every problem as FILE:LINE:COL: message.
fn load_rules(dir: &std::path::Path) -> anyhow::Result<rekindle::rules::RuleSet> {
    rekindle::rules::RuleSet::load(dir).map_err(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        anyhow::anyhow!(
            "{} problem(s) in the rules in {}; nothing was evaluated",
            problems.len(),
            dir.display()
        )
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Demo { dir } => return demo(dir).await,
        Command::Generate {
            customers,
            seed,
            until,
            out,
        } => {
            let spec = rekindle::demo::BookSpec {
                seed: *seed,
                customers: *customers,
                until: until.unwrap_or_else(now),
            };
            std::fs::create_dir_all(out)?;
            let file = |name: &str| -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
                let path = out.join(name);
                Ok(std::io::BufWriter::new(
                    std::fs::File::create(&path).with_context(|| path.display().to_string())?,
                ))
            };
            let (c, e) = rekindle::demo::write_book(&spec, file("customers.csv")?, file("events.csv")?)?;
            out!("wrote {c} customers and {e} events to {}", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    let zone = config.default_timezone.tz().clone();
    let resolve =
        |w: Option<When>| -> anyhow::Result<i64> { w.map_or_else(|| Ok(now()), |w| w.resolve(&zone)) };
    if let Command::Rules(RulesCommand::Check { dir }) = &cli.command {
        let dir = dir.clone().unwrap_or_else(|| config.rules_dir.clone());
        return Ok(match rekindle::rules::RuleSet::load(&dir) {
            Ok(set) => {
                let enabled = set.rules.iter().filter(|r| r.enabled).count();
                out!(
                    "{}: {} rules OK ({enabled} enabled)",
                    dir.display(),
                    set.rules.len()
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in &problems {
                    out!("{p}");
                }
                eprintln!("{} problem(s); a rule with a problem never runs", problems.len());
                ExitCode::FAILURE
            }
        });
    }
    // Sending email without a way to unsubscribe is refused before anything else happens.
    if matches!(cli.command, Command::Serve | Command::Run { .. }) {
        rekindle::delivery::email::Unsubscribe::from_config(
            &config.email,
            &config.secrets,
            config.public_url.as_deref(),
        )?;
    }
    // Commands that only read never create a database; the others create or upgrade it.
    let read_only = matches!(
        cli.command,
        Command::Report { .. }
            | Command::Customers(_)
            | Command::Rules(RulesCommand::Preview { .. })
            | Command::Messages(MessagesCommand::List { .. })
    );
    // A rule problem is said before anything touches the store.
    let mut rules = match cli.command {
        Command::Rules(RulesCommand::Preview { .. }) | Command::Evaluate { .. } | Command::Run { .. } => {
            Some(load_rules(&config.rules_dir)?)
        }
        _ => None,
    };
    let mut rules = move || rules.take().expect("loaded above for this command");
    let store = if read_only {
        Store::open_existing(&config.database).await?
    } else {
        Store::open(&config.database).await.context("opening the store")?
    };
    let code = match cli.command {
        Command::Rules(RulesCommand::Preview { rule_ids, at, format }) => {
            let set = rules();
            let at = resolve(at)?;
            let samples = if format == Format::Text {
                PREVIEW_SAMPLES
            } else {
                0
            };
            let req = rekindle::evaluate::Request {
                at,
                only: &rule_ids,
                record: false,
                samples_per_rule: samples,
            };
            let e = rekindle::evaluate::evaluate(&store, &config, &set, &req).await?;
            match format {
                Format::Json => {
                    for d in &e.decisions {
                        out!("{}", serde_json::to_string(d)?);
                    }
                }
                Format::Text => {
                    let order: Vec<String> = set.selected(&rule_ids).map(|r| r.id.clone()).collect();
                    cli::output::text(&rekindle::preview::render_text(&e, at, &order, samples))?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Serve => {
            let metrics = rekindle::metrics::install().context("installing the metrics recorder")?;
            rekindle::serve::serve(store.clone(), config.clone(), Some(metrics)).await?;
            ExitCode::SUCCESS
        }
        Command::Run { once, at } => {
            if !once {
                bail!("`run` needs --once; the long-running service is `rekindle serve`");
            }
            let set = rules();
            let at = at.map(|w| w.resolve(&zone)).transpose()?;
            let started = at.unwrap_or_else(now);
            let s = rekindle::run_once::run_once(&store, &config, &set, at).await?;
            let t = s.attempts;
            out!(
                "decisions: {} ({} newly recorded); messages queued: {}; sent {}, retry later {}, failed {}, bounced {}, skipped {}, expired {}; waiting for later: {}",
                s.evaluation.decisions.len(),
                s.evaluation.recorded,
                s.messages_created,
                t.sent,
                t.retry,
                t.failed,
                t.bounced,
                t.skipped,
                t.expired,
                s.waiting
            );
            if s.evaluation.render_errors > 0 {
                out!(
                    "templates failed to render for {} decision(s): recorded as skipped (template_error); see `rekindle report`",
                    s.evaluation.render_errors
                );
            }
            for line in rekindle::delivery::summary::failure_lines(&store.failure_counts(started).await?) {
                out!("  {line}");
            }
            out!("{}", delivered_where(&config));
            ExitCode::SUCCESS
        }
        Command::Report {
            since,
            until,
            rule,
            format,
        } => {
            let since = since.map(|w| w.resolve(&zone)).transpose()?;
            let until = resolve(until)?;
            // The report reads what is recorded: a broken rule file must not hide it. Without a
            // valid set, conversions are shown as last marked and the problems are named.
            let set = match rekindle::rules::RuleSet::load(&config.rules_dir) {
                Ok(set) => Some(set),
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    eprintln!(
                        "warning: {} problem(s) in the rules in {}; the report shows what is recorded, with conversions as last counted",
                        problems.len(),
                        config.rules_dir.display()
                    );
                    None
                }
            };
            let reports = rekindle::outcomes::rule_reports(
                &store,
                set.as_ref(),
                since.unwrap_or(i64::MIN),
                until,
                rule.as_deref(),
            )
            .await?;
            if let Some(id) = &rule
                && reports.is_empty()
            {
                bail!("no rule {id:?} in the rules directory or the history");
            }
            match format {
                Format::Json => out!("{}", serde_json::to_string_pretty(&reports)?),
                Format::Text => cli::output::text(&rekindle::report::render_text(
                    &reports,
                    since.map(rekindle::domain::fmt_instant).as_deref(),
                ))?,
            }
            ExitCode::SUCCESS
        }
        Command::Evaluate { at } => {
            let set = rules();
            let at = resolve(at)?;
            let req = rekindle::evaluate::Request {
                at,
                only: &[],
                record: true,
                samples_per_rule: 0,
            };
            let e = rekindle::evaluate::evaluate(&store, &config, &set, &req).await?;
            let sends = e
                .decisions
                .iter()
                .filter(|d| d.decision == rekindle::rules::pipeline::Outcome::Send)
                .count();
            out!(
                "evaluated {} rules over {} customers at {}: {} decisions ({} sends), {} newly recorded",
                set.rules.iter().filter(|r| r.enabled).count(),
                e.customers,
                rekindle::domain::fmt_instant(at),
                e.decisions.len(),
                sends,
                e.recorded
            );
            if e.render_errors > 0 {
                eprintln!(
                    "{} messages failed to render: recorded as skipped with reason template_error (see `rekindle report`)",
                    e.render_errors
                );
            }
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Check { .. }) | Command::Demo { .. } | Command::Generate { .. } => {
            unreachable!("handled before the configuration is loaded")
        }
        Command::Migrate => {
            out!("database schema is up to date ({})", store.backend());
            ExitCode::SUCCESS
        }
        Command::Import(what) => import(&store, what).await?,
        Command::Export(ExportCommand::Suppressions { file }) => {
            cli::suppressions::export(&store, &file).await?;
            ExitCode::SUCCESS
        }
        Command::Store(StoreCommand::Copy { to, force }) => {
            cli::store_copy::copy(&store, &config.database, &to, force).await?;
            ExitCode::SUCCESS
        }
        Command::Customers(CustomersCommand::Show { id, at, format }) => {
            let at = resolve(at)?;
            let Some(profile) = rekindle::profile::load(&store, &config.health, &id, at).await? else {
                bail!("no customer with id {id:?}");
            };
            let history = store
                .customer_history(profile.customer.id, CUSTOMER_HISTORY)
                .await?;
            match format {
                Format::Json => {
                    let mut json = serde_json::to_value(profile.json())?;
                    json["history"] = serde_json::to_value(&history)?;
                    out!("{}", serde_json::to_string(&json)?);
                }
                Format::Text => {
                    cli::output::text(&profile.render_text(&config.health, config.default_timezone.name()))?;
                    cli::output::text(&rekindle::profile::render_history(&history))?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Health(HealthCommand::Recompute { at }) => {
            let at = resolve(at)?;
            let r = rekindle::recompute::recompute_health(&store, &config.health, at).await?;
            out!(
                "health as of {}: {} customers — {} healthy, {} at risk, {} critical",
                rekindle::domain::fmt_instant(at),
                r.customers,
                r.healthy,
                r.at_risk,
                r.critical
            );
            ExitCode::SUCCESS
        }
        Command::Messages(MessagesCommand::List {
            select,
            limit,
            format,
        }) => {
            let filter = message_filter(&select, limit, &resolve)?;
            let rows = store.list_messages(&filter).await?;
            cli::messages::print_list(&rows, format == Format::Json)?;
            ExitCode::SUCCESS
        }
        Command::Messages(MessagesCommand::Retry { ids, select }) => {
            if ids.is_empty() && select.status.is_none() && select.rule.is_none() && select.customer.is_none()
            {
                bail!(
                    "name message ids, or choose them with --status failed (and --rule, --customer, --since)"
                );
            }
            let filter = message_filter(&select, i64::MAX, &resolve)?;
            cli::messages::retry(&store, &ids, &filter, now()).await?;
            ExitCode::SUCCESS
        }
        Command::Unsubscribe { token } => {
            cli::unsubscribe::apply(&store, &config.secrets, &token, now()).await?;
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}

/// Decisions and messages `customers show` lists.
const CUSTOMER_HISTORY: i64 = 20;

fn message_filter(
    select: &MessageSelection,
    limit: i64,
    resolve: &impl Fn(Option<When>) -> anyhow::Result<i64>,
) -> anyhow::Result<rekindle::store::MessageFilter> {
    Ok(rekindle::store::MessageFilter {
        status: select.status,
        rule: select.rule.clone(),
        customer: select.customer.clone(),
        since: select.since.map(|w| resolve(Some(w))).transpose()?,
        limit,
    })
}

/// Where this run's messages went, as configured: an outbox on disk or a real provider.
fn delivered_where(config: &Config) -> String {
    use rekindle::config::{EmailTransportKind, SmsProviderKind};
    let email = match config.email.transport {
        EmailTransportKind::Outbox => format!(
            "email: written to the outbox {}",
            config.email.outbox_dir.display()
        ),
        EmailTransportKind::Smtp => format!(
            "email: sent over SMTP to {}:{}",
            config.email.smtp.host, config.email.smtp.port
        ),
    };
    let sms = match config.sms.provider {
        SmsProviderKind::Outbox => format!(
            "sms:   written to the outbox {}",
            config.sms.outbox_dir.join("sms.jsonl").display()
        ),
        SmsProviderKind::Twilio => "sms:   sent through Twilio".to_string(),
        SmsProviderKind::Webhook => "sms:   sent through the SMS gateway (sms.webhook.url)".to_string(),
    };
    format!("{email}\n{sms}")
}

/// The demo: generate, import, score, then replay the last four weeks one day at a time —
/// evaluate every rule at noon, deliver to the outboxes — and report what each rule achieved.
async fn demo(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let today_noon = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get(rekindle::demo::DEMO_ZONE)?)
        .date()
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get(rekindle::demo::DEMO_ZONE)?)?;
    let end = today_noon.timestamp().as_second();
    let files = rekindle::demo::prepare(dir, end)
        .with_context(|| format!("writing the demo into {}", dir.display()))?;
    let config = Config::load(Some(&files.config))?;
    let store = Store::open(&config.database)
        .await
        .context("opening the demo store")?;
    out!(
        "rekindle demo: a café in {} with a year of history, in {}",
        rekindle::demo::DEMO_ZONE,
        dir.display()
    );
    let customers = import_file(&store, Book::Customers, files.customers).await?;
    out!("  customers: {customers}");
    let events = import_file(&store, Book::Events, files.events).await?;
    out!("  events:    {events}");
    let r = rekindle::recompute::recompute_health(&store, &config.health, end).await?;
    out!(
        "  health:    {} healthy, {} at risk, {} critical",
        r.healthy,
        r.at_risk,
        r.critical
    );
    let set = load_rules(&config.rules_dir)?;
    let (mut sent, mut decided) = (0, 0);
    for day in (0..rekindle::demo::DEMO_DAYS).rev() {
        let at = end - day * 86_400;
        let s = rekindle::run_once::run_once(&store, &config, &set, Some(at)).await?;
        sent += s.attempts.sent;
        decided += s.evaluation.recorded;
    }
    out!(
        "  replayed the last {} days at noon: {decided} decisions recorded, {sent} messages delivered",
        rekindle::demo::DEMO_DAYS
    );
    let reports = rekindle::outcomes::rule_reports(&store, Some(&set), i64::MIN, end, None).await?;
    store.close().await;
    cli::output::text(&format!("\n{}", rekindle::report::render_text(&reports, None)))?;
    out!(
        "Messages:\n  email: {}\n  sms:   {}",
        config.email.outbox_dir.display(),
        config.sms.outbox_dir.join("sms.jsonl").display()
    );
    out!(
        "\nLook closer:\n  rekindle --config {cfg} customers show c000001\n  rekindle --config {cfg} rules preview",
        cfg = files.config.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn import(store: &Store, what: ImportCommand) -> anyhow::Result<ExitCode> {
    let summary = match what {
        ImportCommand::Customers { file } => import_file(store, Book::Customers, file).await?,
        ImportCommand::Events { file } => import_file(store, Book::Events, file).await?,
        ImportCommand::Suppressions { file } => return cli::suppressions::import(store, &file, now()).await,
    };
    out!("{summary}");
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The two CSV files of a book of business.
#[derive(Clone, Copy)]
enum Book {
    Customers,
    Events,
}

/// Imports one file with a progress bar, printing each rejected row as `FILE:LINE: reason`.
async fn import_file(store: &Store, what: Book, file: PathBuf) -> anyhow::Result<rekindle::import::Summary> {
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
            .expect("static template"),
    );
    let name = file.display().to_string();
    let on_reject =
        |r: &rekindle::import::Rejection| progress.suspend(|| eprintln!("{name}:{}: {}", r.line, r.reason));
    let result = match what {
        Book::Customers => rekindle::import::import_customers(store, &file, &progress, on_reject).await,
        Book::Events => rekindle::import::import_events(store, &file, &progress, on_reject).await,
    };
    result.with_context(|| format!("importing {name}"))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
