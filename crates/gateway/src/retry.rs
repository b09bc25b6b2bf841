//! When a failed attempt at a backend may be tried again on another one.

use pingora::ErrorType;

/// How far an attempt got before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection was made (refused, unreachable, connect timeout, TLS handshake): the backend
    /// saw nothing of the request.
    Connect,
    /// The connection broke or timed out before the response headers arrived: the backend may
    /// have acted on the request.
    BeforeResponse,
    /// Part of the response already went to the client: nothing can be replayed.
    AfterResponse,
}

impl FailureKind {
    /// Classifies an error met after the connection was made.
    pub fn of_proxy_error(error: &ErrorType, response_started: bool) -> FailureKind {
        if response_started {
            return FailureKind::AfterResponse;
        }
        match error {
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
        FailureKind::BeforeResponse => !body_lost && (is_idempotent(method) || has_idempotency_key),
        FailureKind::AfterResponse => false,
    }
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
    fn nothing_retries_once_the_response_started() {
        assert!(!should_retry(
            FailureKind::AfterResponse,
            "GET",
            true,
            false
        ));
    }

    #[test]
    fn classifies_errors() {
        assert_eq!(
            FailureKind::of_proxy_error(&ErrorType::ConnectRefused, false),
            FailureKind::Connect
        );
        assert_eq!(
            FailureKind::of_proxy_error(&ErrorType::ReadTimedout, false),
            FailureKind::BeforeResponse
        );
        assert_eq!(
            FailureKind::of_proxy_error(&ErrorType::ConnectionClosed, false),
            FailureKind::BeforeResponse
        );
        assert_eq!(
            FailureKind::of_proxy_error(&ErrorType::ReadError, true),
            FailureKind::AfterResponse
        );
    }
}
