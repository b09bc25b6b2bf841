//! The admin routes of the model registry: list, add, edit (including disable and enable),
//! delete, choose the default, and test a model through a worker. Every route takes an
//! [`AdminSession`] (so writes are CSRF-checked) and every write goes to the audit log. A model's
//! API key is taken here, sealed at once under the current model key and never answered, logged or
//! audited: answers say only whether a key is set.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::{ModelId, ModelKind, ModelRegistry, ModelSpec, RegistryError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::model_keys::ApiKey;
use store::models::{KeyChange, StoredModel, StoredRegistry};
use utoipa::ToSchema;

use crate::admin::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_json_body;
use crate::openapi::{AdminUnavailable, InternalError, error_answers};
use crate::routes::admin::CsrfHeader;
use crate::state::AppState;

/// A model's settings fit in a few KiB.
const MAX_MODEL_BODY_BYTES: usize = 16 * 1024;
const MAX_TEXT_CHARS: usize = 200;
const MAX_KEY_CHARS: usize = 4096;
/// How long the test route waits for a worker to take the request.
const TEST_CLAIM_WAIT: Duration = Duration::from_secs(5);
/// The longest the test route waits for the answer, whatever the model's timeout.
const TEST_MAX_WAIT: Duration = Duration::from_secs(60);
/// The longest answer a test returns, in characters.
const TEST_ANSWER_CHARS: usize = 500;

error_answers! {
    /// A model's settings refused, or no admin session.
    ModelWriteRefusals {
        "400" => "The body is not a JSON object of the documented fields.",
            [InvalidJson, UnreadableBody, UnknownField];
        "401" => "No live admin session.", [AdminLoginRequired];
        "403" => "The `X-CSRF-Token` header is missing or is not the session's CSRF token.",
            [CsrfTokenInvalid];
        "404" => "No model has this id.", [ModelNotFound];
        "409" => "`model_exists`: the id is taken; `model_in_use`: the model is the default (or \
            would be disabled while it is) or another model falls back to it; \
            `model_keys_not_configured`: a key was given but no model key \
            (`AIUT_MODEL_KEYS__CURRENT`) is configured to seal it.",
            [ModelExists, ModelInUse, ModelKeysNotConfigured];
        "413" => "The body is over 16 KiB.", [PayloadTooLarge];
        "415" => "The body is not JSON.", [UnsupportedMediaType];
        "422" => "A field's value is refused; the message names the field (`base_url`, \
            `fallback`, `temperature`, …).", [InvalidModelSettings];
    }

    /// No admin session, or no such model.
    ModelReadRefusals {
        "401" => "No live admin session.", [AdminLoginRequired];
        "404" => "No model has this id.", [ModelNotFound];
    }

    /// The test could not be run.
    ModelTestRefusals {
        "401" => "No live admin session.", [AdminLoginRequired];
        "403" => "The `X-CSRF-Token` header is missing or is not the session's CSRF token.",
            [CsrfTokenInvalid];
        "404" => "No model has this id.", [ModelNotFound];
        "409" => "The model is disabled.", [ModelInUse];
        "503" => "No running worker serves the model (none took the test within 5 s), no admin \
            account is set up, or the database is unavailable.",
            [NoWorkerForModel, AdminNotConfigured, DatabaseUnavailable];
        "504" => "A worker took the test but gave no answer in time.", [ModelTestTimeout];
    }
}

/// A model as the admin sees it. Its API key is never shown: only whether one is set.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminModelView {
    id: String,
    #[schema(inline)]
    kind: ModelKind,
    display_name: Option<String>,
    base_url: Option<String>,
    /// The name the endpoint knows the model by; the id when absent.
    model: Option<String>,
    temperature: f32,
    max_tokens: u32,
    timeout_secs: u64,
    max_concurrency: u32,
    fallback: Vec<String>,
    enabled: bool,
    /// Whether this is the default model.
    default: bool,
    /// Whether an API key is stored (encrypted) for this model.
    key_set: bool,
    /// For a model kept in the configuration file: the environment variable its key is read
    /// from on the workers (a stored key wins over it). The variable's name only.
    key_env: Option<String>,
    /// `file`: kept as the configuration file says (a change there applies at the next start);
    /// `admin`: added or edited here, which the file no longer changes.
    origin: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AdminModelView {
    fn of(model: &StoredModel, default: Option<&ModelId>) -> AdminModelView {
        let spec = &model.spec;
        AdminModelView {
            id: spec.id.to_string(),
            kind: spec.kind,
            display_name: spec.display_name.clone(),
            base_url: spec.base_url.clone(),
            model: spec.model.clone(),
            temperature: spec.temperature,
            max_tokens: spec.max_tokens,
            timeout_secs: spec.timeout_secs,
            max_concurrency: spec.max_concurrency,
            fallback: spec.fallback.iter().map(ToString::to_string).collect(),
            enabled: spec.enabled,
            default: default == Some(&spec.id),
            key_set: model.sealed.is_some(),
            key_env: spec.api_key_env.clone(),
            origin: model.origin.clone(),
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

/// The registry as the admin sees it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminModelList {
    models: Vec<AdminModelView>,
    default_model: Option<String>,
    /// Changes with every write to the registry.
    version: i64,
    /// Whether a model key (`AIUT_MODEL_KEYS__CURRENT`) is configured, so API keys can be set.
    keys_configured: bool,
}

/// A new model. Absent settings take the registry's defaults.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewModel {
    /// Letters, digits, `.`, `_`, `-`, `:`, `/`; unique.
    id: String,
    /// `openai` unless given.
    #[schema(inline)]
    kind: Option<ModelKind>,
    display_name: Option<String>,
    /// The endpoint's base URL (`http` or `https`), e.g. `http://127.0.0.1:11434/v1`. Required
    /// for `openai` models.
    base_url: Option<String>,
    /// The name the endpoint knows the model by; the id when absent.
    model: Option<String>,
    /// Stored encrypted; never returned. Omit for an endpoint without keys.
    #[schema(write_only)]
    api_key: Option<String>,
    #[schema(minimum = 0, maximum = 2, default = 0.2)]
    temperature: Option<f32>,
    #[schema(minimum = 1, maximum = 1_000_000, default = 2048)]
    max_tokens: Option<u32>,
    #[schema(minimum = 1, maximum = 3600, default = 120)]
    timeout_secs: Option<u64>,
    #[schema(minimum = 1, maximum = 1024, default = 8)]
    max_concurrency: Option<u32>,
    /// Models tried in order when this one keeps failing; each must exist.
    #[serde(default)]
    fallback: Vec<String>,
    #[schema(default = true)]
    enabled: Option<bool>,
}

/// A change to a model: only the fields given change. An empty `display_name` or `model` clears
/// it.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelChange {
    display_name: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    /// A new key, stored encrypted; never returned.
    #[schema(write_only)]
    api_key: Option<String>,
    /// `true` removes the stored key.
    clear_api_key: Option<bool>,
    #[schema(minimum = 0, maximum = 2)]
    temperature: Option<f32>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    max_tokens: Option<u32>,
    #[schema(minimum = 1, maximum = 3600)]
    timeout_secs: Option<u64>,
    #[schema(minimum = 1, maximum = 1024)]
    max_concurrency: Option<u32>,
    fallback: Option<Vec<String>>,
    /// `false` disables the model: it stays listed, and tasks asking for it are refused with 422
    /// `model_disabled`.
    enabled: Option<bool>,
}

/// The default model to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefaultModel {
    model: String,
}

/// What a test of a model gave.
#[derive(Serialize, ToSchema)]
pub(crate) struct ModelTestResult {
    model: String,
    /// Whether the model answered.
    ok: bool,
    /// The start of the answer, when it answered.
    answer: Option<String>,
    /// Why it did not, when it did not.
    error: Option<String>,
    elapsed_ms: Option<i32>,
    /// The worker that ran the test.
    worker: Option<String>,
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable {
        code: ErrorCode::InvalidModelSettings,
        message: format!("field `{field}`: {problem}"),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::ModelNotFound,
        message: format!("no model has the id `{id}`"),
    }
}

fn in_use(message: String) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::ModelInUse,
        message,
    }
}

fn model_id(field: &str, text: &str) -> ApiResult<ModelId> {
    ModelId::parse(text).map_err(|error| invalid(field, error))
}

fn text_field(field: &str, value: Option<String>) -> ApiResult<Option<String>> {
    let Some(value) = value.map(|value| value.trim().to_owned()) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("at most {MAX_TEXT_CHARS} characters, no control characters"),
        ));
    }
    Ok(Some(value))
}

fn base_url(value: Option<String>) -> ApiResult<Option<String>> {
    let Some(value) = value.map(|value| value.trim().to_owned()) else {
        return Ok(None);
    };
    let url = url::Url::parse(&value)
        .map_err(|error| invalid("base_url", format!("not a URL ({error})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "base_url",
            "must be an http or https URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "base_url",
            "must not hold credentials: give the key as `api_key`",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("base_url", "must have no query or fragment"));
    }
    Ok(Some(value.trim_end_matches('/').to_owned()))
}

fn api_key(value: Option<String>) -> ApiResult<Option<ApiKey>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty()
        || value.chars().count() > MAX_KEY_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(invalid(
            "api_key",
            format!("1 to {MAX_KEY_CHARS} characters, no control characters"),
        ));
    }
    Ok(Some(ApiKey::new(value)))
}

/// Checks each number's range.
fn check_numbers(spec: &ModelSpec) -> ApiResult<()> {
    if !spec.temperature.is_finite() || !(0.0..=2.0).contains(&spec.temperature) {
        return Err(invalid("temperature", "must be from 0 to 2"));
    }
    if !(1..=1_000_000).contains(&spec.max_tokens) {
        return Err(invalid("max_tokens", "must be from 1 to 1000000"));
    }
    if !(1..=3600).contains(&spec.timeout_secs) {
        return Err(invalid("timeout_secs", "must be from 1 to 3600"));
    }
    if !(1..=1024).contains(&spec.max_concurrency) {
        return Err(invalid("max_concurrency", "must be from 1 to 1024"));
    }
    if spec.kind == ModelKind::Openai && spec.base_url.is_none() {
        return Err(invalid("base_url", "is required for an `openai` model"));
    }
    Ok(())
}

/// Checks the registry as it would be with `spec` in it (added or replacing its namesake).
fn check_registry(current: &StoredRegistry, spec: &ModelSpec) -> ApiResult<()> {
    let mut registry: ModelRegistry = current.registry();
    match registry.models.iter_mut().find(|other| other.id == spec.id) {
        Some(slot) => *slot = spec.clone(),
        None => registry.models.push(spec.clone()),
    }
    registry.validate().map_err(|error| match error {
        RegistryError::UnknownFallback { fallback, .. } => invalid(
            "fallback",
            format!("`{fallback}` is not a model of the registry"),
        ),
        RegistryError::SelfFallback(_) => invalid("fallback", "a model cannot fall back to itself"),
        RegistryError::MissingBaseUrl(_) => {
            invalid("base_url", "is required for an `openai` model")
        }
        RegistryError::Duplicate(id) => ApiError::Conflict {
            code: ErrorCode::ModelExists,
            message: format!("field `id`: a model `{id}` exists"),
        },
        other => invalid("model", other),
    })
}

/// Seals `key` for `model` under the current model key.
fn seal(
    state: &AppState,
    model: &ModelId,
    key: &ApiKey,
    fingerprint: &mut Vec<u8>,
) -> ApiResult<store::model_keys::Sealed> {
    let Some(current) = state.keys.current_id() else {
        return Err(ApiError::Conflict {
            code: ErrorCode::ModelKeysNotConfigured,
            message:
                "field `api_key`: no model key is configured to encrypt it; start the api and \
                      the workers with AIUT_MODEL_KEYS__CURRENT set (see the README)"
                    .into(),
        });
    };
    if let Some(print) = state.keys.fingerprint_of(current) {
        *fingerprint = print.to_vec();
    }
    state
        .keys
        .seal(model.as_str(), key)
        .map_err(|error| ApiError::Internal(error.into()))
}

/// The registry as it is now, this replica's reading dropped first.
/// The model `id` names in `registry`; 404 when it names none (an id that cannot be one included).
fn named<'a>(registry: &'a StoredRegistry, id: &str) -> ApiResult<&'a StoredModel> {
    ModelId::parse(id)
        .ok()
        .and_then(|id| registry.get(&id))
        .ok_or_else(|| not_found(id))
}

async fn fresh(state: &AppState) -> ApiResult<std::sync::Arc<StoredRegistry>> {
    state.registry.invalidate();
    Ok(state.registry.current(&state.pool).await?)
}

fn path_id(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text()))
}

async fn list_view(state: &AppState) -> ApiResult<AdminModelList> {
    let registry = fresh(state).await?;
    Ok(AdminModelList {
        models: registry
            .models
            .iter()
            .map(|model| AdminModelView::of(model, registry.default.as_ref()))
            .collect(),
        default_model: registry.default.as_ref().map(ToString::to_string),
        version: registry.version,
        keys_configured: state.keys.current_id().is_some(),
    })
}

#[utoipa::path(
    get,
    path = "/api/admin/models",
    operation_id = "listAdminModels",
    tag = "admin",
    summary = "List the model registry, with each model's settings (never its key).",
    security(("adminCookie" = [])),
    responses(
        (status = 200, description = "The registry.", body = AdminModelList),
        ModelReadRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _session: AdminSession,
) -> ApiResult<Json<AdminModelList>> {
    Ok(Json(list_view(&state).await?))
}

/// One model in the original tool's AI-config shape, from the registry: the key is masked, never
/// given.
#[derive(Serialize, ToSchema)]
pub(crate) struct AiConfigModel {
    name: String,
    display_name: Option<String>,
    /// `openai` (any OpenAI-compatible endpoint) or `offline`.
    provider: String,
    base_url: Option<String>,
    model: Option<String>,
    /// `********` when a key is set (stored or in the workers' environment), else empty.
    api_key: String,
    api_key_set: bool,
    temperature: f32,
    max_tokens: u32,
    timeout: u64,
    enabled: bool,
}

/// The original tool's AI configuration: its `models` and `default_model`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AiConfig {
    models: Vec<AiConfigModel>,
    default_model: Option<String>,
}

const MASKED_KEY: &str = "********";

#[utoipa::path(
    get,
    path = "/api/admin/ai-config",
    operation_id = "getAiConfigCompat",
    tag = "compat",
    summary = "The original tool's AI configuration, answered from the registry, keys masked.",
    description = "For the original tool's clients. Keys are never given: `api_key` is \
        `********` when one is set. Changes go through `/api/admin/models`.",
    security(("adminCookie" = [])),
    responses(
        (status = 200, description = "The configuration.", body = AiConfig),
        ModelReadRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn ai_config_compat(
    State(state): State<AppState>,
    _session: AdminSession,
) -> ApiResult<Json<AiConfig>> {
    let registry = fresh(&state).await?;
    let models = registry
        .models
        .iter()
        .map(|stored| {
            let spec = &stored.spec;
            let key_set = stored.sealed.is_some() || spec.api_key_env.is_some();
            AiConfigModel {
                name: spec.id.to_string(),
                display_name: spec.display_name.clone(),
                provider: match spec.kind {
                    ModelKind::Openai => "openai",
                    ModelKind::Offline => "offline",
                }
                .to_owned(),
                base_url: spec.base_url.clone(),
                model: spec.model.clone(),
                api_key: if key_set { MASKED_KEY } else { "" }.to_owned(),
                api_key_set: key_set,
                temperature: spec.temperature,
                max_tokens: spec.max_tokens,
                timeout: spec.timeout_secs,
                enabled: spec.enabled,
            }
        })
        .collect();
    Ok(Json(AiConfig {
        models,
        default_model: registry.default.as_ref().map(ToString::to_string),
    }))
}

#[utoipa::path(
    get,
    path = "/api/admin/models/{id}",
    operation_id = "getAdminModel",
    tag = "admin",
    summary = "Read one model's settings (never its key).",
    security(("adminCookie" = [])),
    params(("id" = String, Path, description = "The model's id.")),
    responses(
        (status = 200, description = "The model.", body = AdminModelView),
        ModelReadRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _session: AdminSession,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<AdminModelView>> {
    let id = path_id(path)?;
    let registry = fresh(&state).await?;
    let model = named(&registry, &id)?;
    Ok(Json(AdminModelView::of(model, registry.default.as_ref())))
}

#[utoipa::path(
    post,
    path = "/api/admin/models",
    operation_id = "addAdminModel",
    tag = "admin",
    summary = "Add a model: any OpenAI-compatible endpoint.",
    description = "Workers serve the new model within seconds, without a restart. The key, when \
        given, is encrypted under the current model key and never returned.",
    security(("adminCookie" = [])),
    params(CsrfHeader),
    request_body(content = NewModel, content_type = "application/json"),
    responses(
        (status = 201, description = "Added.", body = AdminModelView),
        ModelWriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    session: AdminSession,
    request: Request,
) -> ApiResult<Response> {
    let body: NewModel = read_json_body(request, MAX_MODEL_BODY_BYTES).await?;
    let id = model_id("id", &body.id)?;
    let kind = body.kind.unwrap_or(ModelKind::Openai);
    let defaults = ModelSpec::offline();
    let spec = ModelSpec {
        id: id.clone(),
        kind,
        display_name: text_field("display_name", body.display_name)?,
        base_url: base_url(body.base_url)?,
        api_key_env: None,
        model: text_field("model", body.model)?,
        temperature: body.temperature.unwrap_or(defaults.temperature),
        max_tokens: body.max_tokens.unwrap_or(defaults.max_tokens),
        timeout_secs: body.timeout_secs.unwrap_or(defaults.timeout_secs),
        max_concurrency: body.max_concurrency.unwrap_or(8),
        fallback: body
            .fallback
            .iter()
            .map(|name| model_id("fallback", name))
            .collect::<ApiResult<Vec<_>>>()?,
        enabled: body.enabled.unwrap_or(true),
        stored_key: false,
    };
    check_numbers(&spec)?;
    let key = api_key(body.api_key)?;
    if key.is_some() && kind == ModelKind::Offline {
        return Err(invalid("api_key", "an `offline` model takes no key"));
    }
    let registry = fresh(&state).await?;
    if registry.get(&id).is_some() {
        return Err(ApiError::Conflict {
            code: ErrorCode::ModelExists,
            message: format!("field `id`: a model `{id}` exists"),
        });
    }
    check_registry(&registry, &spec)?;
    let mut fingerprint = Vec::new();
    let sealed = key
        .as_ref()
        .map(|key| seal(&state, &id, key, &mut fingerprint))
        .transpose()?;
    let change = match &sealed {
        Some(sealed) => KeyChange::Set(sealed, &fingerprint),
        None => KeyChange::Keep,
    };
    if !store::models::insert(&state.pool, &spec, change).await? {
        return Err(ApiError::Conflict {
            code: ErrorCode::ModelExists,
            message: format!("field `id`: a model `{id}` exists"),
        });
    }
    session
        .audit(
            &state,
            "model_added",
            id.as_str(),
            json!({
                "base_url": spec.base_url,
                "enabled": spec.enabled,
                "key": if sealed.is_some() { "set" } else { "none" },
            }),
        )
        .await;
    tracing::info!(model = %id, "model added to the registry");
    let registry = fresh(&state).await?;
    let model = registry.get(&id).ok_or_else(|| not_found(id.as_str()))?;
    let view = AdminModelView::of(model, registry.default.as_ref());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(
    patch,
    path = "/api/admin/models/{id}",
    operation_id = "editAdminModel",
    tag = "admin",
    summary = "Edit a model: only the fields given change; `enabled` disables or enables it.",
    description = "Workers use the new settings within seconds, without a restart. A key given \
        replaces the stored one; `clear_api_key` removes it.",
    security(("adminCookie" = [])),
    params(("id" = String, Path, description = "The model's id."), CsrfHeader),
    request_body(content = ModelChange, content_type = "application/json"),
    responses(
        (status = 200, description = "Edited.", body = AdminModelView),
        ModelWriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    session: AdminSession,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> ApiResult<Json<AdminModelView>> {
    let id = path_id(path)?;
    let body: ModelChange = read_json_body(request, MAX_MODEL_BODY_BYTES).await?;
    let registry = fresh(&state).await?;
    let current = named(&registry, &id)?;
    let mut spec = current.spec.clone();
    let mut changed: Vec<&str> = Vec::new();
    if body.display_name.is_some() {
        spec.display_name = text_field("display_name", body.display_name)?;
        changed.push("display_name");
    }
    if body.base_url.is_some() {
        spec.base_url = base_url(body.base_url)?;
        changed.push("base_url");
    }
    if body.model.is_some() {
        spec.model = text_field("model", body.model)?;
        changed.push("model");
    }
    if let Some(value) = body.temperature {
        spec.temperature = value;
        changed.push("temperature");
    }
    if let Some(value) = body.max_tokens {
        spec.max_tokens = value;
        changed.push("max_tokens");
    }
    if let Some(value) = body.timeout_secs {
        spec.timeout_secs = value;
        changed.push("timeout_secs");
    }
    if let Some(value) = body.max_concurrency {
        spec.max_concurrency = value;
        changed.push("max_concurrency");
    }
    if let Some(fallback) = &body.fallback {
        spec.fallback = fallback
            .iter()
            .map(|name| model_id("fallback", name))
            .collect::<ApiResult<Vec<_>>>()?;
        changed.push("fallback");
    }
    if let Some(enabled) = body.enabled {
        if !enabled && registry.default.as_ref() == Some(&spec.id) {
            return Err(in_use(format!(
                "field `enabled`: `{}` is the default model; choose another default first",
                spec.id
            )));
        }
        spec.enabled = enabled;
        changed.push("enabled");
    }
    check_numbers(&spec)?;
    let key = api_key(body.api_key)?;
    let clear = body.clear_api_key.unwrap_or(false);
    if key.is_some() && clear {
        return Err(invalid(
            "clear_api_key",
            "cannot be given with a new `api_key`",
        ));
    }
    if key.is_some() && spec.kind == ModelKind::Offline {
        return Err(invalid("api_key", "an `offline` model takes no key"));
    }
    check_registry(&registry, &spec)?;
    let mut fingerprint = Vec::new();
    let sealed = key
        .as_ref()
        .map(|key| seal(&state, &spec.id, key, &mut fingerprint))
        .transpose()?;
    let (change, key_detail) = match (&sealed, clear) {
        (Some(sealed), _) => (KeyChange::Set(sealed, &fingerprint), "set"),
        (None, true) => (KeyChange::Clear, "cleared"),
        (None, false) => (KeyChange::Keep, "kept"),
    };
    if !store::models::update(&state.pool, &spec, change).await? {
        return Err(not_found(&id));
    }
    let action = match body.enabled {
        Some(false) if current.spec.enabled => "model_disabled",
        Some(true) if !current.spec.enabled => "model_enabled",
        _ => "model_updated",
    };
    session
        .audit(
            &state,
            action,
            spec.id.as_str(),
            json!({"fields": changed, "key": key_detail}),
        )
        .await;
    tracing::info!(model = %spec.id, action, "model edited");
    let registry = fresh(&state).await?;
    let model = registry.get(&spec.id).ok_or_else(|| not_found(&id))?;
    Ok(Json(AdminModelView::of(model, registry.default.as_ref())))
}

#[utoipa::path(
    delete,
    path = "/api/admin/models/{id}",
    operation_id = "deleteAdminModel",
    tag = "admin",
    summary = "Delete a model and its stored key.",
    description = "Refused while the model is the default or another model falls back to it. A \
        model that is also in the configuration file comes back at the next start: remove it \
        from the file too, or disable it instead.",
    security(("adminCookie" = [])),
    params(("id" = String, Path, description = "The model's id."), CsrfHeader),
    responses(
        (status = 204, description = "Deleted."),
        ModelWriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    session: AdminSession,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let id = path_id(path)?;
    let registry = fresh(&state).await?;
    let model = named(&registry, &id)?;
    let model_id = model.spec.id.clone();
    if registry.default.as_ref() == Some(&model_id) {
        return Err(in_use(format!(
            "`{model_id}` is the default model; choose another default first"
        )));
    }
    let referrers: Vec<&str> = registry
        .models
        .iter()
        .filter(|other| other.spec.fallback.contains(&model_id))
        .map(|other| other.spec.id.as_str())
        .collect();
    if !referrers.is_empty() {
        return Err(in_use(format!(
            "`{model_id}` is a fallback of {}; edit their `fallback` first",
            referrers.join(", ")
        )));
    }
    if !store::models::delete(&state.pool, &model_id).await? {
        return Err(not_found(&id));
    }
    session
        .audit(
            &state,
            "model_deleted",
            model_id.as_str(),
            json!({"origin": model.origin}),
        )
        .await;
    tracing::info!(model = %model_id, "model deleted from the registry");
    state.registry.invalidate();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/api/admin/default-model",
    operation_id = "setAdminDefaultModel",
    tag = "admin",
    summary = "Choose the default model: the one a task gets when it names none.",
    security(("adminCookie" = [])),
    params(CsrfHeader),
    request_body(content = DefaultModel, content_type = "application/json"),
    responses(
        (status = 200, description = "The registry with its new default.", body = AdminModelList),
        ModelWriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn set_default(
    State(state): State<AppState>,
    session: AdminSession,
    request: Request,
) -> ApiResult<Json<AdminModelList>> {
    let body: DefaultModel = read_json_body(request, MAX_MODEL_BODY_BYTES).await?;
    let id = model_id("model", &body.model)?;
    let registry = fresh(&state).await?;
    let Some(model) = registry.get(&id) else {
        return Err(invalid(
            "model",
            format!("`{id}` is not a model of the registry"),
        ));
    };
    if !model.spec.enabled {
        return Err(invalid(
            "model",
            format!("`{id}` is disabled; enable it first"),
        ));
    }
    if !store::models::set_default(&state.pool, &id).await? {
        return Err(invalid(
            "model",
            format!("`{id}` is not a model of the registry"),
        ));
    }
    session
        .audit(
            &state,
            "model_default_set",
            id.as_str(),
            json!({"previous": registry.default.as_ref().map(ToString::to_string)}),
        )
        .await;
    Ok(Json(list_view(&state).await?))
}

#[utoipa::path(
    post,
    path = "/api/admin/models/{id}/test",
    operation_id = "testAdminModel",
    tag = "admin",
    summary = "Send a tiny request to the model through a worker's own provider code.",
    description = "The request is queued in Postgres; a live worker that serves the model takes \
        it, asks the model for a one-word answer (no retries, no fallback) and writes the answer \
        or the error, which this route returns. 503 `no_worker_for_model` when no worker takes it \
        within 5 s.",
    security(("adminCookie" = [])),
    params(("id" = String, Path, description = "The model's id."), CsrfHeader),
    responses(
        (status = 200, description = "The model's answer or its error.", body = ModelTestResult),
        ModelTestRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    session: AdminSession,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ModelTestResult>> {
    let id = path_id(path)?;
    let registry = fresh(&state).await?;
    let model = named(&registry, &id)?;
    let model_id = model.spec.id.clone();
    if !model.spec.enabled {
        return Err(in_use(format!(
            "`{model_id}` is disabled; enable it to test it"
        )));
    }
    let request = store::models::request_test(&state.pool, &model_id).await?;
    let started = tokio::time::Instant::now();
    let deadline =
        started + Duration::from_secs(model.spec.timeout_secs.saturating_add(5)).min(TEST_MAX_WAIT);
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let outcome = store::models::test_outcome(&state.pool, request).await?;
        let claimed = outcome
            .as_ref()
            .is_some_and(|outcome| outcome.claimed_by.is_some());
        if let Some(outcome) = outcome.filter(|outcome| outcome.finished) {
            break outcome;
        }
        if !claimed && started.elapsed() >= TEST_CLAIM_WAIT {
            return Err(ApiError::Unavailable {
                code: ErrorCode::NoWorkerForModel,
                message: format!(
                    "no running worker serves `{model_id}` (none took the test within {} s)",
                    TEST_CLAIM_WAIT.as_secs()
                ),
                retry_after_secs: 5,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::GatewayTimeout {
                code: ErrorCode::ModelTestTimeout,
                message: format!("the worker testing `{model_id}` gave no answer in time"),
            });
        }
    };
    session
        .audit(
            &state,
            "model_tested",
            model_id.as_str(),
            json!({"ok": outcome.ok, "worker": outcome.claimed_by}),
        )
        .await;
    Ok(Json(ModelTestResult {
        model: model_id.to_string(),
        ok: outcome.ok,
        answer: outcome
            .answer
            .map(|answer| answer.chars().take(TEST_ANSWER_CHARS).collect()),
        error: outcome.error,
        elapsed_ms: outcome.elapsed_ms,
        worker: outcome.claimed_by,
    }))
}
