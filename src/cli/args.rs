//! What the command line accepts: every command, option and help text (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use rekindle::domain::MessageStatus;

use super::when::{When, parse_when};

#[derive(Parser)]
#[command(
    name = "rekindle",
    version,
    about = "Keeps a small business's customers from drifting away"
)]
pub(crate) struct Cli {
    /// Configuration file [default: ./rekindle.toml, built-in defaults if missing]
    #[arg(long, global = true, env = "REKINDLE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// Look at every customer, not only those who changed or are due since the last evaluation of the same rules
        #[arg(long)]
        full: bool,
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
        /// Output format: html is one self-contained page (charts included) for a browser or an email attachment
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Write to this file instead of standard output
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Also show what the rules would send in the next N days (rules simulate) [default: 14 for html, else 0]
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=90))]
        coming_days: Option<u32>,
    },
    /// Run the service: rules on their schedules, delivery workers, the HTTP API (until SIGTERM)
    Serve,
    /// Evaluate every enabled rule at an instant and record the decisions
    Evaluate {
        /// Evaluate as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
        /// Look at every customer, not only those who changed or are due since the last evaluation of the same rules
        #[arg(long)]
        full: bool,
    },
    /// Look up and redeem personal offer codes (for a till without an integration)
    #[command(subcommand)]
    Offers(OffersCommand),
    /// Look at messages and requeue failed ones
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// Write data out of the store
    #[command(subcommand)]
    Export(ExportCommand),
    /// Operations on the store as a whole
    #[command(subcommand)]
    Store(StoreCommand),
    /// Show exactly what a customer would get from a rule — subject, preheader, the email's HTML and text — without recording or sending anything
    Render {
        /// The rule
        rule_id: String,
        /// The customer's id (as imported)
        customer_id: String,
        /// As of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
        /// Write the email to FILE.html (open it in a browser) or FILE.eml (open it in a mail client); default: the text on standard output
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Who may sign in to the report at /report
    #[command(subcommand)]
    Users(UsersCommand),
    /// Apply an unsubscribe request that reached the `unsubscribe_mailto` mailbox
    Unsubscribe {
        /// The token from the request's subject line (`unsubscribe-…`; the whole subject works too)
        #[arg(long)]
        token: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a user (or set their new password): reads the password from standard input and writes its argon2id hash into the configuration file's [http.dashboard_users]
    Add {
        /// The name they sign in with
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// The opt-out list (channel,address,sha256,reason,since): every unsubscribe and bounce, erased customers as hashes
    Suppressions {
        /// The CSV file to write (`-` for standard output)
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
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

/// A CSV file's encoding: UTF-8 (the default; `None`), or one of the legacy Central European
/// encodings Excel writes on Hungarian and Slovak Windows.
pub(crate) fn parse_encoding(s: &str) -> Result<&'static encoding_rs::Encoding, String> {
    match s.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Ok(encoding_rs::UTF_8),
        "windows-1250" | "cp1250" => Ok(encoding_rs::WINDOWS_1250),
        "iso-8859-2" | "latin2" => Ok(encoding_rs::ISO_8859_2),
        _ => Err("expected utf-8, windows-1250 or iso-8859-2".into()),
    }
}

/// A message status as typed on the command line.
pub(crate) fn parse_status(s: &str) -> Result<MessageStatus, String> {
    MessageStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = MessageStatus::ALL.iter().map(|m| m.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

#[derive(clap::Args)]
pub(crate) struct MessageSelection {
    /// Only messages in this status (queued, sending, sent, delivered, bounced, failed, skipped, expired)
    #[arg(long, value_parser = parse_status)]
    pub(crate) status: Option<MessageStatus>,
    /// Only messages of this rule
    #[arg(long)]
    pub(crate) rule: Option<String>,
    /// Only messages to this customer (their id as imported)
    #[arg(long)]
    pub(crate) customer: Option<String>,
    /// Only messages that changed at or after this instant (a date = midnight in default_timezone, or RFC 3339)
    #[arg(long, value_parser = parse_when)]
    pub(crate) since: Option<When>,
}

#[derive(Subcommand)]
pub(crate) enum MessagesCommand {
    /// Messages with their status, attempts, next attempt and last error, newest first
    List {
        #[command(flatten)]
        select: MessageSelection,
        /// At most this many
        #[arg(long, default_value_t = super::messages::DEFAULT_LIMIT)]
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
pub(crate) enum OffersCommand {
    /// Who a code is for, which rule, its value, when it was issued, expires and was redeemed
    Show {
        code: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Redeem a code once (exit 1 when it is unknown, already redeemed or expired)
    Redeem {
        code: String,
        /// When it was redeemed [default: now] (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
        /// What the customer spent, for the report's revenue
        #[arg(long)]
        amount: Option<f64>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
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
    /// Play the rules forward day by day over the current data: what would go out in the coming weeks (nothing is recorded or sent)
    Simulate {
        /// Only these rules (disabled ones too); default: every enabled rule
        rule_ids: Vec<String>,
        /// The first day, at this time of day [default: now] (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        from: Option<When>,
        /// How many days
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Output format (json: one line per day, rule, channel and decision; html: one page with a chart)
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Write to this file instead of standard output
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ImportCommand {
    /// customers.csv: id,name,email,phone,birthday,timezone,consent_email,consent_sms,tags,…
    Customers {
        /// The CSV file (`,` or `;` separated)
        file: PathBuf,
        /// The file's encoding: utf-8 (default), windows-1250 or iso-8859-2
        #[arg(long, value_parser = parse_encoding)]
        encoding: Option<&'static encoding_rs::Encoding>,
    },
    /// events.csv: id,customer_id,kind,occurred_at,amount,score,…
    Events {
        /// The CSV file (`,` or `;` separated; `;` files may write amounts as 4,50)
        file: PathBuf,
        /// The file's encoding: utf-8 (default), windows-1250 or iso-8859-2
        #[arg(long, value_parser = parse_encoding)]
        encoding: Option<&'static encoding_rs::Encoding>,
    },
    /// An opt-out list (channel,address or sha256,reason,since): those on it are never contacted on that channel
    Suppressions {
        /// The CSV file
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum CustomersCommand {
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
pub(crate) enum HealthCommand {
    /// Store a health snapshot for every customer as of an instant
    Recompute {
        /// Score as of this instant instead of now (a date = midnight in default_timezone, or RFC 3339)
        #[arg(long, value_parser = parse_when)]
        at: Option<When>,
    },
}

pub(crate) fn parse_instant(s: &str) -> Result<i64, String> {
    rekindle::domain::parse_rfc3339(s).map_err(|e| e.to_string())
}
