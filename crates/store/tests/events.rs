//! A task's event numbers against a private Redis server that is restarted and flushed (never the
//! machine's): they only grow, whoever publishes, whatever Redis has lost.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use domain::{Event, EventKind, Progress, TaskId};
use service::sections::RedisSettings;
use store::Redis;

/// A private `redis-server` on a loopback port, killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    async fn start_on(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test (Debian package redis-server)");
        let server = PrivateRedis { port, child };
        for _ in 0..100 {
            if server.command(&mut redis::cmd("PING")).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private redis-server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn command(&self, command: &mut redis::Cmd) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        command.query_async(&mut connection).await
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// One publisher of its own (a worker, another worker, the api): its own connection.
fn publisher(server: &PrivateRedis) -> Redis {
    Redis::new(&RedisSettings {
        url: server.url(),
        key_prefix: "test:".into(),
        connect_timeout_ms: 5_000,
        response_timeout_ms: 5_000,
    })
    .expect("a Redis handle")
}

/// Publishes one event (trying again while the connection comes back after a restart, at most
/// 10 s) and returns the number it got, as read back from the task's log.
async fn publish(redis: &Redis, task: TaskId, attempt: u32) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let kind = EventKind::Started { attempt };
    while let Err(error) =
        store::events::publish(redis, 600, task, Progress::start(), kind.clone()).await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cannot publish within 10 s: {error}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    logged(redis, task)
        .await
        .last()
        .map(|event| event.seq)
        .expect("the event is logged")
}

async fn logged(redis: &Redis, task: TaskId) -> Vec<Event> {
    store::events::replay(redis, task, 0)
        .await
        .expect("the log reads")
}

#[tokio::test]
async fn event_numbers_only_grow_across_restarts_flushes_and_publishers() {
    let port = free_port();
    let mut server = PrivateRedis::start_on(port).await;
    let task = TaskId::from_uuid(uuid::Uuid::now_v7());
    let (first_worker, second_worker, api) =
        (publisher(&server), publisher(&server), publisher(&server));
    let mut numbers = Vec::new();
    for (attempt, redis) in (1..).zip([&first_worker, &second_worker, &api]) {
        numbers.push(publish(redis, task, attempt).await);
    }

    // A restart: the counter and the log are gone, the publishers' connections broken.
    drop(server);
    server = PrivateRedis::start_on(port).await;
    let before_restart = *numbers.last().expect("a number");
    for redis in [&second_worker, &first_worker, &api] {
        numbers.push(publish(redis, task, 4).await);
    }
    let replayed = store::events::replay(&api, task, before_restart)
        .await
        .expect("the log reads");
    assert_eq!(
        replayed.len(),
        3,
        "a client that resumes after the last number it saw gets what was logged since"
    );

    // A flush, then the counter alone evicted.
    server
        .command(&mut redis::cmd("FLUSHALL"))
        .await
        .expect("FLUSHALL");
    numbers.push(publish(&api, task, 5).await);
    numbers.push(publish(&first_worker, task, 5).await);
    server
        .command(redis::cmd("DEL").arg(store::keys::event_seq("test:", task)))
        .await
        .expect("DEL");
    numbers.push(publish(&second_worker, task, 6).await);

    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "numbers only grow: {numbers:?}"
    );
    drop(server);
}

#[tokio::test]
async fn publishers_racing_on_one_task_get_distinct_numbers_logged_in_order() {
    let server = PrivateRedis::start_on(free_port()).await;
    let task = TaskId::from_uuid(uuid::Uuid::now_v7());
    let publishers: Vec<Redis> = (0..4).map(|_| publisher(&server)).collect();
    let racing: Vec<_> = (0..200u32)
        .map(|n| {
            let redis = publishers[n as usize % publishers.len()].clone();
            tokio::spawn(async move {
                store::events::publish(
                    &redis,
                    600,
                    task,
                    Progress::start(),
                    EventKind::Started { attempt: n },
                )
                .await
                .expect("published")
            })
        })
        .collect();
    for handle in racing {
        handle.await.expect("a publisher");
    }
    let numbers: Vec<u64> = logged(&publishers[0], task)
        .await
        .iter()
        .map(|event| event.seq)
        .collect();
    assert_eq!(numbers.len(), 200);
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "the log is in the order of the numbers, each once: {numbers:?}"
    );
}
