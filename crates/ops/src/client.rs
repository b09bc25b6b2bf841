//! What the HTTP load of `bench` and `loadtest` share: the client, the sorting of an answer into
//! a success or a failure, and latency percentiles.

use std::time::Duration;

/// A client for one simulated user: one keep-alive connection per host and, with ureq's
/// `cookies` feature, a cookie jar of its own (so a session of its own). `timeout` bounds each
/// call from the lookup to the end of the body.
pub fn new_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            // Non-2xx answers are results to count, not errors.
            .http_status_as_error(false)
            // An `http_proxy` in the environment must not get in between.
            .proxy(None)
            .timeout_global(Some(timeout))
            .build(),
    )
}

pub enum Outcome {
    Success,
    /// A non-2xx status (or a 2xx whose body was not what was asked for) and a piece of the body.
    Status(u16, String),
    Transport(String),
}

/// Reads the whole body (which returns the connection to the agent's pool) and sorts the answer.
pub fn finish(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    on_success: impl FnOnce(&str) -> Result<(), String>,
) -> Outcome {
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return Outcome::Transport(error.to_string()),
    };
    let status = response.status();
    let body = match response.body_mut().read_to_string() {
        Ok(body) => body,
        Err(error) => return Outcome::Transport(format!("reading the body: {error}")),
    };
    if !status.is_success() {
        return Outcome::Status(status.as_u16(), snippet(&body));
    }
    match on_success(&body) {
        Ok(()) => Outcome::Success,
        Err(problem) => Outcome::Status(status.as_u16(), problem),
    }
}

/// The first 200 characters of `text`, marked when cut.
/// What kind of transport failure a request met, in a few words for a failure table.
pub fn transport_kind(error: &ureq::Error) -> &'static str {
    match error {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::ConnectionFailed => "connection failed",
        ureq::Error::HostNotFound => "host not found",
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused",
            std::io::ErrorKind::ConnectionReset => "connection reset",
            std::io::ErrorKind::UnexpectedEof => "connection closed",
            std::io::ErrorKind::TimedOut => "timeout",
            _ => "i/o",
        },
        _ => "other",
    }
}

pub fn snippet(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// The nearest-rank percentile of `sorted` (ascending) in milliseconds; 0 when empty.
pub fn percentile_ms(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    millis(sorted[rank - 1])
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&sorted, 0.50) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.95) - 95.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 1.0) - 100.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.0) - 1.0).abs() < 1e-9);
        let one = [Duration::from_millis(7)];
        assert!((percentile_ms(&one, 0.9) - 7.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 0.5).abs() < 1e-9);
        // Ten values: p95 is the 10th (rank ceil(9.5)), not an interpolation.
        let ten: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert!((percentile_ms(&ten, 0.95) - 10.0).abs() < 1e-9);
        assert!((percentile_ms(&ten, 0.50) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn snippets_are_cut_and_marked() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(300);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
    }
}
