use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Framework;

/// A programming language we generate tests for.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = LanguageId, description = "A language id.")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Java,
    Go,
    Cpp,
    Csharp,
    Rust,
    Javascript,
    Typescript,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown language `{0}`; expected one of: python, java, go, cpp, csharp, rust, javascript, typescript"
)]
pub struct UnknownLanguage(pub String);

impl Language {
    /// Every language, in the order the original tool listed its first five.
    pub const ALL: [Language; 8] = [
        Language::Python,
        Language::Java,
        Language::Go,
        Language::Cpp,
        Language::Csharp,
        Language::Rust,
        Language::Javascript,
        Language::Typescript,
    ];

    /// The identifier used in the API and the database.
    pub fn id(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Java => "java",
            Language::Go => "go",
            Language::Cpp => "cpp",
            Language::Csharp => "csharp",
            Language::Rust => "rust",
            Language::Javascript => "javascript",
            Language::Typescript => "typescript",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::Java => "Java",
            Language::Go => "Go",
            Language::Cpp => "C++",
            Language::Csharp => "C#",
            Language::Rust => "Rust",
            Language::Javascript => "JavaScript",
            Language::Typescript => "TypeScript",
        }
    }

    /// File extensions (lower case, without the dot) that identify the language.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["py", "pyw"],
            Language::Java => &["java"],
            Language::Go => &["go"],
            // `.h` is ambiguous between C and C++; C++ is the language we support, as the original did.
            Language::Cpp => &["cpp", "cc", "cxx", "c++", "hpp", "hh", "hxx", "h"],
            Language::Csharp => &["cs"],
            Language::Rust => &["rs"],
            Language::Javascript => &["js", "mjs", "cjs", "jsx"],
            Language::Typescript => &["ts", "mts", "cts", "tsx"],
        }
    }

    pub fn from_extension(extension: &str) -> Option<Language> {
        let extension = extension.to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|language| language.extensions().contains(&extension.as_str()))
    }

    /// Detects the language from a file name or path (`src/app/util.py` → Python).
    pub fn detect(file_name: &str) -> Option<Language> {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let (stem, extension) = base.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        Language::from_extension(extension)
    }

    pub fn frameworks(self) -> &'static [Framework] {
        Framework::for_language(self)
    }

    pub fn default_framework(self) -> Framework {
        self.frameworks()[0]
    }

    /// The media type of this language's source files, for downloads.
    pub fn media_type(self) -> &'static str {
        match self {
            Language::Python => "text/x-python; charset=utf-8",
            Language::Java => "text/x-java-source; charset=utf-8",
            Language::Go => "text/x-go; charset=utf-8",
            Language::Cpp => "text/x-c++src; charset=utf-8",
            Language::Csharp => "text/x-csharp; charset=utf-8",
            Language::Rust => "text/x-rust; charset=utf-8",
            Language::Javascript => "text/javascript; charset=utf-8",
            Language::Typescript => "text/x-typescript; charset=utf-8",
        }
    }

    /// The default extension, used to name a pasted source that came without a file name.
    pub fn primary_extension(self) -> &'static str {
        self.extensions()[0]
    }

    /// The conventional name of the test file for a source file of this language:
    /// `util.py` → `test_util.py`, `Account.java` → `AccountTest.java`, `util.go` → `util_test.go`,
    /// `Account.cs` → `AccountTests.cs`, `util.ts` → `util.test.ts`.
    pub fn test_file_name(self, source_file_name: &str) -> String {
        let base = source_file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(source_file_name);
        let (stem, extension) = match base.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
            _ => (base, None),
        };
        let stem = if stem.is_empty() { "source" } else { stem };
        match self {
            Language::Python => format!("test_{stem}.py"),
            Language::Java => format!("{}Test.java", upper_first(stem)),
            Language::Go => format!("{stem}_test.go"),
            Language::Cpp => format!("{stem}_test.cpp"),
            Language::Csharp => format!("{}Tests.cs", upper_first(stem)),
            Language::Rust => format!("{stem}_test.rs"),
            Language::Javascript | Language::Typescript => {
                // Keep module flavour and JSX: `view.tsx` → `view.test.tsx`, `lib.mjs` → `lib.test.mjs`.
                let extension = extension
                    .map(str::to_ascii_lowercase)
                    .filter(|extension| self.extensions().contains(&extension.as_str()))
                    .unwrap_or_else(|| self.primary_extension().to_owned());
                format!("{stem}.test.{extension}")
            }
        }
    }
}

fn upper_first(stem: &str) -> String {
    let mut chars = stem.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Language {
    type Err = UnknownLanguage;

    /// Accepts the identifier, the display name and common aliases, case-insensitively.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let language = match input.trim().to_ascii_lowercase().as_str() {
            "python" | "py" | "python3" => Language::Python,
            "java" => Language::Java,
            "go" | "golang" => Language::Go,
            "cpp" | "c++" | "cxx" | "cplusplus" => Language::Cpp,
            "csharp" | "c#" | "cs" | "dotnet" => Language::Csharp,
            "rust" | "rs" => Language::Rust,
            "javascript" | "js" | "node" | "nodejs" => Language::Javascript,
            "typescript" | "ts" => Language::Typescript,
            _ => return Err(UnknownLanguage(crate::echo(input))),
        };
        Ok(language)
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn detects_languages_from_paths() {
        assert_eq!(Language::detect("src/app/util.py"), Some(Language::Python));
        assert_eq!(Language::detect("Account.JAVA"), Some(Language::Java));
        assert_eq!(Language::detect("pkg\\calc.go"), Some(Language::Go));
        assert_eq!(Language::detect("widget.hpp"), Some(Language::Cpp));
        assert_eq!(Language::detect("Service.cs"), Some(Language::Csharp));
        assert_eq!(Language::detect("lib.rs"), Some(Language::Rust));
        assert_eq!(Language::detect("index.mjs"), Some(Language::Javascript));
        assert_eq!(Language::detect("view.tsx"), Some(Language::Typescript));
        assert_eq!(Language::detect("README.md"), None);
        assert_eq!(Language::detect("Makefile"), None);
        assert_eq!(Language::detect(".py"), None, "a dotfile has no extension");
    }

    #[test]
    fn names_test_files_by_convention() {
        let cases = [
            (Language::Python, "pkg/util.py", "test_util.py"),
            (Language::Java, "Account.java", "AccountTest.java"),
            (Language::Go, "calc.go", "calc_test.go"),
            (Language::Cpp, "stack.hpp", "stack_test.cpp"),
            (Language::Csharp, "account.cs", "AccountTests.cs"),
            (Language::Rust, "parser.rs", "parser_test.rs"),
            (Language::Javascript, "lib.mjs", "lib.test.mjs"),
            (Language::Typescript, "view.tsx", "view.test.tsx"),
            (Language::Typescript, "noext", "noext.test.ts"),
        ];
        for (language, source, expected) in cases {
            assert_eq!(
                language.test_file_name(source),
                expected,
                "{language} {source}"
            );
        }
    }

    #[test]
    fn parses_aliases_and_rejects_others() {
        assert_eq!("C++".parse::<Language>(), Ok(Language::Cpp));
        assert_eq!(" C# ".parse::<Language>(), Ok(Language::Csharp));
        assert_eq!("Golang".parse::<Language>(), Ok(Language::Go));
        assert!("cobol".parse::<Language>().is_err());
        assert!("".parse::<Language>().is_err());
    }

    #[test]
    fn every_language_has_a_default_framework_of_its_own() {
        for language in Language::ALL {
            let framework = language.default_framework();
            assert!(framework.languages().contains(&language), "{language}");
        }
    }

    proptest! {
        #[test]
        fn id_round_trips_in_any_case(index in 0usize..8, upper in any::<bool>()) {
            let language = Language::ALL[index];
            let text = if upper { language.id().to_uppercase() } else { language.id().to_owned() };
            prop_assert_eq!(text.parse::<Language>(), Ok(language));
            let json = serde_json::to_string(&language).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Language>(&json).expect("deserialises"), language);
        }

        #[test]
        fn parsing_never_panics(input in ".{0,40}") {
            let _ = input.parse::<Language>();
            let _ = Language::detect(&input);
            let _ = Language::Python.test_file_name(&input);
        }

        #[test]
        fn detection_follows_the_extension(stem in "[a-zA-Z0-9_]{1,12}", index in 0usize..8) {
            let language = Language::ALL[index];
            for extension in language.extensions() {
                prop_assert_eq!(Language::detect(&format!("{stem}.{extension}")), Some(language));
            }
        }

        #[test]
        fn test_file_names_keep_the_language(stem in "[a-z][a-z0-9_]{0,12}", index in 0usize..8) {
            let language = Language::ALL[index];
            let source = format!("{stem}.{}", language.primary_extension());
            let test_name = language.test_file_name(&source);
            prop_assert_eq!(Language::detect(&test_name), Some(language));
            prop_assert_ne!(test_name, source);
        }
    }
}
