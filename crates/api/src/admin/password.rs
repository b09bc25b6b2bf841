//! The admin password: argon2id with OWASP's minimum parameters (19 MiB, two passes, one lane),
//! stored in PHC form. Hashing and checking take tens of milliseconds of CPU each, so they run on
//! the blocking pool, off the request threads.

use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The password as the environment gives it. It prints as `***`, so no log line or debug output
/// can carry it.
#[derive(Clone, Default)]
pub struct AdminPassword(Arc<str>);

impl AdminPassword {
    /// The variable the password comes from; there is no other source and no default.
    pub const VARIABLE: &'static str = "AIUT_ADMIN_PASSWORD";

    /// `None` when the text is empty: an empty variable is an unset one.
    pub fn new(text: &str) -> Option<AdminPassword> {
        (!text.is_empty()).then(|| AdminPassword(Arc::from(text)))
    }

    /// The password from [`AdminPassword::VARIABLE`], when set and not empty.
    pub fn from_environment() -> Option<AdminPassword> {
        std::env::var(Self::VARIABLE)
            .ok()
            .and_then(|text| AdminPassword::new(&text))
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AdminPassword {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_now(password: &AdminPassword) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|error| anyhow::anyhow!("cannot encode the salt: {error}"))?;
    let hash = hasher()?
        .hash_password(password.expose(), &salt)
        .map_err(|error| anyhow::anyhow!("cannot hash the password: {error}"))?;
    Ok(hash.to_string())
}

/// The password's argon2id hash in PHC form.
pub async fn hash(password: AdminPassword) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .context("the hashing task failed")?
}

/// Whether `phc` is a hash of `password`, with the parameters the hash names. A hash that cannot
/// be read verifies nothing.
pub async fn verify(password: AdminPassword, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.expose(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, made once: checked against when a login names an account that
/// does not exist, so that answer takes as long as a wrong password.
pub async fn decoy_hash() -> anyhow::Result<String> {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_try_init(|| async {
            let random = crate::admin::random_token()?;
            let password = AdminPassword::new(&random).context("a random password is not empty")?;
            hash(password).await
        })
        .await
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_only_their_password() {
        let password = AdminPassword::new("correct horse battery staple").expect("not empty");
        let first = hash(password.clone()).await.expect("hashed");
        let second = hash(password.clone()).await.expect("hashed");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(!first.contains("correct horse"));
        assert!(verify(password.clone(), first.clone()).await);
        let wrong = AdminPassword::new("correct horse battery stapler").expect("not empty");
        assert!(!verify(wrong, first).await);
        assert!(!verify(password, "not a hash".into()).await);
    }

    #[test]
    fn the_password_never_prints() {
        let password = AdminPassword::new("s3cret-value").expect("not empty");
        assert_eq!(format!("{password:?}"), "***");
        assert!(AdminPassword::new("").is_none());
    }
}
