//! A repository's `go.mod`, made buildable offline by the Go this machine has (Debian 12's 1.19)
//! without touching the repository's file: the build reads an alternate copy (`-modfile`).
//!
//! - The copy's `go` line keeps major and minor only (`1.22.1` → `1.22`), and `toolchain` and
//!   `godebug` lines are dropped: Go 1.19 refuses a file with either, while a newer language
//!   version alone only matters if the code uses it (then the build says which version it needs).
//! - A module whose tests use testify gets Debian's testify (and what it imports) as a vendor
//!   directory, listed in a `vendor/modules.txt` written to agree with the copy's requirements.
//!   Vendoring needs no module cache and no network; the module proxy is out of reach.
//!
//! The grammar read here is the part of `go.mod` these need (directives, blocks, comments); a
//! hand-written reader because no maintained Rust crate parses `go.mod`.

use std::io;
use std::path::Path;

/// Debian's Go libraries (`golang-*-dev`), laid out as a GOPATH.
pub(crate) const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// The modules a testify test needs, with the versions Debian 12 packages them at: testify, then
/// what its `assert`, `require`, `mock` and `suite` packages import.
pub(crate) const TESTIFY_MODULES: [(&str, &str); 5] = [
    ("github.com/stretchr/testify", "v1.8.1"),
    ("github.com/davecgh/go-spew", "v1.1.1"),
    ("github.com/pmezard/go-difflib", "v1.0.0"),
    ("github.com/stretchr/objx", "v0.5.0"),
    ("gopkg.in/yaml.v3", "v3.0.1"),
];

/// A requirement of a `go.mod`: a module path and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) path: String,
    pub(crate) version: String,
}

/// The directives of `go_mod` as (verb, arguments), with `verb ( … )` blocks spread into one
/// entry per line and `//` comments removed.
fn directives(go_mod: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut block: Option<String> = None;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(verb) = &block {
            if line == ")" {
                block = None;
            } else {
                found.push((verb.clone(), line.to_owned()));
            }
            continue;
        }
        let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let rest = rest.trim();
        if rest == "(" {
            block = Some(verb.to_owned());
        } else {
            found.push((verb.to_owned(), rest.to_owned()));
        }
    }
    found
}

/// The modules `go_mod` requires.
pub(crate) fn requirements(go_mod: &str) -> Vec<Requirement> {
    directives(go_mod)
        .into_iter()
        .filter(|(verb, _)| verb == "require")
        .filter_map(|(_, arguments)| {
            let mut words = arguments.split_whitespace();
            let path = words.next()?.trim_matches('"');
            let version = words.next()?;
            Some(Requirement {
                path: path.to_owned(),
                version: version.to_owned(),
            })
        })
        .collect()
}

/// Whether `go_mod` replaces a module: a vendor directory would then have to record the
/// replacement and hold its packages, so testify is not vendored beside one.
pub(crate) fn has_replacements(go_mod: &str) -> bool {
    directives(go_mod).iter().any(|(verb, _)| verb == "replace")
}

/// `go_mod` as Go 1.19 reads it, with `added` required too (testify directly, the rest as
/// indirect requirements).
pub(crate) fn offline_copy(go_mod: &str, added: &[Requirement]) -> String {
    let mut copy = String::with_capacity(go_mod.len() + 64 * added.len());
    let mut in_dropped_block = false;
    for line in go_mod.lines() {
        let code = line.split("//").next().unwrap_or("").trim();
        if in_dropped_block {
            in_dropped_block = code != ")";
            continue;
        }
        let verb = code.split_whitespace().next().unwrap_or("");
        if verb == "toolchain" || verb == "godebug" {
            in_dropped_block = code.ends_with('(');
            continue;
        }
        if verb == "go"
            && let Some(version) = code.split_whitespace().nth(1)
        {
            copy.push_str("go ");
            copy.push_str(&major_minor(version));
            copy.push('\n');
            continue;
        }
        copy.push_str(line);
        copy.push('\n');
    }
    if !added.is_empty() {
        copy.push_str("\nrequire (\n");
        for requirement in added {
            let indirect = if requirement.path == TESTIFY_MODULES[0].0 {
                ""
            } else {
                " // indirect"
            };
            copy.push_str(&format!(
                "\t{} {}{indirect}\n",
                requirement.path, requirement.version
            ));
        }
        copy.push_str(")\n");
    }
    copy
}

/// `1.22.1` → `1.22`; `1.21rc2` → `1.21`; anything else as it is.
fn major_minor(version: &str) -> String {
    let mut parts = version.split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        return version.to_owned();
    };
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    if major.chars().all(|c| c.is_ascii_digit()) && !minor.is_empty() {
        format!("{major}.{minor}")
    } else {
        version.to_owned()
    }
}

/// The testify modules a module needs vendored: all but the module itself (objx is one of them,
/// and its own tests use testify).
fn testify_modules(
    own_path: Option<&str>,
) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    TESTIFY_MODULES
        .iter()
        .filter(move |(path, _)| Some(*path) != own_path)
}

/// The testify modules `go_mod` (of the module `own_path`) does not require yet, at Debian's
/// versions.
pub(crate) fn testify_additions(go_mod: &str, own_path: Option<&str>) -> Vec<Requirement> {
    let required = requirements(go_mod);
    testify_modules(own_path)
        .filter(|(path, _)| !required.iter().any(|known| known.path == *path))
        .map(|(path, version)| Requirement {
            path: (*path).to_owned(),
            version: (*version).to_owned(),
        })
        .collect()
}

/// `vendor/modules.txt` for a vendor directory of `requirements` (the copy's, all of them, as Go
/// checks): each one explicit, at the version required. Packages need not be listed for Go to
/// find them in the directory; a requirement with no directory stays missing, and the build names
/// it.
pub(crate) fn vendor_manifest(requirements: &[Requirement]) -> String {
    let mut sorted: Vec<&Requirement> = requirements.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    sorted.dedup_by(|a, b| a.path == b.path);
    let mut manifest = String::new();
    for requirement in sorted {
        manifest.push_str(&format!(
            "# {} {}\n## explicit\n",
            requirement.path, requirement.version
        ));
    }
    manifest
}

/// Copies Debian's testify modules into `vendor` (the vendor directory of the module
/// `own_path`). Only regular files and directories are copied; a link is not followed.
pub(crate) fn vendor_testify(vendor: &Path, own_path: Option<&str>) -> io::Result<()> {
    for (path, _) in testify_modules(own_path) {
        copy_tree(
            &Path::new(DEBIAN_GOPATH).join("src").join(path),
            &vendor.join(path),
        )?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODERN: &str = "// The shop.\nmodule example.com/shop\n\ngo 1.22.1\n\ntoolchain go1.22.3\n\ngodebug (\n\tpanicnil=1\n)\n\nrequire (\n\tgithub.com/stretchr/testify v1.9.0 // tests\n\t\"golang.org/x/text\" v0.14.0\n)\n\nrequire github.com/davecgh/go-spew v1.1.1 // indirect\n";

    #[test]
    fn requirements_are_read_from_lines_and_blocks() {
        assert_eq!(
            requirements(MODERN),
            vec![
                Requirement {
                    path: "github.com/stretchr/testify".into(),
                    version: "v1.9.0".into()
                },
                Requirement {
                    path: "golang.org/x/text".into(),
                    version: "v0.14.0".into()
                },
                Requirement {
                    path: "github.com/davecgh/go-spew".into(),
                    version: "v1.1.1".into()
                },
            ]
        );
        assert!(!has_replacements(MODERN));
        assert!(has_replacements(
            "module a\nreplace (\n\texample.com/b => ../b\n)\n"
        ));
        assert!(has_replacements(
            "module a\nreplace example.com/b => ../b\n"
        ));
    }

    #[test]
    fn the_copy_is_one_go_1_19_reads() {
        let copy = offline_copy(MODERN, &[]);
        assert!(copy.contains("\ngo 1.22\n"), "{copy}");
        assert!(!copy.contains("toolchain"), "{copy}");
        assert!(
            !copy.contains("godebug") && !copy.contains("panicnil"),
            "{copy}"
        );
        assert_eq!(requirements(&copy), requirements(MODERN));
        assert!(copy.starts_with("// The shop.\nmodule example.com/shop\n"));
        assert_eq!(major_minor("1.21rc2"), "1.21");
        assert_eq!(major_minor("1.19"), "1.19");
        assert_eq!(major_minor("weird"), "weird");
    }

    #[test]
    fn testify_and_its_imports_are_added_where_missing_and_vendored_as_required() {
        let added = testify_additions(MODERN, Some("example.com/shop"));
        let paths: Vec<&str> = added.iter().map(|added| added.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "github.com/pmezard/go-difflib",
                "github.com/stretchr/objx",
                "gopkg.in/yaml.v3"
            ]
        );
        let copy = offline_copy(MODERN, &added);
        assert!(copy.contains("\tgithub.com/stretchr/objx v0.5.0 // indirect\n"));
        let manifest = vendor_manifest(&requirements(&copy));
        // The version the repository requires, not Debian's, so that Go finds them consistent.
        assert!(manifest.contains("# github.com/stretchr/testify v1.9.0\n## explicit\n"));
        assert!(manifest.contains("# golang.org/x/text v0.14.0\n## explicit\n"));
        assert_eq!(manifest.matches("## explicit").count(), 6);

        let bare = testify_additions("module a\n\ngo 1.19\n", Some("a"));
        assert_eq!(bare.len(), TESTIFY_MODULES.len());
        // objx's own tests use testify, which imports objx: the module is not vendored into
        // itself.
        let objx = "module github.com/stretchr/objx\n\ngo 1.12\n\nrequire github.com/stretchr/testify v1.8.0\n";
        let added = testify_additions(objx, Some("github.com/stretchr/objx"));
        assert!(
            added
                .iter()
                .all(|added| added.path != "github.com/stretchr/objx")
        );
        assert_eq!(added.len(), 3);
        assert!(
            offline_copy("module a\n", &bare).contains("\tgithub.com/stretchr/testify v1.8.1\n")
        );
    }
}
