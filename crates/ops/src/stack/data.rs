//! Private Postgres and Redis instances, started from the machine's server binaries when no
//! `DATABASE_URL` / `REDIS_URL` is given. Their data lives in the state folder; every connection
//! to them needs the password kept in the state folder's `secrets.json`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use rustix::fs::{AtFlags, Mode, OFlags};

use super::secrets::{self, Credentials, Secret};
use super::{Health, Kind, ServiceRecord, folder, prereq};
use crate::launch;

/// The folder holding `postgres`, `initdb` and `pg_isready`: the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`, else where `postgres` is on `PATH`.
pub fn find_postgres() -> Option<PathBuf> {
    let complete = |folder: &Path| {
        ["postgres", "initdb", "pg_isready"]
            .iter()
            .all(|program| folder.join(program).is_file())
    };
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, folder)| complete(folder))
        .collect();
    versions.sort();
    if let Some((_, folder)) = versions.pop() {
        return Some(folder);
    }
    let folder = prereq::which("postgres")?.parent()?.to_path_buf();
    complete(&folder).then_some(folder)
}

pub fn find_redis() -> Option<PathBuf> {
    prereq::which("redis-server")
}

/// The user Postgres runs as: ourselves, or, as root (which Postgres refuses), `postgres` when
/// the machine has that user, else `nobody`.
pub fn postgres_user(passwd: &str, euid: u32) -> Option<(String, u32, u32)> {
    if euid != 0 {
        return None;
    }
    let users: Vec<(String, u32, u32)> = passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_owned();
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((name, uid, gid))
        })
        .collect();
    ["postgres", "nobody"]
        .iter()
        .find_map(|wanted| users.iter().find(|(name, _, _)| name == wanted).cloned())
}

/// Whether `uid` can reach `folder`: every ancestor searchable by others or owned by `uid`.
fn reachable_by(folder: &Path, uid: u32) -> bool {
    folder.ancestors().skip(1).all(|ancestor| {
        ancestor.metadata().is_ok_and(|metadata| {
            metadata.uid() == uid || metadata.permissions().mode() & 0o001 != 0
        })
    })
}

/// A short stable name for the state folder, for a data folder kept outside it.
fn folder_tag(folder: &Path) -> String {
    // FNV-1a: stable across runs and Rust versions, unlike `DefaultHasher`.
    let hash = folder
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

/// The role the services connect as: it owns the application database and is no superuser.
pub const APP_ROLE: &str = "aiunittest";
/// The application database of a private Postgres.
pub const APP_DATABASE: &str = "aiunittest";

/// The name of the superuser's password file, beside the data folder for as long as initdb runs.
const INITDB_PASSWORD_FILE: &str = ".initdb-password";

/// Prepares (initdb and bootstrap when new) and describes a private Postgres on `port`: password
/// (SCRAM) authentication for every connection, TCP on 127.0.0.1 only and no Unix socket.
/// `credentials_are_new` says the passwords were made by this deploy, so an existing cluster
/// cannot be using them.
pub fn postgres(
    state_dir: &Path,
    bin: &Path,
    port: u16,
    credentials: &Credentials,
    credentials_are_new: bool,
) -> anyhow::Result<ServiceRecord> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let euid = super::process::effective_uid();
    let run_as = postgres_user(&passwd, euid);
    let owners: Vec<u32> = std::iter::once(euid)
        .chain(run_as.as_ref().map(|(_, uid, _)| *uid))
        .collect();
    let hand_to = run_as.as_ref().map(|(_, uid, gid)| (*uid, *gid));
    fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let parent = match &run_as {
        Some((name, uid, _)) if !reachable_by(&state_dir.join("postgres"), *uid) => {
            // The project sits where the unprivileged user cannot reach (a private home or
            // temporary folder): keep the cluster in a folder of its own, named after the state
            // folder so a later deploy finds it again. Others may have made that name first in
            // the shared /var/tmp: what is found is used only when it is ours.
            let shared = folder::open_shared_parent(Path::new("/var/tmp"), euid)?;
            let tagged = format!("aiunittest-{}", folder_tag(state_dir));
            let parent = folder::private_folder(&shared, &tagged, &owners, hand_to)?;
            println!(
                "    Postgres runs as `{name}`, who cannot reach {}; its data goes to {}",
                state_dir.display(),
                parent.path.join("postgres").display()
            );
            parent
        }
        _ => folder::open_own(state_dir)?,
    };
    let data = folder::private_folder(&parent, "postgres", &owners, hand_to)?;
    let log = state_dir.join("logs").join("postgres.log");
    if data.path.join("PG_VERSION").is_file() {
        check_existing_cluster(&data.path, state_dir, credentials_are_new)?;
    } else {
        create_cluster(bin, &parent, &data.path, hand_to, credentials, &log)?;
    }
    Ok(ServiceRecord {
        name: "postgres".into(),
        kind: Kind::Postgres,
        program: bin.join("postgres"),
        args: vec![
            "-D".into(),
            data.path.to_string_lossy().into_owned(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            // TCP only: no socket file in a system folder that may not be ours.
            "-c".into(),
            "unix_socket_directories=".into(),
            // 3 api replicas and the workers, with room for a scale-up and the tools.
            "-c".into(),
            "max_connections=300".into(),
        ],
        env: BTreeMap::new(),
        run_as: hand_to,
        port: Some(port),
        health: Health::Postgres {
            pg_isready: bin.join("pg_isready"),
            port,
        },
        log,
        pid: None,
        started_at: None,
    })
}

/// A cluster made before refuses to be started unless every connection to it needs a password
/// and the passwords it was made with are still kept.
fn check_existing_cluster(
    data: &Path,
    state_dir: &Path,
    credentials_are_new: bool,
) -> anyhow::Result<()> {
    let hba_path = data.join("pg_hba.conf");
    let hba = fs::read_to_string(&hba_path)
        .with_context(|| format!("cannot read {}", hba_path.display()))?;
    anyhow::ensure!(
        !trusts_without_password(&hba),
        "the private Postgres in {data} was made by an older deploy that lets local users in \
         without a password ({hba} names trust, peer or ident); it is not started again. Keep what it holds \
         with pg_dump if you need it, then delete {data} and deploy again: a new cluster is made \
         with generated passwords",
        data = data.display(),
        hba = hba_path.display()
    );
    anyhow::ensure!(
        !credentials_are_new,
        "the private Postgres in {data} was made with the passwords kept in {secrets}, which is \
         gone; put that file back, or delete {data} and deploy again for a new cluster",
        data = data.display(),
        secrets = secrets::secrets_file(state_dir).display()
    );
    Ok(())
}

/// Whether a `pg_hba.conf` lets any connection in without a password.
pub fn trusts_without_password(hba: &str) -> bool {
    hba.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .any(|line| {
            line.split_whitespace()
                .any(|field| field == "trust" || field == "peer" || field == "ident")
        })
}

/// initdb with SCRAM for every connection and the superuser's password; then, in single-user mode
/// (no server listening yet), the services' role and its database. On failure the half-made
/// cluster is removed, so the next deploy starts again.
fn create_cluster(
    bin: &Path,
    parent: &folder::CheckedFolder,
    data: &Path,
    run_as: Option<(u32, u32)>,
    credentials: &Credentials,
    log: &Path,
) -> anyhow::Result<()> {
    let outcome = initdb(bin, parent, data, run_as, credentials, log)
        .and_then(|()| bootstrap(bin, data, run_as, credentials, log));
    if outcome.is_err() {
        // Only the folder's contents: the folder itself was checked and handed over.
        for entry in fs::read_dir(data).into_iter().flatten().flatten() {
            let path = entry.path();
            let _ = if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
    outcome
}

fn initdb(
    bin: &Path,
    parent: &folder::CheckedFolder,
    data: &Path,
    run_as: Option<(u32, u32)>,
    credentials: &Credentials,
    log: &Path,
) -> anyhow::Result<()> {
    // initdb reads the superuser's password from a file only: one the user Postgres runs as may
    // read, and nobody else, for as long as initdb runs.
    let password_file = PasswordFile::write(
        parent,
        &format!("{}\n", credentials.postgres_superuser.expose()),
        run_as,
    )?;
    let mut initdb = launch::command(bin.join("initdb"), launch::inherits_everything);
    initdb
        .arg("-D")
        .arg(data)
        .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8"])
        .arg(format!("--pwfile={}", password_file.path.display()))
        .arg("--no-instructions");
    launch::log_to(&mut initdb, launch::open_log(log)?)?;
    if let Some((uid, gid)) = run_as {
        initdb.uid(uid).gid(gid);
    }
    println!("    initdb {}", data.display());
    let status = initdb.status().context("cannot run initdb")?;
    drop(password_file);
    anyhow::ensure!(
        status.success(),
        "initdb failed ({status}); see {}",
        log.display()
    );
    Ok(())
}

/// The services' role and its database, made by the superuser in single-user mode: the SQL (with
/// the role's password) goes through stdin, and a failing statement is never written to the log.
fn bootstrap(
    bin: &Path,
    data: &Path,
    run_as: Option<(u32, u32)>,
    credentials: &Credentials,
    log: &Path,
) -> anyhow::Result<()> {
    let mut single = launch::command(bin.join("postgres"), launch::inherits_everything);
    single.arg("--single").arg("-D").arg(data).args([
        "-c",
        "exit_on_error=on",
        "-c",
        "log_min_error_statement=panic",
        "-c",
        "password_encryption=scram-sha-256",
        "postgres",
    ]);
    launch::log_to(&mut single, launch::open_log(log)?)?;
    single.stdin(Stdio::piped());
    if let Some((uid, gid)) = run_as {
        single.uid(uid).gid(gid);
    }
    let mut child = single
        .spawn()
        .context("cannot run postgres in single-user mode")?;
    let sql = bootstrap_sql(&credentials.postgres_app);
    let written = child
        .stdin
        .take()
        .context("no stdin for postgres --single")?
        .write_all(sql.as_bytes());
    let status = child.wait().context("postgres --single")?;
    written.context("cannot send the bootstrap statements")?;
    anyhow::ensure!(
        status.success(),
        "creating the role {APP_ROLE} and its database failed ({status}); see {}",
        log.display()
    );
    Ok(())
}

/// One statement a line (single-user mode runs each line on its own, as CREATE DATABASE needs).
/// The role may read the server's statistics, for the Postgres exporter that connects as it.
pub fn bootstrap_sql(app_password: &Secret) -> String {
    format!(
        "CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {};\n\
         CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE} ENCODING 'UTF8';\n\
         GRANT pg_monitor TO {APP_ROLE};\n",
        sql_literal(app_password.expose())
    )
}

/// A standard SQL string literal.
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// initdb's password file: made with mode 0600 (never through a link), handed to the user
/// initdb runs as, and removed when dropped.
struct PasswordFile<'a> {
    parent: &'a folder::CheckedFolder,
    path: PathBuf,
}

impl<'a> PasswordFile<'a> {
    fn write(
        parent: &'a folder::CheckedFolder,
        text: &str,
        owner: Option<(u32, u32)>,
    ) -> anyhow::Result<Self> {
        let path = parent.path.join(INITDB_PASSWORD_FILE);
        match rustix::fs::unlinkat(&parent.handle, INITDB_PASSWORD_FILE, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot remove {}", path.display()));
            }
        }
        let handle = rustix::fs::openat(
            &parent.handle,
            INITDB_PASSWORD_FILE,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("cannot create {}", path.display()))?;
        let file = Self { parent, path };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&handle, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to uid {uid}", file.path.display()))?;
        }
        fs::File::from(handle)
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", file.path.display()))?;
        Ok(file)
    }
}

impl Drop for PasswordFile<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.parent.handle, INITDB_PASSWORD_FILE, AtFlags::empty());
    }
}

/// Describes a private Redis on `port`: loopback only, a password for every client, nothing kept
/// on disk (Redis holds only what may be lost). Its settings, the password among them, are in a
/// file only the deploying user reads, so none is on its command line.
pub fn redis(
    state_dir: &Path,
    program: &Path,
    port: u16,
    password: &Secret,
) -> anyhow::Result<ServiceRecord> {
    let folder = state_dir.join("redis");
    fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let config = state_dir.join("config").join("redis.conf");
    secrets::write_owner_only(&config, redis_config(port, &folder, password).as_bytes())?;
    Ok(ServiceRecord {
        name: "redis".into(),
        kind: Kind::Redis,
        program: program.to_path_buf(),
        args: vec![config.to_string_lossy().into_owned()],
        env: BTreeMap::new(),
        run_as: None,
        port: Some(port),
        health: Health::Redis {
            port,
            password: Some(password.clone()),
        },
        log: state_dir.join("logs").join("redis.log"),
        pid: None,
        started_at: None,
    })
}

/// The private Redis' configuration file.
pub fn redis_config(port: u16, folder: &Path, password: &Secret) -> String {
    format!(
        "# Written by `cargo xtask deploy`; rewritten at every deploy. Mode 0600: it holds the\n\
         # password every client gives.\n\
         port {port}\n\
         bind 127.0.0.1\n\
         protected-mode yes\n\
         save \"\"\n\
         appendonly no\n\
         dir {}\n\
         requirepass {}\n",
        redis_quote(&folder.to_string_lossy()),
        redis_quote(password.expose())
    )
}

/// A double-quoted string as redis.conf reads it: backslash escapes for the quote, the backslash
/// and every byte outside printable ASCII.
fn redis_quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' => quoted.push_str("\\\""),
            b'\\' => quoted.push_str("\\\\"),
            b' '..=b'~' => quoted.push(char::from(byte)),
            _ => quoted.push_str(&format!("\\x{byte:02x}")),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                          postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n";

    #[test]
    fn root_runs_postgres_as_postgres_or_nobody() {
        assert_eq!(postgres_user(PASSWD, 1000), None);
        assert_eq!(
            postgres_user(PASSWD, 0),
            Some(("postgres".into(), 101, 104))
        );
        let without = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(
            postgres_user(without, 0),
            Some(("nobody".into(), 65534, 65534))
        );
        assert_eq!(postgres_user("root:x:0:0::/root:/bin/sh\n", 0), None);
    }

    #[test]
    fn folder_tags_are_stable_and_distinct() {
        let one = folder_tag(Path::new("/srv/a/.aiut"));
        assert_eq!(one, folder_tag(Path::new("/srv/a/.aiut")));
        assert_ne!(one, folder_tag(Path::new("/srv/b/.aiut")));
        assert_eq!(one.len(), 12);
    }

    #[test]
    fn a_private_folder_is_unreachable_for_another_user() {
        let root = std::env::temp_dir().join(format!("aiut-reach-{}", std::process::id()));
        let private = root.join("private");
        let inner = private.join("inner");
        fs::create_dir_all(&inner).expect("folders");
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).expect("chmod");
        let me = super::super::process::effective_uid();
        assert!(reachable_by(&inner.join("data"), me));
        assert!(!reachable_by(&inner.join("data"), me.wrapping_add(12_345)));
        fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(
            reachable_by(&inner.join("data"), me.wrapping_add(12_345)) || {
                // Some ancestor above the temporary folder may itself be private.
                std::env::temp_dir().ancestors().any(|folder| {
                    folder
                        .metadata()
                        .is_ok_and(|m| m.permissions().mode() & 0o001 == 0)
                })
            }
        );
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn the_redis_configuration_holds_the_password_quoted() {
        let password = Secret::generate().expect("random");
        let text = redis_config(63790, Path::new("/srv/my \"app\"/.aiut/redis"), &password);
        assert!(text.contains("port 63790\n"));
        assert!(text.contains("bind 127.0.0.1\n"));
        assert!(text.contains("protected-mode yes\n"));
        assert!(text.contains(&format!("requirepass \"{}\"\n", password.expose())));
        assert!(text.contains("dir \"/srv/my \\\"app\\\"/.aiut/redis\"\n"));
        assert_eq!(redis_quote("a\\b\nc é"), "\"a\\\\b\\x0ac \\xc3\\xa9\"");
    }

    #[test]
    fn the_bootstrap_makes_a_role_that_is_no_superuser() {
        let sql = bootstrap_sql(&Secret::generate().expect("random"));
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(lines.len(), 3, "one statement a line:\n{sql}");
        assert!(lines[0].starts_with("CREATE ROLE aiunittest LOGIN NOSUPERUSER "));
        assert_eq!(
            lines[1],
            "CREATE DATABASE aiunittest OWNER aiunittest ENCODING 'UTF8';"
        );
        assert_eq!(sql_literal("it's"), "'it''s'");
    }

    #[test]
    fn a_cluster_that_trusts_anyone_is_recognised() {
        let old =
            "# comment with trust\nlocal   all   all   trust\nhost all all 127.0.0.1/32 trust\n";
        assert!(trusts_without_password(old));
        let new = "# trust is not used here\nlocal all all scram-sha-256\n\
                   host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n";
        assert!(!trusts_without_password(new));
        assert!(trusts_without_password("local all postgres peer\n"));
    }

    /// What a process shows every local user of itself.
    fn command_line(pid: u32) -> String {
        fs::read(format!("/proc/{pid}/cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default()
    }

    fn wait_until_healthy(service: &ServiceRecord) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while let Err(error) =
            super::super::probe::check(&service.health, std::time::Duration::from_secs(2))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{} not healthy: {error}\n{}",
                service.name,
                fs::read_to_string(&service.log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    fn stop(service: &ServiceRecord, child: &mut std::process::Child) {
        let signal = crate::stop::stop_signal(service.kind);
        let _ = super::super::process::signal_group(child.id(), signal);
        let _ = child.wait();
        super::super::process::wait_gone_or_kill(
            &service.name,
            child.id(),
            std::time::Duration::from_secs(20),
        );
    }

    /// `psql` as `user` with `password` (through the environment), never prompting; its output.
    fn psql(
        bin: &Path,
        port: u16,
        user: &str,
        password: Option<&Secret>,
        sql: &str,
    ) -> Result<String, String> {
        let mut command = std::process::Command::new(bin.join("psql"));
        command
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env("PGCONNECT_TIMEOUT", "5")
            .args([
                "-w",
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args(["-U", user, "-d", APP_DATABASE, "-c", sql]);
        if let Some(password) = password {
            command.env("PGPASSWORD", password.expose());
        }
        let output = command.output().map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The private instances as deploy starts them: no connection without the password, the
    /// services' credentials accepted, no password on any command line, and a second deploy
    /// reusing the cluster with the same passwords.
    #[test]
    fn private_instances_refuse_strangers_and_accept_the_services() {
        let bin = find_postgres().expect("the Postgres server is installed");
        let redis_server = find_redis().expect("redis-server is installed");
        let root = std::env::temp_dir().join(format!("aiut-private-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("scratch");
        // Private to us: as root, Postgres (run as `postgres`) cannot reach it, and its cluster
        // goes to /var/tmp as in a real deployment from a home folder.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod");
        let state_dir = root.join("state");
        let (credentials, made_now) = secrets::load_or_create(&state_dir).expect("credentials");
        assert!(made_now);
        let pg_port = crate::ports::free_loopback_port().expect("a port");
        let redis_port = crate::ports::free_loopback_port().expect("a port");

        let postgres_service =
            postgres(&state_dir, &bin, pg_port, &credentials, made_now).expect("a cluster");
        let redis_service =
            redis(&state_dir, &redis_server, redis_port, &credentials.redis).expect("redis");
        if super::super::process::effective_uid() == 0 {
            assert!(
                postgres_service.args[1].starts_with("/var/tmp/aiunittest-"),
                "{:?}",
                postgres_service.args
            );
        }
        let mut postgres_child = super::super::process::spawn(&postgres_service).expect("postgres");
        let mut redis_child = super::super::process::spawn(&redis_service).expect("redis");
        wait_until_healthy(&postgres_service);
        wait_until_healthy(&redis_service);

        let outcome = std::panic::catch_unwind(|| {
            for pid in [postgres_child.id(), redis_child.id()] {
                let line = command_line(pid);
                for secret in [
                    &credentials.postgres_superuser,
                    &credentials.postgres_app,
                    &credentials.redis,
                ] {
                    assert!(!line.contains(secret.expose()), "a password in {line}");
                }
            }
            let config = state_dir.join("config").join("redis.conf");
            let mode = fs::metadata(&config)
                .expect("redis.conf")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);

            let without = psql(&bin, pg_port, APP_ROLE, None, "select 1").expect_err("no password");
            assert!(without.contains("password"), "{without}");
            let superuser =
                psql(&bin, pg_port, "postgres", None, "select 1").expect_err("no password");
            assert!(superuser.contains("password"), "{superuser}");
            let wrong = Secret::generate().expect("random");
            let wrong = psql(&bin, pg_port, APP_ROLE, Some(&wrong), "select 1").expect_err("wrong");
            assert!(wrong.contains("password authentication failed"), "{wrong}");
            let who = psql(
                &bin,
                pg_port,
                APP_ROLE,
                Some(&credentials.postgres_app),
                "select current_user || ' ' || rolsuper || ' ' || \
                 (select pg_get_userbyid(datdba) from pg_database where datname = current_database()) \
                 from pg_roles where rolname = current_user",
            )
            .expect("the services' role gets in");
            assert_eq!(
                who, "aiunittest false aiunittest",
                "owner of its database, no superuser"
            );
            psql(
                &bin,
                pg_port,
                "postgres",
                Some(&credentials.postgres_superuser),
                "select 1",
            )
            .expect("the superuser with its password");

            let refused = super::super::probe::redis_ping(
                "127.0.0.1",
                redis_port,
                None,
                std::time::Duration::from_secs(2),
            )
            .expect_err("no password");
            assert!(refused.contains("NOAUTH"), "{refused}");
            super::super::probe::redis_ping(
                "127.0.0.1",
                redis_port,
                Some(credentials.redis.expose()),
                std::time::Duration::from_secs(2),
            )
            .expect("the password opens it");
        });
        stop(&postgres_service, &mut postgres_child);
        stop(&redis_service, &mut redis_child);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }

        // A later deploy finds the cluster and keeps it; without its passwords it refuses.
        let again = postgres(&state_dir, &bin, pg_port, &credentials, false).expect("reused");
        assert_eq!(again.args, postgres_service.args);
        let lost = postgres(&state_dir, &bin, pg_port, &credentials, true).expect_err("refused");
        assert!(format!("{lost:#}").contains("secrets.json"), "{lost:#}");

        let data = PathBuf::from(&postgres_service.args[1]);
        if !data.starts_with(&state_dir)
            && let Some(tagged) = data.parent()
        {
            fs::remove_dir_all(tagged).expect("the cluster outside the state folder");
        }
        let _ = fs::remove_dir_all(root);
    }

    /// As root, a link planted where the cluster's folder in /var/tmp goes is refused, and what
    /// it points to is left alone.
    #[test]
    fn a_link_planted_in_var_tmp_is_not_followed() {
        if super::super::process::effective_uid() != 0 {
            return;
        }
        let bin = find_postgres().expect("the Postgres server is installed");
        let root = std::env::temp_dir().join(format!("aiut-planted-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("scratch");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod");
        let state_dir = root.join("state");
        let victim = root.join("victim");
        fs::create_dir_all(&victim).expect("victim");
        let planted = PathBuf::from(format!("/var/tmp/aiunittest-{}", folder_tag(&state_dir)));
        std::os::unix::fs::symlink(&victim, &planted).expect("planted");
        let credentials = Credentials {
            postgres_superuser: Secret::generate().expect("random"),
            postgres_app: Secret::generate().expect("random"),
            redis: Secret::generate().expect("random"),
        };
        let outcome = postgres(&state_dir, &bin, 1, &credentials, true);
        let made_through_link = victim.join("postgres").exists();
        let victim_owner = fs::metadata(&victim).map(|metadata| metadata.uid());
        let _ = fs::remove_file(&planted);
        let _ = fs::remove_dir_all(&root);
        let message = format!("{:#}", outcome.expect_err("refused"));
        assert!(message.contains("is a symbolic link"), "{message}");
        assert!(
            message.contains(&planted.display().to_string()),
            "{message}"
        );
        assert!(!made_through_link, "nothing made through the link");
        assert_eq!(victim_owner.ok(), Some(0), "its target keeps its owner");
    }

    /// A cluster left by an older deploy (trust for everyone) is refused with what to do.
    #[test]
    fn a_cluster_without_passwords_is_refused() {
        let root = std::env::temp_dir().join(format!("aiut-trusting-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let data = root.join("postgres");
        fs::create_dir_all(&data).expect("scratch");
        fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("hba");
        let message = format!(
            "{:#}",
            check_existing_cluster(&data, &root, false).expect_err("refused")
        );
        assert!(message.contains("older deploy"), "{message}");
        assert!(
            message.contains(&format!("delete {}", data.display())),
            "{message}"
        );
        let _ = fs::remove_dir_all(root);
    }
}
