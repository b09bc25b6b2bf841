//! Each language's tools: how its tests are laid out, built, run and measured.
//!
//! One file per language implements [`Toolchain`]; [`toolchain`] is the one place that lists
//! them, and says which frameworks cannot run on this kind of deployment and why.

mod cpp;
mod go;
mod java;
pub(crate) mod javascript;
mod python;
mod rust;

use std::io;
use std::path::Path;

use domain::{Framework, Language};

use crate::sandbox::{Command, Execution};
use crate::{Job, Measured};

/// The commands of one run.
pub(crate) struct Plan {
    /// Compiles the tests and the source, where the language compiles.
    pub(crate) build: Option<Command>,
    /// Runs the tests once, writing the coverage report [`Toolchain::coverage`] reads.
    pub(crate) run_with_coverage: Command,
    /// Runs the tests again, without coverage where that is cheaper.
    pub(crate) run: Command,
}

pub(crate) trait Toolchain: Send + Sync {
    /// The tools, as a user reads them: `pytest + coverage.py`.
    fn tool(&self) -> &'static str;

    /// A command that succeeds in the sandbox only when the tools are all there.
    fn probe(&self) -> Command;

    /// What to install when [`Toolchain::probe`] fails.
    fn install_hint(&self) -> &'static str;

    /// Writes the source and the tests (and anything the tools need) into `dir`.
    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan>;

    /// Coverage of the source file, read from what the run left in `dir`.
    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured>;

    /// The module the *source* needs and cannot find, from a failed build or run's output.
    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String>;

    /// Whether a failed run failed to load the tests (a syntax or import error found when the
    /// tests are collected), which counts as not building.
    fn is_load_error(&self, _execution: &Execution) -> bool {
        false
    }
}

/// The tools for `language` and `framework`, or why this deployment cannot run them.
pub(crate) fn toolchain(
    language: Language,
    framework: Framework,
) -> Result<&'static dyn Toolchain, String> {
    match (language, framework) {
        (Language::Python, Framework::Pytest | Framework::Unittest) => Ok(&python::Python),
        (Language::Javascript, Framework::NodeTest) => {
            Ok(&javascript::NodeTest { typescript: false })
        }
        (Language::Typescript, Framework::NodeTest) => {
            Ok(&javascript::NodeTest { typescript: true })
        }
        (Language::Javascript | Language::Typescript, Framework::Vitest) => Ok(&javascript::Vitest),
        (Language::Javascript | Language::Typescript, Framework::Jest) => Ok(&javascript::Jest),
        (Language::Go, Framework::GoTesting) => Ok(&go::GoTest { testify: false }),
        (Language::Go, Framework::Testify) => Ok(&go::GoTest { testify: true }),
        (Language::Csharp, framework) => Err(format!(
            "not run on this deployment: {} tests need the .NET SDK (dotnet), which is not installed here",
            framework.display_name()
        )),
        (Language::Java, Framework::Junit5) => Ok(&java::Java { mockito: false }),
        (Language::Java, Framework::Junit5Mockito) => Ok(&java::Java { mockito: true }),
        (Language::Cpp, Framework::Gtest) => Ok(&cpp::Cpp),
        (Language::Rust, Framework::RustBuiltin) => Ok(&rust::Rust),
        (language, framework) => Err(format!(
            "not run on this deployment: running {} tests in {} is not supported yet",
            language.display_name(),
            framework.display_name()
        )),
    }
}

/// A file's path inside the work directory: relative, with no `.` or `..` part and no hidden
/// part, so that writing it can never leave the directory. Sources keep their relative path
/// (`pkg/calc.py`), because the tests reach them by it.
pub(crate) fn relative_path(name: &str) -> io::Result<&Path> {
    let path = Path::new(name);
    let clean = !name.is_empty()
        && path.components().all(|part| match part {
            std::path::Component::Normal(part) => {
                part.to_str().is_some_and(|part| !part.starts_with('.'))
            }
            _ => false,
        });
    if clean {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a relative path inside the work directory"),
        ))
    }
}

/// The last part of a relative path, for languages whose tests sit beside their source and
/// reach it by its base name (`./cart`, the same Go package).
pub(crate) fn plain_name(name: &str) -> io::Result<&str> {
    relative_path(name)?
        .file_name()
        .and_then(|file| file.to_str())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` has no file name"),
            )
        })
}

/// Writes `contents` at `name` (see [`relative_path`]) under `dir`, making its directories.
pub(crate) fn write_file(dir: &Path, name: &str, contents: &str) -> io::Result<()> {
    let path = dir.join(relative_path(name)?);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents)
}

/// `text` as one word of a `sh -c` script.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_stay_one_word() {
        assert_eq!(shell_quote("a b.py"), "'a b.py'");
        assert_eq!(shell_quote("it's.py"), "'it'\\''s.py'");
    }

    #[test]
    fn only_paths_inside_the_work_directory_are_written() {
        for good in ["calc.py", "pkg/calc.py", "src/main/java/Account.java"] {
            assert!(relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x.py",
            "pkg/../../x.py",
            "./x.py",
            ".hidden.py",
            "a/.git/config",
        ] {
            assert!(relative_path(bad).is_err(), "{bad}");
        }
    }
}
