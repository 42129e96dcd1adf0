//! The service built in the test's own process (`serve::Service`), as `main` builds it: no
//! binary, no scraping of stdout for the port. The signal and systemd tests keep the binary.

use std::time::Duration;

use rekindle::config::{Config, Secret, Secrets};
use rekindle::serve::Service;
use serde_json::json;

use crate::helpers::{Workspace, backends};

#[tokio::test(flavor = "multi_thread")]
async fn the_service_builds_in_process_answers_and_stops_cleanly() {
    for backend in backends() {
        let ws = Workspace::new(backend);
        ws.write(
            "rules/win-back.toml",
            "id = \"win-back\"\nname = \"W\"\n[trigger]\ntype = \"inactive\"\ndays = 30\n\
             [message]\nchannel = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
        );
        let mut config = Config {
            rules_dir: ws.path("rules"),
            ..Config::default()
        };
        config.email.outbox_dir = ws.path("outbox/email");
        config.sms.outbox_dir = ws.path("outbox/sms");
        config.database.url = ws.db_url.clone();
        config.database.max_connections = 4;
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config.secrets = Secrets {
            api_tokens: Some(Secret::new("in-process-token")),
            ..Secrets::default()
        };
        let store = ws.store().await;
        let service = Service::build(store.clone(), config, None).await.unwrap();
        let base = format!("http://127.0.0.1:{}", service.port());
        let stop = service.stop_handle();
        let running = tokio::spawn(service.run_until_stopped());

        let client = crate::serve::client();
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{backend:?}");
        let put = client
            .put(format!("{base}/v1/customers/ann"))
            .bearer_auth("in-process-token")
            .json(&json!({"name": "Ann", "email": "ann@example.com", "consent_email": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        assert!(store.customer_by_external_id("ann").await.unwrap().is_some());

        stop.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the service stops within its grace period")
            .unwrap();
        assert!(stopped.is_ok(), "{stopped:?}");
        assert!(
            client.get(format!("{base}/healthz")).send().await.is_err(),
            "nothing listens any more"
        );
        store.close().await;
    }
}
