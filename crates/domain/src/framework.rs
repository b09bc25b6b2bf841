use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Language;

/// A test framework. Each belongs to one or more languages; each language lists its frameworks with
/// its default first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    Pytest,
    Unittest,
    Junit5,
    Junit5Mockito,
    GoTesting,
    Testify,
    Gtest,
    Nunit,
    Xunit,
    RustBuiltin,
    Jest,
    Vitest,
    NodeTest,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameworkError {
    #[error("unknown test framework `{0}`")]
    Unknown(String),
    #[error(
        "test framework `{framework}` is not available for {language}; choose one of: {choices}"
    )]
    NotForLanguage {
        framework: Framework,
        language: Language,
        choices: String,
    },
}

const PYTHON: &[Framework] = &[Framework::Pytest, Framework::Unittest];
const JAVA: &[Framework] = &[Framework::Junit5, Framework::Junit5Mockito];
const GO: &[Framework] = &[Framework::GoTesting, Framework::Testify];
const CPP: &[Framework] = &[Framework::Gtest];
const CSHARP: &[Framework] = &[Framework::Nunit, Framework::Xunit];
const RUST: &[Framework] = &[Framework::RustBuiltin];
const JS: &[Framework] = &[Framework::Jest, Framework::Vitest, Framework::NodeTest];

impl Framework {
    pub const ALL: [Framework; 13] = [
        Framework::Pytest,
        Framework::Unittest,
        Framework::Junit5,
        Framework::Junit5Mockito,
        Framework::GoTesting,
        Framework::Testify,
        Framework::Gtest,
        Framework::Nunit,
        Framework::Xunit,
        Framework::RustBuiltin,
        Framework::Jest,
        Framework::Vitest,
        Framework::NodeTest,
    ];

    /// The frameworks of a language, its default first (the original tool's choice where it had one).
    pub fn for_language(language: Language) -> &'static [Framework] {
        match language {
            Language::Python => PYTHON,
            Language::Java => JAVA,
            Language::Go => GO,
            Language::Cpp => CPP,
            Language::Csharp => CSHARP,
            Language::Rust => RUST,
            Language::Javascript | Language::Typescript => JS,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Framework::Pytest => "pytest",
            Framework::Unittest => "unittest",
            Framework::Junit5 => "junit5",
            Framework::Junit5Mockito => "junit5-mockito",
            Framework::GoTesting => "testing",
            Framework::Testify => "testify",
            Framework::Gtest => "gtest",
            Framework::Nunit => "nunit",
            Framework::Xunit => "xunit",
            Framework::RustBuiltin => "builtin",
            Framework::Jest => "jest",
            Framework::Vitest => "vitest",
            Framework::NodeTest => "node:test",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Framework::Pytest => "pytest",
            Framework::Unittest => "unittest",
            Framework::Junit5 => "JUnit 5",
            Framework::Junit5Mockito => "JUnit 5 + Mockito",
            Framework::GoTesting => "testing",
            Framework::Testify => "testing + testify",
            Framework::Gtest => "GoogleTest",
            Framework::Nunit => "NUnit",
            Framework::Xunit => "xUnit",
            Framework::RustBuiltin => "#[test]",
            Framework::Jest => "Jest",
            Framework::Vitest => "Vitest",
            Framework::NodeTest => "node:test",
        }
    }

    /// The languages this framework serves.
    pub fn languages(self) -> &'static [Language] {
        match self {
            Framework::Pytest | Framework::Unittest => &[Language::Python],
            Framework::Junit5 | Framework::Junit5Mockito => &[Language::Java],
            Framework::GoTesting | Framework::Testify => &[Language::Go],
            Framework::Gtest => &[Language::Cpp],
            Framework::Nunit | Framework::Xunit => &[Language::Csharp],
            Framework::RustBuiltin => &[Language::Rust],
            Framework::Jest | Framework::Vitest | Framework::NodeTest => {
                &[Language::Javascript, Language::Typescript]
            }
        }
    }

    /// Parses a framework name and checks that it serves `language`.
    pub fn parse_for(language: Language, input: &str) -> Result<Framework, FrameworkError> {
        let framework: Framework = input.parse()?;
        if framework.languages().contains(&language) {
            Ok(framework)
        } else {
            let choices = language
                .frameworks()
                .iter()
                .map(|framework| framework.id())
                .collect::<Vec<_>>()
                .join(", ");
            Err(FrameworkError::NotForLanguage {
                framework,
                language,
                choices,
            })
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Framework {
    type Err = FrameworkError;

    /// Accepts the identifier and common aliases, case-insensitively (`junit` → JUnit 5, as the
    /// original tool named it).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let framework = match input.trim().to_ascii_lowercase().as_str() {
            "pytest" => Framework::Pytest,
            "unittest" => Framework::Unittest,
            "junit5" | "junit" | "junit-5" | "junit 5" | "jupiter" => Framework::Junit5,
            "junit5-mockito" | "junit5+mockito" | "mockito" => Framework::Junit5Mockito,
            "testing" | "go-testing" | "gotest" | "go test" => Framework::GoTesting,
            "testify" => Framework::Testify,
            "gtest" | "googletest" | "google-test" => Framework::Gtest,
            "nunit" => Framework::Nunit,
            "xunit" | "xunit.net" => Framework::Xunit,
            "builtin" | "rust" | "cargo-test" | "#[test]" => Framework::RustBuiltin,
            "jest" => Framework::Jest,
            "vitest" => Framework::Vitest,
            "node:test" | "node-test" | "nodetest" => Framework::NodeTest,
            _ => return Err(FrameworkError::Unknown(crate::echo(input))),
        };
        Ok(framework)
    }
}

impl Serialize for Framework {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// Its ids are not its variants' names, so the schema is built from [`Framework::ALL`].
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Framework {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A test framework id."))
            .enum_values(Some(Framework::ALL.map(Framework::id)))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Framework {
    fn name() -> std::borrow::Cow<'static, str> {
        "FrameworkId".into()
    }
}

impl<'de> Deserialize<'de> for Framework {
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
    fn language_lists_and_framework_languages_agree() {
        for language in Language::ALL {
            for framework in language.frameworks() {
                assert!(
                    framework.languages().contains(&language),
                    "{framework} {language}"
                );
            }
        }
        for framework in Framework::ALL {
            for language in framework.languages() {
                assert!(
                    language.frameworks().contains(&framework),
                    "{framework} {language}"
                );
            }
        }
    }

    #[test]
    fn defaults_match_the_original_tool() {
        assert_eq!(Language::Python.default_framework(), Framework::Pytest);
        assert_eq!(Language::Java.default_framework(), Framework::Junit5);
        assert_eq!(Language::Go.default_framework(), Framework::GoTesting);
        assert_eq!(Language::Cpp.default_framework(), Framework::Gtest);
        assert_eq!(Language::Csharp.default_framework(), Framework::Nunit);
    }

    #[test]
    fn rejects_a_framework_of_another_language() {
        let error = Framework::parse_for(Language::Python, "jest").expect_err("jest is not python");
        assert!(matches!(error, FrameworkError::NotForLanguage { .. }));
        assert!(error.to_string().contains("pytest, unittest"), "{error}");
        assert_eq!(
            Framework::parse_for(Language::Typescript, "Vitest"),
            Ok(Framework::Vitest)
        );
        assert!(matches!(
            Framework::parse_for(Language::Go, "mocha"),
            Err(FrameworkError::Unknown(_))
        ));
    }

    proptest! {
        #[test]
        fn id_round_trips(index in 0usize..13) {
            let framework = Framework::ALL[index];
            prop_assert_eq!(framework.id().parse::<Framework>(), Ok(framework));
            prop_assert_eq!(framework.id().to_uppercase().parse::<Framework>(), Ok(framework));
            let json = serde_json::to_string(&framework).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Framework>(&json).expect("deserialises"), framework);
        }

        #[test]
        fn parsing_never_panics(input in ".{0,30}", index in 0usize..8) {
            let _ = Framework::parse_for(Language::ALL[index], &input);
        }
    }
}
