//! The task table as the deployment's Postgres holds it, read with `psql` (the tooling links no
//! database driver): which rows a run's sources made, their states, and who holds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// Where `psql` is and how it reaches the deployment's database. The connection goes through
/// `PG*` variables, so no password appears on a command line.
#[derive(Debug, Clone)]
pub struct Database {
    psql: PathBuf,
    connection: Vec<(&'static str, String)>,
}

/// One row of the task table that a run's source made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub status: String,
    pub error_code: Option<String>,
    /// The marker of the request whose source made it.
    pub marker: String,
}

impl Row {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

impl Database {
    /// `psql` beside the deployment's Postgres server (same version), else on `PATH`.
    pub fn new(database_url: &str, server_bin: Option<&Path>) -> anyhow::Result<Database> {
        let beside = server_bin
            .map(|folder| folder.join("psql"))
            .filter(|path| path.is_file());
        let psql = beside
            .or_else(|| crate::stack::prereq::which("psql"))
            .context("psql is missing (the postgresql-client package has it)")?;
        Ok(Database {
            psql,
            connection: connection_variables(database_url)?,
        })
    }

    /// Runs one statement; its rows, fields split. Fails when Postgres does not answer within a
    /// few seconds.
    fn query(&self, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
        let mut command = Command::new(&self.psql);
        command
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-F",
                "\t",
                "-c",
            ])
            .arg(sql)
            .env("PGCONNECT_TIMEOUT", "3")
            .env("PGOPTIONS", "-c statement_timeout=5000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.connection {
            command.env(name, value);
        }
        let child = command.spawn().context("cannot run psql")?;
        let output = wait_with_limit(child, Duration::from_secs(10))?;
        anyhow::ensure!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect())
    }

    /// Every row whose source carries a marker starting with `prefix`.
    pub fn rows_marked(&self, prefix: &str) -> anyhow::Result<Vec<Row>> {
        anyhow::ensure!(is_marker_text(prefix), "{prefix:?} is not a marker prefix");
        let sql = format!(
            "select id, status, coalesce(error_code, ''), \
                    substring(source from '{MARKER_PATTERN}') \
             from tasks where source like '%{prefix}%' order by created_at"
        );
        Ok(self.query(&sql)?.into_iter().filter_map(row).collect())
    }

    /// Which worker holds the most running tasks of the run, and how many.
    pub fn busiest_worker(&self, prefix: &str) -> anyhow::Result<Option<(String, usize)>> {
        anyhow::ensure!(is_marker_text(prefix), "{prefix:?} is not a marker prefix");
        let sql = format!(
            "select lease_owner, count(*) from tasks \
             where status = 'running' and source like '%{prefix}%' \
             group by lease_owner order by count(*) desc, lease_owner limit 1"
        );
        Ok(self.query(&sql)?.into_iter().find_map(|fields| {
            let [owner, count] = <[String; 2]>::try_from(fields).ok()?;
            Some((owner, count.parse().ok()?))
        }))
    }
}

/// What a marker is made of: the run's stamp, the scenario, the client and a count.
pub const MARKER_PATTERN: &str = "aiut-chaos-[a-z0-9-]+";

/// Marker text is lowercase letters, digits and dashes only, so it is safe in the SQL above.
fn is_marker_text(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn row(fields: Vec<String>) -> Option<Row> {
    let [id, status, error_code, marker] = <[String; 4]>::try_from(fields).ok()?;
    Some(Row {
        id,
        status,
        error_code: (!error_code.is_empty()).then_some(error_code),
        marker,
    })
}

/// Sources that made more than one row, with how many: each request sends a source no other
/// sends, so a second row for one is a duplicate.
pub fn duplicates(rows: &[Row]) -> BTreeMap<String, usize> {
    let mut per_marker: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        *per_marker.entry(row.marker.clone()).or_default() += 1;
    }
    per_marker.retain(|_, count| *count > 1);
    per_marker
}

/// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and `PGDATABASE` from a `postgres://` URL
/// (percent-escapes decoded), with its query parameters that libpq knows as variables.
pub fn connection_variables(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .context("the database URL is not a postgres:// URL")?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:5432`.
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .context("the database URL's host lacks its closing `]`")?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let mut variables = Vec::new();
    if !host.is_empty() {
        variables.push(("PGHOST", percent_decoded(host)?));
    }
    if let Some(port) = port.filter(|port| !port.is_empty()) {
        anyhow::ensure!(
            port.parse::<u16>().is_ok(),
            "the database URL's port {port:?} is not a number"
        );
        variables.push(("PGPORT", port.to_owned()));
    }
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        if !user.is_empty() {
            variables.push(("PGUSER", percent_decoded(user)?));
        }
        if let Some(password) = password {
            variables.push(("PGPASSWORD", percent_decoded(password)?));
        }
    }
    if !database.is_empty() {
        variables.push(("PGDATABASE", percent_decoded(database)?));
    }
    for parameter in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let variable = match name {
            "sslmode" => "PGSSLMODE",
            "sslrootcert" => "PGSSLROOTCERT",
            "application_name" => "PGAPPNAME",
            _ => continue,
        };
        variables.push((variable, percent_decoded(value)?));
    }
    Ok(variables)
}

fn percent_decoded(text: &str) -> anyhow::Result<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .with_context(|| format!("a bad percent escape in the database URL at {index}"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).context("the database URL does not decode to UTF-8")
}

/// Waits for `child` up to `limit`, then kills it.
fn wait_with_limit(
    mut child: std::process::Child,
    limit: Duration,
) -> anyhow::Result<std::process::Output> {
    let started = std::time::Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return child
                .wait_with_output()
                .context("cannot read psql's output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("psql did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, marker: &str) -> Row {
        Row {
            id: id.into(),
            status: status.into(),
            error_code: None,
            marker: marker.into(),
        }
    }

    #[test]
    fn a_source_with_two_rows_is_a_duplicate() {
        let rows = [
            row("1", "succeeded", "aiut-chaos-x-api-kill-c0-1"),
            row("2", "succeeded", "aiut-chaos-x-api-kill-c0-2"),
            row("3", "queued", "aiut-chaos-x-api-kill-c0-2"),
            row("4", "failed", "aiut-chaos-x-api-kill-w0-1"),
            row("5", "failed", "aiut-chaos-x-api-kill-c0-2"),
        ];
        let found = duplicates(&rows);
        assert_eq!(
            found,
            BTreeMap::from([("aiut-chaos-x-api-kill-c0-2".to_owned(), 3)])
        );
        assert!(duplicates(&rows[..2]).is_empty());
        assert!(duplicates(&[]).is_empty());
    }

    #[test]
    fn psql_output_becomes_rows() {
        let parsed = super::row(vec![
            "0190-aa".into(),
            "failed".into(),
            "provider_error".into(),
            "aiut-chaos-x-model-errors-c1-4".into(),
        ])
        .expect("a row");
        assert_eq!(parsed.error_code.as_deref(), Some("provider_error"));
        assert!(parsed.is_terminal());
        let running = super::row(vec![
            "a".into(),
            "running".into(),
            String::new(),
            "m".into(),
        ])
        .expect("a row");
        assert_eq!(running.error_code, None);
        assert!(!running.is_terminal());
        assert!(super::row(vec!["a".into()]).is_none());
    }

    #[test]
    fn markers_are_the_only_text_put_into_sql() {
        assert!(is_marker_text("aiut-chaos-1a2b-api-kill-"));
        assert!(!is_marker_text("x' or '1'='1"));
        assert!(!is_marker_text("a%b"));
        assert!(!is_marker_text(""));
    }

    #[test]
    fn a_database_url_becomes_libpq_variables() {
        let variables = connection_variables(
            "postgres://aiut:p%40ss%3Aw@127.0.0.1:54329/aiunittest?sslmode=disable",
        )
        .expect("valid");
        assert_eq!(
            variables,
            [
                ("PGHOST", "127.0.0.1".to_owned()),
                ("PGPORT", "54329".to_owned()),
                ("PGUSER", "aiut".to_owned()),
                ("PGPASSWORD", "p@ss:w".to_owned()),
                ("PGDATABASE", "aiunittest".to_owned()),
                ("PGSSLMODE", "disable".to_owned()),
            ]
        );
        let plain = connection_variables("postgresql://postgres@[::1]/db").expect("valid");
        assert_eq!(
            plain,
            [
                ("PGHOST", "::1".to_owned()),
                ("PGUSER", "postgres".to_owned()),
                ("PGDATABASE", "db".to_owned()),
            ]
        );
        assert!(connection_variables("mysql://x@h/db").is_err());
        assert!(connection_variables("postgres://h:port/db").is_err());
        assert!(connection_variables("postgres://u:%zz@h/db").is_err());
    }
}
