//! The service's Prometheus metrics: names in one place, and the recorder `serve` installs.
//! Without an installed recorder (every other command) the `metrics` macros do nothing.

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub const EVALUATIONS: &str = "rekindle_evaluations_total";
pub const EVALUATION_SECONDS: &str = "rekindle_evaluation_duration_seconds";
pub const DECISIONS: &str = "rekindle_decisions_total";
pub const DELIVERIES: &str = "rekindle_deliveries_total";
pub const RETRIES: &str = "rekindle_delivery_retries_total";
pub const RECEIPTS: &str = "rekindle_receipts_total";
pub const QUEUE_DEPTH: &str = "rekindle_queue_depth";
pub const HTTP_REQUESTS: &str = "rekindle_http_requests_total";
pub const RULE_RELOADS: &str = "rekindle_rule_reloads_total";
pub const RULES_LOADED: &str = "rekindle_rules_loaded";
pub const UNSUBSCRIBES: &str = "rekindle_unsubscribes_total";
/// Offer codes that went out (with the message carrying them), and codes redeemed, per rule.
pub const OFFERS_ISSUED: &str = "rekindle_offers_issued_total";
pub const OFFERS_REDEEMED: &str = "rekindle_offers_redeemed_total";
/// Scheduled evaluations that failed since the last one that succeeded.
pub const EVALUATION_FAILURES_IN_A_ROW: &str = "rekindle_evaluation_failures_in_a_row";

/// Installs the process-wide recorder; `/metrics` renders the handle.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(EVALUATION_SECONDS.to_string()),
            &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0],
        )?
        .install_recorder()
}
