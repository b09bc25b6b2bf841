//! A session's forge token: given once with `POST /api/git/token`, kept only in Redis beside the
//! session's record and for its lifetime, sealed with XChaCha20-Poly1305 under a key from the
//! settings (`git.token_key`, else derived from `model_keys.current`) with the session id as
//! associated data, so a sealed token cannot be moved to another session. It is never written to
//! Postgres, never logged and never answered.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use forge::{ForgeKind, ForgeToken, NetworkPolicy};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::session::SessionId;
use crate::state::AppState;

const NONCE_BYTES: usize = 24;
/// Hashed with the configured secret into the sealing key, so the key is this use's alone.
const KEY_LABEL: &[u8] = b"aiut session forge token v1";

/// How the api reaches forges: the network policy, the sealing key, the time limit.
pub struct ForgeAccess {
    pub policy: NetworkPolicy,
    pub timeout: Duration,
    cipher: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for ForgeAccess {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ForgeAccess")
            .field("policy", &self.policy)
            .field("sealing", &self.cipher.is_some())
            .finish()
    }
}

impl ForgeAccess {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<ForgeAccess> {
        let allowed = settings
            .git
            .allowed_networks
            .iter()
            .map(|network| {
                network.trim().parse().with_context(|| {
                    format!("git.allowed_networks: `{network}` is not a CIDR range")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let secret = settings
            .git
            .token_key
            .as_ref()
            .or(settings.model_keys.current.as_ref())
            .map(|secret| secret.expose())
            .filter(|secret| !secret.is_empty());
        let cipher = secret
            .map(|secret| {
                let key = Sha256::new()
                    .chain_update(KEY_LABEL)
                    .chain_update(secret.as_bytes())
                    .finalize();
                XChaCha20Poly1305::new_from_slice(key.as_slice())
                    .map_err(|_| anyhow::anyhow!("a SHA-256 is not a 32-byte key"))
            })
            .transpose()?;
        Ok(ForgeAccess {
            policy: NetworkPolicy::new(allowed, settings.git.allow_plain_http),
            timeout: Duration::from_secs(settings.git.timeout_secs.max(1)),
            cipher,
        })
    }

    fn cipher(&self) -> ApiResult<&XChaCha20Poly1305> {
        self.cipher.as_ref().ok_or_else(|| ApiError::Unavailable {
            code: ErrorCode::GitTokensNotConfigured,
            message: "forge tokens cannot be kept: no git.token_key (AIUT_GIT__TOKEN_KEY) or \
                      model key (AIUT_MODEL_KEYS__CURRENT) is configured"
                .into(),
            retry_after_secs: 60,
        })
    }
}

/// What a session keeps about its forge: the token only ever sealed.
#[derive(Serialize, Deserialize)]
pub struct SessionForge {
    pub forge: ForgeKind,
    pub base_url: String,
    pub login: Option<String>,
    pub scopes: Option<Vec<String>>,
    token: String,
}

impl SessionForge {
    pub fn new(
        forge: ForgeKind,
        base_url: String,
        login: Option<String>,
        scopes: Option<Vec<String>>,
        token: &ForgeToken,
    ) -> SessionForge {
        SessionForge {
            forge,
            base_url,
            login,
            scopes,
            token: token.expose().to_owned(),
        }
    }

    pub fn token(&self) -> ApiResult<ForgeToken> {
        ForgeToken::parse(&self.token)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a stored forge token is malformed")))
    }
}

fn key(state: &AppState, session: &SessionId) -> String {
    store::keys::session_git_token(state.redis.prefix(), session.as_str())
}

fn redis_unavailable(error: redis::RedisError) -> ApiError {
    tracing::warn!(error = %error, "cannot reach Redis for the session's forge token");
    ApiError::Unavailable {
        code: ErrorCode::RedisUnavailable,
        message: "the session store is unavailable; try again shortly".into(),
        retry_after_secs: 2,
    }
}

/// Seals and keeps the session's forge, for the session's lifetime.
pub async fn keep(state: &AppState, session: &SessionId, forge: &SessionForge) -> ApiResult<()> {
    let cipher = state.git.cipher()?;
    let plain = serde_json::to_vec(forge).context("serialising the session's forge")?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|error| anyhow::anyhow!("no randomness for a nonce: {error}"))?;
    let nonce_array =
        XNonce::try_from(&nonce[..]).map_err(|_| anyhow::anyhow!("a nonce of the wrong length"))?;
    let sealed = cipher
        .encrypt(
            &nonce_array,
            Payload {
                msg: &plain,
                aad: session.as_str().as_bytes(),
            },
        )
        .map_err(|_| anyhow::anyhow!("cannot seal the session's forge token"))?;
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&sealed);
    let text = base64::engine::general_purpose::STANDARD.encode(stored);
    let mut connection = state.redis.connection();
    connection
        .set_ex::<_, _, ()>(key(state, session), text, state.settings.session.ttl_secs)
        .await
        .map_err(redis_unavailable)
}

/// The session's forge, or 401 `git_token_required` when it gave none (or it cannot be opened:
/// the key changed, or it was written for another session).
pub async fn load(state: &AppState, session: &SessionId) -> ApiResult<SessionForge> {
    let required = || ApiError::Unauthorized {
        code: ErrorCode::GitTokenRequired,
        message: "no forge token is set for this session: POST /api/git/token first".into(),
    };
    let cipher = state.git.cipher()?;
    let mut connection = state.redis.connection();
    let stored: Option<String> = connection
        .get(key(state, session))
        .await
        .map_err(redis_unavailable)?;
    let stored = stored.ok_or_else(required)?;
    let opened = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .ok()
        .filter(|bytes| bytes.len() > NONCE_BYTES)
        .and_then(|bytes| {
            let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
            let nonce = XNonce::try_from(nonce).ok()?;
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: sealed,
                        aad: session.as_str().as_bytes(),
                    },
                )
                .ok()
        })
        .and_then(|plain| serde_json::from_slice::<SessionForge>(&plain).ok());
    match opened {
        Some(forge) => Ok(forge),
        None => {
            tracing::warn!(session = %session.label(), "a stored forge token does not open; it is dropped");
            forget(state, session).await?;
            Err(required())
        }
    }
}

pub async fn forget(state: &AppState, session: &SessionId) -> ApiResult<()> {
    let mut connection = state.redis.connection();
    connection
        .del::<_, ()>(key(state, session))
        .await
        .map_err(redis_unavailable)
}
