//! Go: `go test -c -cover` builds the test binary (a compile error is a failed build), which runs
//! with `-test.coverprofile`. Debian's golang-go; testify is Debian's
//! golang-github-stretchr-testify-dev, found offline in /usr/share/gocode. The module proxy is not
//! reachable from the sandbox, so the package builds in GOPATH mode, with the standard library and
//! /usr/share/gocode as its only dependencies.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::{Plan, Toolchain, plain_name};
use crate::sandbox::Command;
use crate::{Job, Measured};

/// `go test`, with testify's packages on the GOPATH when `testify` is set.
pub(crate) struct GoTest {
    pub(crate) testify: bool,
}

const GO: &str = "/usr/bin/go";
/// Debian's Go libraries (golang-*-dev), laid out as a GOPATH.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";
const TESTIFY: &str = "/usr/share/gocode/src/github.com/stretchr/testify/assert";
const BINARY: &str = "/work/.bin/package.test";
const PROFILE: &str = "/work/.cover.out";

impl GoTest {
    fn env(command: Command) -> Command {
        command
            .env("GO111MODULE", "off")
            .env("GOPATH", format!("/work:{DEBIAN_GOPATH}"))
            // In the work directory, so that the run and the reruns reuse the build's cache.
            .env("GOCACHE", "/work/.cache/go-build")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOTELEMETRY", "off")
            // The Go runtime reserves far more address space than it uses.
            .no_address_space_limit()
    }
}

impl Toolchain for GoTest {
    fn tool(&self) -> &'static str {
        if self.testify {
            "go test + testify"
        } else {
            "go test"
        }
    }

    fn probe(&self) -> Command {
        let script = if self.testify {
            format!("{GO} version && test -d {TESTIFY}")
        } else {
            format!("{GO} version")
        };
        GoTest::env(Command::shell(script))
    }

    fn install_hint(&self) -> &'static str {
        if self.testify {
            "Go's testify tests need go and testify (Debian: golang-go golang-github-stretchr-testify-dev)"
        } else {
            "Go's tests need go (Debian: golang-go)"
        }
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let source = plain_name(job.source_file_name)?;
        let test = plain_name(job.test_file_name)?;
        let package = package_dir(job.source);
        let package_path = dir.join("src").join(&package);
        std::fs::create_dir_all(&package_path)?;
        std::fs::create_dir_all(dir.join(".bin"))?;
        std::fs::write(package_path.join(source), job.source)?;
        std::fs::write(package_path.join(test), job.test_code)?;
        // The tests run in the package's directory, as `go test` runs them (for testdata/).
        let in_package = format!("cd /work/src/{package} && ");
        Ok(Plan {
            build: Some(GoTest::env(Command::shell(format!(
                "{in_package}{GO} test -c -cover -covermode=set -o {BINARY} ."
            )))),
            run_with_coverage: GoTest::env(Command::shell(format!(
                "{in_package}{BINARY} -test.coverprofile={PROFILE}"
            ))),
            run: GoTest::env(Command::shell(format!("{in_package}{BINARY}"))),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let profile = std::fs::read_to_string(dir.join(".cover.out")).ok()?;
        from_cover_profile(&profile, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        let wanted = go_imports(job.source);
        missing_packages(output)
            .into_iter()
            .find(|package| wanted.contains(package))
    }
}

/// The directory the package is built in, named after its `package` clause (a plain name).
fn package_dir(source: &str) -> String {
    let name = source
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("package "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("");
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_owned()
    } else {
        "subject".to_owned()
    }
}

/// The import paths `go` could not find: `cannot find package "x"` (GOPATH mode),
/// `no required module provides package x` and `package x is not in GOROOT` (module mode).
fn missing_packages(output: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in output.lines() {
        let named = if let Some((_, rest)) = line.split_once("cannot find package \"") {
            rest.split('"').next()
        } else if let Some((_, rest)) = line.split_once("no required module provides package ") {
            rest.split([';', ' ']).next()
        } else if let Some((_, rest)) = line.split_once("package ") {
            rest.strip_suffix(")")
                .unwrap_or(rest)
                .split_once(" is not in GOROOT")
                .map(|(package, _)| package)
        } else {
            None
        };
        if let Some(package) = named.map(str::trim).filter(|package| !package.is_empty())
            && !found.iter().any(|known| known == package)
        {
            found.push(package.to_owned());
        }
    }
    found
}

/// The import paths of a Go file: `import "x"`, `import alias "x"` and `import ( … )` blocks.
fn go_imports(source: &str) -> BTreeSet<String> {
    let mut imports = BTreeSet::new();
    let mut in_block = false;
    for line in source.lines() {
        let line = line.trim();
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("import") {
            let rest = rest.trim_start();
            match rest.strip_prefix('(') {
                Some(first) => {
                    in_block = true;
                    first.trim()
                }
                None => rest,
            }
        } else {
            continue;
        };
        if let Some((_, quoted)) = spec.split_once('"')
            && let Some((path, _)) = quoted.split_once('"')
        {
            imports.insert(path.to_owned());
        }
    }
    imports
}

/// A Go cover profile's blocks of the file named `file_name`
/// (`pkg/file.go:startLine.startCol,endLine.endCol statements count`), as lines: every line a
/// block spans is executable, and covered when a block over it ran. Go measures no branches.
fn from_cover_profile(profile: &str, file_name: &str) -> Option<Measured> {
    let mut measured: Option<Measured> = None;
    for line in profile.lines() {
        if line.starts_with("mode:") {
            continue;
        }
        let Some((path, block)) = line.rsplit_once(".go:") else {
            continue;
        };
        if !crate::coverage::path_matches(&format!("{path}.go"), file_name) {
            continue;
        }
        let mut fields = block.split_whitespace();
        let (Some(span), Some(_statements), Some(count)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((start, end)) = span.split_once(',') else {
            continue;
        };
        let line_of = |position: &str| position.split('.').next()?.parse::<u32>().ok();
        let (Some(first), Some(last)) = (line_of(start), line_of(end)) else {
            continue;
        };
        let ran = count.parse::<u64>().is_ok_and(|count| count > 0);
        let current = measured.get_or_insert_with(Measured::default);
        for number in first..=last {
            current.lines.insert(number);
            if ran {
                current.covered.insert(number);
            }
        }
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_profiles_become_lines() {
        let profile = "mode: set\ncollections/stack.go:28.37,30.23 2 1\ncollections/stack.go:30.23,32.3 1 0\ncollections/other.go:1.1,2.2 1 1\n";
        let measured = from_cover_profile(profile, "stack.go").expect("stack.go is profiled");
        assert_eq!(measured.lines, BTreeSet::from([28, 29, 30, 31, 32]));
        assert_eq!(measured.covered, BTreeSet::from([28, 29, 30]));
        assert!(measured.branches.is_none());
        assert!(from_cover_profile(profile, "absent.go").is_none());
    }

    #[test]
    fn missing_packages_are_the_sources_imports() {
        let source = "package x\n\nimport (\n\t\"fmt\"\n\tyaml \"gopkg.in/yaml.v2\"\n)\nimport \"github.com/a/b\"\n";
        let wanted = go_imports(source);
        assert_eq!(
            wanted,
            BTreeSet::from([
                "fmt".to_owned(),
                "gopkg.in/yaml.v2".to_owned(),
                "github.com/a/b".to_owned()
            ])
        );
        let output = "x.go:5:2: cannot find package \"gopkg.in/yaml.v2\" in any of:\n\t/usr/lib/go/src/gopkg.in/yaml.v2 (from $GOROOT)\n";
        assert_eq!(
            missing_packages(output),
            vec!["gopkg.in/yaml.v2".to_owned()]
        );
        let modules = "x.go:3:8: no required module provides package github.com/a/b; to add it:";
        assert_eq!(missing_packages(modules), vec!["github.com/a/b".to_owned()]);
        assert_eq!(
            package_dir("// Package c.\npackage collections\n"),
            "collections"
        );
        assert_eq!(package_dir("no clause"), "subject");
    }
}
