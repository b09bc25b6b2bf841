//! Local GitHub and GitLab API servers answering the endpoints the crate uses, in the shapes of
//! the real answers (GitHub's OpenAPI description, GitLab's REST docs), with their error answers
//! too. Every request is recorded, so tests check the exact paths, queries, bodies and headers.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

/// A token with every scope the crate needs, and one with too few.
pub const GOOD_TOKEN: &str = "ghp_GoodSecret0123456789abcdefABCDEF";
pub const NARROW_TOKEN: &str = "ghp_NarrowSecret0123456789abcdefABC";
pub const COMMIT: &str = "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d";
/// 2030-01-01T00:00:00Z, the reset time the rate-limited answers carry.
pub const RESET_EPOCH: i64 = 1_893_456_000;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path as sent, percent-encoding kept.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Option<Value>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Recorded>>>);

pub struct MockApi {
    pub base: String,
    log: Log,
}

impl MockApi {
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.0.lock().expect("the log").clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("a request was made")
    }
}

async fn serve(app: Router, log: Log, prefix: &str) -> MockApi {
    let app = app
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "Not Found"})),
            )
        })
        .layer(middleware::from_fn_with_state(log.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    MockApi {
        base: format!("http://{address}{prefix}"),
        log,
    }
}

/// Records the request, then admits only `Authorization: Bearer <a known token>`.
async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    log.0.lock().expect("the log").push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let known = [GOOD_TOKEN, NARROW_TOKEN]
        .iter()
        .any(|token| authorization == Some(format!("Bearer {token}").as_str()));
    if !known {
        // Both forges answer 401 with a JSON message.
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn is_narrow(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|value| value.ends_with(NARROW_TOKEN))
}

pub fn base64_lines(text: &str) -> String {
    // Both forges wrap base64 content in lines.
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    encoded
        .as_bytes()
        .chunks(60)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned() + "\n")
        .collect()
}

pub const CALC_PY: &str =
    "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";

// ----------------------------------------------------------------------------------------------
// GitHub

pub async fn github() -> MockApi {
    github_cloning_from(None).await
}

/// Where a stand-in forge says its repositories are cloned from: `<base>/<full name>.git`, a
/// [`crate::testing::git_server::GitServer`]'s base, instead of the real forge's host.
#[derive(Clone)]
struct CloneBase(Option<String>);

impl CloneBase {
    fn url(&self, full_name: &str, real_host: &str) -> String {
        match &self.0 {
            Some(base) => format!("{base}/{full_name}.git"),
            None => format!("https://{real_host}/{full_name}.git"),
        }
    }
}

/// [`github`] whose repositories are cloned from the git server at `git_base`.
pub async fn github_with_git(git_base: &str) -> MockApi {
    github_cloning_from(Some(git_base.to_owned())).await
}

async fn github_cloning_from(clone_base: Option<String>) -> MockApi {
    let app = Router::new()
        .route("/user", get(github_user))
        .route("/user/repos", get(github_repos))
        .route("/repos/{owner}/{repo}", get(github_repo))
        .route("/repos/{owner}/{repo}/branches", get(github_branches))
        .route("/repos/{owner}/{repo}/git/trees/{sha}", get(github_tree))
        .route(
            "/repos/{owner}/{repo}/contents/{*path}",
            get(github_contents),
        )
        .route("/repos/{owner}/{repo}/pulls", post(github_pull))
        .layer(axum::Extension(CloneBase(clone_base)));
    serve(app, Log::default(), "").await
}

fn github_repository(owner: &str, name: &str, private: bool) -> Value {
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": format!("{owner}/{name}"),
        "owner": {"login": owner, "id": 1, "type": "Organization", "site_admin": false},
        "private": private,
        "html_url": format!("https://github.com/{owner}/{name}"),
        "description": "Widgets for everyone",
        "fork": false,
        "url": format!("https://api.github.com/repos/{owner}/{name}"),
        "clone_url": format!("https://github.com/{owner}/{name}.git"),
        "default_branch": "main",
        "visibility": if private { "private" } else { "public" },
        "permissions": {"admin": false, "push": true, "pull": true},
        "pushed_at": "2026-01-02T03:04:05Z"
    })
}

/// Answers for the repositories whose names stand for an error case, shared by every route.
fn github_error_case(repo: &str) -> Option<Response> {
    match repo {
        "missing" => Some(
            (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository", "status": "404"})))
                .into_response(),
        ),
        "busy" => Some(
            (
                StatusCode::FORBIDDEN,
                [
                    ("x-ratelimit-limit", "5000".to_owned()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                    ("x-ratelimit-used", "5000".to_owned()),
                    ("x-ratelimit-reset", RESET_EPOCH.to_string()),
                    ("x-ratelimit-resource", "core".to_owned()),
                ],
                axum::Json(json!({"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})),
            )
                .into_response(),
        ),
        "hot" => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "60")],
                axum::Json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."})),
            )
                .into_response(),
        ),
        _ => None,
    }
}

async fn github_user(headers: HeaderMap) -> Response {
    let scopes = if is_narrow(&headers) {
        "read:user"
    } else {
        "repo, read:org"
    };
    (
        [("x-oauth-scopes", scopes), ("x-accepted-oauth-scopes", "")],
        axum::Json(json!({
            "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User",
            "site_admin": false, "name": "The Octocat",
            "html_url": "https://github.com/octocat"
        })),
    )
        .into_response()
}

async fn github_repos(Query(query): Query<Vec<(String, String)>>) -> Response {
    let page = query
        .iter()
        .find(|(key, _)| key == "page")
        .map(|(_, value)| value.as_str())
        .unwrap_or("1");
    if page == "1" {
        (
            [(
                "link",
                "<https://api.github.com/user/repos?per_page=100&page=2>; rel=\"next\", <https://api.github.com/user/repos?per_page=100&page=2>; rel=\"last\"",
            )],
            axum::Json(json!([github_repository("acme", "widgets", true)])),
        )
            .into_response()
    } else {
        axum::Json(json!([github_repository("octocat", "hello-world", false)])).into_response()
    }
}

async fn github_repo(
    Path((owner, repo)): Path<(String, String)>,
    axum::Extension(clone_base): axum::Extension<CloneBase>,
) -> Response {
    if let Some(error) = github_error_case(&repo) {
        return error;
    }
    let mut answer = github_repository(&owner, &repo, true);
    answer["clone_url"] = json!(clone_base.url(&format!("{owner}/{repo}"), "github.com"));
    if repo == "empty" {
        answer["default_branch"] = Value::Null;
    }
    axum::Json(answer).into_response()
}

async fn github_branches(Path((_, repo)): Path<(String, String)>) -> Response {
    if let Some(error) = github_error_case(&repo) {
        return error;
    }
    axum::Json(json!([
        {"name": "main", "commit": {"sha": COMMIT, "url": "https://api.github.com/repos/acme/widgets/commits/7fd1a60"}, "protected": true},
        {"name": "dev", "commit": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "url": "https://api.github.com/repos/acme/widgets/commits/6dcb09b"}, "protected": false}
    ]))
    .into_response()
}

async fn github_tree(Path((_, repo, sha)): Path<(String, String, String)>) -> Response {
    if let Some(error) = github_error_case(&repo) {
        return error;
    }
    if repo == "empty" {
        return (StatusCode::CONFLICT, axum::Json(json!({"message": "Git Repository is empty.", "documentation_url": "https://docs.github.com/rest/git/trees#get-a-tree", "status": "409"}))).into_response();
    }
    axum::Json(json!({
        "sha": sha,
        "url": format!("https://api.github.com/repos/acme/widgets/git/trees/{sha}"),
        "tree": [
            {"path": "README.md", "mode": "100644", "type": "blob", "sha": "44b4fc6d56897b048c772eb4087f854f46256132", "size": 30, "url": "u"},
            {"path": "src", "mode": "040000", "type": "tree", "sha": "f484d249c660418515fb01c2b9662073663c242e", "url": "u"},
            {"path": "src/calc.py", "mode": "100644", "type": "blob", "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "size": 62, "url": "u"},
            {"path": "docs", "mode": "120000", "type": "blob", "sha": "b1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "size": 8, "url": "u"},
            {"path": "vendor/lib", "mode": "160000", "type": "commit", "sha": "c1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}
        ],
        "truncated": false
    }))
    .into_response()
}

async fn github_contents(Path((_, repo, path)): Path<(String, String, String)>) -> Response {
    if let Some(error) = github_error_case(&repo) {
        return error;
    }
    match path.as_str() {
        "src/calc.py" => axum::Json(json!({
            "type": "file", "encoding": "base64", "size": CALC_PY.len(), "name": "calc.py",
            "path": "src/calc.py", "content": base64_lines(CALC_PY),
            "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            "url": "u", "git_url": "u", "html_url": "u", "download_url": "u",
            "_links": {"self": "u", "git": "u", "html": "u"}
        }))
        .into_response(),
        "big.bin" => axum::Json(json!({
            "type": "file", "encoding": "none", "size": 5_000_000, "name": "big.bin",
            "path": "big.bin", "content": "", "sha": "d1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
        }))
        .into_response(),
        "src" => axum::Json(json!([
            {"type": "file", "size": 62, "name": "calc.py", "path": "src/calc.py", "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}
        ]))
        .into_response(),
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found", "status": "404"}))).into_response(),
    }
}

async fn github_pull(
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(error) = github_error_case(&repo) {
        return error;
    }
    if is_narrow(&headers) {
        return (
            StatusCode::FORBIDDEN,
            [("x-oauth-scopes", "read:user"), ("x-accepted-oauth-scopes", "repo")],
            axum::Json(json!({"message": "Resource not accessible by personal access token", "status": "403"})),
        )
            .into_response();
    }
    let head = body["head"].as_str().unwrap_or_default();
    if head == "aiunittest/existing" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{head}.")}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                "status": "422"
            })),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "id": 1, "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==", "number": 1347, "state": "open",
            "title": body["title"], "body": body["body"],
            "html_url": format!("https://github.com/{owner}/{repo}/pull/1347"),
            "head": {"ref": head, "label": format!("{owner}:{head}")},
            "base": {"ref": body["base"]},
            "draft": false, "merged": false
        })),
    )
        .into_response()
}

// ----------------------------------------------------------------------------------------------
// GitLab

pub async fn gitlab() -> MockApi {
    gitlab_cloning_from(None).await
}

/// [`gitlab`] whose projects are cloned from the git server at `git_base`.
pub async fn gitlab_with_git(git_base: &str) -> MockApi {
    gitlab_cloning_from(Some(git_base.to_owned())).await
}

async fn gitlab_cloning_from(clone_base: Option<String>) -> MockApi {
    let app = Router::new()
        .route("/api/v4/user", get(gitlab_user))
        .route("/api/v4/personal_access_tokens/self", get(gitlab_token))
        .route("/api/v4/projects", get(gitlab_projects))
        .route("/api/v4/projects/{id}", get(gitlab_project))
        .route(
            "/api/v4/projects/{id}/repository/branches",
            get(gitlab_branches),
        )
        .route("/api/v4/projects/{id}/repository/tree", get(gitlab_tree))
        .route(
            "/api/v4/projects/{id}/repository/files/{file}",
            get(gitlab_file),
        )
        .route("/api/v4/projects/{id}/merge_requests", post(gitlab_merge))
        .layer(axum::Extension(CloneBase(clone_base)));
    serve(app, Log::default(), "/api/v4").await
}

fn gitlab_project_json(path: &str) -> Value {
    json!({
        "id": 3, "description": "Widgets for everyone", "name": "widgets",
        "name_with_namespace": "Acme / Widgets", "path": "widgets",
        "path_with_namespace": path, "created_at": "2025-01-02T03:04:05.000Z",
        "default_branch": "main", "visibility": "private",
        "ssh_url_to_repo": format!("git@gitlab.example.com:{path}.git"),
        "http_url_to_repo": format!("https://gitlab.example.com/{path}.git"),
        "web_url": format!("https://gitlab.example.com/{path}"),
        "namespace": {"id": 2, "name": "Acme", "path": "acme", "kind": "group", "full_path": "acme"}
    })
}

fn gitlab_error_case(id: &str) -> Option<Response> {
    match id {
        "acme/missing" => Some(
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "404 Project Not Found"})),
            )
                .into_response(),
        ),
        "acme/busy" => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("ratelimit-limit", "600".to_owned()),
                    ("ratelimit-remaining", "0".to_owned()),
                    ("ratelimit-reset", RESET_EPOCH.to_string()),
                    ("retry-after", "30".to_owned()),
                ],
                "Retry later",
            )
                .into_response(),
        ),
        _ => None,
    }
}

async fn gitlab_user() -> Response {
    axum::Json(json!({
        "id": 1, "username": "tanuki", "name": "Tanuki", "state": "active",
        "avatar_url": "u", "web_url": "https://gitlab.example.com/tanuki"
    }))
    .into_response()
}

async fn gitlab_token(headers: HeaderMap) -> Response {
    let scopes = if is_narrow(&headers) {
        json!(["read_api"])
    } else {
        json!(["api", "write_repository"])
    };
    axum::Json(json!({
        "id": 42, "name": "aiunittest", "revoked": false, "created_at": "2026-01-01T00:00:00.000Z",
        "scopes": scopes, "user_id": 1, "last_used_at": null, "active": true, "expires_at": "2027-01-01"
    }))
    .into_response()
}

async fn gitlab_projects(Query(query): Query<Vec<(String, String)>>) -> Response {
    let page = query
        .iter()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.as_str())
        .unwrap_or("1");
    let (items, next) = if page == "1" {
        (json!([gitlab_project_json("acme/tools/widgets")]), "2")
    } else {
        (json!([gitlab_project_json("tanuki/notes")]), "")
    };
    (
        [
            ("x-page", page.to_owned()),
            ("x-per-page", "100".to_owned()),
            ("x-next-page", next.to_owned()),
            ("x-total", "2".to_owned()),
        ],
        axum::Json(items),
    )
        .into_response()
}

async fn gitlab_project(
    Path(id): Path<String>,
    axum::Extension(clone_base): axum::Extension<CloneBase>,
) -> Response {
    if let Some(error) = gitlab_error_case(&id) {
        return error;
    }
    let mut answer = gitlab_project_json(&id);
    answer["http_url_to_repo"] = json!(clone_base.url(&id, "gitlab.example.com"));
    axum::Json(answer).into_response()
}

async fn gitlab_branches(Path(id): Path<String>) -> Response {
    if let Some(error) = gitlab_error_case(&id) {
        return error;
    }
    (
        [("x-next-page", "")],
        axum::Json(json!([
            {"name": "main", "merged": false, "protected": true, "default": true, "developers_can_push": false,
             "developers_can_merge": false, "can_push": true, "web_url": "u",
             "commit": {"id": COMMIT, "short_id": "7fd1a60b", "title": "Initial", "author_name": "Tanuki"}},
            {"name": "dev", "merged": false, "protected": false, "default": false,
             "commit": {"id": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "short_id": "6dcb09b5", "title": "Work"}}
        ])),
    )
        .into_response()
}

async fn gitlab_tree(
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(error) = gitlab_error_case(&id) {
        return error;
    }
    let page = query
        .iter()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.as_str())
        .unwrap_or("1");
    let (items, next) = if page == "1" {
        (
            json!([
                {"id": "f484d249c660418515fb01c2b9662073663c242e", "name": "src", "type": "tree", "path": "src", "mode": "040000"},
                {"id": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "name": "calc.py", "type": "blob", "path": "src/calc.py", "mode": "100644"}
            ]),
            "2",
        )
    } else {
        (
            json!([
                {"id": "b1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "name": "docs", "type": "blob", "path": "docs", "mode": "120000"}
            ]),
            "",
        )
    };
    ([("x-next-page", next)], axum::Json(items)).into_response()
}

async fn gitlab_file(Path((id, file)): Path<(String, String)>) -> Response {
    if let Some(error) = gitlab_error_case(&id) {
        return error;
    }
    if file != "src/calc.py" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404 File Not Found"})),
        )
            .into_response();
    }
    axum::Json(json!({
        "file_name": "calc.py", "file_path": "src/calc.py", "size": CALC_PY.len(), "encoding": "base64",
        "content": base64_lines(CALC_PY), "content_sha256": "4c294617b60715c1d218e61164a3abd4808a4284cbc30e6728a01ad9aada4481",
        "ref": "main", "blob_id": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        "commit_id": COMMIT, "last_commit_id": COMMIT, "execute_filemode": false
    }))
    .into_response()
}

async fn gitlab_merge(
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(error) = gitlab_error_case(&id) {
        return error;
    }
    if is_narrow(&headers) {
        return (
            StatusCode::FORBIDDEN,
            [(
                "www-authenticate",
                "Bearer realm=\"Protected by OAuth 2\", error=\"insufficient_scope\", error_description=\"The request requires higher privileges than provided by the access token.\", scope=\"api\"",
            )],
            axum::Json(json!({"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the access token.", "scope": "api"})),
        )
            .into_response();
    }
    let source = body["source_branch"].as_str().unwrap_or_default();
    if source == "aiunittest/existing" {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"message": ["Another open merge request already exists for this source branch: !3"]})),
        )
            .into_response();
    }
    if source == body["target_branch"].as_str().unwrap_or_default() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(
                json!({"message": {"target_branch": ["must be different from the source branch"]}}),
            ),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "id": 84, "iid": 12, "project_id": 3, "title": body["title"], "description": body["description"],
            "state": "opened", "source_branch": source, "target_branch": body["target_branch"],
            "web_url": format!("https://gitlab.example.com/{id}/-/merge_requests/12")
        })),
    )
        .into_response()
}
