//! A repository's files at one commit, as tests are run among them: the text files of a shallow
//! checkout, and where a language's conventions put the test file of a source file.

use serde::{Deserialize, Serialize};

use crate::Language;

/// The text files of a repository at one commit, by their path in it (`/`-separated, relative).
/// Binary and oversized files are left out when it is taken (see [`CheckoutLimits`]); what was
/// left out is counted, so a verdict can say why a file it needed was not there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub files: Vec<CheckoutFile>,
    /// Files of the commit not taken: binary, too large, or past the limits.
    #[serde(default)]
    pub left_out: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutFile {
    pub path: String,
    pub contents: String,
}

/// How much of a repository a checkout keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutLimits {
    pub max_files: usize,
    pub max_total_bytes: usize,
    pub max_file_bytes: usize,
}

impl Default for CheckoutLimits {
    fn default() -> Self {
        CheckoutLimits {
            max_files: 5_000,
            max_total_bytes: 16 * 1024 * 1024,
            max_file_bytes: 1024 * 1024,
        }
    }
}

impl Checkout {
    /// The file at `path`, if the checkout kept it.
    pub fn file(&self, path: &str) -> Option<&CheckoutFile> {
        self.files.iter().find(|file| file.path == path)
    }

    /// The file named `name` nearest above `path` (in its directory, else in the closest
    /// directory above it), with the directory it is in (`""` at the top): the `go.mod` of a Go
    /// source's module.
    pub fn nearest<'c>(&'c self, path: &str, name: &str) -> Option<(&'c str, &'c CheckoutFile)> {
        let mut dir = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        loop {
            let candidate = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            };
            if let Some(file) = self.file(&candidate) {
                let found_in = file
                    .path
                    .strip_suffix(name)
                    .map_or("", |rest| rest.strip_suffix('/').unwrap_or(rest));
                return Some((found_in, file));
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|file| file.contents.len()).sum()
    }
}

/// Where the test file of `source_path` goes in a repository, by the language's conventions:
/// next to the code for Go, Rust, JavaScript, TypeScript and C#; under `tests/` for Python and
/// C++; under `src/test/java` for a Maven or Gradle layout (`src/main/java/...`), else next to the
/// code, for Java.
pub fn conventional_test_path(language: Language, source_path: &str) -> String {
    let test_name = language.test_file_name(source_path);
    let directory = source_path.rsplit_once('/').map(|(directory, _)| directory);
    let beside = || match directory {
        Some(directory) => format!("{directory}/{test_name}"),
        None => test_name.clone(),
    };
    match language {
        Language::Python | Language::Cpp => format!("tests/{test_name}"),
        Language::Java => {
            let maven = directory.and_then(|directory| {
                directory
                    .strip_prefix("src/main/java")
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                    .map(|rest| format!("src/test/java{rest}/{test_name}"))
            });
            maven.unwrap_or_else(beside)
        }
        Language::Go
        | Language::Rust
        | Language::Javascript
        | Language::Typescript
        | Language::Csharp => beside(),
    }
}

/// The test paths of a batch's source files, one per source, none shared, and none that is a
/// file of the repository already (`exists`), so that a repository's own tests stay as they are
/// beside the new ones, in the run and in the pull request.
/// - Where two sources would get one conventional path (`a/util.py` and `b/util.py` →
///   `tests/test_util.py`), the later ones take their directories into the name
///   (`tests/test_b_util.py`).
/// - Where the path is the repository's, `generated` goes into the name where the language's
///   test discovery still finds it (`cart_test.go` → `cart_generated_test.go`,
///   `tests/test_cart.py` → `tests/test_cart_generated.py`), then a number.
/// - Java's file is named after its class, which the tests declare: its tests keep their
///   conventional name over a repository's file, and the pull request asks before replacing it.
pub fn batch_test_paths(
    sources: &[(Language, &str)],
    exists: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    sources
        .iter()
        .map(|&(language, source_path)| {
            let free = |path: &str, taken: &std::collections::BTreeSet<String>| {
                !taken.contains(path) && (language == Language::Java || !exists(path))
            };
            let conventional = conventional_test_path(language, source_path);
            let base = if taken.contains(&conventional) {
                source_path.replace('/', "_")
            } else {
                source_path.to_owned()
            };
            let path = std::iter::once(conventional_test_path(language, &base))
                .chain((1u32..).map(|number| {
                    conventional_test_path(language, &with_stem_suffix(&base, number))
                }))
                .find(|candidate| free(candidate, &taken))
                .unwrap_or(conventional);
            taken.insert(path.clone());
            path
        })
        .collect()
}

/// `dir/cart.go` → `dir/cart_generated.go` (1), `dir/cart_generated_2.go` (2), …
fn with_stem_suffix(path: &str, number: u32) -> String {
    let suffix = if number == 1 {
        "_generated".to_owned()
    } else {
        format!("_generated_{number}")
    };
    let (directory, name) = match path.rsplit_once('/') {
        Some((directory, name)) => (Some(directory), name),
        None => (None, path),
    };
    let name = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}{suffix}.{extension}"),
        _ => format!("{name}{suffix}"),
    };
    match directory {
        Some(directory) => format!("{directory}/{name}"),
        None => name,
    }
}

/// A file the batch leaves out, and why (shown in the batch view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// The source files of a folder (or the one file) of a checkout that a batch makes tasks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub sources: Vec<(String, Language)>,
    pub skipped: Vec<SkippedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("path: the repository has no file or folder `{0}` at this commit")]
    NotFound(String),
    #[error("path: `{path}` cannot be tested: {reason}")]
    NotTestable { path: String, reason: String },
    #[error("path: `{0}` holds no source file that can be tested")]
    Empty(String),
}

/// Folders whose files are tests, fixtures, dependencies or build output, never sources to test.
const NOT_SOURCE_FOLDERS: [&str; 13] = [
    "test",
    "tests",
    "__tests__",
    "testdata",
    "spec",
    "vendor",
    "node_modules",
    "third_party",
    "target",
    "build",
    "dist",
    "site-packages",
    "__pycache__",
];

/// Why `path` is not a source file to write tests for, if it is not: a test file already (by
/// its name or its folder), a fixture, a dependency, build output, a header, or a language
/// this service does not know.
pub fn not_a_source(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.split('/').collect();
    let (file, folders) = parts.split_last()?;
    if parts.iter().any(|part| part.starts_with('.')) {
        return Some("a hidden file");
    }
    if folders
        .iter()
        .any(|folder| NOT_SOURCE_FOLDERS.contains(&folder.to_ascii_lowercase().as_str()))
        || path.starts_with("src/test/")
    {
        return Some("in a folder of tests, fixtures, dependencies or build output");
    }
    let language = Language::detect(path)?;
    let lower = file.to_ascii_lowercase();
    let stem = lower
        .rsplit_once('.')
        .map_or(lower.as_str(), |(stem, _)| stem);
    let is_test = match language {
        Language::Python => {
            stem.starts_with("test_")
                || stem.ends_with("_test")
                || stem == "conftest"
                || stem == "setup"
                || stem == "__main__"
        }
        Language::Go => stem.ends_with("_test"),
        Language::Java | Language::Csharp => {
            stem.ends_with("test") || stem.ends_with("tests") || stem == "package-info"
        }
        Language::Cpp => stem.ends_with("_test") || stem.starts_with("test_"),
        Language::Rust => stem.ends_with("_test") || stem == "build" || stem == "main",
        Language::Javascript | Language::Typescript => {
            stem.ends_with(".test")
                || stem.ends_with(".spec")
                || stem.ends_with(".d")
                || stem.ends_with(".config")
        }
    };
    if is_test {
        return Some("a test, configuration or entry-point file");
    }
    if language == Language::Cpp
        && [".h", ".hh", ".hpp", ".hxx"]
            .iter()
            .any(|e| lower.ends_with(e))
    {
        return Some("a header: its tests come with the file that implements it");
    }
    None
}

/// The sources a batch over `path` (a file, a folder, or `""` for the whole repository) makes
/// tasks for, in path order, at most `max_files` (the files past the limit are listed as skipped,
/// with the reason). `language`, when given, keeps only that language's files.
pub fn select_sources(
    checkout: &Checkout,
    path: &str,
    language: Option<Language>,
    max_files: usize,
) -> Result<Selection, SelectionError> {
    let path = path.trim_matches('/');
    if !path.is_empty()
        && let Some(file) = checkout.file(path)
    {
        return match (not_a_source(&file.path), Language::detect(&file.path)) {
            (Some(reason), _) => Err(SelectionError::NotTestable {
                path: path.to_owned(),
                reason: reason.to_owned(),
            }),
            (None, None) => Err(SelectionError::NotTestable {
                path: path.to_owned(),
                reason: "not a language this service writes tests for".to_owned(),
            }),
            (None, Some(detected)) if language.is_some_and(|asked| asked != detected) => {
                Err(SelectionError::NotTestable {
                    path: path.to_owned(),
                    reason: format!(
                        "a {} file, not {}",
                        detected.display_name(),
                        language.map_or("", |l| l.display_name())
                    ),
                })
            }
            (None, Some(detected)) => Ok(Selection {
                sources: vec![(file.path.clone(), detected)],
                skipped: Vec::new(),
            }),
        };
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut under: Vec<&CheckoutFile> = checkout
        .files
        .iter()
        .filter(|file| file.path.starts_with(&prefix))
        .collect();
    if under.is_empty() {
        return Err(SelectionError::NotFound(path.to_owned()));
    }
    under.sort_by(|a, b| a.path.cmp(&b.path));
    let mut selection = Selection::default();
    for file in under {
        let Some(detected) = Language::detect(&file.path) else {
            continue;
        };
        if language.is_some_and(|asked| asked != detected) {
            continue;
        }
        let skip = |reason: &str| SkippedFile {
            path: file.path.clone(),
            reason: reason.to_owned(),
        };
        if let Some(reason) = not_a_source(&file.path) {
            selection.skipped.push(skip(reason));
        } else if file.contents.trim().is_empty() {
            selection.skipped.push(skip("empty"));
        } else if selection.sources.len() >= max_files {
            selection.skipped.push(skip(&format!(
                "past the batch's limit of {max_files} files; pick a smaller folder"
            )));
        } else {
            selection.sources.push((file.path.clone(), detected));
        }
    }
    if selection.sources.is_empty() {
        return Err(SelectionError::Empty(path.to_owned()));
    }
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_file_is_in_the_directory_or_the_closest_above() {
        let file = |path: &str| CheckoutFile {
            path: path.to_owned(),
            contents: String::new(),
        };
        let checkout = Checkout {
            files: vec![
                file("go.mod"),
                file("backend/go.mod"),
                file("backend/cart/cart.go"),
            ],
            left_out: 0,
        };
        let found = |path| {
            checkout
                .nearest(path, "go.mod")
                .map(|(dir, file)| (dir, file.path.as_str()))
        };
        assert_eq!(
            found("backend/cart/cart.go"),
            Some(("backend", "backend/go.mod"))
        );
        assert_eq!(found("backend/x.go"), Some(("backend", "backend/go.mod")));
        assert_eq!(found("tools/gen/gen.go"), Some(("", "go.mod")));
        assert_eq!(found("main.go"), Some(("", "go.mod")));
        // `xbackend/` is not `backend/`.
        assert_eq!(found("xbackend/a.go"), Some(("", "go.mod")));
        let bare = Checkout {
            files: vec![file("a/b.go")],
            left_out: 0,
        };
        assert!(bare.nearest("a/b.go", "go.mod").is_none());
    }

    #[test]
    fn tests_go_where_each_language_puts_them() {
        let cases = [
            (Language::Python, "shop/cart.py", "tests/test_cart.py"),
            (Language::Python, "cart.py", "tests/test_cart.py"),
            (Language::Go, "pkg/cart/cart.go", "pkg/cart/cart_test.go"),
            (Language::Go, "main.go", "main_test.go"),
            (Language::Rust, "src/cart.rs", "src/cart_test.rs"),
            (Language::Typescript, "src/cart.ts", "src/cart.test.ts"),
            (Language::Javascript, "lib/cart.mjs", "lib/cart.test.mjs"),
            (
                Language::Java,
                "src/main/java/com/shop/Cart.java",
                "src/test/java/com/shop/CartTest.java",
            ),
            (
                Language::Java,
                "src/main/java/Cart.java",
                "src/test/java/CartTest.java",
            ),
            (Language::Java, "app/Cart.java", "app/CartTest.java"),
            (
                Language::Java,
                "src/main/javax/Cart.java",
                "src/main/javax/CartTest.java",
            ),
            (Language::Cpp, "src/cart.cpp", "tests/cart_test.cpp"),
            (Language::Csharp, "Shop/Cart.cs", "Shop/CartTests.cs"),
        ];
        for (language, source, test) in cases {
            assert_eq!(conventional_test_path(language, source), test, "{source}");
        }
    }

    #[test]
    fn a_batch_never_gives_two_sources_one_test_path() {
        let paths = batch_test_paths(
            &[
                (Language::Python, "a/util.py"),
                (Language::Python, "b/util.py"),
                (Language::Python, "b_util.py"),
                (Language::Go, "a/util.go"),
            ],
            |_| false,
        );
        assert_eq!(
            paths,
            [
                "tests/test_util.py",
                "tests/test_b_util.py",
                "tests/test_b_util_generated.py",
                "a/util_test.go"
            ]
        );
    }

    #[test]
    fn a_repositorys_own_test_files_are_never_taken() {
        let existing = [
            "pkg/cart_test.go",
            "pkg/cart_generated_test.go",
            "tests/test_shop.py",
            "src/cart.test.ts",
            "src/test/java/shop/CartTest.java",
            "lib/money_test.rs",
        ];
        let paths = batch_test_paths(
            &[
                (Language::Go, "pkg/cart.go"),
                (Language::Python, "shop.py"),
                (Language::Python, "other/shop.py"),
                (Language::Typescript, "src/cart.ts"),
                (Language::Java, "src/main/java/shop/Cart.java"),
                (Language::Rust, "lib/money.rs"),
                (Language::Go, "pkg/price.go"),
            ],
            |path| existing.contains(&path),
        );
        assert_eq!(
            paths,
            [
                "pkg/cart_generated_2_test.go",
                "tests/test_shop_generated.py",
                "tests/test_shop_generated_2.py",
                "src/cart_generated.test.ts",
                // Named after its class: replacing it is the pull request's question.
                "src/test/java/shop/CartTest.java",
                "lib/money_generated_test.rs",
                "pkg/price_test.go",
            ]
        );
    }

    fn checkout(paths: &[&str]) -> Checkout {
        Checkout {
            files: paths
                .iter()
                .map(|path| CheckoutFile {
                    path: (*path).to_owned(),
                    contents: "x = 1\n".to_owned(),
                })
                .collect(),
            left_out: 0,
        }
    }

    #[test]
    fn tests_fixtures_and_configuration_are_not_sources() {
        for path in [
            "tests/test_cart.py",
            "shop/test_cart.py",
            "shop/cart_test.py",
            "conftest.py",
            "setup.py",
            "pkg/cart_test.go",
            "src/test/java/CartTest.java",
            "src/main/java/CartTest.java",
            "web/cart.test.ts",
            "web/cart.spec.js",
            "web/types.d.ts",
            "vite.config.ts",
            "node_modules/left-pad/index.js",
            ".github/scripts/x.py",
            "include/cart.hpp",
            "src/main.rs",
        ] {
            assert!(not_a_source(path).is_some(), "{path}");
        }
        for path in [
            "shop/cart.py",
            "pkg/cart.go",
            "src/main/java/Cart.java",
            "web/cart.ts",
            "src/lib.rs",
        ] {
            assert_eq!(not_a_source(path), None, "{path}");
        }
        assert_eq!(
            not_a_source("README.md"),
            None,
            "no language: not a source, not skipped"
        );
    }

    #[test]
    fn a_folder_gives_its_sources_and_says_what_it_skipped() {
        let repo = checkout(&[
            "README.md",
            "shop/__init__.py",
            "shop/cart.py",
            "shop/tax.py",
            "shop/test_tax.py",
            "tools/build.go",
        ]);
        let mut with_blank_init = repo.clone();
        with_blank_init.files[1].contents = "\n".to_owned();
        let selection = select_sources(&with_blank_init, "shop", None, 10).expect("sources");
        assert_eq!(
            selection.sources,
            [
                ("shop/cart.py".to_owned(), Language::Python),
                ("shop/tax.py".to_owned(), Language::Python)
            ]
        );
        assert_eq!(
            selection
                .skipped
                .iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>(),
            ["shop/__init__.py", "shop/test_tax.py"]
        );
        let whole = select_sources(&repo, "", Some(Language::Go), 10).expect("go only");
        assert_eq!(whole.sources, [("tools/build.go".to_owned(), Language::Go)]);
        let limited = select_sources(&repo, "/shop/", None, 2).expect("two");
        assert_eq!(limited.sources.len(), 2);
        assert!(
            limited
                .skipped
                .iter()
                .any(|s| s.path == "shop/tax.py" && s.reason.contains("limit of 2"))
        );
    }

    #[test]
    fn a_single_file_is_taken_or_refused_with_the_reason() {
        let repo = checkout(&["shop/cart.py", "shop/test_cart.py", "README.md"]);
        assert_eq!(
            select_sources(&repo, "shop/cart.py", None, 1)
                .expect("one")
                .sources,
            [("shop/cart.py".to_owned(), Language::Python)]
        );
        assert!(matches!(
            select_sources(&repo, "shop/test_cart.py", None, 1),
            Err(SelectionError::NotTestable { .. })
        ));
        assert!(matches!(
            select_sources(&repo, "README.md", None, 1),
            Err(SelectionError::NotTestable { .. })
        ));
        assert!(matches!(
            select_sources(&repo, "shop/cart.py", Some(Language::Go), 1),
            Err(SelectionError::NotTestable { .. })
        ));
        assert_eq!(
            select_sources(&repo, "nowhere", None, 1),
            Err(SelectionError::NotFound("nowhere".to_owned()))
        );
        assert_eq!(
            select_sources(&checkout(&["README.md"]), "", None, 1),
            Err(SelectionError::Empty(String::new()))
        );
        // `sho` is a prefix of `shop/`, not a folder.
        assert!(matches!(
            select_sources(&repo, "sho", None, 1),
            Err(SelectionError::NotFound(_))
        ));
    }

    #[test]
    fn a_checkout_finds_its_files_and_counts_its_bytes() {
        let checkout = Checkout {
            files: vec![CheckoutFile {
                path: "shop/cart.py".to_owned(),
                contents: "x = 1\n".to_owned(),
            }],
            left_out: 0,
        };
        assert!(checkout.file("shop/cart.py").is_some());
        assert!(checkout.file("cart.py").is_none());
        assert_eq!(checkout.total_bytes(), 6);
    }
}
