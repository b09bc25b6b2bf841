//! An overall deadline for each request's header, against clients that hold connections open by
//! trickling header bytes (slowloris).
//!
//! Pingora 0.9 has no such knob: its downstream read timeout and its keep-alive timeout both
//! restart at every read, so a byte every few seconds keeps a connection forever, and its header
//! reading happens inside `HttpProxy` before any `ProxyHttp` hook. So the proxy is wrapped:
//! [`HeaderDeadline`] hands each request's session to it and races it against a timer, and the
//! proxy stops that timer from `ProxyHttp::on_connection_reuse` — which Pingora calls right after
//! the header is read whenever the session carries a connection context, as the wrapper makes
//! every session do ([`HeaderRead`]). A timer that fires first drops the session: the connection
//! closes, with nothing sent and no request begun.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::server::ShutdownWatch;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

type ConnectionContext = Box<dyn Any + Send + Sync>;

/// Rides in a session's connection context into the proxy, which calls [`HeaderRead::arrived`]
/// once the header is in; carries what the previous request on the connection left for this one.
pub struct HeaderRead {
    signal: Option<oneshot::Sender<()>>,
    carried: Option<ConnectionContext>,
}

impl HeaderRead {
    /// Stops the header's clock when `context` is a [`HeaderRead`], and gives back what the
    /// previous request on the connection left (or `context` itself when it is something else).
    pub fn arrived(context: ConnectionContext) -> Option<ConnectionContext> {
        match context.downcast::<HeaderRead>() {
            Ok(mut header) => {
                if let Some(signal) = header.signal.take() {
                    // The wrapper may have given up already; then nothing waits.
                    let _ = signal.send(());
                }
                header.carried.take()
            }
            Err(other) => Some(other),
        }
    }
}

/// The proxy, with every request's header due within a deadline.
pub struct HeaderDeadline<A> {
    app: Arc<A>,
    metrics: Arc<Metrics>,
    /// From the connection's opening to its first request's whole header.
    first: Duration,
    /// On a kept-alive connection, from the end of the previous answer to the next whole header.
    next: Duration,
}

impl<A> HeaderDeadline<A> {
    pub fn new(app: A, metrics: Arc<Metrics>, first: Duration, next: Duration) -> Self {
        HeaderDeadline {
            app: Arc::new(app),
            metrics,
            first,
            next,
        }
    }
}

/// Resolves when `deadline` passes before the header is read; never once it is read, or once the
/// proxy gave up the session without reading one (it is then ending by itself).
async fn header_overdue(header_read: oneshot::Receiver<()>, deadline: Duration) {
    if tokio::time::timeout(deadline, header_read).await.is_ok() {
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl<A> HttpServerApp for HeaderDeadline<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // A kept-alive connection carries the previous request's context (the gateway always
        // leaves one); a new connection carries none.
        let carried = session.take_connection_user_context();
        let deadline = if carried.is_some() {
            self.next
        } else {
            self.first
        };
        let (signal, header_read) = oneshot::channel();
        session.set_connection_user_context(Some(Box::new(HeaderRead {
            signal: Some(signal),
            carried,
        })));
        let serve = self.app.process_new_http(session, shutdown);
        tokio::pin!(serve);
        tokio::select! {
            biased;
            reused = &mut serve => reused,
            () = header_overdue(header_read, deadline) => {
                self.metrics.header_timed_out();
                tracing::debug!(?deadline, "request header not complete in time; connection closed");
                None
            }
        }
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.app.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }

    async fn http_cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_signal_passes_on_what_the_previous_request_left() {
        let (signal, mut header_read) = oneshot::channel();
        let context: ConnectionContext = Box::new(HeaderRead {
            signal: Some(signal),
            carried: Some(Box::new(7_u32)),
        });
        let carried = HeaderRead::arrived(context).expect("carried along");
        assert_eq!(carried.downcast_ref::<u32>(), Some(&7));
        assert!(header_read.try_recv().is_ok(), "the clock is stopped");

        let other: ConnectionContext = Box::new("not a header signal");
        let back = HeaderRead::arrived(other).expect("given back");
        assert!(back.downcast_ref::<&str>().is_some());
    }

    #[tokio::test]
    async fn overdue_only_when_the_header_is_late() {
        let deadline = Duration::from_millis(50);
        let (_signal, header_read) = oneshot::channel::<()>();
        let late = tokio::time::timeout(
            Duration::from_secs(5),
            header_overdue(header_read, deadline),
        )
        .await;
        assert!(late.is_ok(), "no header within the deadline");

        let (signal, header_read) = oneshot::channel();
        signal.send(()).expect("sent");
        let on_time = tokio::time::timeout(
            Duration::from_millis(300),
            header_overdue(header_read, deadline),
        )
        .await;
        assert!(on_time.is_err(), "a header read in time is never overdue");

        let (signal, header_read) = oneshot::channel::<()>();
        drop(signal);
        let abandoned = tokio::time::timeout(
            Duration::from_millis(300),
            header_overdue(header_read, deadline),
        )
        .await;
        assert!(
            abandoned.is_err(),
            "a session the proxy gave up ends by itself"
        );
    }
}
