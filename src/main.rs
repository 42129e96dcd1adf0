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
    /// Build a demo café workspace (a year of generated customers and events) and run it
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
    init_logging(cli.log_format);
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
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
    let store = Store::open(&config.database).await.context("opening the store")?;
    let code = match cli.command {
        Command::Demo { .. } | Command::Generate { .. } => {
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

/// The demo: generate, import, score, and say what to look at next.
async fn demo(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let files = rekindle::demo::prepare(dir, now())
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
    let at = now();
    let r = rekindle::recompute::recompute_health(&store, &config.health, at).await?;
    println!(
        "  health:    {} healthy, {} at risk, {} critical",
        r.healthy, r.at_risk, r.critical
    );
    store.close().await;
    println!(
        "\nLook closer:\n  rekindle --config {} customers show c000001",
        files.config.display()
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
