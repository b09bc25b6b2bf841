//! Every way a forge operation fails, as its caller needs to tell them apart: the token (wrong, or
//! short of a scope), the thing asked for (missing, in conflict, refused), the forge's rate limit,
//! the caller's own input, and the transport. No variant ever holds a token: messages passed on
//! from a forge or from git are redacted first.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::path::RepoPath;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401: the token is wrong, expired or revoked.
    #[error("the forge refused the token (401): it is wrong, expired or revoked")]
    BadToken,
    /// 403 naming the scope the token lacks.
    #[error("the token lacks the `{scope}` scope needed for this")]
    MissingScope { scope: String },
    /// 403 for another reason (no access to the repository, a protected branch, a policy).
    #[error("the forge forbids this (403): {message}")]
    Forbidden { message: String },
    /// 404, which forges also answer for a private repository the token cannot see.
    #[error("not found (404): {message}")]
    NotFound { message: String },
    /// 409, e.g. an empty repository, or a merge request already open for the branch.
    #[error("conflict (409): {message}")]
    Conflict { message: String },
    /// 422, e.g. a pull request that already exists, or a branch with no change.
    #[error("the forge refused the request (422): {message}")]
    Validation { message: String },
    /// 403/429 with no requests left: try again at `reset_at` or after `retry_after`.
    #[error("{}", rate_limit_message(.reset_at, .retry_after))]
    RateLimited {
        reset_at: Option<DateTime<Utc>>,
        retry_after: Option<Duration>,
    },
    /// Any other answer that is not a success.
    #[error("the forge answered {status}: {message}")]
    Unexpected { status: u16, message: String },
    /// The forge could not be reached, or its answer could not be read.
    #[error("the forge could not be reached: {0}")]
    Unreachable(String),
    /// An answer in a shape this crate does not know.
    #[error("the forge's answer could not be read: {0}")]
    BadAnswer(String),

    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    #[error("invalid repository URL: {0}")]
    InvalidUrl(String),
    /// The host resolves to an address the configuration does not let this service reach.
    #[error("the host {host} is not allowed: {reason}")]
    HostRefused { host: String, reason: String },
    #[error("invalid repository: {0}")]
    InvalidRepository(String),
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("invalid commit id {0:?}: expected 40 or 64 hexadecimal digits")]
    InvalidCommit(String),
    #[error("invalid branch name {name:?}: {reason}")]
    InvalidBranch { name: String, reason: &'static str },
    /// Plain git has no REST API to ask.
    #[error("a plain git repository has no API for this; only clone and push work")]
    Unsupported,

    #[error("refusing to push to the default branch {0:?}; tests go on a new branch")]
    DefaultBranch(String),
    #[error("the branch {0:?} already exists; a new branch is needed")]
    BranchExists(String),
    #[error("a file already exists at {0}; it is not overwritten unless asked")]
    FileExists(RepoPath),

    /// The server refused the push (a protected branch, a hook, a policy); `stderr` is git's
    /// message, with the server's reason, the token taken out.
    #[error("git push failed: the server refused it: {stderr}")]
    PushRefused { stderr: String },
    /// git failed; `stderr` is git's own message, with the token taken out.
    #[error("git {action} failed: {stderr}")]
    Git {
        action: &'static str,
        stderr: String,
    },
    /// Something on this machine failed (a temporary directory, starting git).
    #[error("{0:#}")]
    Local(#[from] anyhow::Error),
}

fn rate_limit_message(reset_at: &Option<DateTime<Utc>>, retry_after: &Option<Duration>) -> String {
    match (reset_at, retry_after) {
        (Some(reset_at), _) => format!(
            "the forge's rate limit is used up until {}",
            reset_at.to_rfc3339()
        ),
        (None, Some(wait)) => format!(
            "the forge's rate limit is used up; retry after {} s",
            wait.as_secs()
        ),
        (None, None) => "the forge's rate limit is used up".to_owned(),
    }
}

impl ForgeError {
    /// Whether the caller's own input was at fault (a 4xx for a service passing it on), as
    /// opposed to the forge's answer or the transport.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ForgeError::InvalidToken(_)
                | ForgeError::InvalidUrl(_)
                | ForgeError::HostRefused { .. }
                | ForgeError::InvalidRepository(_)
                | ForgeError::InvalidPath { .. }
                | ForgeError::InvalidCommit(_)
                | ForgeError::InvalidBranch { .. }
                | ForgeError::Unsupported
                | ForgeError::DefaultBranch(_)
                | ForgeError::BranchExists(_)
                | ForgeError::FileExists(_)
        )
    }
}
