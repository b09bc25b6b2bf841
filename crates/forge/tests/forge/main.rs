//! The forge crate against real peers: git's own smart-HTTP server for clone and push, and
//! local GitHub and GitLab API servers answering as the real ones document.

mod git_http;
mod github;
mod gitlab;
mod secrets;
