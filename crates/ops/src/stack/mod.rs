//! What `deploy`, `stop`, `restart`, `status`, `logs` and `health` share: the deployment's state
//! folder and record, its processes, and the probes that tell whether a service is healthy.
//!
//! A native deployment lives in one ignored folder (`.aiut/` in the project, or `AIUT_STATE_DIR`):
//! `state.json` (what runs, with which command, pid and port), `logs/`, `config/`, `secrets.json`
//! (the private instances' passwords) and the data of private Postgres and Redis instances.

pub mod data;
pub mod folder;
pub mod operator;
pub mod plan;
pub mod prereq;
pub mod probe;
pub mod process;
pub mod secrets;
pub mod state;

pub use state::{Deployment, Health, Kind, ServiceRecord};
