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
    let config = Arc::new(config);
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;

    let rules_seen = reload::fingerprint(&config.rules_dir);
    let set = reload::load_logged(&config.rules_dir, "start-up").map_err(ServeError::Rules)?;
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
        tracing::warn!("no API token configured (REKINDLE_API_TOKENS): the ingest API refuses every request");
    }
    let evaluations = state.evaluations.clone();
    let http = {
        let stop = stop.clone();
        let limits = crate::http::server::ConnectionLimits {
            header_timeout: config.http.header_timeout,
            max_connections: config.http.max_connections,
        };
        tokio::spawn(async move {
            crate::http::server::serve(listener, crate::http::router(state), limits, stop).await;
            Ok::<(), std::io::Error>(())
        })
    };
    let scheduler = tokio::spawn(
        scheduler::Scheduler {
            store: store.clone(),
            config: config.clone(),
            instance: instance.clone(),
            rules: rules_rx,
            health: evaluations,
        }
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

    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
    tracing::info!(%addr, instance, backend = store.backend(), "rekindle is serving");
    // Tests and scripts read the bound address (the port may have been 0) from stdout.
    println!("listening on http://{addr}");

    // A task that ends before the service is told to stop has crashed (a panic) or given up:
    // the service stops too, with an error, so that systemd restarts it instead of leaving a
    // process that answers /healthz while nothing is scheduled or delivered.
    let (mut scheduler, mut feeder, mut reloader, mut failures) = (scheduler, feeder, reloader, failures);
    let mut http = http;
    let mut workers = workers;
    let crashed: Option<&'static str> = tokio::select! {
        _ = terminate.recv() => { tracing::info!(signal = "SIGTERM", grace_seconds = grace.as_secs(), "stopping"); None }
        _ = interrupt.recv() => { tracing::info!(signal = "SIGINT", grace_seconds = grace.as_secs(), "stopping"); None }
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
    let http_result = if crashed == Some("the HTTP server") {
        Ok(Ok(()))
    } else {
        (&mut http).await
    };
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
    store.close().await;
    match tally {
        Ok(Ok(t)) => tracing::info!(sent = t.sent, retry = t.retry, failed = t.failed, "stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "the delivery workers stopped with an error"),
        Err(e) => tracing::error!(error = %e, "the delivery workers panicked"),
    }
    if let Some(task) = crashed {
        return Err(ServeError::TaskEnded(task));
    }
    match http_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServeError::Http(e)),
        Err(e) => Err(ServeError::Http(std::io::Error::other(e))),
    }
}

/// Logs a task that ended while the service was running; returns its name.
fn ended(task: &'static str, panic: Option<tokio::task::JoinError>) -> &'static str {
    match panic {
        Some(e) => tracing::error!(task, error = %e, "a task of the service crashed; stopping"),
        None => tracing::error!(task, "a task of the service ended unexpectedly; stopping"),
    }
    task
}
