//! What every AIunittest service shares for observability: per-process metrics read from `/proc`,
//! logs, and traces.

pub mod process;
