//! rekindle: keeps a small business's customers from drifting away.
//!
//! The pure core ([`health`]) is wrapped by thin adapters: [`store`] (all SQL), [`import`]
//! (CSV), and the CLI in `main.rs`.

pub mod compose;
pub mod config;
pub mod conversions;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod evaluate;
pub mod health;
pub mod http;
pub mod import;
pub mod insights;
pub mod instance;
pub mod links;
pub mod metrics;
pub mod offers;
pub mod outcomes;
pub mod preview;
pub mod profile;
pub mod recompute;
pub mod report;
pub mod rules;
pub mod run_once;
pub mod serve;
pub mod simulate;
pub mod store;
pub mod users;
pub mod wording;
