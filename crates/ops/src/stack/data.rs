//! Private Postgres and Redis instances, started from the machine's server binaries when no
//! `DATABASE_URL` / `REDIS_URL` is given. Their data lives in the state folder.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Health, Kind, ServiceRecord, prereq};
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

/// Prepares (initdb when new) and describes a private Postgres on `port`.
pub fn postgres(state_dir: &Path, bin: &Path, port: u16) -> anyhow::Result<ServiceRecord> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let run_as = postgres_user(&passwd, super::process::effective_uid());
    let mut data = state_dir.join("postgres");
    if let Some((name, uid, _)) = &run_as
        && !reachable_by(&data, *uid)
    {
        // The project sits where the unprivileged user cannot reach (a private home or
        // temporary folder): keep the cluster in a folder of its own, named after the state folder.
        data = PathBuf::from(format!(
            "/var/tmp/aiunittest-{}/postgres",
            folder_tag(state_dir)
        ));
        println!(
            "    Postgres runs as `{name}`, who cannot reach {}; its data goes to {}",
            state_dir.display(),
            data.display()
        );
    }
    let log = state_dir.join("logs").join("postgres.log");
    if !data.join("PG_VERSION").is_file() {
        fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
        if let Some((_, uid, gid)) = run_as {
            for folder in data
                .ancestors()
                .take_while(|folder| folder.starts_with("/var/tmp/aiunittest-"))
            {
                std::os::unix::fs::chown(folder, Some(uid), Some(gid))
                    .with_context(|| format!("cannot hand {} to uid {uid}", folder.display()))?;
            }
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
        }
        let mut initdb = launch::command(bin.join("initdb"), launch::inherits_everything);
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]);
        launch::log_to(&mut initdb, launch::open_log(&log)?)?;
        if let Some((_, uid, gid)) = run_as {
            std::os::unix::process::CommandExt::uid(&mut initdb, uid);
            std::os::unix::process::CommandExt::gid(&mut initdb, gid);
        }
        println!("    initdb {}", data.display());
        let status = initdb.status().context("cannot run initdb")?;
        anyhow::ensure!(
            status.success(),
            "initdb failed ({status}); see {}",
            log.display()
        );
    }
    Ok(ServiceRecord {
        name: "postgres".into(),
        kind: Kind::Postgres,
        program: bin.join("postgres"),
        args: vec![
            "-D".into(),
            data.to_string_lossy().into_owned(),
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
        run_as: run_as.map(|(_, uid, gid)| (uid, gid)),
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

/// Describes a private Redis on `port`: loopback only, nothing kept on disk (Redis holds only
/// what may be lost).
pub fn redis(state_dir: &Path, program: &Path, port: u16) -> anyhow::Result<ServiceRecord> {
    let folder = state_dir.join("redis");
    fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    Ok(ServiceRecord {
        name: "redis".into(),
        kind: Kind::Redis,
        program: program.to_path_buf(),
        args: vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            folder.to_string_lossy().into_owned(),
        ],
        env: BTreeMap::new(),
        run_as: None,
        port: Some(port),
        health: Health::Redis { port },
        log: state_dir.join("logs").join("redis.log"),
        pid: None,
        started_at: None,
    })
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
}
