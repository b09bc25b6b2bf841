//! The test database, as a URL for a service started as a process.

use sqlx::postgres::PgConnectOptions;

/// A Postgres URL for the database of `connect` (the one `#[sqlx::test]` made for the test).
pub fn database_url(connect: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        connect.get_username(),
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or("postgres")
    )
}
