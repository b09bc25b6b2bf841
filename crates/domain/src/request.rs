use crate::{
    FileNameError, Framework, FrameworkError, KeepPolicy, Language, ModelId, ModelIdError,
    SourceError, SourceFile, SourceFileName, SourceLimits, UnknownKeepPolicy, UnknownLanguage,
    UnknownValidationMode, ValidationMode,
};

/// A create-task request as it arrives, before any check: from JSON or from a multipart upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTaskRequest {
    pub source: RawSource,
    pub filename: Option<String>,
    pub language: Option<String>,
    pub framework: Option<String>,
    pub model: Option<String>,
    /// `run` (the default) or `syntax`.
    pub validate: Option<String>,
    /// `covering` (the default: passing tests that add no coverage are dropped) or `passing`
    /// (they are kept, marked).
    pub keep: Option<String>,
}

/// The source as it came: text from JSON, bytes from an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSource {
    Text(String),
    Bytes(Vec<u8>),
}

impl Default for RawSource {
    fn default() -> Self {
        RawSource::Text(String::new())
    }
}

/// A checked create-task request: everything a worker needs to generate tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub source: SourceFile,
    pub file_name: SourceFileName,
    pub language: Language,
    pub framework: Framework,
    pub model: ModelId,
    pub validate: ValidationMode,
    pub keep: KeepPolicy,
}

/// Why a create-task request was refused. Each names the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("filename: {0}")]
    FileName(#[from] FileNameError),
    #[error("language: {0}")]
    Language(#[from] UnknownLanguage),
    #[error(
        "language: cannot tell the language of `{0}` from its extension; pass `language` explicitly"
    )]
    LanguageNotDetected(String),
    #[error("language: no file name to detect it from; pass `language` or `filename`")]
    LanguageMissing,
    #[error("framework: {0}")]
    Framework(#[from] FrameworkError),
    #[error("model: {0}")]
    Model(#[from] ModelIdError),
    #[error("validate: {0}")]
    Validate(#[from] UnknownValidationMode),
    #[error("keep: {0}")]
    Keep(#[from] UnknownKeepPolicy),
}

impl RequestError {
    /// A stable, machine-readable code for the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Source(SourceError::Empty) => "empty_source",
            RequestError::Source(SourceError::TooLarge { .. }) => "source_too_large",
            RequestError::Source(SourceError::NotUtf8 { .. }) => "source_not_utf8",
            RequestError::Source(SourceError::NulByte { .. }) => "source_binary",
            RequestError::FileName(_) => "invalid_filename",
            RequestError::Language(_) => "unknown_language",
            RequestError::LanguageNotDetected(_) | RequestError::LanguageMissing => {
                "language_required"
            }
            RequestError::Framework(FrameworkError::Unknown(_)) => "unknown_framework",
            RequestError::Framework(FrameworkError::NotForLanguage { .. }) => {
                "framework_not_for_language"
            }
            RequestError::Model(_) => "invalid_model",
            RequestError::Validate(_) => "invalid_validate",
            RequestError::Keep(_) => "invalid_keep",
        }
    }

    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            RequestError::Source(_) => "source",
            RequestError::FileName(_) => "filename",
            RequestError::Language(_)
            | RequestError::LanguageNotDetected(_)
            | RequestError::LanguageMissing => "language",
            RequestError::Framework(_) => "framework",
            RequestError::Model(_) => "model",
            RequestError::Validate(_) => "validate",
            RequestError::Keep(_) => "keep",
        }
    }
}

impl TaskSpec {
    /// Checks a raw request. The language is the one asked for, else the one the file name shows;
    /// the framework is the one asked for (if it serves that language), else the language's default;
    /// the model is the one asked for, else `default_model`. A source without a file name is named
    /// `source.<ext>` after its language.
    pub fn parse(
        raw: RawTaskRequest,
        limits: SourceLimits,
        default_model: &ModelId,
    ) -> Result<TaskSpec, RequestError> {
        let file_name = non_blank(raw.filename)
            .map(|name| SourceFileName::parse(&name))
            .transpose()?;
        let language = match (non_blank(raw.language), &file_name) {
            (Some(language), _) => language.parse::<Language>()?,
            (None, Some(name)) => Language::detect(name.as_str())
                .ok_or_else(|| RequestError::LanguageNotDetected(name.to_string()))?,
            (None, None) => return Err(RequestError::LanguageMissing),
        };
        let framework = match non_blank(raw.framework) {
            Some(framework) => Framework::parse_for(language, &framework)?,
            None => language.default_framework(),
        };
        let model = match non_blank(raw.model) {
            Some(model) => ModelId::parse(&model)?,
            None => default_model.clone(),
        };
        let validate = non_blank(raw.validate)
            .map(|mode| mode.parse::<ValidationMode>())
            .transpose()?
            .unwrap_or_default();
        let keep = non_blank(raw.keep)
            .map(|keep| keep.parse::<KeepPolicy>())
            .transpose()?
            .unwrap_or_default();
        let source = match raw.source {
            RawSource::Text(text) => SourceFile::parse_text(text, limits)?,
            RawSource::Bytes(bytes) => SourceFile::parse(&bytes, limits)?,
        };
        let file_name = match file_name {
            Some(name) => name,
            None => SourceFileName::parse(&format!("source.{}", language.primary_extension()))?,
        };
        Ok(TaskSpec {
            source,
            file_name,
            language,
            framework,
            model,
            validate,
            keep,
        })
    }

    /// The conventional name of the test file this task produces.
    pub fn test_file_name(&self) -> String {
        self.language.test_file_name(self.file_name.as_str())
    }
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offline() -> ModelId {
        ModelId::parse("offline").expect("valid")
    }

    fn raw(source: &str) -> RawTaskRequest {
        RawTaskRequest {
            source: RawSource::Text(source.to_owned()),
            ..RawTaskRequest::default()
        }
    }

    #[test]
    fn validation_and_keep_default_and_refuse_unknown_values() {
        let spec = TaskSpec::parse(
            RawTaskRequest {
                filename: Some("calc.py".into()),
                ..raw("def add(a, b):\n    return a + b\n")
            },
            SourceLimits::default(),
            &offline(),
        )
        .expect("valid");
        assert_eq!(
            (spec.validate, spec.keep),
            (ValidationMode::Run, KeepPolicy::Covering)
        );
        let spec = TaskSpec::parse(
            RawTaskRequest {
                filename: Some("calc.py".into()),
                validate: Some("Syntax".into()),
                keep: Some("passing".into()),
                ..raw("def add(a, b):\n    return a + b\n")
            },
            SourceLimits::default(),
            &offline(),
        )
        .expect("valid");
        assert_eq!(
            (spec.validate, spec.keep),
            (ValidationMode::Syntax, KeepPolicy::Passing)
        );
        for (validate, keep, field) in [
            (Some("lint"), None, "validate"),
            (None, Some("all"), "keep"),
        ] {
            let error = TaskSpec::parse(
                RawTaskRequest {
                    filename: Some("calc.py".into()),
                    validate: validate.map(str::to_owned),
                    keep: keep.map(str::to_owned),
                    ..raw("def add(a, b):\n    return a + b\n")
                },
                SourceLimits::default(),
                &offline(),
            )
            .expect_err("refused");
            assert_eq!(error.field(), field);
        }
    }

    #[test]
    fn detects_the_language_and_fills_defaults() {
        let spec = TaskSpec::parse(
            RawTaskRequest {
                filename: Some("pkg/calc.py".into()),
                ..raw("def add(a, b):\n    return a + b\n")
            },
            SourceLimits::default(),
            &offline(),
        )
        .expect("valid");
        assert_eq!(spec.language, Language::Python);
        assert_eq!(spec.framework, Framework::Pytest);
        assert_eq!(spec.model, offline());
        assert_eq!(spec.test_file_name(), "test_calc.py");
    }

    #[test]
    fn an_explicit_language_wins_and_names_a_nameless_source() {
        let spec = TaskSpec::parse(
            RawTaskRequest {
                language: Some("Go".into()),
                framework: Some("testify".into()),
                model: Some("gpt-4.1-mini".into()),
                ..raw("package calc\n")
            },
            SourceLimits::default(),
            &offline(),
        )
        .expect("valid");
        assert_eq!(spec.language, Language::Go);
        assert_eq!(spec.framework, Framework::Testify);
        assert_eq!(spec.file_name.as_str(), "source.go");
        assert_eq!(spec.model.as_str(), "gpt-4.1-mini");
    }

    #[test]
    fn names_the_field_at_fault() {
        let limits = SourceLimits::default();
        let cases = [
            (
                RawTaskRequest {
                    language: Some("cobol".into()),
                    ..raw("x")
                },
                "unknown_language",
                "language",
            ),
            (raw("x"), "language_required", "language"),
            (
                RawTaskRequest {
                    filename: Some("notes.txt".into()),
                    ..raw("x")
                },
                "language_required",
                "language",
            ),
            (
                RawTaskRequest {
                    language: Some("python".into()),
                    framework: Some("jest".into()),
                    ..raw("x")
                },
                "framework_not_for_language",
                "framework",
            ),
            (
                RawTaskRequest {
                    language: Some("python".into()),
                    ..raw("  ")
                },
                "empty_source",
                "source",
            ),
            (
                RawTaskRequest {
                    filename: Some("../x.py".into()),
                    ..raw("x")
                },
                "invalid_filename",
                "filename",
            ),
            (
                RawTaskRequest {
                    language: Some("python".into()),
                    model: Some("bad model".into()),
                    ..raw("x")
                },
                "invalid_model",
                "model",
            ),
        ];
        for (request, code, field) in cases {
            let error =
                TaskSpec::parse(request.clone(), limits, &offline()).expect_err("must be refused");
            assert_eq!(
                (error.code(), error.field()),
                (code, field),
                "{request:?}: {error}"
            );
            assert!(
                error.to_string().starts_with(field) || field == "source",
                "{error}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_checked_parts(
            source in proptest::collection::vec(any::<u8>(), 0..64),
            filename in proptest::option::of("\\PC{0,20}"),
            language in proptest::option::of("[a-zA-Z+#]{0,12}"),
            framework in proptest::option::of("[a-z:0-9-]{0,12}"),
            model in proptest::option::of("\\PC{0,12}"),
            validate in proptest::option::of("[a-zA-Z ]{0,8}"),
            keep in proptest::option::of("[a-zA-Z ]{0,8}"),
        ) {
            let request = RawTaskRequest {
                source: RawSource::Bytes(source),
                filename,
                language,
                framework,
                model,
                validate,
                keep,
            };
            if let Ok(spec) = TaskSpec::parse(request, SourceLimits { max_bytes: 48 }, &offline()) {
                prop_assert!(spec.framework.languages().contains(&spec.language));
                prop_assert!(spec.source.len() <= 48);
                prop_assert!(!spec.source.text().trim().is_empty());
            }
        }
    }
}
