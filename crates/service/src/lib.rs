//! What every AIunittest binary shares at start and stop: one layered configuration loader
//! ([`config`]), the type of every configuration section ([`sections`]), the stop signal and the
//! host name ([`lifecycle`]), the listening socket of an HTTP service ([`listen`]). No service links another service's library; they meet here and in
//! the store.

pub mod config;
pub mod lifecycle;
pub mod listen;
pub mod sections;

pub use config::{load, load_from};
pub use lifecycle::{hostname, shutdown_signal};
