//! Repositories on GitHub, GitLab and plain git, for the caller's session: `/api/git/token`
//! (give, read or forget the session's forge token) and the browse routes `/api/git/repos`,
//! `/api/git/branches`, `/api/git/tree` and `/api/git/file`, answered from the forge through the
//! `forge` crate with the session's token. The token is never answered, logged or stored in
//! Postgres (see `git_token.rs`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use forge::{
    Capability, CommitId, EntryKind, ForgeClient, ForgeError, ForgeKind, ForgeToken, RepoName,
    RepoPath,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_json_body;
use crate::git_token::{self, SessionForge};
use crate::openapi::{InternalError, error_answers};
use crate::session::Session;
use crate::state::AppState;

/// The largest `POST /api/git/token` body.
const MAX_TOKEN_BODY_BYTES: usize = 8 * 1024;

error_answers! {
    /// The refusals of `POST /api/git/token`.
    TokenRefusals {
        "400" => "The body is not a JSON object of the documented fields.",
            [InvalidJson, UnreadableBody, UnknownField];
        "401" => "The forge refused the token: it is wrong, expired or revoked.",
            [GitTokenRejected];
        "403" => "The token lacks a scope browsing needs (the message names it), or the forge \
            forbids it.", [GitScopeMissing, GitForbidden];
        "404" => "The forge has no API at this base URL.", [GitNotFound];
        "413" => "The body is over 8 KiB.", [PayloadTooLarge];
        "415" => "The body is not JSON.", [UnsupportedMediaType];
        "422" => "`invalid_git_request`: an unknown forge; `invalid_git_token`: the token is empty \
            or holds a character other than printable ASCII; `invalid_forge_url`: the base URL is \
            not `https`, carries credentials, a query or a fragment, or its host is not a public \
            address (unless configured).", [InvalidGitRequest, InvalidGitToken, InvalidForgeUrl];
        "429" => "The forge's rate limit is used up; `Retry-After` says until when.",
            [GitRateLimited];
        "502" => "The forge could not be reached or answered in an unknown way.",
            [ForgeUnavailable];
        "503" => "No key to seal tokens is configured, or the session store is unavailable.",
            [GitTokensNotConfigured, RedisUnavailable];
    }
    /// The answer of `GET /api/git/token` when the session has none.
    NoToken {
        "401" => "The session has no forge token.", [GitTokenRequired];
        "503" => "No key to seal tokens is configured, or the session store is unavailable.",
            [GitTokensNotConfigured, RedisUnavailable];
    }
    /// The refusal of `DELETE /api/git/token`.
    ForgetRefusals {
        "503" => "The session store is unavailable.", [RedisUnavailable];
    }
    /// The refusals of the browse routes.
    BrowseRefusals {
        "400" => "A query parameter is missing, malformed or unknown.", [InvalidQuery];
        "401" => "`git_token_required`: the session has no forge token; `git_token_rejected`: \
            the forge no longer accepts it.", [GitTokenRequired, GitTokenRejected];
        "403" => "The token lacks a scope (the message names it), or the forge forbids this.",
            [GitScopeMissing, GitForbidden];
        "404" => "No such repository, commit or file (forges also answer so for a private \
            repository the token cannot see).", [GitNotFound];
        "409" => "The repository is empty.", [GitConflict];
        "422" => "`invalid_git_request`: a repository, path or commit that is not well formed, or \
            browsing asked of a plain git forge; `git_refused`: the forge refused (e.g. a file \
            too large for its API); `file_not_text`: the file is not UTF-8 text.",
            [InvalidGitRequest, InvalidForgeUrl, GitRefused, FileNotText];
        "429" => "The forge's rate limit is used up; `Retry-After` says until when.",
            [GitRateLimited];
        "502" => "The forge could not be reached or answered in an unknown way.",
            [ForgeUnavailable];
        "503" => "No key to seal tokens is configured, or the session store is unavailable.",
            [GitTokensNotConfigured, RedisUnavailable];
    }
}

/// The body of `POST /api/git/token`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// `github`, `gitlab` or `git` (any git server over HTTPS: clone and push, no browsing).
    #[schema(pattern = "^(github|gitlab|git)$", example = "github")]
    forge: String,
    /// The forge's API base: `https://api.github.com` and `https://gitlab.com/api/v4` by default;
    /// GitHub Enterprise `https://HOST/api/v3`, a self-hosted GitLab `https://HOST/api/v4`. For
    /// `git`, the server's URL (required).
    #[serde(default)]
    base_url: Option<String>,
    /// A personal access token; sent to the forge only in the `Authorization` header.
    #[schema(min_length = 1, max_length = 1024, write_only)]
    token: String,
}

/// The session's forge, without its token.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// `github`, `gitlab` or `git`.
    #[schema(value_type = String, pattern = "^(github|gitlab|git)$")]
    forge: ForgeKind,
    base_url: String,
    /// The token's user, as the forge names it (absent for `git`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    login: Option<String>,
    /// The token's scopes, when the forge says (GitHub's fine-grained tokens do not).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scopes: Option<Vec<String>>,
}

impl From<&SessionForge> for TokenView {
    fn from(forge: &SessionForge) -> TokenView {
        TokenView {
            forge: forge.forge,
            base_url: forge.base_url.clone(),
            login: forge.login.clone(),
            scopes: forge.scopes.clone(),
        }
    }
}

/// `POST /api/git/token`
#[utoipa::path(
    post,
    path = "/api/git/token",
    operation_id = "setGitToken",
    tag = "git",
    summary = "Give the session a forge token, checked with the forge first.",
    description = "For GitHub and GitLab the token is tried at once (who it belongs to and its \
        scopes); a token the forge refuses is not kept. The token is kept for the session's \
        lifetime, encrypted, in the session store only; it is never answered.",
    security(("sessionCookie" = []), ()),
    request_body(content = TokenBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Kept.", body = TokenView),
        TokenRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn set_token(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> ApiResult<Response> {
    let body: TokenBody = read_json_body(request, MAX_TOKEN_BODY_BYTES).await?;
    let kind = ForgeKind::parse(body.forge.trim()).map_err(forge_error)?;
    let token = ForgeToken::parse(&body.token).map_err(forge_error)?;
    let base_url = match (
        body.base_url.as_deref().map(str::trim),
        kind.default_api_base(),
    ) {
        (Some(given), _) if !given.is_empty() => given.trim_end_matches('/').to_owned(),
        (_, Some(default)) => default.to_owned(),
        (_, None) => {
            return Err(ApiError::Unprocessable {
                code: ErrorCode::InvalidForgeUrl,
                message: "base_url is required for a plain git forge".into(),
            });
        }
    };
    let kept = match kind {
        ForgeKind::Git => {
            state
                .git
                .policy
                .check(&base_url)
                .await
                .map_err(forge_error)?;
            SessionForge::new(kind, base_url, None, None, &token)
        }
        ForgeKind::Github | ForgeKind::Gitlab => {
            let client = ForgeClient::connect(
                kind,
                &base_url,
                token.clone(),
                &state.git.policy,
                state.git.timeout,
            )
            .await
            .map_err(forge_error)?;
            let identity = client.whoami().await.map_err(forge_error)?;
            identity
                .require(kind, Capability::Read)
                .map_err(forge_error)?;
            SessionForge::new(
                kind,
                base_url,
                Some(identity.login),
                identity.scopes,
                &token,
            )
        }
    };
    git_token::keep(&state, &session.id, &kept).await?;
    Ok(Json(TokenView::from(&kept)).into_response())
}

/// `GET /api/git/token`
#[utoipa::path(
    get,
    path = "/api/git/token",
    operation_id = "getGitToken",
    tag = "git",
    summary = "The session's forge, without its token.",
    security(("sessionCookie" = []), ()),
    responses(
        (status = 200, description = "The session's forge.", body = TokenView),
        NoToken,
        (status = 500, response = InternalError),
    )
)]
pub async fn get_token(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<TokenView>> {
    let kept = git_token::load(&state, &session.id).await?;
    Ok(Json(TokenView::from(&kept)))
}

/// `DELETE /api/git/token`
#[utoipa::path(
    delete,
    path = "/api/git/token",
    operation_id = "forgetGitToken",
    tag = "git",
    summary = "Forget the session's forge token.",
    security(("sessionCookie" = []), ()),
    responses(
        (status = 204, description = "Forgotten (or there was none)."),
        ForgetRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn forget_token(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<StatusCode> {
    git_token::forget(&state, &session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The session's forge client, for the browse routes.
async fn client(state: &AppState, session: &Session) -> ApiResult<ForgeClient> {
    let kept = git_token::load(state, &session.id).await?;
    ForgeClient::connect(
        kept.forge,
        &kept.base_url,
        kept.token()?,
        &state.git.policy,
        state.git.timeout,
    )
    .await
    .map_err(forge_error)
}

fn repo_name(client: &ForgeClient, text: &str) -> ApiResult<RepoName> {
    RepoName::parse(client.kind(), text.trim()).map_err(forge_error)
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    params
        .map(|Query(params)| params)
        .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The page, from 1.
    #[param(minimum = 1, default = 1, nullable = false)]
    page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryView {
    /// What the other routes take as `repo`: `owner/name` or `group/…/project`.
    full_name: String,
    private: bool,
    /// Absent for an empty repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    default_branch: Option<String>,
    clone_url: String,
    web_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryPage {
    repositories: Vec<RepositoryView>,
    /// Ask for this page next; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 2)]
    next_page: Option<u32>,
}

/// `GET /api/git/repos`
#[utoipa::path(
    get,
    path = "/api/git/repos",
    operation_id = "listGitRepositories",
    tag = "git",
    summary = "The repositories the session's token sees, a page at a time.",
    security(("sessionCookie" = []), ()),
    params(PageParams),
    responses(
        (status = 200, description = "One page of repositories.", body = RepositoryPage),
        BrowseRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn repos(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<Json<RepositoryPage>> {
    let params = query(params)?;
    let client = client(&state, &session).await?;
    let page = client
        .repositories(params.page.unwrap_or(1))
        .await
        .map_err(forge_error)?;
    Ok(Json(RepositoryPage {
        repositories: page
            .items
            .into_iter()
            .map(|repository| RepositoryView {
                full_name: repository.full_name,
                private: repository.private,
                default_branch: repository.default_branch,
                clone_url: repository.clone_url,
                web_url: repository.web_url,
                description: repository.description,
            })
            .collect(),
        next_page: page.next_page,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BranchParams {
    /// `owner/name` (GitHub) or `group/…/project` (GitLab).
    repo: String,
    /// The page, from 1.
    #[param(minimum = 1, default = 1, nullable = false)]
    page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct BranchView {
    name: String,
    /// The commit the branch points at: what `GET /api/git/tree` takes.
    commit: String,
    protected: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BranchPage {
    branches: Vec<BranchView>,
    /// Ask for this page next; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 2)]
    next_page: Option<u32>,
}

/// `GET /api/git/branches`
#[utoipa::path(
    get,
    path = "/api/git/branches",
    operation_id = "listGitBranches",
    tag = "git",
    summary = "A repository's branches, each with its commit.",
    security(("sessionCookie" = []), ()),
    params(BranchParams),
    responses(
        (status = 200, description = "One page of branches.", body = BranchPage),
        BrowseRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn branches(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    params: Result<Query<BranchParams>, QueryRejection>,
) -> ApiResult<Json<BranchPage>> {
    let params = query(params)?;
    let client = client(&state, &session).await?;
    let repo = repo_name(&client, &params.repo)?;
    let page = client
        .branches(&repo, params.page.unwrap_or(1))
        .await
        .map_err(forge_error)?;
    Ok(Json(BranchPage {
        branches: page
            .items
            .into_iter()
            .map(|branch| BranchView {
                name: branch.name,
                commit: branch.commit,
                protected: branch.protected,
            })
            .collect(),
        next_page: page.next_page,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TreeParams {
    /// `owner/name` (GitHub) or `group/…/project` (GitLab).
    repo: String,
    /// A full commit id (40 or 64 hexadecimal digits), e.g. a branch's `commit`.
    commit: String,
}

#[derive(Serialize, ToSchema)]
pub struct TreeEntryView {
    path: String,
    #[schema(value_type = String, pattern = "^(file|directory|symlink|submodule)$")]
    kind: EntryKind,
    /// Files only, where the forge says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct TreeView {
    commit: String,
    entries: Vec<TreeEntryView>,
    /// The forge did not list every entry (a very large tree).
    truncated: bool,
}

/// `GET /api/git/tree`
#[utoipa::path(
    get,
    path = "/api/git/tree",
    operation_id = "getGitTree",
    tag = "git",
    summary = "Every file and folder of a commit, recursively.",
    security(("sessionCookie" = []), ()),
    params(TreeParams),
    responses(
        (status = 200, description = "The commit's tree.", body = TreeView),
        BrowseRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn tree(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    params: Result<Query<TreeParams>, QueryRejection>,
) -> ApiResult<Json<TreeView>> {
    let params = query(params)?;
    let commit = CommitId::parse(params.commit.trim()).map_err(forge_error)?;
    let client = client(&state, &session).await?;
    let repo = repo_name(&client, &params.repo)?;
    let tree = client.tree(&repo, &commit).await.map_err(forge_error)?;
    Ok(Json(TreeView {
        commit: commit.to_string(),
        entries: tree
            .entries
            .into_iter()
            .map(|entry| TreeEntryView {
                path: entry.path,
                kind: entry.kind,
                size: entry.size,
            })
            .collect(),
        truncated: tree.truncated,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileParams {
    /// `owner/name` (GitHub) or `group/…/project` (GitLab).
    repo: String,
    /// The file's path in the repository, `/`-separated.
    path: String,
    /// A branch, a tag or a commit id.
    #[serde(rename = "ref")]
    at: String,
}

#[derive(Serialize, ToSchema)]
pub struct FileView {
    path: String,
    #[serde(rename = "ref")]
    at: String,
    /// In bytes.
    #[schema(minimum = 0)]
    size: u64,
    /// The blob's id on the forge.
    blob_id: String,
    /// The file's text.
    content: String,
}

/// `GET /api/git/file`
#[utoipa::path(
    get,
    path = "/api/git/file",
    operation_id = "getGitFile",
    tag = "git",
    summary = "One text file of a repository at a branch, tag or commit.",
    security(("sessionCookie" = []), ()),
    params(FileParams),
    responses(
        (status = 200, description = "The file.", body = FileView),
        BrowseRefusals,
        (status = 500, response = InternalError),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    params: Result<Query<FileParams>, QueryRejection>,
) -> ApiResult<Json<FileView>> {
    let params = query(params)?;
    let path = RepoPath::parse(params.path.trim()).map_err(forge_error)?;
    let client = client(&state, &session).await?;
    let repo = repo_name(&client, &params.repo)?;
    let file = client
        .file(&repo, &path, &params.at)
        .await
        .map_err(forge_error)?;
    let size = file.bytes.len() as u64;
    let content = String::from_utf8(file.bytes).map_err(|_| ApiError::Unprocessable {
        code: ErrorCode::FileNotText,
        message: format!("{path} is not UTF-8 text"),
    })?;
    Ok(Json(FileView {
        path: path.to_string(),
        at: params.at,
        size,
        blob_id: file.blob_id,
        content,
    }))
}

/// A forge's answer, or the caller's input the forge crate refused, as the api's error. No
/// message here can hold the token: the forge crate redacts what it passes on.
pub(crate) fn forge_error(error: ForgeError) -> ApiError {
    let message = error.to_string();
    match error {
        ForgeError::BadToken => ApiError::Unauthorized {
            code: ErrorCode::GitTokenRejected,
            message,
        },
        ForgeError::MissingScope { .. } => ApiError::Forbidden {
            code: ErrorCode::GitScopeMissing,
            message,
        },
        ForgeError::Forbidden { .. } | ForgeError::PushRefused { .. } => ApiError::Forbidden {
            code: ErrorCode::GitForbidden,
            message,
        },
        ForgeError::NotFound { .. } => ApiError::NotFound {
            code: ErrorCode::GitNotFound,
            message,
        },
        ForgeError::Conflict { .. }
        | ForgeError::DefaultBranch(_)
        | ForgeError::BranchExists(_)
        | ForgeError::FileExists(_) => ApiError::Conflict {
            code: ErrorCode::GitConflict,
            message,
        },
        ForgeError::Validation { .. } => ApiError::Unprocessable {
            code: ErrorCode::GitRefused,
            message,
        },
        ForgeError::RateLimited {
            reset_at,
            retry_after,
        } => {
            let until_reset = reset_at.map(|reset| (reset - chrono::Utc::now()).num_seconds());
            let seconds = retry_after
                .map(|wait| wait.as_secs())
                .or(until_reset.map(|seconds| seconds.max(1).unsigned_abs()))
                .unwrap_or(60);
            ApiError::TooManyRequests {
                code: ErrorCode::GitRateLimited,
                message,
                retry_after_secs: seconds,
            }
        }
        ForgeError::InvalidToken(_) => ApiError::Unprocessable {
            code: ErrorCode::InvalidGitToken,
            message,
        },
        ForgeError::InvalidUrl(_) | ForgeError::HostRefused { .. } => ApiError::Unprocessable {
            code: ErrorCode::InvalidForgeUrl,
            message,
        },
        ForgeError::InvalidRepository(_)
        | ForgeError::InvalidPath { .. }
        | ForgeError::InvalidCommit(_)
        | ForgeError::InvalidBranch { .. }
        | ForgeError::Unsupported => ApiError::Unprocessable {
            code: ErrorCode::InvalidGitRequest,
            message,
        },
        ForgeError::Unexpected { .. }
        | ForgeError::Unreachable(_)
        | ForgeError::BadAnswer(_)
        | ForgeError::Git { .. } => ApiError::BadGateway {
            code: ErrorCode::ForgeUnavailable,
            message,
        },
        ForgeError::Local(error) => ApiError::Internal(error),
    }
}
