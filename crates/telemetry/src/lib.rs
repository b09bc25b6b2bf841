//! What every AIunittest service shares for observability: per-process metrics read from `/proc`,
//! logs, and traces.

#[cfg(feature = "testing")]
pub mod capture;
pub mod documented;
mod init;
pub mod json;
pub mod process;
pub mod propagation;

pub use init::{LogFile, Options, Telemetry, init};
