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

/// The test paths of a batch's source files, one per source, none shared: where two sources
/// would get one conventional path (`a/util.py` and `b/util.py` → `tests/test_util.py`), the
/// later ones take their directories into the name (`tests/test_b_util.py`).
pub fn batch_test_paths(sources: &[(Language, &str)]) -> Vec<String> {
    let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    sources
        .iter()
        .map(|&(language, source_path)| {
            let conventional = conventional_test_path(language, source_path);
            let path = if taken.contains(&conventional) {
                let flattened = source_path.replace('/', "_");
                let renamed = conventional_test_path(language, &flattened);
                let mut candidate = renamed.clone();
                let mut number = 2;
                while taken.contains(&candidate) {
                    candidate = match renamed.rsplit_once('.') {
                        Some((stem, extension)) => format!("{stem}_{number}.{extension}"),
                        None => format!("{renamed}_{number}"),
                    };
                    number += 1;
                }
                candidate
            } else {
                conventional
            };
            taken.insert(path.clone());
            path
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let paths = batch_test_paths(&[
            (Language::Python, "a/util.py"),
            (Language::Python, "b/util.py"),
            (Language::Python, "b_util.py"),
            (Language::Go, "a/util.go"),
        ]);
        assert_eq!(
            paths,
            [
                "tests/test_util.py",
                "tests/test_b_util.py",
                "tests/test_b_util_2.py",
                "a/util_test.go"
            ]
        );
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
