//! Settings: built-in defaults, then `rekindle.toml`, then a few `REKINDLE_*` environment
//! variables. Validated once at start-up so that every later step can trust them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding the trigger rules, one TOML file per rule.
    pub rules_dir: PathBuf,
    /// IANA time zone for customers whose own zone is unknown.
    pub default_timezone: String,
    pub database: DatabaseConfig,
    pub health: HealthConfig,
    pub policy: PolicyConfig,
    pub quiet_hours: QuietHoursConfig,
    /// Where customers reach the service (unsubscribe and click links); none by default.
    pub public_url: Option<String>,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub delivery: DeliveryConfig,
    pub http: HttpConfig,
    pub serve: ServeConfig,
}

/// The HTTP server of `rekindle serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Largest request body accepted, in bytes (a batch of events included).
    pub max_body_bytes: usize,
    /// A connection that has not sent a complete request head this long after it opened (or
    /// after its previous request) is closed.
    #[serde(deserialize_with = "duration::deserialize")]
    pub header_timeout: std::time::Duration,
    /// A request body must arrive within this long.
    #[serde(deserialize_with = "duration::deserialize")]
    pub body_timeout: std::time::Duration,
    /// Connections open at once; more wait to be accepted. Keep it below the process's file
    /// limit (systemd's `LimitNOFILE`, 1024 by default) minus the database pool.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// Durations written as `30s`, `5m`, `2h`, `7d`, read once into `std::time::Duration`.
mod duration {
    use serde::Deserialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::rules::parse_duration(&text)
            .map(|secs| std::time::Duration::from_secs(secs.max(0) as u64))
            .map_err(serde::de::Error::custom)
    }
}

/// The long-running service's own timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// When health snapshots are stored (crontab line, in `default_timezone`).
    pub health_schedule: String,
    /// How long a stopping service lets in-flight deliveries finish; what is cut off is
    /// returned to the queue and retried.
    pub shutdown_grace: String,
    /// How often the rules directory is checked for changed files (SIGHUP reloads at once).
    pub reload_poll: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            health_schedule: "15 3 * * *".into(),
            shutdown_grace: "30s".into(),
            reload_poll: "2s".into(),
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
    pub from: String,
    pub outbox_dir: PathBuf,
    pub smtp: SmtpConfig,
    /// Sign outgoing mail; off unless configured.
    pub dkim: Option<DkimConfig>,
    /// A mailbox for unsubscribe requests (`List-Unsubscribe: <mailto:…>`): the way out of
    /// email when there is no `public_url` for one-click links.
    pub unsubscribe_mailto: Option<String>,
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
    pub timeout: String,
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
    pub timeout: String,
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
    pub max_lateness: String,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: EmailTransportKind::Outbox,
            from: "rekindle <rekindle@localhost>".into(),
            outbox_dir: PathBuf::from("outbox/email"),
            smtp: SmtpConfig::default(),
            dkim: None,
            unsubscribe_mailto: None,
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
            timeout: "30s".into(),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            provider: SmsProviderKind::Outbox,
            outbox_dir: PathBuf::from("outbox/sms"),
            timeout: "10s".into(),
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
            max_lateness: "24h".into(),
        }
    }
}

/// The frequency cap across all rules: at most `max_messages` sends per customer per `per`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub max_messages: u32,
    /// A duration such as `7d`.
    pub per: String,
}

/// Local times (customer's zone) when a channel stays silent, `HH:MM-HH:MM`; "" disables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuietHoursConfig {
    pub sms: String,
    pub email: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            max_messages: 2,
            per: "7d".into(),
        }
    }
}

impl Default for QuietHoursConfig {
    fn default() -> Self {
        QuietHoursConfig {
            sms: "21:00-08:00".into(),
            email: String::new(),
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Event kinds that count as activity; unset means every kind except `feedback`.
    pub activity_events: Option<Vec<String>>,
    /// Cadence used when a customer has fewer than two gaps between activities in a year.
    pub default_cadence_days: f64,
    pub weights: HealthWeights,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthWeights {
    pub recency: f64,
    pub frequency: f64,
    pub feedback: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules_dir: PathBuf::from("rules"),
            default_timezone: "UTC".into(),
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

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            activity_events: None,
            default_cadence_days: 30.0,
            weights: HealthWeights::default(),
        }
    }
}

impl Default for HealthWeights {
    fn default() -> Self {
        HealthWeights {
            recency: 0.5,
            frequency: 0.3,
            feedback: 0.2,
        }
    }
}

impl HealthConfig {
    /// Whether an event of this kind counts as activity for health and inactivity.
    pub fn is_activity(&self, kind: &str) -> bool {
        match &self.activity_events {
            Some(kinds) => kinds.iter().any(|k| k == kind),
            None => kind != "feedback",
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
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Environment overrides for what operators change per host without editing the file.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(url) = var("REKINDLE_DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database.url = url;
        }
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        for path in [
            &mut self.rules_dir,
            &mut self.email.outbox_dir,
            &mut self.sms.outbox_dir,
        ] {
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
        if jiff::tz::TimeZone::get(&self.default_timezone).is_err() {
            return Err(invalid(
                "default_timezone",
                format!("unknown time zone {:?}", self.default_timezone),
            ));
        }
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
        if let Err(e) = crate::rules::parse_duration(&self.policy.per) {
            return Err(invalid("policy.per", e));
        }
        for (key, value) in [
            ("quiet_hours.sms", &self.quiet_hours.sms),
            ("quiet_hours.email", &self.quiet_hours.email),
        ] {
            if let Err(e) = crate::rules::QuietHours::parse(value) {
                return Err(invalid(key, e));
            }
        }
        for (key, value) in [
            ("email.smtp.timeout", &self.email.smtp.timeout),
            ("delivery.max_lateness", &self.delivery.max_lateness),
            ("serve.shutdown_grace", &self.serve.shutdown_grace),
            ("serve.reload_poll", &self.serve.reload_poll),
        ] {
            if let Err(e) = crate::rules::parse_duration(value) {
                return Err(invalid(key, e));
            }
        }
        if let Err(e) = crate::rules::Schedule::parse(&self.serve.health_schedule) {
            return Err(invalid("serve.health_schedule", e));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.listen",
                format!(
                    "expected ADDRESS:PORT such as 127.0.0.1:8080, got {:?}",
                    self.http.listen
                ),
            ));
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
        if self.email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "email.from",
                format!("not a valid sender: {:?}", self.email.from),
            ));
        }
        if let Some(addr) = &self.email.unsubscribe_mailto
            && crate::domain::Email::parse(addr).is_err()
        {
            return Err(invalid(
                "email.unsubscribe_mailto",
                format!("not an email address: {addr:?}"),
            ));
        }
        if let Err(e) = crate::rules::parse_duration(&self.sms.timeout) {
            return Err(invalid("sms.timeout", e));
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
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "public_url",
                format!("expected an http(s) URL, got {url:?}"),
            ));
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
    fn unknown_time_zone_is_rejected() {
        let c = Config::parse("default_timezone = \"Mars/Olympus\"", Path::new("r.toml")).unwrap();
        let msg = c.validate("r.toml").unwrap_err().to_string();
        assert!(
            msg.contains("default_timezone") && msg.contains("Mars/Olympus"),
            "{msg}"
        );
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
