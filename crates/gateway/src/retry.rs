//! When a failed attempt at a backend may be tried again on another one.

use pingora::ErrorType;

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

/// Whether to try another backend. `body_lost` is true when part of the request body was sent and
/// cannot be sent again (it outgrew the proxy's replay buffer).
pub fn should_retry(
    kind: FailureKind,
    method: &str,
    has_idempotency_key: bool,
    body_lost: bool,
) -> bool {
    match kind {
        // Nothing reached the backend, so even a POST is safe to send elsewhere.
        FailureKind::Connect => true,
        FailureKind::NotDelivered => !body_lost,
        FailureKind::BeforeResponse => !body_lost && (is_idempotent(method) || has_idempotency_key),
        FailureKind::AfterResponse => false,
    }
}

/// A request that may not be retried once sent is never sent on a pooled keep-alive connection:
/// a pooled connection can turn out closed by the backend just as it is reused, and that failure
/// looks like a reset after sending. On a fresh connection the only early failure left is the
/// connect itself, which is always retried.
pub fn needs_fresh_connection(method: &str, has_idempotency_key: bool) -> bool {
    !should_retry(
        FailureKind::BeforeResponse,
        method,
        has_idempotency_key,
        false,
    )
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
                "an Idempotency-Key makes {method} safe"
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
