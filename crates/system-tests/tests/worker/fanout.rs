use std::time::Duration;

use domain::{EventKind, Progress, TaskId};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{StackOptions, read_events, redis_url, stack};

/// A thousand browsers watch one task through one api replica: the replica holds one Redis
/// subscription, receives each event once, and every client gets every event.
#[sqlx::test(migrations = false)]
async fn a_thousand_event_streams_share_one_subscription(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const CLIENTS: usize = 1_000;
    let options = StackOptions {
        workers: 0,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let client = stack.client.clone();
    let id = stack
        .submit(
            &client,
            json!({ "source": "def f(x):\n    return x\n", "filename": "f.py", "validate": "syntax" }),
        )
        .await;
    let task: TaskId = id.parse().expect("a task id");
    let redis = store::Redis::new(&stack.api_settings.redis).expect("redis");
    let publish = |kind: EventKind| {
        let redis = redis.clone();
        async move {
            store::events::publish(&redis, 600, task, Progress::start(), kind)
                .await
                .expect("published");
        }
    };
    publish(EventKind::Started { attempt: 1 }).await;

    let url = stack.url(&format!("/api/tasks/{id}/events"));
    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(
                async move { read_events(&client, &url, None, Duration::from_secs(120)).await },
            )
        })
        .collect();

    // Every client is watching once the replica's one channel has them all.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stack.api_probe.watchers_of(task) < CLIENTS {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {CLIENTS} clients are watching",
            stack.api_probe.watchers_of(task)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let subscribers = channel_subscribers(&format!("{}events", stack.prefix)).await;
    assert_eq!(subscribers, 1, "one subscription for the whole replica");
    let received_before = stack.api_probe.events_received();

    publish(EventKind::Generating { unit: "f".into() }).await;
    publish(EventKind::Result {
        unit: "f".into(),
        code: "def test_f():\n    assert f(1) == 1\n".into(),
    })
    .await;
    publish(EventKind::Completed {
        file_name: "test_f.py".into(),
        tests: 1,
    })
    .await;

    let mut complete = 0;
    for reader in readers {
        let frames = reader.await.expect("a reader");
        let names: Vec<&str> = frames
            .iter()
            .filter(|frame| frame.event != "heartbeat")
            .map(|frame| frame.event.as_str())
            .collect();
        assert_eq!(names, ["started", "generating", "result", "completed"]);
        complete += 1;
    }
    assert_eq!(complete, CLIENTS);
    assert_eq!(
        stack.api_probe.events_received() - received_before,
        3,
        "each event crossed Redis once for all {CLIENTS} clients"
    );
    assert_eq!(
        channel_subscribers(&format!("{}events", stack.prefix)).await,
        1
    );
    // The late joiner still gets the replay, and the stream closes after the ending.
    let late = read_events(&client, &url, None, Duration::from_secs(10)).await;
    assert_eq!(late.len(), 4);
    stack.stop().await;
}

async fn channel_subscribers(channel: &str) -> i64 {
    let client = redis::Client::open(redis_url()).expect("a client");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a connection");
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut connection)
        .await
        .expect("PUBSUB NUMSUB");
    count
}
