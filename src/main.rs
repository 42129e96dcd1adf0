//! The `rekindle` command line: argument parsing only; every command calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rekindle::config::Config;
use rekindle::store::Store;

/// Exit code when an import finished but rejected some rows (fatal errors exit 1, usage 2).
const EXIT_ROWS_REJECTED: u8 = 3;

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
        #[arg(long, default_value_t = 1000)]
        customers: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// History ends at this instant (RFC 3339) [default: now]
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
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
        /// Act as of this instant (RFC 3339) instead of now
        #[arg(long, value_parser = parse_instant)]
        at: Option<i64>,
    },
    /// What each rule achieved: decisions, deliveries, conversions against the held-out group
    Report {
        /// Only decisions made at or after this instant (RFC 3339)
        #[arg(long, value_parser = parse_instant)]
        since: Option<i64>,
        /// Only this rule
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run the service: rules on their schedules, delivery workers, the HTTP API (until SIGTERM)
    Serve,
    /// Evaluate every enabled rule at an instant and record the decisions
    Evaluate {
        /// Evaluate as of this instant (RFC 3339) instead of now
        #[arg(long, value_parser = parse_instant)]
        at: Option<i64>,
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
        #[arg(long, value_parser = parse_instant)]
        at: Option<i64>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// customers.csv: id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,…
    Customers { file: PathBuf },
    /// events.csv: id,customer_id,kind,occurred_at,amount,score,…
    Events { file: PathBuf },
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// A customer with their health score and every component behind it
    Show {
        /// The customer's id (as in the imported file)
        id: String,
        /// Evaluate as of this instant (RFC 3339) instead of now
        #[arg(long, value_parser = parse_instant)]
        at: Option<i64>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Store a health snapshot for every customer as of an instant
    Recompute {
        /// Evaluate as of this instant (RFC 3339) instead of now
        #[arg(long, value_parser = parse_instant)]
        at: Option<i64>,
    },
}

fn parse_instant(s: &str) -> Result<i64, String> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|e| format!("expected an RFC 3339 instant such as 2026-06-01T09:00:00Z: {e}"))
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
        Err(e) => {
            eprintln!("error: {e:#}");
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
            println!("wrote {c} customers and {e} events to {}", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Rules(RulesCommand::Check { dir }) = &cli.command {
        let dir = dir.clone().unwrap_or_else(|| config.rules_dir.clone());
        return Ok(match rekindle::rules::RuleSet::load(&dir) {
            Ok(set) => {
                let enabled = set.rules.iter().filter(|r| r.enabled).count();
                println!(
                    "{}: {} rules OK ({enabled} enabled)",
                    dir.display(),
                    set.rules.len()
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                eprintln!("{} problem(s); a rule with a problem never runs", problems.len());
                ExitCode::FAILURE
            }
        });
    }
    let store = Store::open(&config.database).await.context("opening the store")?;
    let code = match cli.command {
        Command::Rules(RulesCommand::Preview { rule_ids, at, format }) => {
            let set = load_rules(&config.rules_dir)?;
            let at = at.unwrap_or_else(now);
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
                        println!("{}", serde_json::to_string(d)?);
                    }
                }
                Format::Text => {
                    let order: Vec<String> = set
                        .rules
                        .iter()
                        .filter(|r| {
                            if rule_ids.is_empty() {
                                r.enabled
                            } else {
                                rule_ids.contains(&r.id)
                            }
                        })
                        .map(|r| r.id.clone())
                        .collect();
                    print!("{}", rekindle::preview::render_text(&e, at, &order, samples));
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
            let set = load_rules(&config.rules_dir)?;
            let s = rekindle::run_once::run_once(&store, &config, &set, at).await?;
            let t = s.attempts;
            println!(
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
            println!(
                "email outbox: {}\nsms outbox:   {}",
                config.email.outbox_dir.display(),
                config.sms.outbox_dir.join("sms.jsonl").display()
            );
            ExitCode::SUCCESS
        }
        Command::Report { since, rule, format } => {
            let set = load_rules(&config.rules_dir)?;
            let reports = rekindle::outcomes::rule_reports(
                &store,
                &set,
                since.unwrap_or(i64::MIN),
                now(),
                rule.as_deref(),
            )
            .await?;
            if let Some(id) = &rule
                && reports.is_empty()
            {
                bail!("no rule {id:?} in the rules directory or the history");
            }
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
                Format::Text => print!(
                    "{}",
                    rekindle::report::render_text(
                        &reports,
                        since.map(rekindle::profile::fmt_instant).as_deref()
                    )
                ),
            }
            ExitCode::SUCCESS
        }
        Command::Evaluate { at } => {
            let set = load_rules(&config.rules_dir)?;
            let at = at.unwrap_or_else(now);
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
            println!(
                "evaluated {} rules over {} customers at {}: {} decisions ({} sends), {} newly recorded",
                set.rules.iter().filter(|r| r.enabled).count(),
                e.customers,
                rekindle::profile::fmt_instant(at),
                e.decisions.len(),
                sends,
                e.recorded
            );
            if e.render_errors > 0 {
                eprintln!(
                    "{} messages failed to render and were not recorded (see the log)",
                    e.render_errors
                );
            }
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Check { .. }) | Command::Demo { .. } | Command::Generate { .. } => {
            unreachable!("handled before the configuration is loaded")
        }
        Command::Migrate => {
            println!("database schema is up to date ({})", store.backend());
            ExitCode::SUCCESS
        }
        Command::Import(what) => import(&store, what).await?,
        Command::Customers(CustomersCommand::Show { id, at, format }) => {
            let at = at.unwrap_or_else(now);
            let Some(profile) = rekindle::profile::load(&store, &config.health, &id, at).await? else {
                bail!("no customer with id {id:?}");
            };
            match format {
                Format::Json => println!("{}", serde_json::to_string(&profile.json())?),
                Format::Text => print!(
                    "{}",
                    profile.render_text(&config.health, &config.default_timezone)
                ),
            }
            ExitCode::SUCCESS
        }
        Command::Health(HealthCommand::Recompute { at }) => {
            let at = at.unwrap_or_else(now);
            let r = rekindle::recompute::recompute_health(&store, &config.health, at).await?;
            println!(
                "health as of {}: {} customers — {} healthy, {} at risk, {} critical",
                rekindle::profile::fmt_instant(at),
                r.customers,
                r.healthy,
                r.at_risk,
                r.critical
            );
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
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
    println!(
        "rekindle demo: a café in {} with a year of history, in {}",
        rekindle::demo::DEMO_ZONE,
        dir.display()
    );
    let customers = import_file(
        &store,
        ImportCommand::Customers {
            file: files.customers,
        },
    )
    .await?;
    println!("  customers: {customers}");
    let events = import_file(&store, ImportCommand::Events { file: files.events }).await?;
    println!("  events:    {events}");
    let r = rekindle::recompute::recompute_health(&store, &config.health, end).await?;
    println!(
        "  health:    {} healthy, {} at risk, {} critical",
        r.healthy, r.at_risk, r.critical
    );
    let set = load_rules(&config.rules_dir)?;
    let (mut sent, mut decided) = (0, 0);
    for day in (0..rekindle::demo::DEMO_DAYS).rev() {
        let at = end - day * 86_400;
        let s = rekindle::run_once::run_once(&store, &config, &set, Some(at)).await?;
        sent += s.attempts.sent;
        decided += s.evaluation.recorded;
    }
    println!(
        "  replayed the last {} days at noon: {decided} decisions recorded, {sent} messages delivered",
        rekindle::demo::DEMO_DAYS
    );
    let reports = rekindle::outcomes::rule_reports(&store, &set, i64::MIN, end, None).await?;
    store.close().await;
    print!("\n{}", rekindle::report::render_text(&reports, None));
    println!(
        "Messages:\n  email: {}\n  sms:   {}",
        config.email.outbox_dir.display(),
        config.sms.outbox_dir.join("sms.jsonl").display()
    );
    println!(
        "\nLook closer:\n  rekindle --config {cfg} customers show c000001\n  rekindle --config {cfg} rules preview",
        cfg = files.config.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn import(store: &Store, what: ImportCommand) -> anyhow::Result<ExitCode> {
    let summary = import_file(store, what).await?;
    println!("{summary}");
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Imports one file with a progress bar, printing each rejected row as `FILE:LINE: reason`.
async fn import_file(store: &Store, what: ImportCommand) -> anyhow::Result<rekindle::import::Summary> {
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
            .expect("static template"),
    );
    let (file, result) = match what {
        ImportCommand::Customers { file } => {
            let name = file.display().to_string();
            let r = rekindle::import::import_customers(store, &file, &progress, |r| {
                progress.suspend(|| eprintln!("{name}:{}: {}", r.line, r.reason))
            })
            .await;
            (file, r)
        }
        ImportCommand::Events { file } => {
            let name = file.display().to_string();
            let r = rekindle::import::import_events(store, &file, &progress, |r| {
                progress.suspend(|| eprintln!("{name}:{}: {}", r.line, r.reason))
            })
            .await;
            (file, r)
        }
    };
    result.with_context(|| format!("importing {}", file.display()))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
