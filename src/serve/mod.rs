//! `rekindle serve`: the scheduler, the delivery workers and the HTTP server in one process,
//! with systemd integration (READY, WATCHDOG, STOPPING) and a clean shutdown: stop scheduling
//! and accepting requests, let in-flight deliveries finish within the grace period, return
//! what was cut off to the queue, exit 0.

pub mod evaluations;
mod failures;
mod feeder;
mod reload;
mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::delivery::queue::{self, QueueError, Tally};
use crate::delivery::{Clock, Deliverer, DeliveryError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} problem(s) in the rules; fix them (`rekindle rules check`) and start again")]
    Rules(usize),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Secret(#[from] crate::links::SecretError),
    #[error("{0} stopped while the service was running; the service stops so it can be restarted")]
    TaskEnded(&'static str),
}

fn wall() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn notify(state: &[NotifyState]) {
    // Outside systemd there is no NOTIFY_SOCKET and this does nothing.
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Runs until SIGTERM or SIGINT. The store must already be migrated.
pub async fn serve(
    store: Store,
    config: Config,
    metrics: Option<PrometheusHandle>,
) -> Result<(), ServeError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let service = Service::build(store, config, metrics).await?;
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
    // Tests and scripts read the bound address (the port may have been 0) from stdout.
    println!("listening on http://{}", service.addr());
    let stop = service.stop_handle();
    let grace = service.grace;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!(signal = "SIGTERM", grace_seconds = grace.as_secs(), "stopping"),
            _ = interrupt.recv() => tracing::info!(signal = "SIGINT", grace_seconds = grace.as_secs(), "stopping"),
        }
        stop.cancel();
    });
    service.run_until_stopped().await
}

/// The running service: its HTTP server bound, its scheduler, feeder, reloader and delivery
/// workers started. `main` and the in-process tests build it the same way.
pub struct Service {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
    store: Store,
    instance: String,
    grace: Duration,
    scheduler: JoinHandle<()>,
    feeder: JoinHandle<()>,
    reloader: JoinHandle<()>,
    failures: JoinHandle<()>,
    http: JoinHandle<()>,
    workers: JoinHandle<Result<Tally, QueueError>>,
    watchdog: Option<JoinHandle<()>>,
}

impl Service {
    /// Loads the rules (a broken set refuses to start), binds `[http] listen` (port 0 picks a
    /// free one) and starts every task. The store must already be migrated.
    pub async fn build(
        store: Store,
        config: Config,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Service, ServeError> {
        let config = Arc::new(config);
        let rules_seen = reload::fingerprint(&config.rules_dir);
        let set = reload::load_logged(
            &config.rules_dir,
            &config.history.favourite_properties,
            "start-up",
        )
        .map_err(ServeError::Rules)?;
        let (rules_tx, rules_rx) = watch::channel(Some(Arc::new(set)));

        let instance = crate::instance::new_id();
        store.register_instance(&instance, wall()).await?;
        let deliverer = Arc::new(Deliverer::new(
            store.clone(),
            &config,
            instance.clone(),
            Clock::System,
        )?);

        let listener = tokio::net::TcpListener::bind(&config.http.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.http.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(ServeError::Http)?;

        let stop = CancellationToken::new();
        let state = Arc::new(crate::http::AppState::new(
            store.clone(),
            config.clone(),
            rules_rx.clone(),
            metrics.clone(),
        )?);
        if state.tokens.is_empty() {
            tracing::warn!(
                "no API token configured (REKINDLE_API_TOKENS): the ingest API refuses every request"
            );
        }
        let evaluations = state.evaluations.clone();
        let http = {
            let stop = stop.clone();
            let limits = crate::http::server::ConnectionLimits {
                header_timeout: config.http.header_timeout,
                max_connections: config.http.max_connections,
            };
            tokio::spawn(crate::http::server::serve(
                listener,
                crate::http::router(state),
                limits,
                stop,
            ))
        };
        let scheduler = tokio::spawn(
            scheduler::Scheduler::new(
                store.clone(),
                config.clone(),
                instance.clone(),
                rules_rx,
                evaluations,
            )
            .run(stop.clone()),
        );
        let failures = tokio::spawn(failures::run(store.clone(), stop.clone()));
        let feeder = tokio::spawn(
            feeder::Feeder {
                store: store.clone(),
                instance: instance.clone(),
                metrics,
            }
            .run(stop.clone()),
        );
        let poll = config.serve.reload_poll.max(Duration::from_secs(1));
        let reloader = tokio::spawn(reload::run(
            config.rules_dir.clone(),
            config.history.favourite_properties.clone(),
            rules_seen,
            poll,
            rules_tx,
            stop.clone(),
        ));
        let grace = config.serve.shutdown_grace;
        let workers = {
            let stop = stop.clone();
            tokio::spawn(queue::run_workers(
                deliverer,
                config.delivery.concurrency,
                grace,
                move |_| async move { stop.cancelled().await },
            ))
        };
        let watchdog = sd_notify::watchdog_enabled().map(|interval| {
            let store = store.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(interval / 2) => {}
                    }
                    // Only a service that can reach its store is alive in the watchdog's sense.
                    if store.ping().await.is_ok() {
                        notify(&[NotifyState::Watchdog]);
                    }
                }
            })
        });
        tracing::info!(%addr, instance, backend = store.backend(), "rekindle is serving");
        Ok(Service {
            addr,
            stop,
            store,
            instance,
            grace,
            scheduler,
            feeder,
            reloader,
            failures,
            http,
            workers,
            watchdog,
        })
    }

    /// Where the HTTP server listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cancelling it stops the service (what SIGTERM does).
    pub fn stop_handle(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs until stopped; then lets deliveries in flight finish within the grace period,
    /// returns the claims cut off to the queue and leaves. A task that ends on its own while
    /// serving (a panic, or a task giving up) stops the service with an error, so that systemd
    /// restarts it instead of keeping a process that answers /healthz while nothing runs.
    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        let Service {
            stop,
            store,
            instance,
            mut scheduler,
            mut feeder,
            mut reloader,
            mut failures,
            mut http,
            mut workers,
            watchdog,
            ..
        } = self;
        let crashed: Option<&'static str> = tokio::select! {
            // Checked first: once the service is told to stop, tasks ending is expected.
            biased;
            () = stop.cancelled() => None,
            r = &mut scheduler => Some(ended("the scheduler", r.err())),
            r = &mut feeder => Some(ended("the queue feeder", r.err())),
            r = &mut reloader => Some(ended("the rule reloader", r.err())),
            r = &mut failures => Some(ended("the failure summary", r.err())),
            r = &mut http => Some(ended("the HTTP server", r.err())),
            r = &mut workers => Some(ended("the delivery workers", r.err())),
        };
        notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
        stop.cancel();
        // Join what is still running (a finished handle must not be awaited again).
        for (name, handle) in [
            ("the scheduler", &mut scheduler),
            ("the queue feeder", &mut feeder),
            ("the rule reloader", &mut reloader),
            ("the failure summary", &mut failures),
            ("the HTTP server", &mut http),
        ] {
            if crashed != Some(name)
                && let Err(e) = handle.await
            {
                tracing::error!(task = name, error = %e, "task failed while stopping");
            }
        }
        if let Some(w) = watchdog {
            let _ = w.await;
        }
        let tally = if crashed == Some("the delivery workers") {
            Ok(Ok(Tally::default()))
        } else {
            (&mut workers).await
        };
        let released = store.release_claims(&instance, wall()).await?;
        if released > 0 {
            tracing::warn!(
                messages = released,
                "deliveries cut off by the shutdown go back to the queue"
            );
        }
        store.unregister_instance(&instance).await?;
        match tally {
            Ok(Ok(t)) => tracing::info!(sent = t.sent, retry = t.retry, failed = t.failed, "stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "the delivery workers stopped with an error"),
            Err(e) => tracing::error!(error = %e, "the delivery workers panicked"),
        }
        match crashed {
            Some(task) => Err(ServeError::TaskEnded(task)),
            None => Ok(()),
        }
    }
}

/// Logs a task that ended while the service was running; returns its name.
fn ended(task: &'static str, panic: Option<tokio::task::JoinError>) -> &'static str {
    debug_assert!(!task.is_empty());
    match panic {
        Some(e) => tracing::error!(task, error = %e, "a task of the service crashed; stopping"),
        None => tracing::error!(task, "a task of the service ended unexpectedly; stopping"),
    }
    task
}
