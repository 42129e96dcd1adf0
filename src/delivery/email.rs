//! Email through lettre: an outbox directory (the default, nothing leaves the machine) or SMTP.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::retry::Failure;
use super::smtp_pool::{PoolError, SmtpPool};
use crate::config::{DkimAlgorithm, EmailConfig, EmailTransportKind, Secrets, SmtpSecurity};
use crate::links::{LinkKind, LinkSigner};
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
    dkim_sign,
};

#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error("email.outbox_dir {dir}: {source}")]
    Outbox { dir: String, source: std::io::Error },
    #[error("email.smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error(transparent)]
    Secret(#[from] crate::links::SecretError),
    /// Bulk email without a way out is what spam filters and the law punish, and what angers
    /// customers: the SMTP transport refuses to start without one.
    #[error(
        "email over SMTP needs a working unsubscribe: either set public_url and {secret} (one-click links), \
         or set [email] unsubscribe_mailto = \"unsubscribe@your-domain\" and {secret} (replies to that mailbox \
         are applied with `rekindle unsubscribe --token T`)",
        secret = crate::links::SECRET_VAR
    )]
    NoUnsubscribe,
    #[error("email.dkim: cannot use the key {file}: {message}")]
    Dkim { file: String, message: String },
    #[error("email.style.layout: {0}")]
    Layout(#[from] crate::compose::LayoutError),
}

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    /// Plain or STARTTLS: our pool of lettre connections on TCP_NODELAY sockets.
    Pooled(SmtpPool),
    /// Implicit TLS: lettre's own pooled transport.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// How a recipient leaves: one-click links (`public_url`), a mailbox (`unsubscribe_mailto`),
/// or both. Tokens are signed either way.
pub struct Unsubscribe {
    /// Signs links when `public_url` is configured.
    links: Option<LinkSigner>,
    /// The mailbox and the signer of the tokens in its subject line.
    mailto: Option<(String, LinkSigner)>,
}

impl Unsubscribe {
    /// What the configuration and environment provide; with the SMTP transport, no way to
    /// unsubscribe at all is an error (the outbox transport sends nothing to anyone).
    pub fn from_config(
        cfg: &EmailConfig,
        secrets: &Secrets,
        public_url: Option<&str>,
    ) -> Result<Unsubscribe, EmailSetupError> {
        let signer = LinkSigner::from_secrets(public_url, secrets)?;
        let mailto = match (&cfg.unsubscribe_mailto, &signer) {
            (Some(addr), Some(s)) => Some((addr.as_str().to_string(), s.clone())),
            (Some(_), None) => {
                return Err(crate::links::SecretError::Missing {
                    what: "email.unsubscribe_mailto",
                }
                .into());
            }
            (None, _) => None,
        };
        let links = signer.filter(LinkSigner::has_public_url);
        if cfg.transport == EmailTransportKind::Smtp && links.is_none() && mailto.is_none() {
            return Err(EmailSetupError::NoUnsubscribe);
        }
        Ok(Unsubscribe { links, mailto })
    }
}

/// The subject line a mailto unsubscribe carries: the mailbox's reader (or a filter) passes
/// the token to `rekindle unsubscribe --token`.
pub const MAILTO_SUBJECT_PREFIX: &str = "unsubscribe-";

/// Builds the email of a message: the business's layout around the Markdown body, the
/// footer and ways out, the headers, the DKIM signature. Kept apart from the transport so
/// that `rekindle render` shows exactly what would be sent.
pub struct EmailComposer {
    /// Signs the unsubscribe link when `public_url` is configured.
    links: Option<LinkSigner>,
    mailto: Option<(String, LinkSigner)>,
    dkim: Option<DkimConfig>,
    from: Mailbox,
    domain: String,
    branding: crate::compose::Branding,
    default_language: String,
}

pub struct EmailSender {
    transport: Transport,
    /// The longest one SMTP exchange may take.
    deadline: Duration,
    composer: EmailComposer,
}

/// What one email says, as its decision recorded it.
pub struct Email<'a> {
    pub message_id: i64,
    pub to: &'a str,
    pub subject: &'a str,
    pub preheader: Option<&'a str>,
    /// Markdown, customer data escaped.
    pub body: &'a str,
    /// (text, url)
    pub button: Option<(&'a str, &'a str)>,
    /// The language the text is written in (`None`: `[messages] default_language`).
    pub language: Option<&'a str>,
    /// The URLs that become tracked links, in order (written by the marketer; the button's
    /// last).
    pub links: &'a [String],
}

/// How a reader leaves: the one-click unsubscribe URL, and the mailbox and subject of a reply
/// that unsubscribes.
struct WaysOut {
    url: Option<String>,
    mailto: Option<(String, String)>,
}

/// Whether links go through the click tracker (a sent email) or straight to their
/// destinations (`rekindle render`, which has no message to count clicks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    On,
    Off,
}

impl EmailComposer {
    pub fn new(cfg: &crate::config::Config) -> Result<EmailComposer, EmailSetupError> {
        let Unsubscribe { links, mailto } =
            Unsubscribe::from_config(&cfg.email, &cfg.secrets, cfg.public_url.as_deref())?;
        let from: Mailbox = cfg.email.from.clone();
        let domain = from.email.domain().to_string();
        let dkim = cfg.email.dkim.as_ref().map(dkim_config).transpose()?;
        Ok(EmailComposer {
            links,
            mailto,
            dkim,
            from,
            domain,
            branding: crate::compose::Branding::from_config(cfg)?,
            default_language: cfg.messages.default_language.as_str().to_string(),
        })
    }

    /// The Message-ID of a message: derived from its id, so every retry carries the same one
    /// and a receiver can drop a copy.
    pub fn message_id_for(&self, message_id: i64) -> String {
        format!("<rekindle.{message_id}@{}>", self.domain)
    }

    /// The unsubscribe link and the mailto way out of a message, each signed once: the footer
    /// and the List-Unsubscribe header carry the same.
    fn ways_out(&self, message_id: i64) -> WaysOut {
        WaysOut {
            url: self
                .links
                .as_ref()
                .map(|l| l.url(LinkKind::Unsubscribe, message_id)),
            mailto: self.mailto.as_ref().map(|(addr, signer)| {
                let subject = format!(
                    "{MAILTO_SUBJECT_PREFIX}{}",
                    signer.token(LinkKind::Unsubscribe, message_id)
                );
                (addr.clone(), subject)
            }),
        }
    }

    /// The two bodies of an email.
    pub fn compose(&self, e: &Email<'_>, tracking: Tracking) -> Result<crate::compose::Composed, String> {
        self.compose_with(e, tracking, self.ways_out(e.message_id))
    }

    fn compose_with(
        &self,
        e: &Email<'_>,
        tracking: Tracking,
        ways: WaysOut,
    ) -> Result<crate::compose::Composed, String> {
        let WaysOut {
            url: unsubscribe_url,
            mailto,
        } = ways;
        let tracker = self.links.as_ref().filter(|_| tracking == Tracking::On);
        let exits = crate::compose::Exits {
            unsubscribe_url,
            mailto,
            open_pixel: tracker.map(|l| l.url(LinkKind::Open, e.message_id)),
        };
        let track = |n: usize| tracker.map(|l| l.click_url(e.message_id, n));
        let parts = crate::compose::Parts {
            subject: e.subject,
            preheader: e.preheader,
            body: e.body,
            button: e.button,
            language: e.language.unwrap_or(&self.default_language),
            tracked: e.links,
        };
        crate::compose::compose(&parts, &self.branding, &exits, &track)
            .map_err(|err| format!("the email layout cannot be rendered: {err}"))
    }

    /// The whole message, headers and signature included; returns its Message-ID too.
    pub fn build(&self, e: &Email<'_>, tracking: Tracking) -> Result<(Message, String), String> {
        let to: Mailbox =
            e.to.parse()
                .map_err(|_| format!("invalid recipient {:?}", e.to))?;
        let id = self.message_id_for(e.message_id);
        let ways = self.ways_out(e.message_id);
        let mut list_unsubscribe: Vec<String> = Vec::new();
        if let Some(url) = &ways.url {
            list_unsubscribe.push(format!("<{url}>"));
        }
        if let Some((addr, subject)) = &ways.mailto {
            list_unsubscribe.push(format!("<mailto:{addr}?subject={subject}>"));
        }
        let one_click = ways.url.is_some();
        let crate::compose::Composed { html, text } = self.compose_with(e, tracking, ways)?;
        // The envelope is the message's own sender and recipient; given here, lettre does not
        // parse them back out of the formatted headers (1 % of a delivery's CPU).
        let envelope = lettre::address::Envelope::new(Some(self.from.email.clone()), vec![to.email.clone()])
            .map_err(|err| format!("cannot build the email: {err}"))?;
        let mut builder = Message::builder().envelope(envelope);
        if !list_unsubscribe.is_empty() {
            builder = builder.raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, list_unsubscribe.join(", ")));
        }
        if one_click {
            // RFC 8058 one-click unsubscribe: mail clients show an unsubscribe button that POSTs.
            builder = builder.raw_header(HeaderValue::new(
                LIST_UNSUBSCRIBE_POST,
                "List-Unsubscribe=One-Click".to_string(),
            ));
        }
        let mut message = builder
            .from(self.from.clone())
            .to(to)
            .subject(e.subject.replace(['\r', '\n'], " "))
            .message_id(Some(id.clone()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|err| format!("cannot build the email: {err}"))?;
        if let Some(d) = &self.dkim {
            dkim_sign(&mut message, d);
        }
        Ok((message, id))
    }
}

impl EmailSender {
    pub fn new(config: &crate::config::Config) -> Result<EmailSender, EmailSetupError> {
        let composer = EmailComposer::new(config)?;
        let cfg = &config.email;
        let transport = match cfg.transport {
            EmailTransportKind::Outbox => {
                std::fs::create_dir_all(&cfg.outbox_dir).map_err(|source| EmailSetupError::Outbox {
                    dir: cfg.outbox_dir.display().to_string(),
                    source,
                })?;
                Transport::Outbox(AsyncFileTransport::new(&cfg.outbox_dir))
            }
            EmailTransportKind::Smtp => smtp_transport(cfg, &config.secrets)?,
        };
        Ok(EmailSender {
            transport,
            deadline: 2 * cfg.smtp.timeout.max(Duration::from_secs(1)),
            composer,
        })
    }

    pub fn message_id_for(&self, message_id: i64) -> String {
        self.composer.message_id_for(message_id)
    }

    /// Builds, signs and formats the email: all the CPU work of a send, done
    /// before a connection slot is taken so that a slot is only ever waiting on the server.
    /// A message that cannot be built fails for good (retrying would build it the same way).
    pub fn prepare(&self, e: &Email<'_>) -> Result<Prepared, Failure> {
        let (message, id) = self
            .composer
            .build(e, Tracking::On)
            .map_err(|message| Failure::Permanent {
                code: None,
                message,
                hard_bounce: false,
                opt_out: false,
            })?;
        Ok(Prepared {
            id,
            envelope: message.envelope().clone(),
            raw: message.formatted(),
        })
    }

    /// Sends a prepared email; returns its Message-ID.
    pub async fn transmit(&self, prepared: Prepared) -> Result<String, Failure> {
        let Prepared { id, envelope, raw } = prepared;
        match &self.transport {
            Transport::Outbox(t) => t
                .send_raw(&envelope, &raw)
                .await
                .map(|_| id)
                .map_err(|err| Failure::transient(format!("writing to the outbox failed: {err}"), false)),
            // lettre's timeouts do not cover every read of the async transport: a server that
            // goes silent after DATA would hold the attempt forever. The deadline covers the
            // whole exchange; what happened to the message is then unknown.
            Transport::Pooled(pool) => {
                match pool.send(&envelope, &raw, self.deadline).await {
                    Ok(_) => Ok(id),
                    Err(PoolError::Smtp(err)) => Err(classify_smtp(&err)),
                    // A refused connection sent nothing; a timeout may have delivered it.
                    Err(e) => Err(Failure::transient(
                        e.to_string(),
                        matches!(e, PoolError::Timeout(_)),
                    )),
                }
            }
            Transport::Smtp(t) => {
                match tokio::time::timeout(self.deadline, t.send_raw(&envelope, &raw)).await {
                    Ok(sent) => sent.map(|_| id).map_err(|err| classify_smtp(&err)),
                    Err(_) => Err(Failure::transient(
                        PoolError::Timeout(self.deadline).to_string(),
                        true,
                    )),
                }
            }
        }
    }
}

/// An email composed, signed and formatted: the bytes any transport sends.
pub struct Prepared {
    id: String,
    envelope: lettre::address::Envelope,
    raw: Vec<u8>,
}

fn smtp_transport(cfg: &EmailConfig, secrets: &Secrets) -> Result<Transport, EmailSetupError> {
    let s = &cfg.smtp;
    let credentials = s.username.as_ref().map(|user| {
        let password = secrets.smtp_password.as_ref().map_or("", |p| p.expose());
        Credentials::new(user.clone(), password.to_string())
    });
    Ok(match s.security {
        SmtpSecurity::None | SmtpSecurity::Starttls => Transport::Pooled(SmtpPool::new(
            &s.host,
            s.port,
            s.security == SmtpSecurity::Starttls,
            credentials,
            s.timeout,
            s.pool_size,
        )),
        SmtpSecurity::Tls => {
            let mut b = AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?
                .port(s.port)
                .timeout(Some(s.timeout))
                .pool_config(PoolConfig::new().max_size(s.pool_size));
            if let Some(c) = credentials {
                b = b.credentials(c);
            }
            Transport::Smtp(b.build())
        }
    })
}

fn dkim_config(d: &crate::config::DkimConfig) -> Result<DkimConfig, EmailSetupError> {
    let err = |message: String| EmailSetupError::Dkim {
        file: d.key_file.display().to_string(),
        message,
    };
    let key = std::fs::read_to_string(&d.key_file).map_err(|e| err(e.to_string()))?;
    let algorithm = match d.algorithm {
        DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
    };
    let key = DkimSigningKey::new(key.trim(), algorithm).map_err(|e| err(e.to_string()))?;
    // lettre's default set leaves out Message-ID and the List-Unsubscribe headers.
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect();
    let canonicalization = DkimCanonicalization {
        header: DkimCanonicalizationType::Relaxed,
        body: DkimCanonicalizationType::Relaxed,
    };
    Ok(DkimConfig::new(
        d.selector.clone(),
        d.domain.clone(),
        key,
        headers,
        canonicalization,
    ))
}

/// 4xx and connection trouble are transient; 5xx permanent, and a 5xx that says the mailbox
/// does not exist (550, 551, 553, or an enhanced 5.1.x) is a hard bounce.
fn classify_smtp(err: &lettre::transport::smtp::Error) -> Failure {
    let code = err.status().map(|c| c.to_string());
    let message = err.to_string();
    if err.is_permanent() {
        let hard_bounce = matches!(code.as_deref(), Some("550" | "551" | "553")) || message.contains("5.1.");
        Failure::Permanent {
            code,
            message,
            hard_bounce,
            opt_out: false,
        }
    } else {
        // lettre does not say which command timed out; a silence after the end of DATA may
        // mean the message arrived, so every timeout is recorded as "outcome unknown" (over-
        // rather than under-reported). The retry carries the same Message-ID.
        let outcome_unknown = err.is_timeout();
        Failure::Transient {
            code,
            message,
            retry_after: None,
            outcome_unknown,
            retry_limit: None,
        }
    }
}
