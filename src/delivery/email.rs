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
use crate::links::{LinkKind, LinkSigner, Segment};
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

pub struct EmailSender {
    transport: Transport,
    /// The longest one SMTP exchange may take.
    deadline: Duration,
    /// Signs the unsubscribe link when `public_url` is configured.
    links: Option<LinkSigner>,
    mailto: Option<(String, LinkSigner)>,
    dkim: Option<DkimConfig>,
    from: Mailbox,
    domain: String,
    /// Who sends it and where they are (`[business]`): bulk-mail rules expect a postal address.
    footer: Option<String>,
}

/// What one email says.
pub struct Email<'a> {
    pub message_id: i64,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// The body's URLs that become tracked links, in order (written by the marketer).
    pub links: &'a [String],
}

impl EmailSender {
    /// Adds the business's name and address under every email.
    pub fn with_sender_footer(mut self, business: &crate::config::BusinessConfig) -> EmailSender {
        let parts: Vec<&str> = [business.name.as_deref(), business.address.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect();
        self.footer = (!parts.is_empty()).then(|| parts.join(" · "));
        self
    }

    pub fn new(
        cfg: &EmailConfig,
        secrets: &Secrets,
        public_url: Option<&str>,
    ) -> Result<EmailSender, EmailSetupError> {
        let Unsubscribe { links, mailto } = Unsubscribe::from_config(cfg, secrets, public_url)?;
        let transport = match cfg.transport {
            EmailTransportKind::Outbox => {
                std::fs::create_dir_all(&cfg.outbox_dir).map_err(|source| EmailSetupError::Outbox {
                    dir: cfg.outbox_dir.display().to_string(),
                    source,
                })?;
                Transport::Outbox(AsyncFileTransport::new(&cfg.outbox_dir))
            }
            EmailTransportKind::Smtp => {
                let s = &cfg.smtp;
                let timeout = s.timeout;
                let credentials = s.username.as_ref().map(|user| {
                    let password = secrets.smtp_password.as_ref().map_or("", |p| p.expose());
                    Credentials::new(user.clone(), password.to_string())
                });
                match s.security {
                    SmtpSecurity::None | SmtpSecurity::Starttls => Transport::Pooled(SmtpPool::new(
                        &s.host,
                        s.port,
                        s.security == SmtpSecurity::Starttls,
                        credentials,
                        timeout,
                        s.pool_size,
                    )),
                    SmtpSecurity::Tls => {
                        let mut b = AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?
                            .port(s.port)
                            .timeout(Some(timeout))
                            .pool_config(PoolConfig::new().max_size(s.pool_size));
                        if let Some(c) = credentials {
                            b = b.credentials(c);
                        }
                        Transport::Smtp(b.build())
                    }
                }
            }
        };
        let from: Mailbox = cfg.from.clone();
        let domain = from.email.domain().to_string();
        let dkim = cfg.dkim.as_ref().map(dkim_config).transpose()?;
        Ok(EmailSender {
            transport,
            deadline: 2 * cfg.smtp.timeout.max(Duration::from_secs(1)),
            links,
            mailto,
            dkim,
            from,
            domain,
            footer: None,
        })
    }

    /// The Message-ID of a message: derived from its id, so every retry carries the same one
    /// and a receiver can drop a copy.
    pub fn message_id_for(&self, message_id: i64) -> String {
        format!("<rekindle.{message_id}@{}>", self.domain)
    }

    /// Builds and sends; returns the Message-ID.
    pub async fn send(&self, e: &Email<'_>) -> Result<String, Failure> {
        let permanent = |message: String| Failure::Permanent {
            code: None,
            message,
            hard_bounce: false,
            opt_out: false,
        };
        let to: Mailbox =
            e.to.parse()
                .map_err(|_| permanent(format!("invalid recipient {:?}", e.to)))?;
        let id = self.message_id_for(e.message_id);
        let unsubscribe = self
            .links
            .as_ref()
            .map(|l| l.url(LinkKind::Unsubscribe, e.message_id));
        let mailto = self.mailto.as_ref().map(|(addr, signer)| {
            let subject = format!(
                "{MAILTO_SUBJECT_PREFIX}{}",
                signer.token(LinkKind::Unsubscribe, e.message_id)
            );
            (addr.as_str(), subject)
        });
        let (mut text, mut html) = bodies(e.body, e.links, e.message_id, self.links.as_ref());
        if let Some(footer) = &self.footer {
            text.push_str(&format!("\n\n{footer}"));
            html.push_str(&format!(
                "<p style=\"font-size:small;color:#555\">{}</p>",
                minijinja::HtmlEscape(footer)
            ));
        }
        if let Some(url) = &unsubscribe {
            text.push_str(&format!("\n\n--\nUnsubscribe: {url}\n"));
            html.push_str(&format!(
                "<p style=\"font-size:small\"><a href=\"{}\">Unsubscribe</a></p>",
                minijinja::HtmlEscape(url)
            ));
        } else if let Some((addr, subject)) = &mailto {
            text.push_str(&format!(
                "\n\n--\nTo unsubscribe, reply to {addr} with the subject {subject}\n"
            ));
            html.push_str(&format!(
                "<p style=\"font-size:small\"><a href=\"mailto:{}?subject={}\">Unsubscribe</a></p>",
                minijinja::HtmlEscape(addr),
                minijinja::HtmlEscape(subject)
            ));
        }
        if let Some(l) = &self.links {
            html.push_str(&format!(
                "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\">",
                minijinja::HtmlEscape(&l.url(LinkKind::Open, e.message_id))
            ));
        }
        let html = format!("<!doctype html><html><body>{html}</body></html>");
        let mut builder = Message::builder();
        let mut list_unsubscribe: Vec<String> = Vec::new();
        if let Some(url) = &unsubscribe {
            list_unsubscribe.push(format!("<{url}>"));
        }
        if let Some((addr, subject)) = &mailto {
            list_unsubscribe.push(format!("<mailto:{addr}?subject={subject}>"));
        }
        if !list_unsubscribe.is_empty() {
            builder = builder.raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, list_unsubscribe.join(", ")));
        }
        if unsubscribe.is_some() {
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
            .map_err(|err| permanent(format!("cannot build the email: {err}")))?;
        if let Some(d) = &self.dkim {
            dkim_sign(&mut message, d);
        }
        match &self.transport {
            Transport::Outbox(t) => t
                .send(message)
                .await
                .map(|_| id)
                .map_err(|err| Failure::transient(format!("writing to the outbox failed: {err}"), false)),
            // lettre's timeouts do not cover every read of the async transport: a server that
            // goes silent after DATA would hold the attempt forever. The deadline covers the
            // whole exchange; what happened to the message is then unknown.
            Transport::Pooled(pool) => {
                let envelope = message.envelope().clone();
                let raw = message.formatted();
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
            Transport::Smtp(t) => match tokio::time::timeout(self.deadline, t.send(message)).await {
                Ok(sent) => sent.map(|_| id).map_err(|err| classify_smtp(&err)),
                Err(_) => Err(Failure::transient(
                    PoolError::Timeout(self.deadline).to_string(),
                    true,
                )),
            },
        }
    }
}

/// The plain-text and HTML bodies. The text is what the marketer wrote; the HTML part escapes
/// all of it, so no customer data can inject markup. The URLs in `tracked` (those the marketer
/// wrote, in order) become links, signed click-tracking links with public links; any other
/// URL — one that came from customer data — stays plain text, never a redirect of ours.
fn bodies(body: &str, tracked: &[String], message_id: i64, links: Option<&LinkSigner>) -> (String, String) {
    let mut text = String::with_capacity(body.len());
    let mut html = String::from("<p>");
    let mut n = 0;
    for segment in crate::links::segments(body) {
        let escaped = |t: &str| minijinja::HtmlEscape(t).to_string().replace('\n', "<br>\n");
        match segment {
            Segment::Text(t) => {
                text.push_str(t);
                html.push_str(&escaped(t));
            }
            Segment::Url(u) if tracked.get(n).is_none_or(|next| next != u) => {
                text.push_str(u);
                html.push_str(&escaped(u));
            }
            Segment::Url(u) => {
                let target = links.map_or_else(|| u.to_string(), |l| l.click_url(message_id, n));
                n += 1;
                text.push_str(&target);
                html.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    minijinja::HtmlEscape(&target),
                    minijinja::HtmlEscape(u)
                ));
            }
        }
    }
    html.push_str("</p>");
    (text, html)
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
