//! Settings: built-in defaults, then `rekindle.toml`, then a few `REKINDLE_*` environment
//! variables. Read once into types (durations, addresses, a zone, quiet hours, a schedule, the
//! sender, the secrets) so that every later step uses them as they are and parses nothing.

mod read;
mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

pub use crate::health::{HealthConfig, HealthWeights};
pub use secrets::{
    API_TOKENS_VAR, GATEWAY_SECRET_VAR, MIN_SECRET_BYTES, SECRET_VAR, SMTP_PASSWORD_VAR, Secret, SecretError,
    Secrets, TWILIO_TOKEN_VAR,
};

use crate::domain::{Email, QuietHours, Schedule, Zone};

/// Where the configuration file is looked for when neither `--config` nor `REKINDLE_CONFIG`
/// names one. A missing default file is fine (built-in defaults); a missing named file is not.
pub const DEFAULT_CONFIG_FILE: &str = "rekindle.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read configuration: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// toml's message already names the key, line and column.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        origin: String,
        key: &'static str,
        message: String,
    },
}

/// A dashboard user's name: printable, no spaces, short (it travels in the session cookie).
pub fn is_user_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// `#rgb` or `#rrggbb`: what every email client understands in an inline style.
fn is_hex_colour(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|h| matches!(h.len(), 3 | 6) && h.chars().all(|c| c.is_ascii_hexdigit()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding the trigger rules, one TOML file per rule.
    pub rules_dir: PathBuf,
    /// IANA time zone for customers whose own zone is unknown (and for schedules).
    #[serde(deserialize_with = "read::zone")]
    pub default_timezone: Zone,
    pub database: DatabaseConfig,
    pub health: HealthConfig,
    pub policy: PolicyConfig,
    pub quiet_hours: QuietHoursConfig,
    /// Where customers reach the service (unsubscribe and click links); none by default.
    #[serde(deserialize_with = "read::http_url")]
    pub public_url: Option<String>,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub delivery: DeliveryConfig,
    pub http: HttpConfig,
    pub serve: ServeConfig,
    pub import: ImportConfig,
    pub messages: MessagesConfig,
    pub offers: OffersConfig,
    pub history: HistoryConfig,
    pub business: BusinessConfig,
    /// From the environment, never from the file.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// The messages' language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    /// The language of a customer whose own is unknown, and of the rules' untranslated text.
    #[serde(deserialize_with = "read::language")]
    pub default_language: crate::domain::Language,
    /// The business's currency: what an offer's `amount` and the report's revenue are in.
    pub currency: String,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        MessagesConfig {
            default_language: crate::domain::Language::parse("en").expect("a valid tag"),
            currency: "EUR".into(),
        }
    }
}

/// Who sends the messages: named on the unsubscribe page, in templates (`business.*`) and in
/// the email footer that bulk-mail rules expect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessConfig {
    pub name: Option<String>,
    /// The postal address: required with the SMTP transport (bulk-mail rules want it in
    /// every footer).
    pub address: Option<String>,
    /// The logo on top of every email: the one remote resource an email loads (besides the
    /// open pixel).
    #[serde(deserialize_with = "read::http_url")]
    pub logo_url: Option<String>,
    /// The business's own site: the name or logo in emails links to it.
    #[serde(deserialize_with = "read::http_url")]
    pub website: Option<String>,
}

/// What templates may know of a customer's history.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Event properties (extra CSV columns, extra API keys) whose most frequent value over the
    /// last year of activity templates may use as `history.favourite.<name>`; evaluation reads
    /// only these.
    pub favourite_properties: Vec<String>,
}

/// Redeeming personal offer codes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffersConfig {
    /// Accept a code after its expiry (a business decision; refused by default with 410).
    pub accept_expired: bool,
}

/// How CSV files are read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// ISO country code (`HU`, `SK`) whose national phone numbers (`06 30 …`) a customer file
    /// may hold; they are stored in E.164. Without it only `+…` numbers are accepted.
    #[serde(deserialize_with = "read::country")]
    pub default_country: Option<phonenumber::country::Id>,
}

/// The HTTP server of `rekindle serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on.
    #[serde(deserialize_with = "read::socket_addr")]
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (a batch of events included).
    pub max_body_bytes: usize,
    /// A connection that has not sent a complete request head this long after it opened (or
    /// after its previous request) is closed.
    #[serde(deserialize_with = "read::duration")]
    pub header_timeout: Duration,
    /// A request body must arrive within this long.
    #[serde(deserialize_with = "read::duration")]
    pub body_timeout: Duration,
    /// Connections open at once; more wait to be accepted. Keep it below the process's file
    /// limit (systemd's `LimitNOFILE`, 1024 by default) minus the database pool.
    pub max_connections: usize,
    /// Who may log in to the report at `/report`: name → argon2id hash, written by
    /// `rekindle users add NAME`.
    pub dashboard_users: std::collections::BTreeMap<String, String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 512,
            dashboard_users: std::collections::BTreeMap::new(),
        }
    }
}

/// The long-running service's own timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// When health snapshots are stored (crontab line, in `default_timezone`).
    #[serde(deserialize_with = "read::schedule")]
    pub health_schedule: Schedule,
    /// How long a stopping service lets in-flight deliveries finish; what is cut off is
    /// returned to the queue and retried.
    #[serde(deserialize_with = "read::duration")]
    pub shutdown_grace: Duration,
    /// How often the rules directory is checked for changed files (SIGHUP reloads at once).
    #[serde(deserialize_with = "read::duration")]
    pub reload_poll: Duration,
    /// How many days the live report at `/report` looks ahead (`rules simulate`, one
    /// evaluation per day: seconds per day on a 100k-customer book); 0 leaves it out.
    pub report_coming_days: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            health_schedule: Schedule::parse("15 3 * * *").expect("the default schedule parses"),
            shutdown_grace: Duration::from_secs(30),
            reload_poll: Duration::from_secs(2),
            report_coming_days: 14,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransportKind {
    /// One `.eml` file per message in `outbox_dir`: nothing leaves the machine.
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub transport: EmailTransportKind,
    /// The sender, `Name <address>`.
    #[serde(deserialize_with = "read::mailbox")]
    pub from: Mailbox,
    pub outbox_dir: PathBuf,
    pub smtp: SmtpConfig,
    /// Sign outgoing mail; off unless configured.
    pub dkim: Option<DkimConfig>,
    /// A mailbox for unsubscribe requests (`List-Unsubscribe: <mailto:…>`): the way out of
    /// email when there is no `public_url` for one-click links.
    #[serde(deserialize_with = "read::email")]
    pub unsubscribe_mailto: Option<Email>,
    pub style: EmailStyleConfig,
}

/// How emails look: `[email.style]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailStyleConfig {
    /// Buttons and links, `#rrggbb` or `#rgb`.
    pub accent: Option<String>,
    /// An own layout (minijinja), relative to the configuration file.
    pub layout: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

/// DKIM signing. The signature covers From, To, Subject, Date, Message-ID and both
/// List-Unsubscribe headers (RFC 8058 wants the last two signed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    pub selector: String,
    pub domain: String,
    /// RSA: a PKCS#1 PEM file; Ed25519: a file holding the base64 private key.
    pub key_file: PathBuf,
    #[serde(default = "rsa")]
    pub algorithm: DkimAlgorithm,
}

fn rsa() -> DkimAlgorithm {
    DkimAlgorithm::Rsa
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// The password comes from `REKINDLE_SMTP_PASSWORD`.
    pub username: Option<String>,
    pub pool_size: u32,
    /// Per-command timeout, a duration such as `30s`.
    #[serde(deserialize_with = "read::duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    /// One JSON line per message in `outbox_dir/sms.jsonl`.
    Outbox,
    Twilio,
    Webhook,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub provider: SmsProviderKind,
    pub outbox_dir: PathBuf,
    /// Per-request timeout for HTTP providers.
    #[serde(deserialize_with = "read::duration")]
    pub timeout: Duration,
    /// `auto` keeps UCS-2 when a character needs it; `gsm7` transliterates (ő → ö, č → c …)
    /// so a message fits GSM-7. A rule's `sms_charset` wins.
    pub charset: crate::domain::SmsCharset,
    /// What the provider bills per segment, for previews and reports; none by default.
    pub price_per_segment: Option<f64>,
    /// The currency of `price_per_segment`.
    pub currency: String,
    pub twilio: TwilioConfig,
    pub webhook: WebhookConfig,
}

/// Twilio's Messages API; the auth token comes from `REKINDLE_TWILIO_AUTH_TOKEN`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    pub base_url: String,
    pub account_sid: String,
    /// The sending number, E.164.
    pub from: String,
}

/// The business's own gateway; the signing secret comes from `REKINDLE_SMS_WEBHOOK_SECRET`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub url: String,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            from: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Messages in flight at once, all channels together.
    pub concurrency: usize,
    pub email: ChannelLimits,
    pub sms: ChannelLimits,
    /// Attempts per message, the first included (retries back off over roughly a day).
    pub max_attempts: u32,
    /// A message that could not go out this long after its time expires instead.
    #[serde(deserialize_with = "read::duration")]
    pub max_lateness: Duration,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: EmailTransportKind::Outbox,
            from: "rekindle <rekindle@localhost>"
                .parse()
                .expect("the default sender parses"),
            outbox_dir: PathBuf::from("outbox/email"),
            smtp: SmtpConfig::default(),
            dkim: None,
            unsubscribe_mailto: None,
            style: EmailStyleConfig::default(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            pool_size: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            provider: SmsProviderKind::Outbox,
            outbox_dir: PathBuf::from("outbox/sms"),
            timeout: Duration::from_secs(10),
            charset: crate::domain::SmsCharset::Auto,
            price_per_segment: None,
            currency: "EUR".into(),
            twilio: TwilioConfig::default(),
            webhook: WebhookConfig::default(),
        }
    }
}

/// Limits of one channel: providers cap connections and messages per second.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelLimits {
    /// Messages of this channel in flight at once.
    pub concurrency: usize,
    /// At most this many sends per second; 0 means no limit.
    pub rate_per_second: f64,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            concurrency: 8,
            rate_per_second: 0.0,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            concurrency: 16,
            email: ChannelLimits::default(),
            sms: ChannelLimits::default(),
            max_attempts: 8,
            max_lateness: Duration::from_secs(24 * 3600),
        }
    }
}

/// The frequency cap across all rules: at most `max_messages` sends per customer per `per`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub max_messages: u32,
    /// A duration such as `7d`.
    #[serde(deserialize_with = "read::duration")]
    pub per: Duration,
}

/// Local times (customer's zone) when a channel stays silent, `HH:MM-HH:MM`; "" disables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuietHoursConfig {
    #[serde(deserialize_with = "read::quiet_hours")]
    pub sms: Option<QuietHours>,
    #[serde(deserialize_with = "read::quiet_hours")]
    pub email: Option<QuietHours>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            max_messages: 2,
            per: Duration::from_secs(7 * 86_400),
        }
    }
}

impl Default for QuietHoursConfig {
    fn default() -> Self {
        QuietHoursConfig {
            sms: QuietHours::parse("21:00-08:00").expect("the default quiet hours parse"),
            email: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    pub url: String,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
}

/// The smallest pool that evaluation can run on.
const MIN_CONNECTIONS: u32 = 4;

impl Default for Config {
    fn default() -> Self {
        Config {
            rules_dir: PathBuf::from("rules"),
            default_timezone: Zone::utc(),
            database: DatabaseConfig::default(),
            health: HealthConfig::default(),
            policy: PolicyConfig::default(),
            quiet_hours: QuietHoursConfig::default(),
            public_url: None,
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            delivery: DeliveryConfig::default(),
            http: HttpConfig::default(),
            serve: ServeConfig::default(),
            import: ImportConfig::default(),
            messages: MessagesConfig::default(),
            offers: OffersConfig::default(),
            history: HistoryConfig::default(),
            business: BusinessConfig::default(),
            secrets: Secrets::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://rekindle.db".into(),
            max_connections: 8,
        }
    }
}

impl Config {
    /// Loads the configuration. `explicit` is the `--config`/`REKINDLE_CONFIG` path, if any.
    /// Relative paths inside a file are resolved against that file's directory, so a
    /// systemd unit and a shell in another directory see the same files.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut config = Config::parse(&text, &path)?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    config.resolve_relative_to(dir);
                }
                config
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => Config::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        config.apply_env(|name| std::env::var(name).ok());
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Parses TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: match e.span() {
                Some(span) => placed(text, span.start, e.message().trim_end()),
                None => e.to_string().trim_end().to_string(),
            },
        })
    }

    /// Environment overrides for what operators change per host without editing the file.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(url) = var("REKINDLE_DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database.url = url;
        }
        self.secrets = Secrets::read(&var);
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        for path in [
            &mut self.rules_dir,
            &mut self.email.outbox_dir,
            &mut self.sms.outbox_dir,
        ]
        .into_iter()
        .chain(self.email.style.layout.as_mut())
        {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
        if let Some(rest) = self.database.url.strip_prefix("sqlite://") {
            let file = Path::new(rest);
            if !rest.is_empty() && rest != ":memory:" && file.is_relative() {
                self.database.url = format!("sqlite://{}", dir.join(file).display());
            }
        }
    }

    /// Checks values that serde's types cannot express. `origin` labels errors.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            message,
        };
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                format!("expected sqlite://PATH or postgres://…, got {url:?}"),
            ));
        }
        // Evaluation reads three ordered streams at once (customers, their events, earlier
        // decisions) and writes while it reads; fewer connections wait on each other until
        // the pool times out.
        if self.database.max_connections < MIN_CONNECTIONS {
            return Err(invalid(
                "database.max_connections",
                format!(
                    "must be at least {MIN_CONNECTIONS} (rule evaluation reads three streams while it writes)"
                ),
            ));
        }
        let h = &self.health;
        if !(1.0..=365.0).contains(&h.default_cadence_days) {
            return Err(invalid(
                "health.default_cadence_days",
                format!("must be between 1 and 365, got {}", h.default_cadence_days),
            ));
        }
        if let Some(kinds) = &h.activity_events
            && kinds.is_empty()
        {
            return Err(invalid(
                "health.activity_events",
                "must name at least one event kind (or be left out)".into(),
            ));
        }
        if let Some(p) = self.sms.price_per_segment
            && !(p.is_finite() && p >= 0.0)
        {
            return Err(invalid(
                "sms.price_per_segment",
                format!("must be 0 or more, got {p}"),
            ));
        }
        if let Some(accent) = &self.email.style.accent
            && !is_hex_colour(accent)
        {
            return Err(invalid(
                "email.style.accent",
                format!("expected a colour as #rrggbb or #rgb, got {accent:?}"),
            ));
        }
        if self.email.transport == EmailTransportKind::Smtp
            && self
                .business
                .address
                .as_deref()
                .is_none_or(|a| a.trim().is_empty())
        {
            return Err(invalid(
                "business.address",
                "email over SMTP needs the business's postal address for every footer (bulk-mail rules and \
                 most providers require it): set [business] address = \"Street 1, 1234 Town\""
                    .into(),
            ));
        }
        for (name, hash) in &self.http.dashboard_users {
            if !is_user_name(name) {
                return Err(invalid(
                    "http.dashboard_users",
                    format!("{name:?} is not a user name (letters, digits, `-`, `_`, `.`, `@`; at most 64)"),
                ));
            }
            if !hash.starts_with("$argon2id$") {
                return Err(invalid(
                    "http.dashboard_users",
                    format!("{name}: not an argon2id hash; set passwords with `rekindle users add {name}`"),
                ));
            }
        }
        if self.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1".into()));
        }
        if self.http.header_timeout.is_zero() || self.http.body_timeout.is_zero() {
            return Err(invalid(
                "http.header_timeout",
                "timeouts must be longer than 0".into(),
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(invalid("http.max_body_bytes", "must be at least 1024".into()));
        }
        match self.sms.provider {
            SmsProviderKind::Twilio => {
                let t = &self.sms.twilio;
                if !t.account_sid.starts_with("AC") {
                    return Err(invalid(
                        "sms.twilio.account_sid",
                        "must be set (it starts with AC)".into(),
                    ));
                }
                if crate::domain::Phone::parse(&t.from).is_err() {
                    return Err(invalid(
                        "sms.twilio.from",
                        format!("not an E.164 number: {:?}", t.from),
                    ));
                }
                if !t.base_url.starts_with("http") {
                    return Err(invalid(
                        "sms.twilio.base_url",
                        format!("not a URL: {:?}", t.base_url),
                    ));
                }
            }
            SmsProviderKind::Webhook if !self.sms.webhook.url.starts_with("http") => {
                return Err(invalid(
                    "sms.webhook.url",
                    format!("not a URL: {:?}", self.sms.webhook.url),
                ));
            }
            _ => {}
        }
        if self.delivery.concurrency == 0 {
            return Err(invalid("delivery.concurrency", "must be at least 1".into()));
        }
        for (key, l) in [
            ("delivery.email", self.delivery.email),
            ("delivery.sms", self.delivery.sms),
        ] {
            if l.concurrency == 0 {
                return Err(invalid(key, "concurrency must be at least 1".into()));
            }
            if !(l.rate_per_second.is_finite() && l.rate_per_second >= 0.0) {
                return Err(invalid(
                    key,
                    "rate_per_second must be 0 (no limit) or more".into(),
                ));
            }
        }
        if self.delivery.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "must be at least 1".into()));
        }
        if self.email.smtp.pool_size == 0 {
            return Err(invalid("email.smtp.pool_size", "must be at least 1".into()));
        }
        let w = h.weights;
        if [w.recency, w.frequency, w.feedback].iter().any(|x| *x < 0.0) {
            return Err(invalid("health.weights", "weights must not be negative".into()));
        }
        let sum = w.recency + w.frequency + w.feedback;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "health.weights",
                format!("recency + frequency + feedback must add up to 1, got {sum}"),
            ));
        }
        Ok(())
    }
}

/// `line L, column C: `section.key`: message` for a problem at byte `at` of a TOML text: the
/// key is what stands before `=` on that line, under the last `[section]` above it.
fn placed(text: &str, at: usize, message: &str) -> String {
    let at = at.min(text.len());
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let (line, col) = (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    );
    let key = before[line_start..]
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty());
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']));
    match (section, key) {
        (Some(s), Some(k)) => format!("line {line}, column {col}: `{s}.{k}`: {message}"),
        (None, Some(k)) => format!("line {line}, column {col}: `{k}`: {message}"),
        _ => format!("line {line}, column {col}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::parse("[health]\nwieghts = 1\n", Path::new("r.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("r.toml"), "{msg}");
        assert!(msg.contains("wieghts"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn weights_must_add_up() {
        let mut c = Config::default();
        c.health.weights.feedback = 0.5;
        let msg = c.validate("x").unwrap_err().to_string();
        assert!(msg.contains("health.weights"), "{msg}");
    }

    #[test]
    fn a_pool_too_small_for_evaluation_is_rejected() {
        let mut c = Config::default();
        c.database.max_connections = 2;
        let msg = c.validate("x").unwrap_err().to_string();
        assert!(
            msg.contains("database.max_connections") && msg.contains("at least 4"),
            "{msg}"
        );
        c.database.max_connections = 4;
        assert!(c.validate("x").is_ok());
    }

    #[test]
    fn unknown_time_zone_is_rejected_at_its_line() {
        let err = Config::parse("default_timezone = \"Mars/Olympus\"", Path::new("r.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("default_timezone")
                && msg.contains("unknown time zone \"Mars/Olympus\"")
                && msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn values_are_read_into_their_types_once() {
        let c = Config::parse(
            "default_timezone = \"Europe/Budapest\"\n[policy]\nper = \"3d\"\n[quiet_hours]\nsms = \"\"\n\
             [http]\nlisten = \"0.0.0.0:9000\"\n[serve]\nshutdown_grace = \"1m\"\n[email]\nfrom = \"Café <a@b.example>\"\n",
            Path::new("r.toml"),
        )
        .unwrap();
        assert_eq!(c.default_timezone.name(), "Europe/Budapest");
        assert_eq!(c.policy.per, std::time::Duration::from_secs(3 * 86_400));
        assert_eq!(c.quiet_hours.sms, None);
        assert_eq!(c.http.listen.port(), 9000);
        assert_eq!(c.serve.shutdown_grace, std::time::Duration::from_secs(60));
        assert_eq!(c.email.from.email.domain(), "b.example");
        for (text, key) in [
            ("[policy]\nper = \"a week\"", "per"),
            ("[http]\nlisten = \"localhost\"", "listen"),
            ("[quiet_hours]\nsms = \"21-8\"", "sms"),
            ("[serve]\nhealth_schedule = \"daily\"", "health_schedule"),
            ("public_url = \"rekindle.example\"", "public_url"),
            ("[email]\nunsubscribe_mailto = \"nobody\"", "unsubscribe_mailto"),
        ] {
            let msg = Config::parse(text, Path::new("r.toml")).unwrap_err().to_string();
            assert!(msg.contains(key) && msg.contains("line"), "{text}: {msg}");
        }
    }

    #[test]
    fn relative_sqlite_path_follows_the_config_file() {
        let mut c = Config::parse("[database]\nurl = \"sqlite://data/r.db\"", Path::new("x")).unwrap();
        c.resolve_relative_to(Path::new("/etc/rekindle"));
        assert_eq!(c.database.url, "sqlite:///etc/rekindle/data/r.db");
        assert_eq!(c.rules_dir, Path::new("/etc/rekindle/rules"));
    }

    #[test]
    fn env_overrides_database_url() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "REKINDLE_DATABASE_URL").then(|| "postgres://h/db".to_string()));
        assert_eq!(c.database.url, "postgres://h/db");
    }
}
