//! Redis for the tests: the machine's URL, a key prefix per test, and removing a test's keys.

/// The Redis URL of the test machine: `REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses: `test:<label>:<uuid>:`, or `test:<uuid>:` for an empty label.
pub fn unique_prefix(label: &str) -> String {
    let id = uuid::Uuid::new_v4().simple();
    if label.is_empty() {
        format!("test:{id}:")
    } else {
        format!("test:{label}:{id}:")
    }
}

/// Removes every key under `prefix`; best effort, a cleanup never fails a test.
pub async fn remove_keys(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await;
    }
}
