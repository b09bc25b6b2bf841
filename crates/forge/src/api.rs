//! The forges' REST APIs, as far as AIunittest uses them: who the token belongs to and its scopes,
//! the repositories it sees, a repository's branches and default branch, the tree of a commit,
//! one file at a ref, and opening a pull request (GitHub) or merge request (GitLab).
//!
//! The token goes only in the `Authorization` header (`Bearer`, which both forges document for
//! their tokens), marked sensitive; redirects are not followed, so it is never sent elsewhere.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::error::ForgeError;
use crate::kind::{ForgeKind, RepoName};
use crate::network::NetworkPolicy;
use crate::path::{BranchName, CommitId, RepoPath};
use crate::token::{ForgeToken, redact};

/// Items asked for per page; both forges allow 100.
const PER_PAGE: u32 = 100;
/// GitLab pages its trees; past this many pages the tree is reported truncated, as GitHub does.
const MAX_TREE_PAGES: u32 = 50;
/// A forge's message is passed on up to this many characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// Who the token belongs to, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub login: String,
    /// The token's scopes; `None` when the forge does not say (GitHub's fine-grained tokens).
    pub scopes: Option<Vec<String>>,
}

/// What a caller is about to do, for [`Identity::require`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Browse repositories, branches, trees and files.
    Read,
    /// Push a branch over git.
    Push,
    /// Open a pull or merge request.
    OpenChangeRequest,
}

impl Identity {
    /// Checks the token's scopes before the work starts, naming the first scope missing. A token
    /// whose scopes are not known passes: the forge's own answer will say.
    pub fn require(&self, kind: ForgeKind, capability: Capability) -> Result<(), ForgeError> {
        let Some(scopes) = &self.scopes else {
            return Ok(());
        };
        // (scopes any one of which suffices, the one named when none is held)
        let needed: &[&str] = match (kind, capability) {
            // Public repositories are readable with no scope at all.
            (ForgeKind::Github, Capability::Read) => &[],
            (ForgeKind::Github, _) => &["repo", "public_repo"],
            (ForgeKind::Gitlab, Capability::Read) => &["read_api", "api"],
            (ForgeKind::Gitlab, Capability::Push) => &["write_repository", "api"],
            (ForgeKind::Gitlab, Capability::OpenChangeRequest) => &["api"],
            (ForgeKind::Git, _) => &[],
        };
        match needed.first() {
            Some(first) if !needed.iter().any(|scope| scopes.iter().any(|s| s == scope)) => {
                Err(ForgeError::MissingScope {
                    scope: (*first).to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repository {
    /// `owner/name` (GitHub) or the full path (GitLab): what [`RepoName::parse`] takes.
    pub full_name: String,
    pub private: bool,
    /// `None` for an empty repository.
    pub default_branch: Option<String>,
    pub clone_url: String,
    pub web_url: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    pub name: String,
    pub commit: String,
    pub protected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// A submodule: a commit of another repository.
    Submodule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Files only, where the forge says.
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tree {
    pub entries: Vec<TreeEntry>,
    /// The forge did not give every entry (too large a tree).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub path: RepoPath,
    pub bytes: Vec<u8>,
    /// The blob's id on the forge.
    pub blob_id: String,
}

/// A pull request (GitHub) or merge request (GitLab) to open: `head` into `base`.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub title: String,
    pub body: String,
    pub head: BranchName,
    pub base: BranchName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenedChangeRequest {
    /// The pull request's number, or the merge request's `iid`.
    pub number: u64,
    pub web_url: String,
}

/// One page of a listing; `next_page` is the page to ask for next, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page: Option<u32>,
}

/// A client for one forge's API with one token.
#[derive(Debug, Clone)]
pub struct ForgeClient {
    kind: ForgeKind,
    base: Url,
    token: ForgeToken,
    http: reqwest::Client,
}

impl ForgeClient {
    /// Checks the API base against the policy and builds a client that connects only to the
    /// addresses just checked.
    pub async fn connect(
        kind: ForgeKind,
        api_base: &str,
        token: ForgeToken,
        policy: &NetworkPolicy,
        timeout: Duration,
    ) -> Result<ForgeClient, ForgeError> {
        if kind == ForgeKind::Git {
            return Err(ForgeError::Unsupported);
        }
        let (base, host) = policy.check(api_base).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("aiunittest/", env!("CARGO_PKG_VERSION")));
        if !host.resolved.is_empty() {
            builder = builder.resolve_to_addrs(&host.host, &host.resolved);
        }
        let http = builder
            .build()
            .map_err(|error| ForgeError::Local(anyhow::anyhow!("an HTTP client: {error}")))?;
        Ok(ForgeClient {
            kind,
            base,
            token,
            http,
        })
    }

    pub fn kind(&self) -> ForgeKind {
        self.kind
    }

    pub async fn whoami(&self) -> Result<Identity, ForgeError> {
        match self.kind {
            ForgeKind::Github => {
                let (user, headers): (GithubUser, _) = self.get(&["user"], &[]).await?;
                // Classic tokens list their scopes in this header; fine-grained ones send none.
                let scopes = headers
                    .get("x-oauth-scopes")
                    .and_then(|value| value.to_str().ok())
                    .map(split_scopes);
                Ok(Identity {
                    login: user.login,
                    scopes,
                })
            }
            ForgeKind::Gitlab => {
                let (user, _): (GitlabUser, _) = self.get(&["user"], &[]).await?;
                let (token, _): (GitlabTokenInfo, _) =
                    self.get(&["personal_access_tokens", "self"], &[]).await?;
                Ok(Identity {
                    login: user.username,
                    scopes: Some(token.scopes),
                })
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    /// The repositories the token sees, one page at a time (pages count from 1).
    pub async fn repositories(&self, page: u32) -> Result<Page<Repository>, ForgeError> {
        let page = page.max(1);
        match self.kind {
            ForgeKind::Github => {
                let query = [
                    ("per_page", PER_PAGE.to_string()),
                    ("page", page.to_string()),
                    ("sort", "full_name".to_owned()),
                ];
                let (repositories, headers): (Vec<GithubRepository>, _) =
                    self.get(&["user", "repos"], &query).await?;
                Ok(Page {
                    items: repositories.into_iter().map(Repository::from).collect(),
                    next_page: github_next_page(&headers),
                })
            }
            ForgeKind::Gitlab => {
                let query = [
                    ("membership", "true".to_owned()),
                    ("simple", "true".to_owned()),
                    ("order_by", "path".to_owned()),
                    ("sort", "asc".to_owned()),
                    ("per_page", PER_PAGE.to_string()),
                    ("page", page.to_string()),
                ];
                let (projects, headers): (Vec<GitlabProject>, _) =
                    self.get(&["projects"], &query).await?;
                Ok(Page {
                    items: projects.into_iter().map(Repository::from).collect(),
                    next_page: gitlab_next_page(&headers),
                })
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    pub async fn repository(&self, repo: &RepoName) -> Result<Repository, ForgeError> {
        match self.kind {
            ForgeKind::Github => {
                let (repository, _): (GithubRepository, _) =
                    self.get(&github_repo(repo), &[]).await?;
                Ok(repository.into())
            }
            ForgeKind::Gitlab => {
                let (project, _): (GitlabProject, _) =
                    self.get(&["projects", repo.as_str()], &[]).await?;
                Ok(project.into())
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    /// The repository's default branch; an empty repository has none, which is a 409 here.
    pub async fn default_branch(&self, repo: &RepoName) -> Result<BranchName, ForgeError> {
        let repository = self.repository(repo).await?;
        let name = repository
            .default_branch
            .ok_or_else(|| ForgeError::Conflict {
                message: "the repository is empty: it has no default branch".into(),
            })?;
        BranchName::parse(&name)
    }

    pub async fn branches(&self, repo: &RepoName, page: u32) -> Result<Page<Branch>, ForgeError> {
        let query = [
            ("per_page", PER_PAGE.to_string()),
            ("page", page.max(1).to_string()),
        ];
        match self.kind {
            ForgeKind::Github => {
                let mut path = github_repo(repo);
                path.push("branches");
                let (branches, headers): (Vec<GithubBranch>, _) = self.get(&path, &query).await?;
                Ok(Page {
                    items: branches
                        .into_iter()
                        .map(|branch| Branch {
                            name: branch.name,
                            commit: branch.commit.sha,
                            protected: branch.protected,
                        })
                        .collect(),
                    next_page: github_next_page(&headers),
                })
            }
            ForgeKind::Gitlab => {
                let path = ["projects", repo.as_str(), "repository", "branches"];
                let (branches, headers): (Vec<GitlabBranch>, _) = self.get(&path, &query).await?;
                Ok(Page {
                    items: branches
                        .into_iter()
                        .map(|branch| Branch {
                            name: branch.name,
                            commit: branch.commit.id,
                            protected: branch.protected,
                        })
                        .collect(),
                    next_page: gitlab_next_page(&headers),
                })
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    /// Every entry of the commit's tree, recursively.
    pub async fn tree(&self, repo: &RepoName, commit: &CommitId) -> Result<Tree, ForgeError> {
        match self.kind {
            ForgeKind::Github => {
                let mut path = github_repo(repo);
                path.extend(["git", "trees", commit.as_str()]);
                let (tree, _): (GithubTree, _) =
                    self.get(&path, &[("recursive", "1".to_owned())]).await?;
                let entries = tree
                    .tree
                    .into_iter()
                    .map(|entry| TreeEntry {
                        kind: entry_kind(&entry.kind, &entry.mode),
                        path: entry.path,
                        size: entry.size,
                    })
                    .collect();
                Ok(Tree {
                    entries,
                    truncated: tree.truncated,
                })
            }
            ForgeKind::Gitlab => {
                let path = ["projects", repo.as_str(), "repository", "tree"];
                let mut entries = Vec::new();
                let mut page = 1;
                loop {
                    let query = [
                        ("ref", commit.as_str().to_owned()),
                        ("recursive", "true".to_owned()),
                        ("per_page", PER_PAGE.to_string()),
                        ("page", page.to_string()),
                    ];
                    let (items, headers): (Vec<GitlabTreeEntry>, _) =
                        self.get(&path, &query).await?;
                    entries.extend(items.into_iter().map(|entry| TreeEntry {
                        kind: entry_kind(&entry.kind, &entry.mode),
                        path: entry.path,
                        size: None,
                    }));
                    match gitlab_next_page(&headers) {
                        Some(next) if next < MAX_TREE_PAGES + 1 => page = next,
                        Some(_) => {
                            return Ok(Tree {
                                entries,
                                truncated: true,
                            });
                        }
                        None => {
                            return Ok(Tree {
                                entries,
                                truncated: false,
                            });
                        }
                    }
                }
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    /// One file's content at a ref (a branch, a tag or a commit id).
    pub async fn file(
        &self,
        repo: &RepoName,
        path: &RepoPath,
        at: &str,
    ) -> Result<FileContent, ForgeError> {
        let at = at.trim();
        if at.is_empty() || at.len() > 255 || at.chars().any(char::is_control) {
            return Err(ForgeError::InvalidBranch {
                name: at.chars().take(100).collect(),
                reason: "a ref must be 1 to 255 characters without control characters",
            });
        }
        let query = [("ref", at.to_owned())];
        let (content, encoding, blob_id) = match self.kind {
            ForgeKind::Github => {
                let mut segments = github_repo(repo);
                segments.push("contents");
                segments.extend(path.parts());
                let (answer, _): (Value, _) = self.get(&segments, &query).await?;
                // A folder answers with an array.
                let file: GithubContent =
                    serde_json::from_value(answer).map_err(|_| ForgeError::NotFound {
                        message: format!("{path} is not a file"),
                    })?;
                if file.kind != "file" {
                    return Err(ForgeError::NotFound {
                        message: format!("{path} is not a file"),
                    });
                }
                (file.content, file.encoding, file.sha)
            }
            ForgeKind::Gitlab => {
                let segments = [
                    "projects",
                    repo.as_str(),
                    "repository",
                    "files",
                    path.as_str(),
                ];
                let (file, _): (GitlabFile, _) = self.get(&segments, &query).await?;
                (file.content, file.encoding, file.blob_id)
            }
            ForgeKind::Git => return Err(ForgeError::Unsupported),
        };
        if encoding != "base64" {
            // GitHub sends no content (`none`) for files over 1 MB.
            return Err(ForgeError::Validation {
                message: format!("{path} is too large to be read through the API"),
            });
        }
        let compact: String = content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|error| ForgeError::BadAnswer(format!("the file's base64: {error}")))?;
        Ok(FileContent {
            path: path.clone(),
            bytes,
            blob_id,
        })
    }

    /// Opens a pull request (GitHub) or merge request (GitLab) from `head` into `base`.
    pub async fn open_change_request(
        &self,
        repo: &RepoName,
        request: &ChangeRequest,
    ) -> Result<OpenedChangeRequest, ForgeError> {
        match self.kind {
            ForgeKind::Github => {
                let mut path = github_repo(repo);
                path.push("pulls");
                let body = json!({
                    "title": request.title,
                    "head": request.head.as_str(),
                    "base": request.base.as_str(),
                    "body": request.body,
                    "maintainer_can_modify": true,
                });
                let (pull, _): (GithubPull, _) =
                    self.send(Method::POST, &path, &[], Some(&body)).await?;
                Ok(OpenedChangeRequest {
                    number: pull.number,
                    web_url: pull.html_url,
                })
            }
            ForgeKind::Gitlab => {
                let path = ["projects", repo.as_str(), "merge_requests"];
                let body = json!({
                    "source_branch": request.head.as_str(),
                    "target_branch": request.base.as_str(),
                    "title": request.title,
                    "description": request.body,
                    "remove_source_branch": false,
                });
                let (merge, _): (GitlabMerge, _) =
                    self.send(Method::POST, &path, &[], Some(&body)).await?;
                Ok(OpenedChangeRequest {
                    number: merge.iid,
                    web_url: merge.web_url,
                })
            }
            ForgeKind::Git => Err(ForgeError::Unsupported),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<(T, HeaderMap), ForgeError> {
        self.send(Method::GET, segments, query, None).await
    }

    /// One request: the URL built segment by segment (each percent-encoded, so a GitLab project
    /// path becomes one `%2F`-joined segment), the token in the header, the answer mapped.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(T, HeaderMap), ForgeError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ForgeError::InvalidUrl("the API base cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", self.token.expose()))
            .map_err(|_| ForgeError::InvalidToken("the token cannot be sent in a header"))?;
        authorization.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url)
            .header(header::AUTHORIZATION, authorization);
        request = match self.kind {
            ForgeKind::Github => request
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28"),
            _ => request.header(header::ACCEPT, "application/json"),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            ForgeError::Unreachable(self.redacted(&error.without_url().to_string()))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|error| {
            ForgeError::Unreachable(self.redacted(&error.without_url().to_string()))
        })?;
        if !status.is_success() {
            return Err(self.error_for(status, &headers, &text));
        }
        let value = serde_json::from_str(&text).map_err(|error| {
            ForgeError::BadAnswer(format!("{} for {}", error, segments.first().unwrap_or(&"")))
        })?;
        Ok((value, headers))
    }

    fn redacted(&self, text: &str) -> String {
        let mut redacted = redact(text, &[self.token.expose()]);
        if redacted.chars().count() > MAX_MESSAGE_CHARS {
            redacted = redacted.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
        }
        redacted
    }

    /// Maps an answer that is not a success to the error its caller can act on.
    fn error_for(&self, status: StatusCode, headers: &HeaderMap, body: &str) -> ForgeError {
        let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let json: Option<Value> = serde_json::from_str(body).ok();
        let message = self.redacted(&forge_message(json.as_ref(), body, status));

        // Rate limits: GitHub's primary limit (403/429, no requests remaining, a reset time),
        // its secondary limits and GitLab's (`retry-after`).
        let exhausted = header_text("x-ratelimit-remaining")
            .or_else(|| header_text("ratelimit-remaining"))
            .is_some_and(|remaining| remaining.trim() == "0");
        let retry_after = header_text("retry-after")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()))
        {
            let reset_at = header_text("x-ratelimit-reset")
                .or_else(|| header_text("ratelimit-reset"))
                .and_then(|value| value.trim().parse::<i64>().ok())
                .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0));
            return ForgeError::RateLimited {
                reset_at,
                retry_after,
            };
        }
        match status {
            StatusCode::UNAUTHORIZED => ForgeError::BadToken,
            StatusCode::FORBIDDEN => match self.missing_scope(headers, json.as_ref()) {
                Some(scope) => ForgeError::MissingScope { scope },
                None => ForgeError::Forbidden { message },
            },
            StatusCode::NOT_FOUND => ForgeError::NotFound { message },
            StatusCode::CONFLICT => ForgeError::Conflict { message },
            StatusCode::UNPROCESSABLE_ENTITY => ForgeError::Validation { message },
            _ => ForgeError::Unexpected {
                status: status.as_u16(),
                message,
            },
        }
    }

    /// The scope a 403 names: GitHub lists the scopes an endpoint accepts
    /// (`x-accepted-oauth-scopes`) beside the token's (`x-oauth-scopes`); GitLab answers
    /// `insufficient_scope` with the scope in the body and in `www-authenticate`.
    fn missing_scope(&self, headers: &HeaderMap, json: Option<&Value>) -> Option<String> {
        let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        match self.kind {
            ForgeKind::Github => {
                let accepted = split_scopes(header_text("x-accepted-oauth-scopes")?);
                let held = split_scopes(header_text("x-oauth-scopes").unwrap_or(""));
                let lacking =
                    !accepted.is_empty() && !accepted.iter().any(|scope| held.contains(scope));
                lacking.then(|| accepted[0].clone())
            }
            ForgeKind::Gitlab => {
                let from_body = json
                    .filter(|body| body["error"] == "insufficient_scope")
                    .and_then(|body| body["scope"].as_str())
                    .map(str::to_owned);
                let from_header = header_text("www-authenticate")
                    .filter(|value| value.contains("insufficient_scope"))
                    .and_then(|value| {
                        let start = value.find("scope=\"")? + "scope=\"".len();
                        let end = value[start..].find('"')?;
                        Some(value[start..start + end].to_owned())
                    });
                from_body.or(from_header).filter(|scope| !scope.is_empty())
            }
            ForgeKind::Git => None,
        }
    }
}

/// The message of a forge's error body: GitHub's `message` and `errors[].message`, GitLab's
/// `message` (a string, a list, or an object of field → messages) or `error_description`.
fn forge_message(json: Option<&Value>, body: &str, status: StatusCode) -> String {
    let Some(json) = json else {
        let text = body.trim();
        return if text.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            text.chars().take(200).collect()
        };
    };
    let mut parts: Vec<String> = Vec::new();
    match &json["message"] {
        Value::String(text) => parts.push(text.clone()),
        Value::Array(items) => parts.extend(items.iter().map(value_text)),
        Value::Object(fields) => parts.extend(
            fields
                .iter()
                .map(|(field, value)| format!("{field}: {}", value_text(value))),
        ),
        _ => {}
    }
    if let Some(errors) = json["errors"].as_array() {
        parts.extend(
            errors
                .iter()
                .filter_map(|error| error["message"].as_str().map(str::to_owned)),
        );
    }
    if let Some(description) = json["error_description"].as_str() {
        parts.push(description.to_owned());
    } else if let Some(error) = json["error"].as_str() {
        parts.push(error.to_owned());
    }
    if parts.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        parts.join("; ")
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn split_scopes(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

fn github_repo(repo: &RepoName) -> Vec<&str> {
    let mut segments = vec!["repos"];
    segments.extend(repo.as_str().split('/'));
    segments
}

/// GitHub pages by `Link: <…page=N…>; rel="next"`.
fn github_next_page(headers: &HeaderMap) -> Option<u32> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = Url::parse(target).ok()?;
        url.query_pairs()
            .find(|(key, _)| key == "page")
            .and_then(|(_, value)| value.parse().ok())
    })
}

/// GitLab pages by `x-next-page` (empty on the last page).
fn gitlab_next_page(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("x-next-page")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn entry_kind(kind: &str, mode: &str) -> EntryKind {
    match (kind, mode) {
        ("tree", _) => EntryKind::Directory,
        ("commit", _) => EntryKind::Submodule,
        (_, "120000") => EntryKind::Symlink,
        _ => EntryKind::File,
    }
}

// The answers' shapes, as far as they are read (GitHub's OpenAPI description, GitLab's API docs).

#[derive(Deserialize)]
struct GithubUser {
    login: String,
}

#[derive(Deserialize)]
struct GithubRepository {
    full_name: String,
    private: bool,
    default_branch: Option<String>,
    clone_url: String,
    html_url: String,
    description: Option<String>,
}

impl From<GithubRepository> for Repository {
    fn from(repository: GithubRepository) -> Repository {
        Repository {
            full_name: repository.full_name,
            private: repository.private,
            default_branch: repository.default_branch,
            clone_url: repository.clone_url,
            web_url: repository.html_url,
            description: repository.description,
        }
    }
}

#[derive(Deserialize)]
struct GithubBranch {
    name: String,
    commit: GithubCommitRef,
    #[serde(default)]
    protected: bool,
}

#[derive(Deserialize)]
struct GithubCommitRef {
    sha: String,
}

#[derive(Deserialize)]
struct GithubTree {
    tree: Vec<GithubTreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct GithubTreeEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct GithubContent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
    sha: String,
}

#[derive(Deserialize)]
struct GithubPull {
    number: u64,
    html_url: String,
}

#[derive(Deserialize)]
struct GitlabUser {
    username: String,
}

#[derive(Deserialize)]
struct GitlabTokenInfo {
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct GitlabProject {
    path_with_namespace: String,
    /// Absent from `simple=true` listings.
    visibility: Option<String>,
    default_branch: Option<String>,
    http_url_to_repo: String,
    web_url: String,
    description: Option<String>,
}

impl From<GitlabProject> for Repository {
    fn from(project: GitlabProject) -> Repository {
        Repository {
            full_name: project.path_with_namespace,
            private: project.visibility.as_deref() != Some("public"),
            default_branch: project.default_branch,
            clone_url: project.http_url_to_repo,
            web_url: project.web_url,
            description: project.description,
        }
    }
}

#[derive(Deserialize)]
struct GitlabBranch {
    name: String,
    commit: GitlabCommitRef,
    #[serde(default)]
    protected: bool,
}

#[derive(Deserialize)]
struct GitlabCommitRef {
    id: String,
}

#[derive(Deserialize)]
struct GitlabTreeEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct GitlabFile {
    content: String,
    encoding: String,
    blob_id: String,
}

#[derive(Deserialize)]
struct GitlabMerge {
    iid: u64,
    web_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_link_headers_give_the_next_page() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api.github.com/user/repos?per_page=100&page=3>; rel=\"next\", \
                 <https://api.github.com/user/repos?per_page=100&page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(github_next_page(&headers), Some(3));
        assert_eq!(github_next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn scopes_are_named_when_missing() {
        let identity = Identity {
            login: "octocat".into(),
            scopes: Some(vec!["read_user".into(), "read_api".into()]),
        };
        assert!(
            identity
                .require(ForgeKind::Gitlab, Capability::Read)
                .is_ok()
        );
        let missing = identity.require(ForgeKind::Gitlab, Capability::OpenChangeRequest);
        assert!(
            matches!(missing, Err(ForgeError::MissingScope { ref scope }) if scope == "api"),
            "{missing:?}"
        );
        let unknown = Identity {
            login: "octocat".into(),
            scopes: None,
        };
        assert!(unknown.require(ForgeKind::Github, Capability::Push).is_ok());
    }
}
