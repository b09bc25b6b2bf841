//! Prerequisites of a native deployment: found, installed (Debian or Ubuntu, as root, with
//! apt-get), or named with the exact command that installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// One missing piece and the Debian package that provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: &'static str,
    pub package: &'static str,
}

/// A program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Whether `/etc/os-release` names Debian or a derivative (Ubuntu included).
pub fn is_debian_like(os_release: &str) -> bool {
    os_release.lines().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        (key == "ID" || key == "ID_LIKE")
            && value
                .trim_matches('"')
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    })
}

/// The packages to install, once each, in the order first needed.
pub fn packages(missing: &[Missing]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for item in missing {
        if !packages.contains(&item.package) {
            packages.push(item.package);
        }
    }
    packages
}

/// Installs what is missing when it can, else fails naming the exact command.
pub fn provide(missing: &[Missing], allow_install: bool) -> anyhow::Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let packages = packages(missing);
    let list = missing
        .iter()
        .map(|item| format!("{} (package {})", item.what, item.package))
        .collect::<Vec<_>>()
        .join(", ");
    let debian = std::fs::read_to_string("/etc/os-release").is_ok_and(|text| is_debian_like(&text));
    let root = super::process::effective_uid() == 0;
    let install_line = format!(
        "apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    if !debian {
        anyhow::bail!(
            "missing: {list}. Install them with your system's package manager, give \
             DATABASE_URL / REDIS_URL of running servers, or use `cargo xtask deploy --compose`"
        );
    }
    if !allow_install {
        anyhow::bail!("missing: {list}. Install them with: sudo {install_line}");
    }
    if !root {
        anyhow::bail!(
            "missing: {list}. Installing needs root; run: sudo apt-get update && sudo {install_line}"
        );
    }
    println!("==> missing: {list}");
    println!("==> running: apt-get update && {install_line}");
    run_apt(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(packages.iter().copied());
    run_apt(&install)
}

/// The sandbox and the toolchains the workers run generated tests with, as
/// `crates/runner/toolchains/install` lists and installs them (Debian packages, Node tools).
/// Without root or `--no-install`, a missing sandbox is named with the command, not an error:
/// the deployment runs, and its tasks say "not run: no sandbox".
pub fn provide_runner_toolchains(root: &Path, allow_install: bool) -> anyhow::Result<()> {
    let script = root.join("crates/runner/toolchains/install");
    let debian = std::fs::read_to_string("/etc/os-release").is_ok_and(|text| is_debian_like(&text));
    if allow_install && debian && super::process::effective_uid() == 0 {
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .with_context(|| format!("cannot run {}", script.display()))?;
        anyhow::ensure!(status.success(), "{} failed ({status})", script.display());
        return Ok(());
    }
    if which("bwrap").is_none() {
        println!(
            "    no sandbox (bubblewrap): generated tests will not be run and tasks will say so; \
             install the sandbox and toolchains with: sudo bash {}",
            script.display()
        );
    } else {
        println!(
            "    bubblewrap found; languages whose toolchains are missing say \"not run\" \
             (all of them: sudo bash {})",
            script.display()
        );
    }
    Ok(())
}

fn run_apt(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    anyhow::ensure!(
        status.success(),
        "apt-get {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_its_derivatives_are_recognised() {
        assert!(is_debian_like(
            "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"
        ));
        assert!(is_debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(is_debian_like("ID=pop\nID_LIKE=\"ubuntu debian\"\n"));
        assert!(!is_debian_like("ID=fedora\nID_LIKE=\"rhel centos\"\n"));
        assert!(!is_debian_like("ID=debianish\n"));
    }

    #[test]
    fn each_package_is_listed_once() {
        let missing = [
            Missing {
                what: "initdb",
                package: "postgresql",
            },
            Missing {
                what: "cmake",
                package: "cmake",
            },
            Missing {
                what: "postgres",
                package: "postgresql",
            },
        ];
        assert_eq!(packages(&missing), ["postgresql", "cmake"]);
    }

    #[test]
    fn programs_are_found_on_the_path_only_when_executable() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-aiut").is_none());
    }
}
