//! Pieces of the command line that more than one command uses, and the commands added since
//! `main.rs` stopped growing: each in its own file.

pub mod messages;
pub mod output;
pub mod store_copy;
pub mod suppressions;
pub mod unsubscribe;
pub mod when;
