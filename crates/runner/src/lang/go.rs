//! Go: `go test -c -cover` builds the test binary (a compile error is a failed build), which runs
//! with `-test.coverprofile`. Debian's golang-go; testify is Debian's
//! golang-github-stretchr-testify-dev, found offline in /usr/share/gocode. The module proxy is not
//! reachable from the sandbox, so the package builds in GOPATH mode, with the standard library and
//! /usr/share/gocode as its only dependencies.
//!
//! In a checkout with a `go.mod` above the source, the package builds in that module, in the
//! source's directory, so that the module's other packages import by their paths; still offline
//! (`GOPROXY=off`), so a package from another module is missing unless the repository vendors
//! it, or it is testify (see [`go_mod`]). The build reads an offline copy of the module's
//! `go.mod`, never the repository's own file. Without a `go.mod` the job runs as a job alone.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::go_mod::{self, DEBIAN_GOPATH};
use super::{Plan, Toolchain, only_the_tests_import, parent_of, plain_name, shell_quote};
use crate::sandbox::Command;
use crate::{Job, Measured};

/// `go test`, with testify's packages on the GOPATH when `testify` is set.
pub(crate) struct GoTest {
    pub(crate) testify: bool,
}

const GO: &str = "/usr/bin/go";
const TESTIFY: &str = "/usr/share/gocode/src/github.com/stretchr/testify/assert";
const BINARY: &str = "/work/.bin/package.test";
const PROFILE: &str = "/work/.cover.out";
/// The offline copy of the module's `go.mod` (and its `go.sum`), under a hidden name no
/// repository file is laid out at.
const MODFILE: &str = "/work/.gomod/go.mod";

/// The module a source file of a checkout belongs to, borrowed from the checkout.
struct Module<'c> {
    /// Its directory in the repository (`""` at the top).
    root: &'c str,
    /// Its path, from its `module` line.
    path: Option<String>,
    /// Its `go.mod`.
    go_mod: &'c str,
}

/// Whether the slash-separated `path` is `parent` or lies under it (`a/b` is under `a`, `ab` is
/// not): an import path in a module, a file in a directory.
fn is_within(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<'c> Module<'c> {
    /// The module of `job`'s source: the nearest `go.mod` in the source's directory or above.
    fn of(job: &Job<'c>) -> Option<Module<'c>> {
        let (root, file) = job.checkout?.nearest(job.source_file_name, "go.mod")?;
        Some(Module {
            root,
            path: module_path(&file.contents),
            go_mod: &file.contents,
        })
    }

    /// `path` (in the repository) relative to the module's directory.
    fn relative<'p>(&self, path: &'p str) -> &'p str {
        if self.root.is_empty() {
            return path;
        }
        path.strip_prefix(self.root)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(path)
    }

    /// Whether the repository's file at `path` is under the module's directory.
    fn contains(&self, path: &str) -> bool {
        self.root.is_empty() || is_within(path, self.root)
    }

    /// `name` in the module's directory, as a path in the repository.
    fn file(&self, name: &str) -> String {
        if self.root.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.root)
        }
    }

    /// Whether the import path `package` is one of the module's own packages.
    fn owns(&self, package: &str) -> bool {
        self.path
            .as_deref()
            .is_some_and(|module| is_within(package, module))
    }
}

/// The module path a `go.mod` declares (`module example.com/shop`, quoted or not).
fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.split("//").next()?.trim();
        let rest = line.strip_prefix("module")?;
        if !rest.starts_with([' ', '\t', '"']) {
            return None;
        }
        let path = rest.trim().trim_matches(['"', '`']);
        (!path.is_empty()).then(|| path.to_owned())
    })
}

impl GoTest {
    /// The environment of a build in a module of a checkout: module mode with `flags`, offline,
    /// the module cache and the build cache in the work directory under names no repository file
    /// has.
    fn module_env(command: Command, flags: &str) -> Command {
        command
            .env("GO111MODULE", "on")
            .env("GOFLAGS", flags)
            .env("GOPATH", "/work/.gopath")
            .env("GOCACHE", "/work/.cache/go-build")
            .env("GOPROXY", "off")
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOTELEMETRY", "off")
            .no_address_space_limit()
    }

    /// The commands of a build in the source's directory, inside its module, which reads the
    /// offline copy of the module's `go.mod`: with the repository's vendor directory when it has
    /// one, else with Debian's testify vendored when the new tests, the module's files or its
    /// `go.mod` use it, else from the (empty) module cache. Only the new tests run.
    fn in_module(job: &Job<'_>, module: &Module<'_>, dir: &Path) -> io::Result<Plan> {
        std::fs::create_dir_all(dir.join(".bin"))?;
        let modfile_dir = dir.join(".gomod");
        std::fs::create_dir_all(&modfile_dir)?;
        let vendored = job
            .checkout
            .is_some_and(|checkout| checkout.file(&module.file("vendor/modules.txt")).is_some());
        // The package builds with the module's other test files too, which may use testify
        // where the new tests do not.
        let wants_testify = imports_testify(job.test_code)
            || go_mod::requirements(module.go_mod)
                .iter()
                .any(|requirement| requirement.path == go_mod::TESTIFY_MODULES[0].0)
            || job.checkout.is_some_and(|checkout| {
                checkout.files.iter().any(|file| {
                    file.path.ends_with(".go")
                        && module.contains(&file.path)
                        && imports_testify(&file.contents)
                })
            });
        let vendor_testify = !vendored && wants_testify && !go_mod::has_replacements(module.go_mod);
        let added = if vendor_testify {
            go_mod::testify_additions(module.go_mod, module.path.as_deref())
        } else {
            Vec::new()
        };
        let copy = go_mod::offline_copy(module.go_mod, &added);
        if vendor_testify {
            let vendor = dir.join(super::relative_path(&module.file("vendor"))?);
            go_mod::vendor_testify(&vendor, module.path.as_deref())?;
            std::fs::write(
                vendor.join("modules.txt"),
                go_mod::vendor_manifest(&go_mod::requirements(&copy)),
            )?;
        }
        std::fs::write(modfile_dir.join("go.mod"), &copy)?;
        if let Some(sums) = job
            .checkout
            .and_then(|checkout| checkout.file(&module.file("go.sum")))
        {
            std::fs::write(modfile_dir.join("go.sum"), &sums.contents)?;
        }
        let mode = if vendored || vendor_testify {
            "vendor"
        } else {
            "mod"
        };
        let flags = format!("-mod={mode} -modfile={MODFILE}");
        // The package's own tests are built with the new ones but not run: the verdicts and the
        // coverage are the new tests' alone, and a failing test of the repository's is not theirs.
        let ours = test_functions(job.test_code);
        let only_ours = if ours.is_empty() {
            String::new()
        } else {
            format!(
                " -test.run {}",
                shell_quote(&format!("^({})$", ours.join("|")))
            )
        };
        let package = parent_of(job.source_file_name);
        let in_package = if package.is_empty() {
            "cd /work && ".to_owned()
        } else {
            format!("cd {} && ", shell_quote(&format!("/work/{package}")))
        };
        Ok(Plan {
            build: Some(GoTest::module_env(
                Command::shell(format!(
                    "{in_package}{GO} test -c -cover -covermode=set -o {BINARY} ."
                )),
                &flags,
            )),
            run_with_coverage: GoTest::module_env(
                Command::shell(format!(
                    "{in_package}{BINARY}{only_ours} -test.coverprofile={PROFILE}"
                )),
                &flags,
            ),
            run: GoTest::module_env(
                Command::shell(format!("{in_package}{BINARY}{only_ours}")),
                &flags,
            ),
        })
    }

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

    fn uses_checkout(&self, job: &Job<'_>) -> bool {
        Module::of(job).is_some()
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        if let Some(module) = Module::of(job) {
            return GoTest::in_module(job, &module, dir);
        }
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
        // A module's profile names files by import path: the module's, then the file's place in it.
        let file_name = match Module::of(job) {
            Some(module) => module.relative(job.source_file_name).to_owned(),
            None => job.source_file_name.to_owned(),
        };
        from_cover_profile(&profile, &file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        if let (Some(module), Some(checkout)) = (Module::of(job), job.checkout) {
            return missing_packages(output).into_iter().find(|package| {
                !module.owns(package)
                    && !only_the_tests_import(job, checkout, &[".go"], |code| {
                        go_imports(code)
                            .iter()
                            .any(|import| is_within(import, package))
                    })
            });
        }
        let wanted = go_imports(job.source);
        missing_packages(output)
            .into_iter()
            .find(|package| wanted.contains(package))
    }
}

/// The test, example and fuzz functions Go test code declares (`func TestX(t *testing.T)`).
fn test_functions(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| line.strip_prefix("func "))
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let runnable = ["Test", "Example", "Fuzz"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            (runnable && rest[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

/// Whether Go code imports one of testify's packages.
fn imports_testify(code: &str) -> bool {
    go_imports(code)
        .iter()
        .any(|import| is_within(import, go_mod::TESTIFY_MODULES[0].0))
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
/// `no required module provides package x`, `cannot find module providing package x`,
/// `package x is not in GOROOT`, and the module it could not fetch, `go: downloading x v1.2.3`
/// (module mode), and the vendor directory it found no package in
/// (`cannot find package "." in:` then `…/vendor/x` on the next line; vendor mode).
fn missing_packages(output: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = output.lines().peekable();
    while let Some(line) = lines.next() {
        let named = if line.contains("cannot find package \".\" in:") {
            lines
                .peek()
                .and_then(|next| next.trim().rsplit_once("/vendor/"))
                .map(|(_, package)| package)
        } else if let Some((_, rest)) = line.split_once("cannot find package \"") {
            rest.split('"').next()
        } else if let Some((_, rest)) = line.split_once("no required module provides package ") {
            rest.split([';', ' ']).next()
        } else if let Some((_, rest)) = line.split_once("cannot find module providing package ") {
            rest.split([':', ' ']).next()
        } else if let Some(rest) = line.strip_prefix("go: downloading ") {
            rest.split(' ').next()
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
        assert_eq!(
            test_functions(
                "package x\n\nfunc TestA(t *testing.T) {}\nfunc helper() {}\nfunc ExampleB() {}\nfunc (s *S) TestC() {}\nfunc Testing2_x(t *testing.T) {}\n"
            ),
            ["TestA", "ExampleB", "Testing2_x"]
        );
        let vendored = "dep.go:2:8: cannot find package \".\" in:\n\t/work/backend/vendor/github.com/foo/bar\n";
        assert_eq!(
            missing_packages(vendored),
            vec!["github.com/foo/bar".to_owned()]
        );
        let modules = "x.go:3:8: no required module provides package github.com/a/b; to add it:";
        assert_eq!(missing_packages(modules), vec!["github.com/a/b".to_owned()]);
        assert_eq!(
            package_dir("// Package c.\npackage collections\n"),
            "collections"
        );
        assert_eq!(package_dir("no clause"), "subject");
    }

    #[test]
    fn a_source_in_a_module_is_built_there_and_measured_by_its_place_in_it() {
        use domain::{Checkout, CheckoutFile, Framework, Language};
        let file = |path: &str, contents: &str| CheckoutFile {
            path: path.to_owned(),
            contents: contents.to_owned(),
        };
        let checkout = Checkout {
            files: vec![
                file("go.mod", "module example.com/top\n"),
                file(
                    "backend/go.mod",
                    "// The service.\nmodule \"example.com/shop\" // its path\n\ngo 1.19\n",
                ),
                file(
                    "backend/pricing/pricing.go",
                    "package pricing\nimport \"github.com/shopspring/decimal\"\n",
                ),
            ],
            left_out: 0,
        };
        let mut job = Job {
            language: Language::Go,
            framework: Framework::GoTesting,
            source_file_name: "backend/cart/cart.go",
            source: "package cart\nimport \"example.com/shop/pricing\"\n",
            test_file_name: "backend/cart/cart_test.go",
            test_code: "package cart\nimport \"github.com/google/go-cmp/cmp\"\n",
            checkout: Some(&checkout),
        };
        let module = Module::of(&job).expect("in a module");
        assert_eq!(module.root, "backend");
        assert_eq!(module.path.as_deref(), Some("example.com/shop"));
        assert_eq!(module.relative(job.source_file_name), "cart/cart.go");
        assert!(module.owns("example.com/shop/pricing") && module.owns("example.com/shop"));
        assert!(!module.owns("example.com/shopping"));
        let profile = "mode: set\nexample.com/shop/cart/cart.go:3.20,5.2 1 1\n";
        let dir = std::env::temp_dir().join(format!("aiut-go-module-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(".cover.out"), profile).expect("profile");
        let measured = GoTest { testify: false }.coverage(&job, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            measured.map(|measured| measured.covered),
            Some(BTreeSet::from([3, 4, 5]))
        );

        let go = GoTest { testify: false };
        // A sibling package's dependency is named; a package only the tests import is not, nor
        // one of the module's own.
        let output = "go: downloading github.com/shopspring/decimal v1.3.1\n\
                      ../pricing/pricing.go:2:8: module lookup disabled by GOPROXY=off\n";
        assert_eq!(
            go.missing_module(&job, output).as_deref(),
            Some("github.com/shopspring/decimal")
        );
        let only_tests = "cart_test.go:2:8: cannot find module providing package github.com/google/go-cmp/cmp: module lookup disabled by GOPROXY=off";
        assert_eq!(go.missing_module(&job, only_tests), None);
        assert_eq!(
            go.missing_module(
                &job,
                "no required module provides package example.com/shop/absent; to add it:"
            ),
            None
        );

        job.source_file_name = "tools/gen.go";
        assert_eq!(Module::of(&job).map(|module| module.root), Some(""));
        job.checkout = None;
        assert!(Module::of(&job).is_none());
        assert_eq!(module_path("modules x\n"), None);
    }
}
