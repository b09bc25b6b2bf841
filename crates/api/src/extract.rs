//! Reading a create-task request from its body: JSON or a multipart upload. Every way a body can be
//! wrong ends as a clear 4xx, never a 500.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use domain::{Framework, Language, RawSource, RawTaskRequest};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::error::{ApiError, ErrorCode};

/// The JSON form of a create-task request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateTaskJson)]
pub struct CreateTaskBody {
    /// The source text: not blank, no NUL bytes, at most the configured size (1 MiB unless
    /// changed).
    pub source: String,
    /// The source's relative path (`/` or `\` separators, no `..`, at most 255 bytes); names the
    /// test file and shows the language. Defaults to `source.<ext>`.
    #[serde(default)]
    #[schema(examples("calc.py", "src/main/java/Account.java"))]
    pub filename: Option<String>,
    #[serde(default)]
    #[schema(schema_with = language_field)]
    pub language: Option<String>,
    #[serde(default)]
    #[schema(schema_with = framework_field)]
    pub framework: Option<String>,
    /// A model this service offers (letters, digits and `. _ - : /`, at most 100 characters);
    /// defaults to the service's default model.
    #[serde(default)]
    #[schema(examples("offline"))]
    pub model: Option<String>,
    /// `run` (the default): the tests are built, run, run again and measured for coverage in a
    /// sandbox, and only tests that pass are delivered; `syntax`: they are only parsed.
    #[serde(default)]
    #[schema(examples("run", "syntax"))]
    pub validate: Option<String>,
    /// `covering` (the default): a passing test that covers nothing the tests kept before it
    /// covered is dropped; `passing`: it is kept and marked `no_new_coverage`.
    #[serde(default)]
    #[schema(examples("covering", "passing"))]
    pub keep: Option<String>,
}

// Documentation only: `read_multipart` reads the form part by part, so it has no type of its own.
/// Exactly one of `file` and `source`; any other field is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateTaskUpload)]
#[expect(dead_code, reason = "describes the form `read_multipart` reads")]
pub(crate) struct CreateTaskUpload {
    /// The source file: UTF-8 text without NUL bytes. Its file name is the default for
    /// `filename`.
    #[schema(
        value_type = Option<String>,
        nullable = false,
        format = Binary,
        content_media_type = "application/octet-stream"
    )]
    file: Option<Vec<u8>>,
    /// The source as a text field, instead of `file`.
    #[schema(nullable = false)]
    source: Option<String>,
    /// As `filename` in `CreateTaskJson`.
    #[schema(nullable = false, examples("calc.py", "src/main/java/Account.java"))]
    filename: Option<String>,
    #[schema(schema_with = language_part)]
    language: Option<String>,
    #[schema(schema_with = framework_part)]
    framework: Option<String>,
    /// As `model` in `CreateTaskJson`.
    #[schema(nullable = false, examples("offline"))]
    model: Option<String>,
    /// As `validate` in `CreateTaskJson`.
    #[schema(nullable = false, examples("run", "syntax"))]
    validate: Option<String>,
    /// As `keep` in `CreateTaskJson`.
    #[schema(nullable = false, examples("covering", "passing"))]
    keep: Option<String>,
}

/// `language`, with the domain's language ids as examples.
fn id_field(nullable: bool, description: &str, ids: Vec<&'static str>) -> Object {
    let string = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(string)
        .description(Some(description))
        .examples(ids)
        .build()
}

const LANGUAGE: &str = "A language id, display name or common alias, in any case; defaults to the \
    one the file name's extension shows. See `GET /api/languages`.";

const FRAMEWORK: &str = "A framework id or common alias serving the language; defaults to the \
    language's first framework.";

fn language_ids() -> Vec<&'static str> {
    Language::ALL.map(Language::id).to_vec()
}

fn framework_ids() -> Vec<&'static str> {
    Framework::ALL.map(Framework::id).to_vec()
}

fn language_field() -> Object {
    id_field(true, LANGUAGE, language_ids())
}

fn framework_field() -> Object {
    id_field(true, FRAMEWORK, framework_ids())
}

fn language_part() -> Object {
    id_field(false, LANGUAGE, language_ids())
}

fn framework_part() -> Object {
    id_field(false, FRAMEWORK, framework_ids())
}

enum BodyKind {
    Json,
    Multipart,
}

fn body_kind(request: &Request) -> Result<BodyKind, ApiError> {
    let unsupported = |found: &str| ApiError::UnsupportedMediaType {
        message: format!(
            "send the task as application/json or as a multipart/form-data upload (got {found})"
        ),
    };
    let Some(content_type) = request.headers().get(header::CONTENT_TYPE) else {
        return Err(unsupported("no Content-Type"));
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| unsupported("an unreadable Content-Type"))?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(BodyKind::Json)
    } else if essence == "multipart/form-data" {
        Ok(BodyKind::Multipart)
    } else {
        Err(unsupported(&essence))
    }
}

/// A body we cannot read as sent: compressed (we do not inflate uploads), or announced larger than
/// the limit — refused before a byte of it is read, even when the client waits for `100 Continue`.
fn check_framing(request: &Request, max_body_bytes: usize) -> Result<(), ApiError> {
    let headers = request.headers();
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let identity = encoding
            .to_str()
            .is_ok_and(|value| value.trim().eq_ignore_ascii_case("identity"));
        if !identity {
            return Err(ApiError::UnsupportedMediaType {
                message: "send the body uncompressed (no Content-Encoding)".into(),
            });
        }
    }
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > max_body_bytes as u64) {
        return Err(ApiError::PayloadTooLarge {
            code: ErrorCode::PayloadTooLarge,
            message: format!("the request body is over the limit of {max_body_bytes} bytes"),
        });
    }
    Ok(())
}

/// Reads the body of a create-task request into a raw request, at most `max_body_bytes` of it.
pub async fn read_create_request(
    request: Request,
    max_body_bytes: usize,
) -> Result<RawTaskRequest, ApiError> {
    let kind = body_kind(&request)?;
    check_framing(&request, max_body_bytes)?;
    match kind {
        BodyKind::Json => {
            let bytes = read_limited(request.into_body(), max_body_bytes).await?;
            parse_json(&bytes)
        }
        BodyKind::Multipart => {
            let multipart = Multipart::from_request(request, &())
                .await
                .map_err(|rejection| {
                    ApiError::bad_request(ErrorCode::InvalidMultipart, rejection.body_text())
                })?;
            read_multipart(multipart).await
        }
    }
}

async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if caused_by::<tower_http::timeout::TimeoutError>(&error) {
            ApiError::RequestTimeout {
                message: "the request body arrived too slowly".into(),
            }
        } else if caused_by::<http_body_util::LengthLimitError>(&error) {
            ApiError::PayloadTooLarge {
                code: ErrorCode::PayloadTooLarge,
                message: format!("the request body is over the limit of {limit} bytes"),
            }
        } else {
            ApiError::bad_request(
                ErrorCode::UnreadableBody,
                format!("cannot read the request body: {error}"),
            )
        }
    })
}

/// Whether `E` is anywhere in the error's chain of causes.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source()).any(|error| error.is::<E>())
}

pub fn parse_json(bytes: &[u8]) -> Result<RawTaskRequest, ApiError> {
    let body: CreateTaskBody = parse_json_object(bytes)?;
    Ok(RawTaskRequest {
        source: RawSource::Text(body.source),
        filename: body.filename,
        language: body.language,
        framework: body.framework,
        model: body.model,
        validate: body.validate,
        keep: body.keep,
    })
}

/// A JSON object of type `T`, with the field at fault named when it does not fit.
fn parse_json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from an array (`["x"]` as `{"source": "x"}`): refuse that.
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|&byte| byte != b'{') {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "invalid request: the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let body: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        ApiError::bad_request(ErrorCode::InvalidJson, describe_json_error(&error))
    })?;
    deserializer.end().map_err(|error| {
        ApiError::bad_request(ErrorCode::InvalidJson, format!("invalid JSON: {error}"))
    })?;
    Ok(body)
}

/// Reads a JSON body (no multipart) of at most `max_body_bytes` as a `T`.
pub async fn read_json_body<T: serde::de::DeserializeOwned>(
    request: Request,
    max_body_bytes: usize,
) -> Result<T, ApiError> {
    if let BodyKind::Multipart = body_kind(&request)? {
        return Err(ApiError::UnsupportedMediaType {
            message: "this route takes a JSON body (Content-Type: application/json)".into(),
        });
    }
    check_framing(&request, max_body_bytes)?;
    let bytes = read_limited(request.into_body(), max_body_bytes).await?;
    parse_json_object(&bytes)
}

/// Names the field at fault when there is one: `field \`language\`: invalid type: …`.
fn describe_json_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner();
    let path = error.path().to_string();
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("malformed JSON: {inner}")
        }
        _ if path == "." || path.is_empty() => format!("invalid request: {inner}"),
        _ => format!("field `{path}`: {inner}"),
    }
}

const TEXT_FIELDS: [&str; 7] = [
    "source",
    "filename",
    "language",
    "framework",
    "model",
    "validate",
    "keep",
];

async fn read_multipart(mut multipart: Multipart) -> Result<RawTaskRequest, ApiError> {
    let mut raw = RawTaskRequest::default();
    let mut have_source = false;
    let mut seen: Vec<String> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let Some(name) = field
            .name()
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
        else {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidMultipart,
                "every form part needs a name (`file`, `source`, `filename`, `language`, \
                 `framework`, `model`, `validate` or `keep`)",
            ));
        };
        if name != "file" && name != "source" {
            if seen.contains(&name) {
                return Err(ApiError::bad_request(
                    ErrorCode::DuplicateField,
                    format!("form field `{name}` is given more than once"),
                ));
            }
            seen.push(name.clone());
        }
        match name.as_str() {
            "file" => {
                if have_source {
                    return Err(ApiError::bad_request(
                        ErrorCode::DuplicateSource,
                        "send one `file` (or one `source` field), not several",
                    ));
                }
                let uploaded_name = field.file_name().map(str::to_owned);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                raw.source = RawSource::Bytes(bytes.to_vec());
                if raw.filename.is_none() {
                    raw.filename = uploaded_name;
                }
                have_source = true;
            }
            "source" if !have_source => {
                raw.source = RawSource::Text(text_field(field, "source").await?);
                have_source = true;
            }
            "source" => {
                return Err(ApiError::bad_request(
                    ErrorCode::DuplicateSource,
                    "send one `file` (or one `source` field), not several",
                ));
            }
            // An explicit `filename` field wins over the name the upload carries.
            "filename" => raw.filename = Some(text_field(field, "filename").await?),
            "language" => raw.language = Some(text_field(field, "language").await?),
            "framework" => raw.framework = Some(text_field(field, "framework").await?),
            "model" => raw.model = Some(text_field(field, "model").await?),
            "validate" => raw.validate = Some(text_field(field, "validate").await?),
            "keep" => raw.keep = Some(text_field(field, "keep").await?),
            other => {
                let other: String = other.chars().take(40).collect();
                return Err(ApiError::bad_request(
                    ErrorCode::UnknownField,
                    format!(
                        "unknown form field `{other}`; expected `file` and optionally {}",
                        TEXT_FIELDS.map(|field| format!("`{field}`")).join(", ")
                    ),
                ));
            }
        }
    }
    if !have_source {
        return Err(ApiError::bad_request(
            ErrorCode::MissingFile,
            "the upload has no `file` field",
        ));
    }
    Ok(raw)
}

async fn text_field(
    field: axum::extract::multipart::Field<'_>,
    name: &str,
) -> Result<String, ApiError> {
    let bytes = field.bytes().await.map_err(multipart_error)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidField,
            format!("form field `{name}` is not UTF-8 text"),
        )
    })
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            code: ErrorCode::PayloadTooLarge,
            message: format!("the upload is too large: {}", error.body_text()),
        }
    } else {
        ApiError::bad_request(ErrorCode::InvalidMultipart, error.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<RawTaskRequest, ApiError>) -> String {
        match result {
            Err(error) => error.to_string(),
            Ok(raw) => panic!("expected an error, got {raw:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert!(message(parse_json(br#"{"source": 3}"#)).contains("`source`"));
        assert!(message(parse_json(br#"{"language": "go"}"#)).contains("missing field `source`"));
        assert!(message(parse_json(br#"{"source": "x", "langauge": "go"}"#)).contains("langauge"));
        assert!(message(parse_json(br#"{"source": "x""#)).starts_with("malformed JSON"));
        assert!(message(parse_json(br#"{"source": "x"} trailing"#)).contains("invalid JSON"));
        assert!(message(parse_json(br#"["x"]"#)).contains("JSON object"));
        assert!(message(parse_json(b"  \"x\"")).contains("JSON object"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_parsed_or_refused_with_400(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Err(error) = parse_json(&bytes) {
                proptest::prop_assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn every_well_formed_body_arrives_unchanged(
            source in "\\PC{0,40}",
            filename in proptest::option::of("\\PC{0,20}"),
            language in proptest::option::of("[a-z#+]{0,10}"),
        ) {
            let body = serde_json::json!({"source": source, "filename": filename, "language": language});
            let raw = parse_json(body.to_string().as_bytes()).expect("a well-formed body");
            proptest::prop_assert_eq!(raw.source, RawSource::Text(source));
            proptest::prop_assert_eq!(raw.filename, filename);
            proptest::prop_assert_eq!(raw.language, language);
        }
    }

    #[test]
    fn json_fields_arrive_unchanged() {
        let raw = parse_json(br#"{"source": "def f(): pass", "filename": "m.py", "model": null}"#)
            .expect("valid");
        assert_eq!(raw.source, RawSource::Text("def f(): pass".into()));
        assert_eq!(raw.filename.as_deref(), Some("m.py"));
        assert_eq!(raw.model, None);
    }
}
