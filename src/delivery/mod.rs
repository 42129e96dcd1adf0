//! Delivery: turning recorded `send` decisions into emails and SMS. The `messages` table is the
//! ledger and the source of truth; queue jobs only carry message ids, and a job first claims
//! its messages, so a duplicated or re-run job can never send twice.

pub mod email;
pub mod forget;
pub mod group_commit;
pub mod queue;
pub mod retry;
pub mod sms;
mod smtp_pool;
pub mod summary;
pub mod throttle;

use email::{Email, EmailSender};
use retry::{Failure, backoff_seconds};
use sms::{Sms, SmsSender};

use crate::config::Config;
use crate::domain::{Channel, MessageStatus};
use crate::store::{ClaimedMessage, Finish, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Email(#[from] email::EmailSetupError),
    #[error(transparent)]
    Sms(#[from] sms::SmsSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The time the ledger records: the wall clock, or a fixed instant for `run --once --at T`
/// (so a replay of the past schedules and expires exactly as it would have then).
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(i64),
}

impl Clock {
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => jiff::Timestamp::now().as_second(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// How one job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    Sent,
    Retry,
    Failed,
    Bounced,
    Skipped,
    Expired,
    /// Someone else has it, or it is finished: nothing was done.
    NotClaimed,
}

impl Attempted {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Attempted::Sent => "sent",
            Attempted::Retry => "retry",
            Attempted::Failed => "failed",
            Attempted::Bounced => "bounced",
            Attempted::Skipped => "skipped",
            Attempted::Expired => "expired",
            Attempted::NotClaimed => "not_claimed",
        }
    }
}

/// A message this instance claimed, and when: a claim read long ago is read again before
/// the message goes out.
#[derive(Debug)]
pub struct Claimed {
    pub message: ClaimedMessage,
    pub at: std::time::Instant,
}

/// A message's place in its batch's line for the channel: each message of a batch is a task of
/// its own, and takes its channel slot only once the message before it has taken one (or
/// ended), so a batch still starts its messages in order, oldest first, whichever task the
/// runtime happens to poll first.
pub struct Turn {
    after: Option<tokio::sync::oneshot::Receiver<()>>,
    then: tokio::sync::oneshot::Sender<()>,
}

impl Turn {
    /// The turns of `n` messages, in order.
    pub fn line(n: usize) -> Vec<Turn> {
        let mut after = None;
        (0..n)
            .map(|_| {
                let (then, next) = tokio::sync::oneshot::channel();
                Turn {
                    after: after.replace(next),
                    then,
                }
            })
            .collect()
    }

    /// Waits for the message before to have its slot (or to have ended without one).
    async fn wait(&mut self) {
        if let Some(before) = self.after.take() {
            let _ = before.await;
        }
    }

    /// Lets the next message go.
    fn pass(self) {
        let _ = self.then.send(());
    }
}

/// How long a claim's reading of the customer's consent is trusted; older ones are re-read
/// before sending.
const STALE_CONTACT: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Deliverer {
    pub store: Store,
    pub instance: String,
    pub clock: Clock,
    ledger: group_commit::Ledger,
    email: EmailSender,
    sms: SmsSender,
    email_throttle: throttle::Throttle,
    sms_throttle: throttle::Throttle,
    max_attempts: i64,
    max_lateness: i64,
}

impl Deliverer {
    pub fn new(
        store: Store,
        cfg: &Config,
        instance: String,
        clock: Clock,
    ) -> Result<Deliverer, DeliveryError> {
        Ok(Deliverer {
            ledger: group_commit::Ledger::start(store.clone()),
            store,
            instance,
            clock,
            email: EmailSender::new(cfg)?,
            sms: SmsSender::new(&cfg.sms, &cfg.secrets, cfg.public_url.as_deref())?,
            email_throttle: throttle::Throttle::new(cfg.delivery.email),
            sms_throttle: throttle::Throttle::new(cfg.delivery.sms),
            max_attempts: i64::from(cfg.delivery.max_attempts),
            max_lateness: cfg.delivery.max_lateness.as_secs() as i64,
        })
    }

    /// Claims the queued, due messages among `ids` for this instance in one statement, in
    /// the order given (a batch's oldest first). Those not there to take — sent, claimed by
    /// someone else, not due — are left out.
    pub async fn claim(&self, ids: &[i64]) -> Result<Vec<Claimed>, StoreError> {
        let at = self.clock.now();
        let mut taken = self.store.claim_messages(ids, &self.instance, at).await?;
        let order: std::collections::HashMap<i64, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        taken.sort_by_key(|m| order.get(&m.id).copied());
        let read = std::time::Instant::now();
        Ok(taken
            .into_iter()
            .map(|message| Claimed { message, at: read })
            .collect())
    }

    /// Gives back claimed messages that were never started (a stop came first): they are
    /// queued again as they were, their claim's attempt not counted.
    pub async fn release_unstarted(&self, ids: &[i64]) -> Result<u64, StoreError> {
        self.store
            .release_unstarted(ids, &self.instance, self.clock.now())
            .await
    }

    /// One attempt at a claimed message. Must be called inside the tokio runtime (the
    /// ledger's writer is a task).
    pub async fn attempt(&self, claimed: Claimed, mut turn: Turn) -> Result<Attempted, StoreError> {
        let Claimed { message: mut m, at } = claimed;
        // Whatever way this attempt ends, it ends with a finish: the ledger waits for it.
        let _expected = self.ledger.expect();
        let id = m.id;
        let now = self.clock.now();
        // apalis re-runs orphaned jobs without looking at attempts: the ledger decides.
        if m.attempts > self.max_attempts {
            self.ledger
                .finish(
                    id,
                    Finish::ended(MessageStatus::Failed, Some("attempts_exhausted")),
                    now,
                )
                .await?;
            return Ok(Attempted::Failed);
        }
        if now > m.scheduled_at + self.max_lateness {
            self.ledger
                .finish(
                    id,
                    Finish::ended(MessageStatus::Expired, Some("max_lateness")),
                    now,
                )
                .await?;
            tracing::info!(message = id, rule = %m.rule_id, customer = %m.customer_external_id, "expired: too late to send");
            return Ok(Attempted::Expired);
        }
        // The email is built before the channel's slot is taken: a slot is a connection to the
        // provider, and composing while holding one kept it idle (BENCHMARKS.md).
        let early = match (m.channel, usable_address(&m)) {
            (Channel::Email, Ok(address)) => Some((address.to_string(), self.prepare_email(&m, address))),
            _ => None,
        };
        // A message claimed with its batch may have waited for a slot or the channel's rate;
        // what it read then may be stale, and an unsubscribe since must still win.
        // (One that may not be sent skips at once, without waiting for the rate.)
        turn.wait().await;
        let channel_slot = match (usable_address(&m).is_ok(), m.channel) {
            (false, _) => None,
            (true, Channel::Email) => Some(self.email_throttle.acquire().await),
            (true, Channel::Sms) => Some(self.sms_throttle.acquire().await),
        };
        turn.pass();
        if at.elapsed() > STALE_CONTACT
            && let Some(c) = self.store.contact_now(id).await?
        {
            m.contact = c;
        }
        // Consent is checked again now: an unsubscribe after queueing wins.
        let address = match usable_address(&m) {
            Ok(a) => a,
            Err(reason) => {
                self.ledger
                    .finish(id, Finish::ended(MessageStatus::Skipped, Some(reason)), now)
                    .await?;
                tracing::info!(message = id, rule = %m.rule_id, customer = %m.customer_external_id, reason, "skipped at send time");
                return Ok(Attempted::Skipped);
            }
        };
        let result = match m.channel {
            Channel::Email => {
                // Built again only if the address changed while the message waited: a build
                // that failed would fail the same way for the same address.
                let prepared = match early {
                    Some((built_for, result)) if built_for == address => result,
                    _ => self.prepare_email(&m, address),
                };
                match prepared {
                    Ok(p) => self.email.transmit(p).await,
                    Err(f) => Err(f),
                }
            }
            Channel::Sms => {
                self.sms
                    .send(&Sms {
                        message_id: id,
                        to: address,
                        body: &m.body,
                    })
                    .await
            }
        };
        // The channel's slot is for talking to the provider; the ledger write that follows
        // must not keep a connection idle.
        drop(channel_slot);
        let now = self.clock.now();
        let c = conclude(result, m.attempts, self.max_attempts, now, fastrand::f64());
        self.record(id, c.finish, now).await?;
        if c.opt_out {
            self.store.unsubscribe_by_message(id, Channel::Sms, now).await?;
        }
        if c.attempted == Attempted::Bounced {
            self.store.mark_email_bounced(id, now).await?;
        }
        let outcome = c.attempted;
        tracing::info!(message = id, rule = %m.rule_id, customer = %m.customer_external_id, channel = %m.channel, attempt = m.attempts, outcome = ?outcome, "delivery attempt");
        metrics::counter!(crate::metrics::DELIVERIES, "channel" => m.channel.as_str(), "status" => outcome.label())
            .increment(1);
        if outcome == Attempted::Retry {
            metrics::counter!(crate::metrics::RETRIES, "channel" => m.channel.as_str()).increment(1);
        }
        if outcome == Attempted::Sent && m.carries_offer {
            metrics::counter!(crate::metrics::OFFERS_ISSUED, "rule" => m.rule_id.clone()).increment(1);
        }
        Ok(outcome)
    }
}

impl Deliverer {
    /// The email of a claimed message, composed for `address`.
    fn prepare_email(&self, m: &ClaimedMessage, address: &str) -> Result<email::Prepared, Failure> {
        // The decision wrote the list; one that cannot be read (edited by hand) costs the
        // email its click tracking, not its delivery: its links go straight to their places.
        let links: Vec<String> = match m.links.as_deref().map(serde_json::from_str) {
            None => Vec::new(),
            Some(Ok(links)) => links,
            Some(Err(error)) => {
                tracing::warn!(message = m.id, %error, "the tracked links of the message cannot be read; sent untracked");
                Vec::new()
            }
        };
        // A message decided before bodies were Markdown (no language recorded) is the
        // plain text it was written as.
        let body = match m.language {
            Some(_) => std::borrow::Cow::Borrowed(m.body.as_str()),
            None => std::borrow::Cow::Owned(crate::compose::markdown::escape_all(&m.body)),
        };
        self.email.prepare(&Email {
            message_id: m.id,
            to: address,
            subject: m.subject.as_deref().unwrap_or(""),
            preheader: m.preheader.as_deref(),
            body: &body,
            button: m.button_text.as_deref().zip(m.button_url.as_deref()),
            language: m.language.as_deref(),
            links: &links,
        })
    }

    /// Records the end of an attempt that reached the provider. A failure here would leave the
    /// message `sending` and, after orphan recovery, send it again; a busy or briefly locked
    /// database is worth a few more tries first.
    async fn record(&self, id: i64, f: Finish, now: i64) -> Result<(), StoreError> {
        let mut wait = std::time::Duration::from_millis(200);
        for _ in 0..4 {
            match self.ledger.finish(id, f.clone(), now).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(message = id, error = %e, "recording a delivery failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 3;
                }
            }
        }
        self.ledger.finish(id, f, now).await
    }
}

/// How one attempt ends, decided from what the provider answered: the ledger row to write,
/// what the caller reports, and whether the recipient opted out at the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Conclusion {
    pub finish: Finish,
    pub attempted: Attempted,
    pub opt_out: bool,
}

/// The retry rules in one pure place: a transient failure waits (the provider's
/// `Retry-After`, else exponential backoff with `jitter` in [0, 1)) until its attempts run
/// out; a permanent one ends at once, a hard bounce as `bounced`.
pub fn conclude(
    result: Result<String, Failure>,
    attempts: i64,
    max_attempts: i64,
    now: i64,
    jitter: f64,
) -> Conclusion {
    match result {
        Ok(reference) => Conclusion {
            finish: Finish {
                provider_ref: Some(reference),
                ..Finish::ended(MessageStatus::Sent, None)
            },
            attempted: Attempted::Sent,
            opt_out: false,
        },
        Err(Failure::Transient {
            code,
            message,
            retry_after,
            outcome_unknown,
            retry_limit,
        }) => {
            // Some failures deserve fewer tries than the default (Twilio 30003).
            let limit = retry_limit.map_or(max_attempts, |l| i64::from(l).min(max_attempts));
            let last = attempts >= limit;
            let delay = retry_after.unwrap_or_else(|| backoff_seconds(attempts as u32, jitter));
            Conclusion {
                finish: Finish {
                    status: if last {
                        MessageStatus::Failed
                    } else {
                        MessageStatus::Queued
                    },
                    reason: last.then_some("attempts_exhausted"),
                    provider_ref: None,
                    error_code: code,
                    error: Some(message),
                    outcome_unknown,
                    next_attempt_at: (!last).then_some(now + delay),
                },
                attempted: if last { Attempted::Failed } else { Attempted::Retry },
                opt_out: false,
            }
        }
        Err(Failure::Permanent {
            code,
            message,
            hard_bounce,
            opt_out,
        }) => Conclusion {
            finish: Finish {
                status: if hard_bounce {
                    MessageStatus::Bounced
                } else {
                    MessageStatus::Failed
                },
                reason: Some(if hard_bounce {
                    "hard_bounce"
                } else {
                    "permanent_error"
                }),
                provider_ref: None,
                error_code: code,
                error: Some(message),
                outcome_unknown: false,
                next_attempt_at: None,
            },
            attempted: if hard_bounce {
                Attempted::Bounced
            } else {
                Attempted::Failed
            },
            opt_out,
        },
    }
}

/// The address to use now, or why the customer must not be contacted on this channel.
fn usable_address(m: &ClaimedMessage) -> Result<&str, &'static str> {
    let c = &m.contact;
    let (address, consent, unsubscribed, bounced) = match m.channel {
        Channel::Email => (
            c.email.as_deref(),
            c.consent_email,
            c.unsubscribed_email_at,
            c.email_bounced_at,
        ),
        Channel::Sms => (c.phone.as_deref(), c.consent_sms, c.unsubscribed_sms_at, None),
    };
    match address {
        None => Err("no_contact"),
        Some(_) if unsubscribed.is_some() => Err("unsubscribed"),
        Some(_) if bounced.is_some() => Err("bounced"),
        Some(_) if !consent => Err("no_consent"),
        Some(a) => Ok(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(retry_after: Option<i64>, retry_limit: Option<u32>) -> Result<String, Failure> {
        Err(Failure::Transient {
            code: Some("451".into()),
            message: "greylisted".into(),
            retry_after,
            outcome_unknown: false,
            retry_limit,
        })
    }

    #[test]
    fn a_transient_failure_waits_until_its_attempts_run_out() {
        let c = conclude(transient(None, None), 1, 8, 1_000, 0.5);
        assert_eq!(
            (c.finish.status, c.attempted),
            (MessageStatus::Queued, Attempted::Retry)
        );
        assert_eq!(
            c.finish.next_attempt_at,
            Some(1_000 + 120),
            "2 minutes after the first"
        );
        assert_eq!(c.finish.error.as_deref(), Some("greylisted"));
        let c = conclude(transient(Some(30), None), 3, 8, 1_000, 0.5);
        assert_eq!(
            c.finish.next_attempt_at,
            Some(1_030),
            "the provider's Retry-After wins"
        );
        let c = conclude(transient(None, None), 8, 8, 1_000, 0.5);
        assert_eq!(
            (c.finish.status, c.attempted),
            (MessageStatus::Failed, Attempted::Failed)
        );
        assert_eq!(
            (c.finish.reason, c.finish.next_attempt_at),
            (Some("attempts_exhausted"), None)
        );
        let c = conclude(transient(None, Some(3)), 3, 8, 1_000, 0.5);
        assert_eq!(
            c.attempted,
            Attempted::Failed,
            "a failure allowed fewer tries stops sooner"
        );
    }

    #[test]
    fn a_permanent_failure_ends_at_once_and_a_hard_bounce_is_a_bounce() {
        let permanent = |hard_bounce, opt_out| {
            Err(Failure::Permanent {
                code: Some("550".into()),
                message: "no such user".into(),
                hard_bounce,
                opt_out,
            })
        };
        let c = conclude(permanent(true, false), 1, 8, 5, 0.0);
        assert_eq!(
            (c.finish.status, c.attempted),
            (MessageStatus::Bounced, Attempted::Bounced)
        );
        assert_eq!(c.finish.reason, Some("hard_bounce"));
        let c = conclude(permanent(false, true), 1, 8, 5, 0.0);
        assert_eq!(
            (c.finish.status, c.attempted, c.opt_out),
            (MessageStatus::Failed, Attempted::Failed, true)
        );
        let c = conclude(Ok("<m@x>".into()), 1, 8, 5, 0.0);
        assert_eq!(
            (c.finish.status, c.finish.provider_ref.as_deref()),
            (MessageStatus::Sent, Some("<m@x>"))
        );
    }

    #[tokio::test]
    async fn a_batch_takes_its_turns_in_order_whichever_task_runs_first() {
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Spawned last first: without the turns the runtime would run them in this order.
        for (i, mut turn) in Turn::line(4).into_iter().enumerate().rev() {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                order.lock().unwrap().push(i);
                turn.pass();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_message_that_ends_without_its_turn_lets_the_next_go() {
        let mut line = Turn::line(3);
        let mut last = line.pop().unwrap();
        drop(line.pop()); // the second ended early (skipped, expired, stopping)
        line.pop().unwrap().pass();
        tokio::time::timeout(std::time::Duration::from_secs(5), last.wait())
            .await
            .expect("the third is not held up by the second");
    }
}
