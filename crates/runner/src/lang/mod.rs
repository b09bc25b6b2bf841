//! Each language's tools: how its tests are laid out, built, run and measured.
//!
//! One file per language implements [`Toolchain`]; [`toolchain`] is the one place that lists
//! them, and says which frameworks cannot run on this kind of deployment and why.
//!
//! A job with a checkout has the repository's files laid out first ([`lay_out`]). A toolchain
//! that runs among them ([`Toolchain::uses_checkout`]) then gets the job as it is, with its
//! repository paths and its checkout; one that does not gets it as a job alone
//! ([`side_by_side`]): base names, no checkout.

mod cpp;
mod go;
mod go_mod;
mod java;
pub(crate) mod javascript;
pub(crate) mod python;
mod rust;

use std::io;
use std::path::Path;

use domain::{Checkout, Framework, Language};

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

    /// Whether `job`, which has a checkout, runs among the repository's files. When it does, the
    /// other methods get the job with its checkout, and the checkout is already in `dir`.
    fn uses_checkout(&self, _job: &Job<'_>) -> bool {
        false
    }

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

/// Writes the checkout's files into `dir` at their paths, then the source and the test at theirs
/// (over the repository's versions). A path [`relative_path`] refuses (hidden, absolute, with
/// `..`) is left out, and so is one that clashes with another's directory: nothing is written
/// outside `dir`, and no link is made. Returns how many files were left out.
pub(crate) fn lay_out(checkout: &Checkout, job: &Job<'_>, dir: &Path) -> io::Result<usize> {
    let left_out = write_checkout(checkout, dir);
    write_file(dir, job.source_file_name, job.source)?;
    write_file(dir, job.test_file_name, job.test_code)?;
    Ok(left_out)
}

/// Writes the checkout's files into `dir` at their paths; a path [`write_file`] refuses is left
/// out. Returns how many were.
pub(crate) fn write_checkout(checkout: &Checkout, dir: &Path) -> usize {
    let mut left_out = 0;
    for file in &checkout.files {
        if let Err(error) = write_file(dir, &file.path, &file.contents) {
            tracing::debug!(path = %file.path, %error, "a checkout file is left out of the run");
            left_out += 1;
        }
    }
    left_out
}

/// `job` as a job alone, for a toolchain that does not run among its repository's files: the
/// source and the test by their base names, side by side.
pub(crate) fn side_by_side<'a>(job: &Job<'a>) -> io::Result<Job<'a>> {
    Ok(Job {
        source_file_name: plain_name(job.source_file_name)?,
        test_file_name: plain_name(job.test_file_name)?,
        checkout: None,
        ..*job
    })
}

/// Whether the tests are alone in needing a module: they import it (by `imports`), and neither
/// the source nor another file of the checkout ending in one of `extensions` does. A module only
/// the tests want is theirs to do without, not one the repository lacks.
pub(crate) fn only_the_tests_import(
    job: &Job<'_>,
    checkout: &Checkout,
    extensions: &[&str],
    imports: impl Fn(&str) -> bool,
) -> bool {
    let elsewhere = || {
        checkout.files.iter().any(|file| {
            file.path != job.test_file_name
                && file.path != job.source_file_name
                && extensions
                    .iter()
                    .any(|extension| file.path.ends_with(extension))
                && imports(&file.contents)
        })
    };
    imports(job.test_code) && !imports(job.source) && !elsewhere()
}

/// The test binary's name: `./tests`, unless the work directory already has a `tests/`
/// directory (a repository's, laid out beside the run), when it takes a name no repository file
/// can have.
pub(crate) fn test_binary(dir: &Path) -> &'static str {
    if dir.join("tests").is_dir() {
        "./.tests"
    } else {
        "./tests"
    }
}

/// The directory part of a `/`-separated relative path (`""` at the top).
pub(crate) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// `text` as one word of a `sh -c` script.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use domain::CheckoutFile;

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

    fn checkout(paths: &[&str]) -> Checkout {
        Checkout {
            files: paths
                .iter()
                .map(|path| CheckoutFile {
                    path: (*path).to_owned(),
                    contents: format!("contents of {path}"),
                })
                .collect(),
            left_out: 0,
        }
    }

    fn python_job<'a>(checkout: &'a Checkout) -> Job<'a> {
        Job {
            language: Language::Python,
            framework: Framework::Pytest,
            source_file_name: "shop/cart.py",
            source: "import json\n",
            test_file_name: "tests/test_cart.py",
            test_code: "from shop.cart import total\n",
            checkout: Some(checkout),
        }
    }

    #[test]
    fn a_checkout_is_laid_out_inside_the_directory_only() {
        let root = std::env::temp_dir().join(format!("aiut-lay-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("work");
        std::fs::create_dir_all(&dir).expect("work directory");
        let outside = root.join("outside.txt");
        let absolute = root.join("absolute.txt");
        let absolute = absolute.to_str().expect("a UTF-8 temp path");
        let checkout = checkout(&[
            "shop/__init__.py",
            "shop/cart.py",
            "tests/test_cart.py",
            "../outside.txt",
            "shop/../../outside.txt",
            absolute,
            ".git/config",
            "docs/.secret",
            "README.md",
            // A file where a directory is wanted: left out, the rest still written.
            "README.md/inner.txt",
            "we ird/na'me \"x\"\\.py",
        ]);
        let job = python_job(&checkout);
        let left_out = lay_out(&checkout, &job, &dir).expect("laid out");
        assert_eq!(left_out, 6);
        assert!(!outside.exists() && !Path::new(absolute).exists());
        assert!(!dir.join(".git").exists() && !dir.join("docs").exists());
        let read = |path: &str| std::fs::read_to_string(dir.join(path)).expect(path);
        assert_eq!(read("shop/__init__.py"), "contents of shop/__init__.py");
        assert_eq!(read("README.md"), "contents of README.md");
        assert_eq!(
            read("we ird/na'me \"x\"\\.py"),
            "contents of we ird/na'me \"x\"\\.py"
        );
        // The job's own files win over the repository's.
        assert_eq!(read("shop/cart.py"), job.source);
        assert_eq!(read("tests/test_cart.py"), job.test_code);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_job_alone_has_base_names_and_no_checkout() {
        let checkout = checkout(&[]);
        let alone = side_by_side(&python_job(&checkout)).expect("plain names");
        assert_eq!(
            (alone.source_file_name, alone.test_file_name),
            ("cart.py", "test_cart.py")
        );
        assert!(alone.checkout.is_none());
        let dir = std::env::temp_dir().join(format!("aiut-binary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert_eq!(test_binary(&dir), "./tests");
        std::fs::create_dir_all(dir.join("tests")).expect("tests/");
        assert_eq!(test_binary(&dir), "./.tests");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(parent_of("shop/cart.py"), "shop");
        assert_eq!(parent_of("cart.py"), "");
    }

    #[test]
    fn a_module_only_the_tests_import_is_theirs() {
        let imports_yaml = |code: &str| code.contains("import yaml");
        let alone = checkout(&["shop/io.py", "notes.txt"]);
        let mut shared = alone.clone();
        shared.files[0].contents = "import yaml\n".to_owned();
        let tests_import = |checkout: &Checkout, test_code: &str, extension: &str| {
            let job = Job {
                test_code,
                ..python_job(checkout)
            };
            only_the_tests_import(&job, checkout, &[extension], imports_yaml)
        };
        assert!(tests_import(&alone, "import yaml\n", ".py"));
        // Another file of the repository needs it too: the repository lacks it.
        assert!(!tests_import(&shared, "import yaml\n", ".py"));
        // Files of other languages do not count.
        assert!(tests_import(&shared, "import yaml\n", ".js"));
        // Neither do modules the tests do not import.
        assert!(!tests_import(&alone, "import json\n", ".py"));
    }
}
