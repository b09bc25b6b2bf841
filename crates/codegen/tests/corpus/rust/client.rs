use std::time::Duration;

use serde::Deserialize;

/// What the API answers about a user.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("user {0} not found")]
    NotFound(u64),
}

pub struct Client {
    http: reqwest::Client,
    base_url: String,
}

impl Client {
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Client {
            http,
            base_url: base_url.into(),
        })
    }

    /// Fetches one user.
    ///
    /// A 404 becomes [`ClientError::NotFound`].
    #[tracing::instrument(skip(self))]
    pub async fn user(&self, id: u64) -> Result<User, ClientError> {
        let response = self.http.get(self.url(&format!("users/{id}"))).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(ClientError::NotFound(id));
        }
        Ok(response.error_for_status()?.json().await?)
    }

    pub async fn users(&self, ids: &[u64]) -> Vec<Result<User, ClientError>> {
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            found.push(self.user(id).await);
        }
        found
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }
}

// Retries `attempt` until it succeeds or `tries` runs out.
pub async fn with_retries<T, E, F, Fut>(tries: u32, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut last = attempt().await;
    for _ in 1..tries {
        if last.is_ok() {
            break;
        }
        last = attempt().await;
    }
    last
}

#[tokio::test]
async fn unknown_users_are_not_found() {
    let client = Client::new("http://localhost:9", Duration::from_millis(10)).unwrap();
    assert!(client.user(1).await.is_err());
}
