//! When a failed attempt at a backend may be tried again on another one.

use pingora::ErrorType;

use crate::ratelimit::creates_a_task;

/// How far an attempt got before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection was made (refused, unreachable, connect timeout, TLS handshake): the backend
    /// saw nothing of the request.
    Connect,
    /// The request did not get through: writing it failed, or the backend reset the connection
    /// before answering. Linux resets (rather than closes) a socket closed with unread data, so a
    /// reset means the backend never consumed the request.
    NotDelivered,
    /// The connection closed or timed out before the response headers arrived: the backend may
    /// have acted on the request.
    BeforeResponse,
    /// Part of the response already went to the client: nothing can be replayed.
    AfterResponse,
}

impl FailureKind {
    /// Classifies an error met after the connection was made; `reset_by_peer` when its cause is
    /// a connection reset.
    pub fn of_proxy_error(
        error: &ErrorType,
        reset_by_peer: bool,
        response_started: bool,
    ) -> FailureKind {
        if response_started {
            return FailureKind::AfterResponse;
        }
        match error {
            ErrorType::WriteError => FailureKind::NotDelivered,
            ErrorType::ReadError if reset_by_peer => FailureKind::NotDelivered,
            ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::TLSHandshakeFailure
            | ErrorType::TLSHandshakeTimedout => FailureKind::Connect,
            _ => FailureKind::BeforeResponse,
        }
    }
}

/// Methods that mean the same when sent twice (RFC 9110 §9.2.2, without TRACE).
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]
        .iter()
        .any(|idempotent| method.eq_ignore_ascii_case(idempotent))
}

/// Whether to try another backend. `replayable` when the api recognises a repeat of the request
/// and answers it with what the first one did: it carries an `Idempotency-Key`, or it creates a
/// task and carries the gateway's create token. `body_lost` is true when part of the request body
/// was sent and cannot be sent again (it outgrew Pingora's 64 KiB replay buffer).
pub fn should_retry(kind: FailureKind, method: &str, replayable: bool, body_lost: bool) -> bool {
    match kind {
        // Nothing reached the backend, so even a POST is safe to send elsewhere.
        FailureKind::Connect => true,
        FailureKind::NotDelivered => !body_lost,
        FailureKind::BeforeResponse => !body_lost && (is_idempotent(method) || replayable),
        FailureKind::AfterResponse => false,
    }
}

/// Whether the api recognises a repeat of this request and answers it as it answered the first:
/// one with an `Idempotency-Key`, or one that creates a task, which always carries the gateway's
/// own create token (the same on every attempt).
pub fn is_replayable(method: &str, path: &str, has_idempotency_key: bool) -> bool {
    has_idempotency_key || creates_a_task(method, path)
}

/// A request that may not be retried once sent is never sent on a pooled keep-alive connection:
/// a pooled connection can turn out closed by the backend just as it is reused, and that failure
/// looks like a reset after sending. On a fresh connection the only early failure left is the
/// connect itself, which is always retried. A replayable request needs none: that failure is
/// retried like any other.
pub fn needs_fresh_connection(method: &str, replayable: bool) -> bool {
    !should_retry(FailureKind::BeforeResponse, method, replayable, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_always_retry() {
        for method in ["GET", "POST", "PATCH", "DELETE"] {
            assert!(should_retry(FailureKind::Connect, method, false, false));
        }
    }

    #[test]
    fn failures_before_the_response_retry_only_safe_requests() {
        for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "get"] {
            assert!(
                should_retry(FailureKind::BeforeResponse, method, false, false),
                "{method}"
            );
        }
        for method in ["POST", "PATCH"] {
            assert!(!should_retry(
                FailureKind::BeforeResponse,
                method,
                false,
                false
            ));
            assert!(
                should_retry(FailureKind::BeforeResponse, method, true, false),
                "an Idempotency-Key or a create token makes {method} safe"
            );
        }
        assert!(
            !should_retry(FailureKind::BeforeResponse, "PUT", true, true),
            "a body that cannot be replayed is never retried"
        );
    }

    #[test]
    fn only_unreplayable_requests_need_a_fresh_connection() {
        assert!(needs_fresh_connection("POST", false));
        assert!(needs_fresh_connection("PATCH", false));
        assert!(!needs_fresh_connection("POST", true));
        assert!(!needs_fresh_connection("GET", false));
        assert!(!needs_fresh_connection("DELETE", false));
    }

    #[test]
    fn creates_are_replayable_without_a_key_and_retried_like_keyed_requests() {
        for path in [
            "/api/tasks",
            "/api/tasks/",
            "/api/generate-test",
            "/api/generate-test-stream",
        ] {
            let replayable = is_replayable("POST", path, false);
            assert!(replayable, "{path}");
            assert!(should_retry(
                FailureKind::BeforeResponse,
                "POST",
                replayable,
                false
            ));
            assert!(
                !should_retry(FailureKind::BeforeResponse, "POST", replayable, true),
                "a body past the replay buffer is never sent again"
            );
            assert!(!should_retry(
                FailureKind::AfterResponse,
                "POST",
                replayable,
                false
            ));
            assert!(
                !needs_fresh_connection("POST", replayable),
                "a stale pooled connection is retried, so {path} may use one"
            );
        }
        assert!(!is_replayable("POST", "/api/tasks/1/cancel", false));
        assert!(is_replayable("POST", "/api/tasks/1/cancel", true));
        assert!(needs_fresh_connection(
            "POST",
            is_replayable("POST", "/api/other", false)
        ));
    }

    #[test]
    fn nothing_retries_once_the_response_started() {
        assert!(!should_retry(
            FailureKind::AfterResponse,
            "GET",
            true,
            false
        ));
    }

    #[test]
    fn undelivered_requests_retry_whatever_the_method() {
        assert!(should_retry(
            FailureKind::NotDelivered,
            "POST",
            false,
            false
        ));
        assert!(!should_retry(
            FailureKind::NotDelivered,
            "POST",
            false,
            true
        ));
    }

    #[test]
    fn classifies_errors() {
        let kind = FailureKind::of_proxy_error;
        assert_eq!(
            kind(&ErrorType::ConnectRefused, false, false),
            FailureKind::Connect
        );
        assert_eq!(
            kind(&ErrorType::ReadTimedout, false, false),
            FailureKind::BeforeResponse
        );
        assert_eq!(
            kind(&ErrorType::ConnectionClosed, false, false),
            FailureKind::BeforeResponse
        );
        assert_eq!(
            kind(&ErrorType::ReadError, false, false),
            FailureKind::BeforeResponse
        );
        assert_eq!(
            kind(&ErrorType::ReadError, true, false),
            FailureKind::NotDelivered
        );
        assert_eq!(
            kind(&ErrorType::WriteError, false, false),
            FailureKind::NotDelivered
        );
        assert_eq!(
            kind(&ErrorType::ReadError, true, true),
            FailureKind::AfterResponse
        );
    }
}
