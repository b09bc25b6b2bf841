//! Each language's tools: how its tests are laid out, built, run and measured.
//!
//! One file per language implements [`Toolchain`]; [`toolchain`] is the one place that lists
//! them, and says which frameworks cannot run on this kind of deployment and why.

mod cpp;
mod java;
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

/// A file name written into the work directory: a plain name, never a path that could leave it.
pub(crate) fn plain_name(name: &str) -> io::Result<&str> {
    let plain = Path::new(name)
        .file_name()
        .and_then(|file| file.to_str())
        .filter(|file| *file == name && !file.starts_with('.'));
    plain.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a plain file name"),
        )
    })
}

/// `word` as one word of a `sh` script, whatever it holds.
pub(crate) fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_stay_one_word() {
        assert_eq!(shell_quote("a b.rs"), "'a b.rs'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
