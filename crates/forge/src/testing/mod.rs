//! Servers standing in for the forges, for tests here and in the services that use this crate
//! (feature `testing`): git's own `git http-backend` behind a small HTTP handler, and local GitHub
//! and GitLab API servers answering the documented endpoints and error cases.

pub mod apis;
pub mod git_server;
