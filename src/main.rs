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
    let config = Config::load(cli.config.as_deref())?;
    let store = Store::open(&config.database)
        .await
        .context("opening the store")?;
    let code = match cli.command {
        Command::Migrate => {
            println!("database schema is up to date ({})", store.backend());
            ExitCode::SUCCESS
        }
        Command::Import(what) => import(&store, what).await?,
        Command::Customers(CustomersCommand::Show { id, at, format }) => {
            let at = at.unwrap_or_else(now);
            let Some(profile) = rekindle::profile::load(&store, &config.health, &id, at).await?
            else {
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

async fn import(store: &Store, what: ImportCommand) -> anyhow::Result<ExitCode> {
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
    let summary = result.with_context(|| format!("importing {}", file.display()))?;
    println!("{summary}");
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_ROWS_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
