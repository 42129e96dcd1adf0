//! A small pool of SMTP connections with `TCP_NODELAY` set.
//!
//! lettre's own pooled transport writes a message's body and its final `\r\n.\r\n` in two
//! writes on a socket with Nagle's algorithm on, so every message waits for the server's
//! delayed ACK (about 40 ms): one connection managed about 23 messages a second
//! (`../shared/NOTES.md`, BENCHMARKS.md). lettre offers no way to set the socket option on the
//! connections it makes, so plain and STARTTLS connections are opened here on a socket that has
//! it, and handed to lettre's own `AsyncSmtpConnection` for the protocol. Implicit TLS
//! (`security = "tls"`) stays on lettre's transport.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::Error;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::sync::Semaphore;

/// A connection idle longer than this is checked with NOOP before reuse: servers close idle
/// sessions, and a message must not be the one to find out.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(10);

pub struct SmtpPool {
    host: String,
    port: u16,
    starttls: bool,
    credentials: Option<Credentials>,
    connect_timeout: Duration,
    hello: ClientId,
    /// Idle connections, most recently used last.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// One permit per connection that may exist at once.
    slots: Semaphore,
}

impl SmtpPool {
    pub fn new(
        host: &str,
        port: u16,
        starttls: bool,
        credentials: Option<Credentials>,
        connect_timeout: Duration,
        size: u32,
    ) -> SmtpPool {
        SmtpPool {
            host: host.to_string(),
            port,
            starttls,
            credentials,
            connect_timeout,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(size.max(1) as usize),
        }
    }

    /// Sends one message on a pooled connection (opening one when none is idle), within
    /// `deadline` from the moment a connection slot is free: waiting for a slot is not the
    /// server's silence. A connection that saw any error is dropped, never reused.
    pub async fn send(
        &self,
        envelope: &Envelope,
        message: &[u8],
        deadline: Duration,
    ) -> Result<Response, PoolError> {
        let _slot = self.slots.acquire().await.expect("the semaphore is never closed");
        tokio::time::timeout(deadline, self.send_now(envelope, message))
            .await
            .map_err(|_| PoolError::Timeout(deadline))?
    }

    async fn send_now(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, PoolError> {
        let mut conn = match self.take_idle().await {
            Some(c) => c,
            None => self.connect().await?,
        };
        let result = conn.send(envelope, message).await;
        if result.is_ok() && !conn.has_broken() {
            self.idle.lock().expect("pool lock").push((conn, Instant::now()));
        }
        Ok(result?)
    }

    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.idle.lock().expect("pool lock").pop()?;
            if since.elapsed() < CHECK_AFTER_IDLE || conn.test_connected().await {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, PoolError> {
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| {
            PoolError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection timed out",
            ))
        })?
        .map_err(PoolError::Connect)?;
        tcp.set_nodelay(true).map_err(PoolError::Connect)?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
        if self.starttls {
            conn.starttls(TlsParameters::new(self.host.clone())?, &self.hello)
                .await?;
        }
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
        }
        Ok(conn)
    }
}

/// Why a send through the pool failed: the TCP connection could not be opened (nothing was
/// sent), or lettre reports an SMTP-level error.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot connect to the SMTP server: {0}")]
    Connect(std::io::Error),
    #[error(transparent)]
    Smtp(#[from] Error),
    /// The exchange took longer than the deadline: the message may have arrived.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}
