//! Model API keys at rest: XChaCha20-Poly1305 under a 32-byte key from the configuration
//! (`model_keys`), with the model's id as associated data, so a ciphertext cannot be moved to
//! another model's row. Each ciphertext carries the id of the key that sealed it: a ring holds the
//! current key (which seals) and previous ones (which still open), so keys are rotated without a
//! flag day. The api seals; only the worker opens.
//!
//! A key's fingerprint (SHA-256 of a label and the key) is stored beside its id, so a process can
//! tell at start that it was given the wrong key for an id without opening any model key.

use std::fmt;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use service::sections::{ModelKeySettings, SecretText};
use sha2::{Digest, Sha256};

/// How long a key is, in bytes.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const FINGERPRINT_LABEL: &[u8] = b"aiut model key fingerprint v1";

/// What can go wrong with the ring or a sealed key. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error(
        "model_keys.{field}: each key is written `<id>:<base64 of {KEY_BYTES} bytes>` ({reason})"
    )]
    Malformed { field: &'static str, reason: String },
    #[error("model_keys: the key id `{0}` is given twice")]
    DuplicateId(String),
    #[error(
        "no model key is configured: set AIUT_MODEL_KEYS__CURRENT to `<id>:<base64 of 32 random \
         bytes>` to store model API keys"
    )]
    NoCurrentKey,
    #[error(
        "model API keys are stored under the key id `{0}`, which is not configured: give it in \
         AIUT_MODEL_KEYS__CURRENT or AIUT_MODEL_KEYS__PREVIOUS"
    )]
    UnknownKeyId(String),
    #[error(
        "the configured model key `{0}` is not the one the stored keys were encrypted under \
         (its fingerprint differs): check AIUT_MODEL_KEYS__CURRENT and AIUT_MODEL_KEYS__PREVIOUS"
    )]
    WrongKey(String),
    #[error("the stored key of model `{model}` does not decrypt under key id `{key_id}`")]
    Undecryptable { model: String, key_id: String },
    #[error("cannot encrypt the key of model `{0}`")]
    Encrypt(String),
}

struct NamedKey {
    id: String,
    cipher: XChaCha20Poly1305,
    fingerprint: Vec<u8>,
}

/// The configured keys.
#[derive(Default)]
pub struct KeyRing {
    current: Option<NamedKey>,
    previous: Vec<NamedKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("KeyRing")
            .field("current", &self.current.as_ref().map(|key| &key.id))
            .field(
                "previous",
                &self.previous.iter().map(|key| &key.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A model key as stored: which key sealed it, the nonce, the ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A model's API key in the clear. It prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(text: impl Into<String>) -> ApiKey {
        ApiKey(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

/// The fingerprint stored beside a key id: it identifies the key without revealing it.
pub fn fingerprint(key: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_LABEL);
    hasher.update(key);
    hasher.finalize().to_vec()
}

fn parse_key(field: &'static str, text: &SecretText) -> Result<NamedKey, KeyRingError> {
    let malformed = |reason: &str| KeyRingError::Malformed {
        field,
        reason: reason.to_owned(),
    };
    let (id, encoded) = text
        .expose()
        .trim()
        .split_once(':')
        .ok_or_else(|| malformed("no `:` after the id"))?;
    let id = id.trim();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
    {
        return Err(malformed(
            "the id must be 1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("the key is not base64"))?;
    if bytes.len() != KEY_BYTES {
        return Err(malformed(&format!(
            "the key of `{id}` has {} bytes",
            bytes.len()
        )));
    }
    let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
        .map_err(|_| malformed("the key has the wrong length"))?;
    Ok(NamedKey {
        id: id.to_owned(),
        cipher,
        fingerprint: fingerprint(&bytes),
    })
}

impl KeyRing {
    /// The ring the settings describe; an empty one when none is set.
    pub fn from_settings(settings: &ModelKeySettings) -> Result<KeyRing, KeyRingError> {
        let current = settings
            .current
            .as_ref()
            .filter(|text| !text.expose().trim().is_empty())
            .map(|text| parse_key("current", text))
            .transpose()?;
        let previous = settings
            .previous
            .iter()
            .map(|text| parse_key("previous", text))
            .collect::<Result<Vec<_>, _>>()?;
        let ring = KeyRing { current, previous };
        let ids: Vec<&str> = ring.keys().map(|key| key.id.as_str()).collect();
        for (index, id) in ids.iter().enumerate() {
            if ids[..index].contains(id) {
                return Err(KeyRingError::DuplicateId((*id).to_owned()));
            }
        }
        Ok(ring)
    }

    fn keys(&self) -> impl Iterator<Item = &NamedKey> {
        self.current.iter().chain(&self.previous)
    }

    fn key(&self, id: &str) -> Option<&NamedKey> {
        self.keys().find(|key| key.id == id)
    }

    /// The id new keys are sealed under.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|key| key.id.as_str())
    }

    /// The fingerprint of the key `id`, when the ring has it.
    pub fn fingerprint_of(&self, id: &str) -> Option<&[u8]> {
        self.key(id).map(|key| key.fingerprint.as_slice())
    }

    /// Every configured key id with its fingerprint.
    pub fn fingerprints(&self) -> Vec<(String, Vec<u8>)> {
        self.keys()
            .map(|key| (key.id.clone(), key.fingerprint.clone()))
            .collect()
    }

    /// Checks that the ring can open keys stored under `key_id`, whose stored fingerprint is
    /// `stored` (absent for a key id never recorded).
    pub fn check(&self, key_id: &str, stored: Option<&[u8]>) -> Result<(), KeyRingError> {
        let key = self
            .key(key_id)
            .ok_or_else(|| KeyRingError::UnknownKeyId(key_id.to_owned()))?;
        match stored {
            Some(stored) if stored != key.fingerprint.as_slice() => {
                Err(KeyRingError::WrongKey(key_id.to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// Seals `key` for `model` under the current key.
    pub fn seal(&self, model: &str, key: &ApiKey) -> Result<Sealed, KeyRingError> {
        let current = self.current.as_ref().ok_or(KeyRingError::NoCurrentKey)?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| KeyRingError::Encrypt(model.to_owned()))?;
        let nonce_array =
            XNonce::try_from(&nonce[..]).map_err(|_| KeyRingError::Encrypt(model.to_owned()))?;
        let ciphertext = current
            .cipher
            .encrypt(
                &nonce_array,
                Payload {
                    msg: key.expose().as_bytes(),
                    aad: model.as_bytes(),
                },
            )
            .map_err(|_| KeyRingError::Encrypt(model.to_owned()))?;
        Ok(Sealed {
            key_id: current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens the key sealed for `model`.
    pub fn open(&self, model: &str, sealed: &Sealed) -> Result<ApiKey, KeyRingError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| KeyRingError::UnknownKeyId(sealed.key_id.clone()))?;
        let undecryptable = || KeyRingError::Undecryptable {
            model: model.to_owned(),
            key_id: sealed.key_id.clone(),
        };
        let nonce = XNonce::try_from(sealed.nonce.as_slice()).map_err(|_| undecryptable())?;
        let plain = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: model.as_bytes(),
                },
            )
            .map_err(|_| undecryptable())?;
        String::from_utf8(plain)
            .map(ApiKey)
            .map_err(|_| undecryptable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text(id: &str, byte: u8) -> SecretText {
        let encoded = base64::engine::general_purpose::STANDARD.encode([byte; KEY_BYTES]);
        SecretText::new(format!("{id}:{encoded}"))
    }

    fn ring(current: Option<SecretText>, previous: Vec<SecretText>) -> KeyRing {
        KeyRing::from_settings(&ModelKeySettings { current, previous }).expect("a valid ring")
    }

    #[test]
    fn a_sealed_key_opens_for_its_model_only() {
        let ring = ring(Some(key_text("k1", 7)), vec![]);
        let secret = ApiKey::new("sk-test-abcdef");
        let sealed = ring.seal("simulator", &secret).expect("sealed");
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert!(
            !sealed
                .ciphertext
                .windows(secret.expose().len())
                .any(|window| window == secret.expose().as_bytes())
        );
        assert_eq!(ring.open("simulator", &sealed), Ok(secret.clone()));
        assert!(matches!(
            ring.open("other", &sealed),
            Err(KeyRingError::Undecryptable { .. })
        ));
        let again = ring.seal("simulator", &secret).expect("sealed");
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce each time");
        assert_eq!(format!("{secret:?}"), "***");
    }

    #[test]
    fn rotation_opens_old_keys_and_seals_under_the_new_one() {
        let old = ring(Some(key_text("k1", 1)), vec![]);
        let sealed = old.seal("m", &ApiKey::new("secret")).expect("sealed");
        let rotated = ring(Some(key_text("k2", 2)), vec![key_text("k1", 1)]);
        assert_eq!(
            rotated.open("m", &sealed).expect("opens").expose(),
            "secret"
        );
        assert_eq!(
            rotated
                .seal("m", &ApiKey::new("secret"))
                .expect("sealed")
                .key_id,
            "k2"
        );
        let forgotten = ring(Some(key_text("k2", 2)), vec![]);
        assert_eq!(
            forgotten.open("m", &sealed),
            Err(KeyRingError::UnknownKeyId("k1".into()))
        );
        // The same id with another key: the fingerprint tells.
        let wrong = ring(Some(key_text("k1", 9)), vec![]);
        let stored = old.fingerprint_of("k1").map(<[u8]>::to_vec);
        assert_eq!(
            wrong.check("k1", stored.as_deref()),
            Err(KeyRingError::WrongKey("k1".into()))
        );
        assert_eq!(old.check("k1", stored.as_deref()), Ok(()));
        assert!(matches!(
            wrong.open("m", &sealed),
            Err(KeyRingError::Undecryptable { .. })
        ));
    }

    #[test]
    fn malformed_keys_are_refused_without_showing_them() {
        for text in [
            "no-colon",
            "k1:not base64!",
            "k1:AAAA",
            ":AAAA",
            "bad id:AAAA",
        ] {
            let error = KeyRing::from_settings(&ModelKeySettings {
                current: Some(SecretText::new(text)),
                previous: vec![],
            })
            .expect_err(text);
            assert!(matches!(error, KeyRingError::Malformed { .. }), "{error}");
        }
        let duplicate = KeyRing::from_settings(&ModelKeySettings {
            current: Some(key_text("k1", 1)),
            previous: vec![key_text("k1", 2)],
        });
        assert_eq!(
            duplicate.expect_err("twice").to_string(),
            "model_keys: the key id `k1` is given twice"
        );
        let empty = ring(None, vec![]);
        assert_eq!(
            empty.seal("m", &ApiKey::new("x")),
            Err(KeyRingError::NoCurrentKey)
        );
        assert!(!format!("{:?}", ring(Some(key_text("k1", 1)), vec![])).contains("AQEB"));
    }
}
