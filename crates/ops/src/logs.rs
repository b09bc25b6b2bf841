//! `cargo xtask logs [service] [-f] [-n lines]`: the end of one service's log (a name such as
//! `api-2`, or a kind such as `api` for all replicas), or of every log; `-f` follows them.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use crate::stack::state;

/// Lines shown from the end of each log unless `-n` says otherwise.
const DEFAULT_LINES: usize = 50;

/// `logs`' options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LogArgs {
    /// a service (`api-2`) or a kind (`api` for every replica) [default: every service]
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// keep printing what is appended
    #[arg(short, long)]
    pub follow: bool,
    /// lines shown from the end of each log [default: 50]
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

pub fn run(args: &LogArgs) -> anyhow::Result<bool> {
    let state_dir = state::state_dir();
    let Some(deployment) = state::load(&state_dir)? else {
        anyhow::bail!(
            "nothing is deployed here; logs of the last deployment are in {}",
            state_dir.join("logs").display()
        );
    };
    let chosen = match args.service.as_deref() {
        Some(name) => deployment.select(name),
        None => deployment.services.iter().collect(),
    };
    if chosen.is_empty() {
        let names: Vec<&str> = deployment
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        anyhow::bail!(
            "no service {:?}; the services are: {}",
            args.service.clone().unwrap_or_default(),
            names.join(", ")
        );
    }
    // A service that writes its log itself keeps what it printed outside its logger (a start-up
    // error, a panic) beside it; shown when there is any.
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for service in chosen {
        files.push((service.name.clone(), service.log.clone()));
        let console = service.console_log();
        if console != service.log && fs::metadata(&console).is_ok_and(|meta| meta.len() > 0) {
            files.push((format!("{} (console)", service.name), console));
        }
    }
    let prefix = files.len() > 1;
    let mut followed: Vec<(String, PathBuf, u64)> = Vec::new();
    let last_lines = args.lines.unwrap_or(DEFAULT_LINES);
    for (name, path) in files {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(last_lines)..] {
            print_line(&name, line, prefix);
        }
        followed.push((name, path, text.len() as u64));
    }
    if !args.follow {
        return Ok(true);
    }
    // Follow by polling: simple, and a log that is rotated or recreated is picked up again.
    let mut pending: Vec<String> = vec![String::new(); followed.len()];
    loop {
        for (index, (name, path, offset)) in followed.iter_mut().enumerate() {
            let Ok(mut file) = fs::File::open(&*path) else {
                continue;
            };
            let length = file.metadata().map_or(0, |metadata| metadata.len());
            if length < *offset {
                *offset = 0;
            }
            if length == *offset || file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut fresh = Vec::new();
            if file.read_to_end(&mut fresh).is_err() {
                continue;
            }
            *offset += fresh.len() as u64;
            pending[index].push_str(&String::from_utf8_lossy(&fresh));
            while let Some(end) = pending[index].find('\n') {
                let line: String = pending[index].drain(..=end).collect();
                print_line(name, line.trim_end_matches('\n'), prefix);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn print_line(name: &str, line: &str, prefix: bool) {
    if prefix {
        println!("{name:<16} | {line}");
    } else {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_parsed() {
        let parse = crate::cli::parse_args::<LogArgs>;
        assert_eq!(
            parse(&["api-1", "-f", "-n", "10"]).expect("valid"),
            LogArgs {
                service: Some("api-1".into()),
                follow: true,
                lines: Some(10)
            }
        );
        assert!(parse(&["a", "b"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["-n", "many"]).is_err());
    }
}
