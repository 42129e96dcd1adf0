//! One integration-test binary (one link instead of many on a 2-core machine). Every test runs
//! against a real SQLite file and, where configured, the real PostgreSQL.

mod cli;
mod dashboard;
mod delivery;
mod email_look;
mod fuzz;
mod hardening;
mod health;
mod helpers;
mod http_server;
mod import;
mod in_process;
mod incremental;
mod languages;
mod local_files;
mod locale_history;
mod offers_api;
mod pipeline;
mod recompute;
mod report_page;
mod rules_check;
mod rules_cli;
mod rules_support;
mod series;
mod series_pipeline;
mod serve;
mod service;
mod simulate;
mod sms;
mod sms_segments;
mod smtp;
mod smtp_server;
mod triggers;
mod trust;
mod trust_serve;
mod upgrade;
