//! rekindle: keeps a small business's customers from drifting away.
//!
//! The pure core ([`health`]) is wrapped by thin adapters: [`store`] (all SQL), [`import`]
//! (CSV), and the CLI in `main.rs`.

pub mod config;
pub mod demo;
pub mod domain;
pub mod evaluate;
pub mod health;
pub mod import;
pub mod preview;
pub mod profile;
pub mod recompute;
pub mod rules;
pub mod store;
