//! The front door's behaviour, proven the same way against both front doors: the gateway binary
//! and real nginx running the committed `nginx-compat/nginx.conf`. Each scenario starts three
//! real api replicas in this process (on loopback, sharing the test's database from
//! `#[sqlx::test]` and one Redis key prefix), then the front door over them as a child process.
//!
//! `gateway_only` proves what only the gateway does, over fake replicas (`fake.rs`).
//!
//! Scenarios run one at a time: they measure timing and load, which parallel scenarios would
//! disturb. nginx must be installed (`apt-get install nginx-light`); without it the nginx tests
//! fail, they are never skipped.

mod fake;
mod frontdoor;
mod gateway_only;
mod process;
mod replicas;
mod scenarios;
mod slow;

use std::time::Duration;

/// Held by each scenario for its whole run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A client that keeps its cookies (one session) and never goes through a proxy of the
/// environment: the front door on loopback is the only hop.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// The replica that answered, from `X-Backend-Instance`.
pub fn backend_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-backend-instance")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// One `#[sqlx::test]` per scenario and front door, in modules `gateway` and `nginx` (so
/// `cargo test --test frontdoor nginx::` runs one side).
macro_rules! on_both_front_doors {
    ($($scenario:ident),* $(,)?) => {
        mod gateway {
            $(
                #[sqlx::test(migrations = false)]
                async fn $scenario(
                    pool_options: sqlx::postgres::PgPoolOptions,
                    connect: sqlx::postgres::PgConnectOptions,
                ) {
                    let _turn = crate::ONE_AT_A_TIME.lock().await;
                    crate::scenarios::$scenario(crate::frontdoor::Kind::Gateway, pool_options, connect)
                        .await;
                }
            )*
        }
        mod nginx {
            $(
                #[sqlx::test(migrations = false)]
                async fn $scenario(
                    pool_options: sqlx::postgres::PgPoolOptions,
                    connect: sqlx::postgres::PgConnectOptions,
                ) {
                    let _turn = crate::ONE_AT_A_TIME.lock().await;
                    crate::scenarios::$scenario(crate::frontdoor::Kind::Nginx, pool_options, connect)
                        .await;
                }
            )*
        }
    };
}

on_both_front_doors!(
    a_slow_backend_receives_fewer_new_requests,
    a_replica_killed_under_load_fails_no_request_and_returns,
    a_replica_process_killed_hard_costs_no_keyed_request,
    an_event_stream_passes_unbuffered_and_survives_a_quiet_gap,
    limits_and_outages_answer_json_with_retry_after,
    headers_health_and_compression,
);

#[test]
fn the_committed_nginx_conf_passes_nginx_t() {
    use system_tests::ports::free_port;
    let folder = system_tests::processes::TempFolder::new("aiut-nginx-t");
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let upstreams: Vec<std::net::SocketAddr> = (0..replicas::REPLICAS)
        .map(|_| std::net::SocketAddr::from(([127, 0, 0, 1], free_port())))
        .collect();
    for trust_loopback in [true, false] {
        let (status, output) =
            system_tests::nginx::check(&folder.path, listen, &upstreams, trust_loopback);
        assert!(status.success(), "nginx -t fails:\n{output}");
        assert!(output.contains("test is successful"), "{output}");
    }
}
