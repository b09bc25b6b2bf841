//! `deploy --config FILE`: an operator's TOML (models, limits, worker concurrency, any section the
//! services read) merged into the configuration deploy writes. The operator's values win, except
//! where deploy assigns the value itself (ports, addresses, ids) or where a secret would land in a
//! file every service reads; those keys are refused by name rather than silently overwritten.

use std::path::Path;

use anyhow::Context;
use toml::{Table, Value};

/// Keys of the operator's file that deploy sets itself, each with what to do instead.
const DEPLOY_OWNED: &[(&str, &str)] = &[
    ("server.host", "deploy gives each api replica its address"),
    ("server.port", "deploy gives each api replica its port"),
    ("server.instance_id", "deploy names each api replica"),
    ("worker.id", "deploy names each worker"),
    (
        "worker.metrics_host",
        "deploy gives each worker its metrics address",
    ),
    (
        "worker.metrics_port",
        "deploy gives each worker its metrics port",
    ),
    ("gateway.listen", "use --port"),
    (
        "gateway.upstreams",
        "deploy lists its api replicas; use --api N",
    ),
    (
        "gateway.metrics_listen",
        "deploy gives the gateway its metrics port",
    ),
    (
        "gateway.upgrade_sock",
        "deploy places the gateway's upgrade socket",
    ),
    (
        "database.url",
        "a secret stays out of the shared file: set DATABASE_URL for deploy",
    ),
    (
        "redis.url",
        "a secret stays out of the shared file: set REDIS_URL for deploy",
    ),
];

/// Reads and parses the operator's file, refusing the keys deploy owns.
pub fn read(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config: cannot read {}", path.display()))?;
    let table: Table = text
        .parse()
        .with_context(|| format!("--config: {} is not TOML", path.display()))?;
    refuse_owned_keys(&table).with_context(|| format!("--config: {}", path.display()))?;
    Ok(table)
}

fn refuse_owned_keys(table: &Table) -> anyhow::Result<()> {
    for (key, instead) in DEPLOY_OWNED {
        let Some((section, field)) = key.split_once('.') else {
            continue;
        };
        let present = table
            .get(section)
            .and_then(Value::as_table)
            .is_some_and(|section| section.contains_key(field));
        anyhow::ensure!(!present, "`{key}` is deploy's to set: {instead}");
    }
    Ok(())
}

/// Lays `over` onto `base`: tables merge key by key, any other value (arrays included) replaces.
pub fn overlay(base: &mut Table, over: &Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Table(inner)), Value::Table(over_inner)) => overlay(inner, over_inner),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The operator's `worker.concurrency`, when the file sets one.
pub fn worker_concurrency(table: &Table) -> anyhow::Result<Option<u32>> {
    let Some(value) = table
        .get("worker")
        .and_then(Value::as_table)
        .and_then(|worker| worker.get("concurrency"))
    else {
        return Ok(None);
    };
    let concurrency = value
        .as_integer()
        .and_then(|number| u32::try_from(number).ok())
        .filter(|number| (1..=10_000).contains(number))
        .with_context(|| format!("--config: worker.concurrency takes 1 to 10000, not {value}"))?;
    Ok(Some(concurrency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().expect("TOML")
    }

    #[test]
    fn tables_merge_key_by_key_and_other_values_replace() {
        let mut base = table(
            "[limits]\nmax_source_bytes = 100\nper_session = 5\n\
             [gateway.rate_limit]\ntrusted_networks = [\"127.0.0.1/32\"]\nper_second = 10\n",
        );
        overlay(
            &mut base,
            &table(
                "[limits]\nper_session = 9\n[gateway.rate_limit]\n\
                 trusted_networks = [\"10.0.0.0/8\"]\n[queue]\nmax_depth = 7\n",
            ),
        );
        assert_eq!(
            base,
            table(
                "[limits]\nmax_source_bytes = 100\nper_session = 9\n\
                 [gateway.rate_limit]\ntrusted_networks = [\"10.0.0.0/8\"]\nper_second = 10\n\
                 [queue]\nmax_depth = 7\n",
            )
        );
    }

    #[test]
    fn keys_deploy_sets_are_refused_by_name() {
        for (text, key) in [
            ("[gateway]\nlisten = \"0.0.0.0:81\"\n", "gateway.listen"),
            (
                "[database]\nurl = \"postgres://u:p@db/x\"\n",
                "database.url",
            ),
            ("[server]\nport = 9000\n", "server.port"),
        ] {
            let error = refuse_owned_keys(&table(text)).expect_err(text);
            assert!(error.to_string().contains(key), "{error}");
        }
        refuse_owned_keys(&table(
            "[database]\nmax_connections = 40\n[server]\nshutdown_grace_secs = 5\n",
        ))
        .expect("the other keys of those sections are the operator's");
    }

    #[test]
    fn the_worker_concurrency_is_read_and_bounded() {
        assert_eq!(worker_concurrency(&table("")).expect("none"), None);
        assert_eq!(
            worker_concurrency(&table("[worker]\nconcurrency = 40\n")).expect("read"),
            Some(40)
        );
        for bad in ["0", "10001", "\"many\"", "-3"] {
            let text = format!("[worker]\nconcurrency = {bad}\n");
            let error = worker_concurrency(&table(&text)).expect_err(&text);
            assert!(error.to_string().contains("1 to 10000"), "{error}");
        }
    }

    #[test]
    fn a_file_that_is_missing_or_not_toml_is_named() {
        let folder = std::env::temp_dir().join(format!("aiut-operator-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("folder");
        let missing = folder.join("missing.toml");
        let error = read(&missing).expect_err("missing");
        assert!(format!("{error:#}").contains("cannot read"), "{error:#}");
        let broken = folder.join("broken.toml");
        std::fs::write(&broken, "[models\n").expect("write");
        let error = read(&broken).expect_err("broken");
        assert!(format!("{error:#}").contains("is not TOML"), "{error:#}");
        std::fs::remove_dir_all(&folder).ok();
    }
}
