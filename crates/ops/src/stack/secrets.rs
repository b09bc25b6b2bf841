//! The passwords of the private Postgres and Redis: made at the first deploy, kept in the state
//! folder in `secrets.json` (mode 0600, readable by the deploying user only) and reused by every
//! later deploy, restart and check. A secret never appears on a command line (any local user
//! reads `/proc/<pid>/cmdline`) nor in printed output: it reaches a program through its
//! environment, stdin or a file only its owner reads.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A password. Printed, logged or debugged as `***`; `expose` is the one way to its text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// 32 random bytes from the kernel, as 64 hexadecimal digits: safe in URLs, SQL literals and
    /// configuration files as it is, though every writer escapes it anyway.
    pub fn generate() -> anyhow::Result<Self> {
        Ok(Self(
            random_bytes()?
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Printable and on one line: each file it goes into (initdb's password file, redis.conf)
    /// reads one line.
    fn is_usable(&self) -> bool {
        !self.0.is_empty() && !self.0.chars().any(char::is_control)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

/// Every password of the private instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// Postgres' bootstrap superuser, `postgres`: used only to create the cluster.
    pub postgres_superuser: Secret,
    /// The services' role, which owns the application database and is no superuser.
    pub postgres_app: Secret,
    /// Redis' `requirepass`.
    pub redis: Secret,
}

pub fn secrets_file(state_dir: &Path) -> PathBuf {
    state_dir.join("secrets.json")
}

/// The credentials kept in the state folder, made (and kept) when there are none yet; whether
/// they were made now.
pub fn load_or_create(state_dir: &Path) -> anyhow::Result<(Credentials, bool)> {
    let path = secrets_file(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let credentials: Credentials = serde_json::from_str(&text)
                .with_context(|| format!("{} holds no credentials", path.display()))?;
            anyhow::ensure!(
                [
                    &credentials.postgres_superuser,
                    &credentials.postgres_app,
                    &credentials.redis
                ]
                .iter()
                .all(|secret| secret.is_usable()),
                "{} holds an empty password or one with control characters",
                path.display()
            );
            // Tightened if someone loosened it: it is as private as the data it opens.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
            Ok((credentials, false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let credentials = Credentials {
                postgres_superuser: Secret::generate()?,
                postgres_app: Secret::generate()?,
                redis: Secret::generate()?,
            };
            write_owner_only(
                &path,
                serde_json::to_string_pretty(&credentials)?.as_bytes(),
            )?;
            Ok((credentials, true))
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// 32 random bytes from the kernel.
fn random_bytes() -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0_u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        filled +=
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .context("the kernel gave no random bytes")?;
    }
    Ok(bytes)
}

pub fn model_key_file(state_dir: &Path) -> PathBuf {
    state_dir.join("model-key")
}

/// The key that seals the model API keys an admin stores (`AIUT_MODEL_KEYS__CURRENT`, written
/// `<id>:<base64 of 32 bytes>`): `given` (the operator's) when there is one, else the one kept in
/// `model-key` (mode 0600), made at the first deploy as `k1:…`. Without it the stored keys cannot
/// be opened. `stop --purge` deletes it with the state folder: the private Postgres that holds
/// the keys it sealed goes too, but an operator's (`DATABASE_URL`) keeps them, and the next
/// deploy's new key is then refused at start by name.
pub fn model_key(state_dir: &Path, given: Option<String>) -> anyhow::Result<Secret> {
    if let Some(given) = given {
        let secret = Secret(given);
        anyhow::ensure!(
            secret.is_usable(),
            "AIUT_MODEL_KEYS__CURRENT has a control character; give `<id>:<base64 of 32 bytes>`"
        );
        return Ok(secret);
    }
    let path = model_key_file(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let secret = Secret(text.trim_end_matches('\n').to_owned());
            anyhow::ensure!(
                secret.is_usable(),
                "{} holds an empty key or one with control characters",
                path.display()
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
            Ok(secret)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(random_bytes()?);
            let secret = Secret(format!("k1:{encoded}"));
            write_owner_only(&path, format!("{}\n", secret.expose()).as_bytes())?;
            Ok(secret)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn admin_password_file(state_dir: &Path) -> PathBuf {
    state_dir.join("admin-password")
}

/// The administrator's password for the api replicas: `given` (the operator's
/// `AIUT_ADMIN_PASSWORD`) when there is one, else the one kept in `admin-password` (mode 0600),
/// made at the first deploy. There is no built-in default. The flag says whether it was made now,
/// so the deploy shows it once.
pub fn admin_password(state_dir: &Path, given: Option<String>) -> anyhow::Result<(Secret, bool)> {
    if let Some(given) = given {
        let secret = Secret(given);
        anyhow::ensure!(
            secret.is_usable(),
            "AIUT_ADMIN_PASSWORD has a control character; give one line of printable text"
        );
        return Ok((secret, false));
    }
    let path = admin_password_file(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let secret = Secret(text.trim_end_matches('\n').to_owned());
            anyhow::ensure!(
                secret.is_usable(),
                "{} holds an empty password or one with control characters; remove it and \
                 deploy again for a new one",
                path.display()
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
            Ok((secret, false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let secret = Secret::generate()?;
            write_owner_only(&path, format!("{}\n", secret.expose()).as_bytes())?;
            Ok((secret, true))
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `bytes` to `path` readable and writable by its owner only, whatever was there (a file
/// under a temporary name, renamed over it, so no reader sees it half written or with a looser
/// mode).
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .with_context(|| format!("{} has no folder", path.display()))?;
    fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let mut temporary_name = path.file_name().unwrap_or_default().to_os_string();
    temporary_name.push(".tmp");
    let temporary = folder.join(temporary_name);
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot replace {}", temporary.display()));
        }
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Escapes text for a URL's user-information part (RFC 3986: unreserved characters stay).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Undoes `percent_encode` (and any other `%XX`); a stray `%` stays as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// A URL without its user information, and that information's user and password (decoded), for
/// a program that takes them apart.
pub fn split_userinfo(url: &str) -> (String, Option<String>, Option<String>) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_owned(), None, None);
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    let Some(at) = url[authority_start..authority_end].rfind('@') else {
        return (url.to_owned(), None, None);
    };
    let userinfo = &url[authority_start..authority_start + at];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (percent_decode(user), Some(percent_decode(password))),
        None => (percent_decode(userinfo), None),
    };
    let bare = format!(
        "{}{}",
        &url[..authority_start],
        &url[authority_start + at + 1..]
    );
    (bare, Some(user), password)
}

/// A URL with its password taken out (the user stays) and that password, decoded: for a client
/// that is given the URL on its command line and the password in its environment (`PGPASSWORD`,
/// `REDISCLI_AUTH`).
pub fn strip_password(url: &str) -> (String, Option<String>) {
    let (bare, user, password) = split_userinfo(url);
    let Some(password) = password else {
        return (url.to_owned(), None);
    };
    let user = user.unwrap_or_default();
    if user.is_empty() {
        return (bare, Some(password));
    }
    let authority_start = bare.find("://").map_or(0, |end| end + 3);
    let with_user = format!(
        "{}{}@{}",
        &bare[..authority_start],
        percent_encode(&user),
        &bare[authority_start..]
    );
    (with_user, Some(password))
}

/// The services' URL of the private Postgres.
pub fn postgres_url(role: &str, password: &Secret, port: u16, database: &str) -> String {
    format!(
        "postgres://{}:{}@127.0.0.1:{port}/{}",
        percent_encode(role),
        percent_encode(password.expose()),
        percent_encode(database)
    )
}

/// The services' URL of the private Redis (the default user, with its `requirepass`).
pub fn redis_url(password: &Secret, port: u16) -> String {
    format!(
        "redis://:{}@127.0.0.1:{port}",
        percent_encode(password.expose())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_itself() {
        let secret = Secret("hunter2".into());
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        let credentials = Credentials {
            postgres_superuser: secret.clone(),
            postgres_app: secret.clone(),
            redis: secret,
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn generated_secrets_are_long_distinct_and_plain() {
        let one = Secret::generate().expect("random bytes");
        let two = Secret::generate().expect("random bytes");
        assert_ne!(one, two);
        assert_eq!(one.expose().len(), 64);
        assert!(one.expose().bytes().all(|byte| byte.is_ascii_hexdigit()));
    }

    #[test]
    fn urls_carry_escaped_passwords() {
        let password = Secret("p@ss:w/rd?#%é".into());
        let url = postgres_url("aiunittest", &password, 54329, "aiunittest");
        assert_eq!(
            url,
            "postgres://aiunittest:p%40ss%3Aw%2Frd%3F%23%25%C3%A9@127.0.0.1:54329/aiunittest"
        );
        assert_eq!(
            crate::redact_password(&url),
            "postgres://aiunittest:***@127.0.0.1:54329/aiunittest"
        );
        assert_eq!(
            redis_url(&Secret("a b".into()), 63790),
            "redis://:a%20b@127.0.0.1:63790"
        );
    }

    #[test]
    fn a_url_gives_up_its_user_and_password_decoded() {
        let password = Secret("p@ss:w/rd %".into());
        let url = redis_url(&password, 63790);
        assert_eq!(
            split_userinfo(&url),
            (
                "redis://127.0.0.1:63790".to_owned(),
                Some(String::new()),
                Some("p@ss:w/rd %".to_owned())
            )
        );
        assert_eq!(
            split_userinfo("redis://user:pw@host:1/0"),
            (
                "redis://host:1/0".to_owned(),
                Some("user".to_owned()),
                Some("pw".to_owned())
            )
        );
        assert_eq!(
            split_userinfo("redis://127.0.0.1:6379"),
            ("redis://127.0.0.1:6379".to_owned(), None, None)
        );
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn a_password_comes_out_of_a_url_and_the_user_stays() {
        assert_eq!(
            strip_password("postgres://bench:p%40ss@db:5432/postgres"),
            (
                "postgres://bench@db:5432/postgres".to_owned(),
                Some("p@ss".to_owned())
            )
        );
        assert_eq!(
            strip_password("redis://:pw@127.0.0.1:6379/0"),
            ("redis://127.0.0.1:6379/0".to_owned(), Some("pw".to_owned()))
        );
        assert_eq!(
            strip_password("postgres://postgres@127.0.0.1/postgres"),
            ("postgres://postgres@127.0.0.1/postgres".to_owned(), None)
        );
    }

    #[test]
    fn credentials_are_made_once_private_and_reused() {
        let folder = std::env::temp_dir().join(format!("aiut-secrets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&folder);
        let (made, created) = load_or_create(&folder).expect("made");
        assert!(created);
        let mode = fs::metadata(secrets_file(&folder))
            .expect("a file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(secrets_file(&folder), fs::Permissions::from_mode(0o644))
            .expect("loosened");
        let (again, created) = load_or_create(&folder).expect("read");
        assert!(!created);
        assert_eq!(again.redis, made.redis);
        assert_eq!(again.postgres_app, made.postgres_app);
        assert_ne!(again.postgres_app, again.postgres_superuser);
        let mode = fs::metadata(secrets_file(&folder))
            .expect("a file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "tightened again");
        fs::write(
            secrets_file(&folder),
            r#"{"postgres_superuser": "a", "postgres_app": "b\nc", "redis": "d"}"#,
        )
        .expect("written");
        assert!(load_or_create(&folder).is_err(), "a password on two lines");
        let _ = fs::remove_dir_all(folder);
    }

    #[test]
    fn the_admin_password_is_made_once_private_and_a_given_one_wins() {
        let folder = std::env::temp_dir().join(format!("aiut-admin-{}", std::process::id()));
        let _ = fs::remove_dir_all(&folder);
        let (made, created) = admin_password(&folder, None).expect("made");
        assert!(created);
        assert_eq!(made.expose().len(), 64);
        let file = admin_password_file(&folder);
        let mode = fs::metadata(&file).expect("a file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("loosened");
        let (again, created) = admin_password(&folder, None).expect("read");
        assert!(!created, "made only once");
        assert_eq!(again, made);
        let mode = fs::metadata(&file).expect("a file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "tightened again");

        let (given, created) =
            admin_password(&folder, Some("the operator's".to_owned())).expect("given");
        assert!(!created);
        assert_eq!(given.expose(), "the operator's");
        assert_eq!(
            fs::read_to_string(&file).expect("kept"),
            format!("{}\n", made.expose()),
            "a given password is not written over the kept one"
        );
        assert!(admin_password(&folder, Some("two\nlines".to_owned())).is_err());
        fs::write(&file, "\n").expect("emptied");
        assert!(
            admin_password(&folder, None).is_err(),
            "an empty file is refused"
        );
        let _ = fs::remove_dir_all(folder);
    }

    #[test]
    fn the_model_key_is_made_once_private_in_the_key_rings_shape_and_a_given_one_wins() {
        use base64::Engine;
        let folder = std::env::temp_dir().join(format!("aiut-model-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&folder);
        let made = model_key(&folder, None).expect("made");
        let (id, encoded) = made.expose().split_once(':').expect("<id>:<key>");
        assert_eq!(id, "k1");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(bytes.len(), 32);
        let file = model_key_file(&folder);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("loosened");
        assert_eq!(
            model_key(&folder, None).expect("read"),
            made,
            "made only once"
        );
        let mode = fs::metadata(&file).expect("a file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "tightened again");
        let given = model_key(&folder, Some("k2:given".to_owned())).expect("given");
        assert_eq!(given.expose(), "k2:given");
        assert_eq!(
            model_key(&folder, None).expect("kept"),
            made,
            "the kept one untouched"
        );
        let _ = fs::remove_dir_all(folder);
    }
}
