//! Tests for a folder (or a file) of a repository: `POST /api/batches` takes a shallow checkout of
//! the branch's commit with the session's forge token, makes one task per source file it can
//! test, and keeps the repository's text files for the workers, which run each file's tests among
//! them; `GET /api/batches/{id}` is the batch view, `…/archive` every test at its conventional
//! path, and `…/pull-request` pushes them on a new branch and opens a pull (or merge) request.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{
    CacheKey, Checkout, CheckoutFile, CheckoutLimits, Framework, Language, ModelId, RawSource,
    RawTaskRequest, SelectionError, SkippedFile, TaskSpec, TaskStatus, Validation,
};
use forge::{
    BranchName, BranchPush, ChangeRequest, CommitId, ExistingFiles, ForgeClient, ForgeKind,
    ForgeToken, GitRemote, RepoName, RepoPath, Signature,
};
use serde::{Deserialize, Serialize};
use store::TaskRow;
use store::batches::{self, BatchCaps, BatchCreated, BatchFile, BatchRow, NewBatch};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::git::forge_error;
use super::tasks::{available_default_model, check_model, check_testable};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_json_body;
use crate::git_token::{self, SessionForge};
use crate::openapi::{InternalError, error_answers};
use crate::session::Session;
use crate::state::AppState;

/// The largest `POST /api/batches` (and pull-request) body.
const MAX_BATCH_BODY_BYTES: usize = 16 * 1024;
/// Batches a listing shows.
const LISTED_BATCHES: i64 = 50;
/// Who the pushed commit is by.
const AUTHOR_NAME: &str = "AIunittest";
const AUTHOR_EMAIL: &str = "aiunittest@users.noreply.localhost";

error_answers! {
    /// The refusals of `POST /api/batches`.
    CreateRefusals {
        "400" => "The body is not a JSON object of the documented fields.",
            [InvalidJson, UnreadableBody, UnknownField];
        "401" => "`git_token_required`: the session has no forge token; `git_token_rejected`: \
            the forge no longer accepts it.", [GitTokenRequired, GitTokenRejected];
        "403" => "The token lacks a scope (the message names it), or the forge forbids this.",
            [GitScopeMissing, GitForbidden];
        "404" => "No such repository or branch.", [GitNotFound];
        "413" => "The body is over 16 KiB.", [PayloadTooLarge];
        "415" => "The body is not JSON.", [UnsupportedMediaType];
        "422" => "`invalid_git_request`: a repository, branch or path that is not well formed; \
            `invalid_batch_path`: no such file or folder at the commit; `nothing_to_test`: no \
            source file there can be tested (the message says why); `unknown_language`, \
            `unknown_framework`, `framework_not_for_language`, `invalid_model`, \
            `model_unavailable`: as for a single task.",
            [InvalidGitRequest, InvalidForgeUrl, InvalidBatchPath, NothingToTest, UnknownLanguage,
             UnknownFramework, FrameworkNotForLanguage, InvalidModel, ModelUnavailable];
        "429" => "The session has too few free places in the queue for every file of the \
            batch, or the forge's rate limit is used up.", [TooManyQueuedTasks, GitRateLimited];
        "502" => "The forge or its git server could not be reached or answered in an unknown \
            way.", [ForgeUnavailable];
        "503" => "The queue is full, no key to seal tokens is configured, or a store is \
            unavailable.", [QueueFull, GitTokensNotConfigured, RedisUnavailable, DatabaseUnavailable];
    }
    /// The refusals of the routes of one batch.
    BatchRefusals {
        "400" => "The id is not a batch id.", [InvalidBatchId];
        "404" => "No such batch in this session.", [BatchNotFound];
        "503" => "The database is unavailable.", [DatabaseUnavailable];
    }
    /// When a batch has no test to hand over yet.
    NoTests {
        "409" => "No task of the batch has succeeded yet (`batch_has_no_tests`).",
            [BatchHasNoTests];
    }
    /// The refusals of `POST /api/batches/{id}/pull-request`.
    PullRequestRefusals {
        "400" => "The body is not a JSON object of the documented fields.",
            [InvalidJson, UnreadableBody, UnknownField];
        "401" => "`git_token_required`: the session has no forge token; `git_token_rejected`: \
            the forge no longer accepts it.", [GitTokenRequired, GitTokenRejected];
        "403" => "The token lacks the scope to push or to open the request (the message names \
            it), or the branch is protected.", [GitScopeMissing, GitForbidden];
        "409" => "`batch_not_finished`: tasks are still queued or running; \
            `batch_has_no_tests`: none succeeded; `pull_request_exists`: one was opened already \
            (the message has its address); `git_conflict`: the branch exists, or a test file \
            exists on the base (say `replace_existing` to replace it).",
            [BatchNotFinished, BatchHasNoTests, PullRequestExists, GitConflict];
        "422" => "`git_refused`: the forge refused the request; `git_forge_mismatch`: the \
            session's token is for another forge than the batch's repository.",
            [GitRefused, GitForgeMismatch];
        "429" => "The forge's rate limit is used up.", [GitRateLimited];
        "502" => "The forge could not be reached.", [ForgeUnavailable];
    }
}

/// The body of `POST /api/batches`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// `owner/name` (GitHub) or `group/…/project` (GitLab), as `/api/git/repos` names them. For
    /// a plain git forge, absent (the session's URL is the repository) or the repository's URL
    /// under it.
    #[serde(default)]
    repo: Option<String>,
    /// The branch whose newest commit is tested; the repository's default branch when absent.
    #[serde(default)]
    branch: Option<String>,
    /// A folder or a file of the repository; the whole repository when absent or empty.
    #[serde(default)]
    path: Option<String>,
    /// Only this language's files (else every file of a known language).
    #[serde(default)]
    language: Option<String>,
    /// The test framework (for a batch of one language); each language's default when absent.
    #[serde(default)]
    framework: Option<String>,
    /// The model; the service's default when absent.
    #[serde(default)]
    model: Option<String>,
}

/// One file of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchFileView {
    /// The source file's path in the repository.
    path: String,
    /// Where its tests go in the repository.
    test_path: String,
    language: String,
    task_id: Uuid,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: String,
    /// Units done and in all, while it runs.
    progress_done: i32,
    progress_total: i32,
    /// What running the tests found, once the task has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    validation: Option<serde_json::Value>,
    /// Why the task failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
}

/// The files of a batch per task status.
#[derive(Default, Serialize, ToSchema)]
pub struct BatchCounts {
    queued: u32,
    running: u32,
    succeeded: u32,
    failed: u32,
    cancelled: u32,
}

/// A batch.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    #[serde(flatten)]
    batch: BatchSummary,
    /// `running` until every task has ended, then `finished`.
    status: String,
    counts: BatchCounts,
    files: Vec<BatchFileView>,
    /// Files under `path` that got no task, and why.
    #[schema(value_type = Vec<Object>)]
    skipped: serde_json::Value,
    /// The pull or merge request opened for the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pull_request: Option<serde_json::Value>,
}

impl BatchView {
    fn of(batch: BatchRow, tasks: Vec<TaskRow>) -> ApiResult<BatchView> {
        let mut counts = BatchCounts::default();
        for task in &tasks {
            match task.status()? {
                TaskStatus::Queued => counts.queued += 1,
                TaskStatus::Running => counts.running += 1,
                TaskStatus::Succeeded => counts.succeeded += 1,
                TaskStatus::Failed => counts.failed += 1,
                TaskStatus::Cancelled => counts.cancelled += 1,
            }
        }
        let finished = counts.queued == 0 && counts.running == 0;
        let skipped = batch.skipped.clone();
        let pull_request = batch.pull_request.clone();
        Ok(BatchView {
            batch: BatchSummary::from(batch),
            status: if finished { "finished" } else { "running" }.to_owned(),
            counts,
            files: tasks
                .into_iter()
                .map(|task| BatchFileView {
                    test_path: task.test_path.unwrap_or_default(),
                    path: task.file_name,
                    language: task.language,
                    task_id: task.id,
                    status: task.status,
                    progress_done: task.progress_done,
                    progress_total: task.progress_total,
                    validation: task.validation,
                    error: task.error_message,
                })
                .collect(),
            skipped,
            pull_request,
        })
    }
}

/// The session's batches, newest first.
#[derive(Serialize, ToSchema)]
pub struct BatchList {
    batches: Vec<BatchSummary>,
}

/// A batch's repository, commit and path.
#[derive(Serialize, ToSchema)]
pub struct BatchSummary {
    id: Uuid,
    /// `github`, `gitlab` or `git`.
    forge: String,
    repo: String,
    branch: String,
    /// The commit the tests were written and run at.
    commit: String,
    /// The folder or file asked for (`""`: the whole repository).
    path: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<BatchRow> for BatchSummary {
    fn from(batch: BatchRow) -> BatchSummary {
        BatchSummary {
            id: batch.id,
            forge: batch.forge,
            repo: batch.repo,
            branch: batch.branch,
            commit: batch.commit_id,
            path: batch.path,
            created_at: batch.created_at,
        }
    }
}

/// `{id}` of the batch routes, refused as `invalid_batch_id` in the one error shape.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct BatchIdParam(
    /// The batch's id.
    #[param(value_type = uuid::Uuid)]
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for BatchIdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| invalid_batch_id(""))?;
        if raw.len() != 36 {
            return Err(invalid_batch_id(&raw));
        }
        Uuid::try_parse(&raw)
            .map(BatchIdParam)
            .map_err(|_| invalid_batch_id(&raw))
    }
}

fn invalid_batch_id(raw: &str) -> ApiError {
    let shown: String = raw.chars().take(64).collect();
    ApiError::bad_request(
        ErrorCode::InvalidBatchId,
        format!("`{shown}` is not a batch id (expected a UUID)"),
    )
}

fn batch_not_found() -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::BatchNotFound,
        message: "no such batch in this session".into(),
    }
}

/// Where the session's repository is, and how to reach it.
struct Repository {
    kind: ForgeKind,
    /// What the batch calls it: `owner/name`, or the URL.
    name: String,
    remote: GitRemote,
    default_branch: Option<String>,
    /// The forge's API, for pull and merge requests (none for plain git).
    api: Option<(ForgeClient, RepoName)>,
}

async fn repository(
    state: &AppState,
    kept: &SessionForge,
    token: ForgeToken,
    repo: Option<&str>,
) -> ApiResult<Repository> {
    let clone_timeout = state.settings.git.clone_timeout_secs.max(1);
    let clone_timeout = std::time::Duration::from_secs(clone_timeout);
    match kept.forge {
        ForgeKind::Git => {
            let url = match repo.map(str::trim).filter(|repo| !repo.is_empty()) {
                None => kept.base_url.clone(),
                Some(url) if url.starts_with(&kept.base_url) => url.to_owned(),
                Some(_) => {
                    return Err(ApiError::Unprocessable {
                        code: ErrorCode::InvalidGitRequest,
                        message: format!(
                            "repo: a plain git session reaches {} only; give that URL or \
                             nothing",
                            kept.base_url
                        ),
                    });
                }
            };
            let remote = GitRemote::connect(
                kept.forge,
                &url,
                Some(token),
                &state.git.policy,
                clone_timeout,
            )
            .await
            .map_err(forge_error)?;
            let default_branch = remote
                .default_branch()
                .await
                .map_err(forge_error)?
                .map(|branch| branch.to_string());
            Ok(Repository {
                kind: kept.forge,
                name: url,
                remote,
                default_branch,
                api: None,
            })
        }
        ForgeKind::Github | ForgeKind::Gitlab => {
            let Some(repo) = repo.map(str::trim).filter(|repo| !repo.is_empty()) else {
                return Err(ApiError::Unprocessable {
                    code: ErrorCode::InvalidGitRequest,
                    message: "repo: required (`owner/name`, as /api/git/repos lists them)".into(),
                });
            };
            let client = ForgeClient::connect(
                kept.forge,
                &kept.base_url,
                token.clone(),
                &state.git.policy,
                state.git.timeout,
            )
            .await
            .map_err(forge_error)?;
            let name = RepoName::parse(kept.forge, repo).map_err(forge_error)?;
            let found = client.repository(&name).await.map_err(forge_error)?;
            let remote = GitRemote::connect(
                kept.forge,
                &found.clone_url,
                Some(token),
                &state.git.policy,
                clone_timeout,
            )
            .await
            .map_err(forge_error)?;
            Ok(Repository {
                kind: kept.forge,
                name: name.as_str().to_owned(),
                remote,
                default_branch: found.default_branch,
                api: Some((client, name)),
            })
        }
    }
}

/// `POST /api/batches`
#[utoipa::path(
    post,
    path = "/api/batches",
    operation_id = "createBatch",
    tag = "batches",
    summary = "Write tests for a folder or a file of a repository, running them in it.",
    description = "Takes a shallow checkout of the branch's newest commit with the session's \
        forge token (see `/api/git/token`), and queues one task per source file under `path` \
        that can be tested (tests, fixtures, dependencies and build output are skipped, and the \
        answer says so), at most `git.max_batch_files`. Each task's tests are run among the \
        repository's files at that commit, so imports of sibling modules resolve. The whole \
        batch is queued, or none of it.",
    security(("sessionCookie" = []), ()),
    request_body(content = BatchBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Queued.", body = BatchView, headers(("Location" = String,
            description = "The batch's address."))),
        CreateRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> ApiResult<Response> {
    let body: BatchBody = read_json_body(request, MAX_BATCH_BODY_BYTES).await?;
    let language = body
        .language
        .as_deref()
        .map(str::trim)
        .filter(|language| !language.is_empty())
        .map(str::parse::<Language>)
        .transpose()
        .map_err(|error| ApiError::from(domain::RequestError::from(error)))?;
    // The model is checked before anything is cloned: every file's task uses it.
    let fleet = state.live_workers().await;
    let registry = state.models().await.registry();
    let model = match body.model.as_deref() {
        Some(model) if !model.trim().is_empty() => ModelId::parse(model)
            .map_err(|error| ApiError::from(domain::RequestError::from(error)))?,
        _ => available_default_model(&registry, &fleet)?,
    };
    check_model(&registry, &fleet, &model)?;
    let kept = git_token::load(&state, &session.id).await?;
    let repository = repository(&state, &kept, kept.token()?, body.repo.as_deref()).await?;
    let branch_text = match body.branch.as_deref().map(str::trim) {
        Some(branch) if !branch.is_empty() => branch.to_owned(),
        _ => repository
            .default_branch
            .clone()
            .ok_or_else(|| ApiError::Conflict {
                code: ErrorCode::GitConflict,
                message: "the repository is empty: it has no default branch".into(),
            })?,
    };
    let branch = BranchName::parse(&branch_text).map_err(forge_error)?;
    let commit = repository
        .remote
        .branch_head(&branch)
        .await
        .map_err(forge_error)?;
    let checkout = take_checkout(&repository.remote, &commit).await?;

    let path = body.path.as_deref().unwrap_or("").trim().trim_matches('/');
    let selection = domain::select_sources(
        &checkout,
        path,
        language,
        state.settings.git.max_batch_files.max(1),
    )
    .map_err(|error| match error {
        SelectionError::NotFound(_) => ApiError::Unprocessable {
            code: ErrorCode::InvalidBatchPath,
            message: error.to_string(),
        },
        SelectionError::NotTestable { .. } | SelectionError::Empty(_) => ApiError::Unprocessable {
            code: ErrorCode::NothingToTest,
            message: error.to_string(),
        },
    })?;

    let mut skipped = selection.skipped;
    let mut specs: Vec<TaskSpec> = Vec::new();
    for (source_path, language) in &selection.sources {
        let Some(file) = checkout.file(source_path) else {
            continue;
        };
        let raw = RawTaskRequest {
            source: RawSource::Text(file.contents.clone()),
            filename: Some(source_path.clone()),
            language: Some(language.id().to_owned()),
            framework: body.framework.clone(),
            model: None,
            validate: None,
            keep: None,
        };
        // A wrong framework is the request's fault, whichever file shows it.
        let spec = match TaskSpec::parse(raw, state.settings.source_limits(), &model) {
            Ok(spec) => spec,
            Err(error @ domain::RequestError::Framework(_)) => return Err(error.into()),
            Err(error) => {
                skipped.push(SkippedFile {
                    path: source_path.clone(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        if let Err(error) = check_testable(&spec).await {
            skipped.push(SkippedFile {
                path: source_path.clone(),
                reason: match error {
                    ApiError::Unprocessable { message, .. } => message,
                    other => other.to_string(),
                },
            });
            continue;
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::NothingToTest,
            message: format!(
                "path: no source file under `{path}` can be tested: {}",
                skipped
                    .iter()
                    .take(5)
                    .map(|file| format!("{} ({})", file.path, file.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    let test_paths = domain::batch_test_paths(
        &specs
            .iter()
            .map(|spec| (spec.language, spec.file_name.as_str()))
            .collect::<Vec<_>>(),
        |path| checkout.file(path).is_some(),
    );
    let files: Vec<BatchFile> = specs
        .into_iter()
        .zip(test_paths)
        .map(|(spec, test_path)| BatchFile {
            cache_key: CacheKey::for_repository_spec(
                &spec,
                &repository.name,
                commit.as_str(),
                &test_path,
            ),
            spec,
            test_path,
        })
        .collect();
    let traceparent = telemetry::propagation::traceparent(&tracing::Span::current());
    let limits = &state.settings.limits;
    let new = NewBatch {
        owner: session.id.as_str(),
        forge: repository.kind.as_str(),
        repo: &repository.name,
        branch: branch.as_str(),
        commit: commit.as_str(),
        path,
        checkout: &checkout,
        skipped: serde_json::to_value(&skipped).context("the skipped files as JSON")?,
        files,
        max_attempts: i32::try_from(state.settings.queue.max_attempts).unwrap_or(3),
        traceparent: traceparent.as_deref(),
        client: None,
    };
    let caps = BatchCaps {
        max_queued_per_owner: i64::from(limits.max_queued_per_session),
        max_queue_depth: i64::from(limits.max_queue_depth),
    };
    let wanted = new.files.len();
    match batches::create_batch(&state.pool, &new, caps).await? {
        BatchCreated::Created { batch, tasks } => {
            for _ in &tasks {
                state.metrics.task_created("queued");
            }
            tracing::info!(batch_id = %batch.id, files = tasks.len(), "batch queued");
            let location = format!("/api/batches/{}", batch.id);
            let view = BatchView::of(*batch, tasks)?;
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(view),
            )
                .into_response())
        }
        BatchCreated::OwnerQueueFull { queued, limit } => Err(ApiError::TooManyRequests {
            code: ErrorCode::TooManyQueuedTasks,
            message: format!(
                "the batch has {wanted} files and you already have {queued} queued tasks (the \
                 limit is {limit}); pick a smaller folder or wait for some to start"
            ),
            retry_after_secs: limits.retry_after_secs,
        }),
        BatchCreated::QueueFull { queued } => Err(ApiError::Unavailable {
            code: ErrorCode::QueueFull,
            message: format!(
                "the queue has no room for {wanted} more tasks ({queued} waiting); try again later"
            ),
            retry_after_secs: limits.retry_after_secs,
        }),
    }
}

/// A shallow clone of `commit`, read into the text files the workers lay out (in a folder that
/// is removed afterwards).
async fn take_checkout(remote: &GitRemote, commit: &CommitId) -> ApiResult<Checkout> {
    let folder = tempfile::tempdir().context("a folder for the checkout")?;
    remote
        .clone_at(commit, folder.path())
        .await
        .map_err(forge_error)?;
    let root = folder.path().to_path_buf();
    let checkout =
        tokio::task::spawn_blocking(move || read_checkout(&root, CheckoutLimits::default()))
            .await
            .context("reading the checkout stopped")??;
    Ok(checkout)
}

/// The text files under `root` (without `.git`), within `limits`; the rest counted as left out.
fn read_checkout(root: &Path, limits: CheckoutLimits) -> anyhow::Result<Checkout> {
    let mut checkout = Checkout::default();
    let mut total = 0usize;
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                if path != root.join(".git") {
                    folders.push(path);
                }
                continue;
            }
            if !kind.is_file() {
                checkout.left_out += 1;
                continue;
            }
            let Some(relative) = path
                .strip_prefix(root)
                .ok()
                .and_then(|relative| relative.to_str())
                .map(|relative| relative.replace('\\', "/"))
            else {
                checkout.left_out += 1;
                continue;
            };
            let size = usize::try_from(entry.metadata()?.len()).unwrap_or(usize::MAX);
            if size > limits.max_file_bytes
                || total.saturating_add(size) > limits.max_total_bytes
                || checkout.files.len() >= limits.max_files
            {
                checkout.left_out += 1;
                continue;
            }
            let bytes = std::fs::read(&path).with_context(|| format!("reading {relative}"))?;
            match String::from_utf8(bytes) {
                Ok(contents) if !contents.contains('\0') => {
                    total += contents.len();
                    checkout.files.push(CheckoutFile {
                        path: relative,
                        contents,
                    });
                }
                _ => checkout.left_out += 1,
            }
        }
    }
    checkout.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(checkout)
}

/// `GET /api/batches`
#[utoipa::path(
    get,
    path = "/api/batches",
    operation_id = "listBatches",
    tag = "batches",
    summary = "The session's batches, newest first (at most 50).",
    security(("sessionCookie" = []), ()),
    responses(
        (status = 200, description = "The batches.", body = BatchList),
        (status = 500, response = InternalError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<BatchList>> {
    let rows = batches::list_batches(&state.pool, session.id.as_str(), LISTED_BATCHES).await?;
    Ok(Json(BatchList {
        batches: rows.into_iter().map(BatchSummary::from).collect(),
    }))
}

async fn owned_batch(state: &AppState, session: &Session, id: Uuid) -> ApiResult<BatchRow> {
    batches::get_batch(&state.pool, session.id.as_str(), id)
        .await?
        .ok_or_else(batch_not_found)
}

/// `GET /api/batches/{id}`
#[utoipa::path(
    get,
    path = "/api/batches/{id}",
    operation_id = "getBatch",
    tag = "batches",
    summary = "A batch: each file's task, verdicts and coverage, and the skipped files.",
    security(("sessionCookie" = []), ()),
    params(BatchIdParam),
    responses(
        (status = 200, description = "The batch.", body = BatchView),
        BatchRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    BatchIdParam(id): BatchIdParam,
) -> ApiResult<Json<BatchView>> {
    let batch = owned_batch(&state, &session, id).await?;
    let tasks = batches::batch_tasks(&state.pool, id).await?;
    Ok(Json(BatchView::of(batch, tasks)?))
}

/// The tests of a batch's succeeded tasks, at their paths in the repository.
fn delivered(tasks: &[TaskRow]) -> Vec<(&str, &str)> {
    tasks
        .iter()
        .filter(|task| task.status == TaskStatus::Succeeded.as_str())
        .filter_map(|task| Some((task.test_path.as_deref()?, task.result_code.as_deref()?)))
        .collect()
}

fn no_tests() -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::BatchHasNoTests,
        message: "no task of the batch has succeeded yet, so there is no test to hand over".into(),
    }
}

/// `GET /api/batches/{id}/archive`
#[utoipa::path(
    get,
    path = "/api/batches/{id}/archive",
    operation_id = "downloadBatch",
    tag = "batches",
    summary = "Every delivered test of the batch, in a .tar.gz at its path in the repository.",
    description = "Unpacked at the repository's root, each test lands where the language's \
        conventions put it (`tests/test_x.py`, `pkg/x_test.go`, `src/test/java/…`).",
    security(("sessionCookie" = []), ()),
    params(BatchIdParam),
    responses(
        (status = 200, description = "The archive, as an attachment.",
            content_type = "application/gzip", headers(("Content-Disposition" = String))),
        BatchRefusals,
        NoTests,
        (status = 500, response = InternalError),
    )
)]
pub async fn archive(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    BatchIdParam(id): BatchIdParam,
) -> ApiResult<Response> {
    let batch = owned_batch(&state, &session, id).await?;
    let tasks = batches::batch_tasks(&state.pool, id).await?;
    let files = delivered(&tasks);
    if files.is_empty() {
        return Err(no_tests());
    }
    let bytes = tar_gz(&files).context("writing the archive")?;
    let short = &batch.id.simple().to_string()[..8];
    let disposition = format!("attachment; filename=\"aiunittest-{short}.tar.gz\"");
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/gzip"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).context("the archive's name")?,
        ),
    ];
    Ok((headers, bytes).into_response())
}

fn tar_gz(files: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, path, contents.as_bytes())?;
    }
    Ok(archive.into_inner()?.finish()?)
}

/// The body of `POST /api/batches/{id}/pull-request`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PullRequestBody {
    /// The request's title; `Add unit tests for <path>` when absent.
    #[serde(default)]
    title: Option<String>,
    /// Replace test files that already exist on the base (listed in the answer); by default
    /// such a file stops the push with `git_conflict` naming it.
    #[serde(default)]
    replace_existing: bool,
}

/// What `POST /api/batches/{id}/pull-request` made.
#[derive(Serialize, ToSchema)]
pub struct PullRequestView {
    /// The branch pushed.
    branch: String,
    /// The commit on it.
    commit: String,
    /// The pull (or merge) request's page; absent for a plain git repository (only the branch
    /// is pushed there).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    url: Option<String>,
    /// The pull request's number, or the merge request's `iid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    number: Option<u64>,
    /// The test files in the commit.
    files: Vec<String>,
    /// Files that existed on the base and were replaced.
    replaced: Vec<String>,
}

/// `POST /api/batches/{id}/pull-request`
#[utoipa::path(
    post,
    path = "/api/batches/{id}/pull-request",
    operation_id = "openBatchPullRequest",
    tag = "batches",
    summary = "Push the batch's tests on a new branch and open a pull (or merge) request.",
    description = "A new branch `aiunittest/<batch>` from the batch's commit, with one commit \
        holding every delivered test at its conventional path, and a pull request (GitHub) or \
        merge request (GitLab) into the batch's branch whose description lists the files, each \
        test's verdict and the coverage. Never the default branch, never an existing branch; a \
        test file that exists on the base is replaced only when asked. For a plain git \
        repository the branch is pushed and nothing else.",
    security(("sessionCookie" = []), ()),
    params(BatchIdParam),
    request_body(content = PullRequestBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Pushed, and the request opened.", body = PullRequestView),
        BatchRefusals,
        PullRequestRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn pull_request(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    BatchIdParam(id): BatchIdParam,
    request: Request,
) -> ApiResult<Response> {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length != "0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let body: PullRequestBody = if has_body {
        read_json_body(request, MAX_BATCH_BODY_BYTES).await?
    } else {
        PullRequestBody::default()
    };
    let batch = owned_batch(&state, &session, id).await?;
    if let Some(opened) = &batch.pull_request {
        return Err(ApiError::Conflict {
            code: ErrorCode::PullRequestExists,
            message: format!(
                "the batch's tests were pushed already: {}",
                opened["url"]
                    .as_str()
                    .or(opened["branch"].as_str())
                    .unwrap_or("")
            ),
        });
    }
    let tasks = batches::batch_tasks(&state.pool, id).await?;
    if tasks
        .iter()
        .any(|task| !task.status().is_ok_and(TaskStatus::is_terminal))
    {
        return Err(ApiError::Conflict {
            code: ErrorCode::BatchNotFinished,
            message: "tasks of the batch are still queued or running; open the request once \
                      they have ended"
                .into(),
        });
    }
    let files = delivered(&tasks);
    if files.is_empty() {
        return Err(no_tests());
    }
    let kept = git_token::load(&state, &session.id).await?;
    if kept.forge.as_str() != batch.forge {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::GitForgeMismatch,
            message: format!(
                "the session's token is for {}, and the batch's repository is on {}; give a \
                 token for it first",
                kept.forge.as_str(),
                batch.forge
            ),
        });
    }
    let repository = repository(&state, &kept, kept.token()?, Some(&batch.repo)).await?;
    let short = &batch.id.simple().to_string()[..8];
    let branch = BranchName::parse(&format!("aiunittest/{short}")).map_err(forge_error)?;
    let base = BranchName::parse(&batch.branch).map_err(forge_error)?;
    let push = BranchPush {
        base: CommitId::parse(&batch.commit_id).map_err(forge_error)?,
        branch: branch.clone(),
        files: files
            .iter()
            .map(|(path, code)| {
                Ok((
                    RepoPath::parse(path).map_err(forge_error)?,
                    code.as_bytes().to_vec(),
                ))
            })
            .collect::<ApiResult<_>>()?,
        message: format!(
            "Add unit tests written by AIunittest\n\n{} test file(s) for {} at {}.",
            files.len(),
            if batch.path.is_empty() {
                "the repository"
            } else {
                &batch.path
            },
            &batch.commit_id[..12]
        ),
        author: Signature::new(AUTHOR_NAME, AUTHOR_EMAIL).map_err(forge_error)?,
        existing: if body.replace_existing {
            ExistingFiles::Replace
        } else {
            ExistingFiles::Refuse
        },
    };
    let pushed = repository
        .remote
        .push_branch(&push)
        .await
        .map_err(|error| match error {
            forge::ForgeError::FileExists(path) => ApiError::Conflict {
                code: ErrorCode::GitConflict,
                message: format!(
                    "{path} already exists on {}; say `replace_existing: true` to replace it",
                    batch.branch
                ),
            },
            other => forge_error(other),
        })?;
    let replaced: Vec<String> = pushed.replaced.iter().map(ToString::to_string).collect();
    let mut opened = None;
    if let Some((client, repo)) = &repository.api {
        let title = body
            .title
            .as_deref()
            .map(str::trim)
            .filter(|title| !title.is_empty())
            .map(|title| title.chars().take(200).collect())
            .unwrap_or_else(|| {
                format!(
                    "Add unit tests for {}",
                    if batch.path.is_empty() {
                        repo.as_str()
                    } else {
                        &batch.path
                    }
                )
            });
        let modules_without_testify = if tasks.iter().any(uses_testify) {
            let checkout = batches::batch_checkout(&state.pool, id)
                .await?
                .unwrap_or_default();
            modules_without_testify(
                &checkout,
                tasks
                    .iter()
                    .filter(|task| uses_testify(task))
                    .map(|task| task.file_name.as_str()),
            )
        } else {
            Vec::new()
        };
        let request = ChangeRequest {
            title,
            body: pull_request_body(&batch, &tasks, &replaced, &modules_without_testify),
            head: branch.clone(),
            base,
        };
        opened = Some(
            client
                .open_change_request(repo, &request)
                .await
                .map_err(forge_error)?,
        );
    }
    let view = PullRequestView {
        branch: pushed.branch.to_string(),
        commit: pushed.commit.to_string(),
        url: opened.as_ref().map(|opened| opened.web_url.clone()),
        number: opened.as_ref().map(|opened| opened.number),
        files: files.iter().map(|(path, _)| (*path).to_owned()).collect(),
        replaced,
    };
    let record = serde_json::to_value(&view).context("the pull request as JSON")?;
    batches::record_pull_request(&state.pool, session.id.as_str(), id, &record).await?;
    tracing::info!(batch_id = %id, branch = %view.branch, "batch tests pushed");
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Whether `task` delivered Go tests written for testify.
fn uses_testify(task: &TaskRow) -> bool {
    task.language == Language::Go.id()
        && task.framework == Framework::Testify.id()
        && task.status == TaskStatus::Succeeded.as_str()
}

/// The directories of the Go modules of `sources` (whose delivered tests use testify) whose
/// `go.mod` does not require testify (the run vendored it): the request asks for a `go get` there.
fn modules_without_testify<'s>(
    checkout: &Checkout,
    sources: impl Iterator<Item = &'s str>,
) -> Vec<String> {
    let mut modules: Vec<String> = sources
        .filter_map(|source| checkout.nearest(source, "go.mod"))
        .filter(|(_, go_mod)| !go_mod.contents.contains("github.com/stretchr/testify"))
        .map(|(dir, _)| dir.to_owned())
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// The request's description: per file, where its tests are, each test's verdict, coverage; then
/// what the repository needs to run them (a Rust module's declaration, testify for Go).
fn pull_request_body(
    batch: &BatchRow,
    tasks: &[TaskRow],
    replaced: &[String],
    modules_without_testify: &[String],
) -> String {
    let mut body = format!(
        "Unit tests written by AIunittest for `{}` at {}, each built, run, run again and \
         measured for coverage among the repository's files before delivery.\n\n",
        if batch.path.is_empty() {
            "."
        } else {
            &batch.path
        },
        &batch.commit_id[..12]
    );
    body.push_str("| source | tests | verdicts | line coverage |\n|---|---|---|---|\n");
    for task in tasks {
        let validation: Option<Validation> = task
            .validation
            .clone()
            .and_then(|value| serde_json::from_value(value).ok());
        let verdicts = validation.as_ref().map_or_else(
            || {
                task.error_message
                    .clone()
                    .unwrap_or_else(|| task.status.clone())
            },
            |validation| {
                let mut counted: Vec<(&str, u32)> = Vec::new();
                for test in &validation.tests {
                    let name = test.verdict.as_str();
                    match counted.iter_mut().find(|(known, _)| *known == name) {
                        Some((_, count)) => *count += 1,
                        None => counted.push((name, 1)),
                    }
                }
                let listed: Vec<String> = counted
                    .iter()
                    .map(|(name, count)| format!("{count} {}", name.replace('_', " ")))
                    .collect();
                match (&validation.reason, listed.is_empty()) {
                    (Some(reason), _) => format!("{}; {reason}", listed.join(", ")),
                    (None, false) => listed.join(", "),
                    (None, true) => validation.status.as_str().to_owned(),
                }
            },
        );
        let coverage = validation
            .as_ref()
            .and_then(|validation| validation.coverage.as_ref())
            .map_or_else(
                || "—".to_owned(),
                |coverage| {
                    format!(
                        "{}/{} lines{}",
                        coverage.lines_covered,
                        coverage.lines_total,
                        coverage
                            .branches_covered
                            .zip(coverage.branches_total)
                            .map(|(covered, total)| format!(", {covered}/{total} branches"))
                            .unwrap_or_default()
                    )
                },
            );
        let tests = if task.status == TaskStatus::Succeeded.as_str() {
            format!("`{}`", task.test_path.as_deref().unwrap_or(""))
        } else {
            "none delivered".to_owned()
        };
        let _ = writeln!(
            body,
            "| `{}` | {tests} | {} | {coverage} |",
            task.file_name,
            verdicts.replace('|', "/").replace('\n', " ")
        );
    }
    // Each test's verdict, per file, folded.
    for task in tasks {
        let Some(validation) = task
            .validation
            .clone()
            .and_then(|value| serde_json::from_value::<Validation>(value).ok())
            .filter(|validation| !validation.tests.is_empty())
        else {
            continue;
        };
        let _ = writeln!(
            body,
            "\n<details><summary><code>{}</code>: {} tests</summary>\n",
            task.file_name,
            validation.tests.len()
        );
        for test in &validation.tests {
            let reason = test
                .reason
                .as_deref()
                .and_then(telling_line)
                .map(|line| format!(": {}", line.chars().take(120).collect::<String>()))
                .unwrap_or_default();
            let _ = writeln!(
                body,
                "- `{}`: {}, {}{reason}",
                test.unit,
                test.verdict.as_str().replace('_', " "),
                if test.kept { "kept" } else { "left out" }
            );
        }
        body.push_str("\n</details>\n");
    }
    // A Rust test file is a child module of its source, which cargo compiles only when declared.
    for task in tasks.iter().filter(|task| {
        task.language == Language::Rust.id() && task.status == TaskStatus::Succeeded.as_str()
    }) {
        if let Some(test_path) = &task.test_path {
            let file = test_path.rsplit('/').next().unwrap_or(test_path);
            let _ = writeln!(
                body,
                "\nTo run `{test_path}` with cargo, add `#[cfg(test)] #[path = \"{file}\"] mod \
                 tests;` to `{}`.",
                task.file_name
            );
        }
    }
    for module in modules_without_testify {
        let _ = writeln!(
            body,
            "\nThe Go tests in `{}` use testify, which its `go.mod` does not require yet: run \
             `go get github.com/stretchr/testify` there.",
            if module.is_empty() { "." } else { module }
        );
    }
    if !replaced.is_empty() {
        let _ = writeln!(
            body,
            "\nReplaced files that existed on the base: {}.",
            replaced.join(", ")
        );
    }
    body
}

/// The line of a tool's output that says what went wrong: an assertion's `E ` line (pytest) or
/// one naming an error, else the first line that is not a banner of `=`, `-` or `_`.
fn telling_line(output: &str) -> Option<&str> {
    let lines = || {
        output
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
    };
    let banner = |line: &&str| {
        line.trim_matches(|c: char| "=-_ ".contains(c)).len() < line.len() / 2
            || line.chars().all(|c| "=-_ ".contains(c))
    };
    lines()
        .find(|line| line.starts_with("E ") && line.len() > 2)
        .or_else(|| lines().find(|line| !banner(line) && line.contains("Error")))
        .or_else(|| lines().find(|line| !banner(line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modules_that_do_not_require_testify_are_named_once() {
        let file = |path: &str, contents: &str| CheckoutFile {
            path: path.to_owned(),
            contents: contents.to_owned(),
        };
        let checkout = Checkout {
            files: vec![
                file("go.mod", "module example.com/top\n\ngo 1.22\n"),
                file(
                    "api/go.mod",
                    "module example.com/api\n\nrequire github.com/stretchr/testify v1.9.0\n",
                ),
            ],
            left_out: 0,
        };
        assert_eq!(
            modules_without_testify(
                &checkout,
                ["cart/cart.go", "cart/tax.go", "api/server.go", "main.go"].into_iter()
            ),
            [""]
        );
        assert!(modules_without_testify(&checkout, ["api/x.go"].into_iter()).is_empty());
    }

    #[test]
    fn a_failures_telling_line_is_not_a_banner() {
        let pytest = "=================================== FAILURES ===================================\n\
            ____ test_raises ____\n\n    def test_raises():\n>       assert raises(ValueError, f)\n\
            E       assert False\n";
        assert_eq!(telling_line(pytest), Some("E       assert False"));
        let node = "----\nTypeError: x is not a function\n    at Object.<anonymous>";
        assert_eq!(telling_line(node), Some("TypeError: x is not a function"));
        assert_eq!(
            telling_line("passes, but covers no line"),
            Some("passes, but covers no line")
        );
        assert_eq!(telling_line("=====\n\n"), None);
    }

    #[test]
    fn a_checkout_keeps_text_files_and_counts_the_rest() {
        let root = tempfile::tempdir().expect("a folder");
        let write = |path: &str, contents: &[u8]| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
            std::fs::write(path, contents).expect("a file");
        };
        write("shop/cart.py", b"from shop.tax import rate\n");
        write("shop/tax.py", b"rate = 2\n");
        write(".git/config", b"[core]\n");
        write("logo.png", b"\x89PNG\r\n\x1a\n\0\0");
        write("big.txt", &vec![b'a'; 2048]);
        let limits = CheckoutLimits {
            max_files: 10,
            max_total_bytes: 1_000_000,
            max_file_bytes: 1024,
        };
        let checkout = read_checkout(root.path(), limits).expect("read");
        let paths: Vec<&str> = checkout.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["shop/cart.py", "shop/tax.py"]);
        assert_eq!(checkout.left_out, 2, "the binary file and the large one");
        let few = read_checkout(
            root.path(),
            CheckoutLimits {
                max_files: 1,
                ..limits
            },
        )
        .expect("read");
        assert_eq!(few.files.len(), 1);
        assert_eq!(few.left_out, 3);
    }

    #[test]
    fn the_archive_holds_each_test_at_its_path() {
        let bytes = tar_gz(&[
            ("tests/test_cart.py", "def test_x():\n    assert 1\n"),
            ("pkg/cart_test.go", "package pkg\n"),
        ])
        .expect("an archive");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut found = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("an entry");
            let path = entry.path().expect("a path").display().to_string();
            let mut contents = String::new();
            std::io::Read::read_to_string(&mut entry, &mut contents).expect("text");
            found.push((path, contents));
        }
        assert_eq!(
            found,
            [
                (
                    "tests/test_cart.py".to_owned(),
                    "def test_x():\n    assert 1\n".to_owned()
                ),
                ("pkg/cart_test.go".to_owned(), "package pkg\n".to_owned())
            ]
        );
    }
}
