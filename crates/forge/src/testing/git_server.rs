//! A git smart-HTTP server on loopback: git's own `git http-backend` run as a CGI program behind
//! a small axum handler, which admits only `Authorization: Basic` with the expected token (401
//! otherwise) and records every request's URL so tests can look for the token in it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use tokio::io::AsyncWriteExt;

/// A branch to create in a repository (name, branch, commit) just before a push is answered.
type RaceBranch = (String, String, String);

#[derive(Clone)]
struct ServerState {
    root: PathBuf,
    expected: String,
    urls: Arc<Mutex<Vec<String>>>,
    race: Arc<Mutex<Option<RaceBranch>>>,
}

pub struct GitServer {
    pub base: String,
    pub root: tempfile::TempDir,
    urls: Arc<Mutex<Vec<String>>>,
    race: Arc<Mutex<Option<RaceBranch>>>,
}

impl GitServer {
    /// Serves the bare repositories under a new folder, admitting `user:token` only.
    pub async fn start(user: &str, token: &str) -> GitServer {
        let root = tempfile::tempdir().expect("a folder for the repositories");
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        let urls = Arc::new(Mutex::new(Vec::new()));
        let race = Arc::new(Mutex::new(None));
        let state = ServerState {
            root: root.path().to_path_buf(),
            expected: format!("Basic {credentials}"),
            urls: urls.clone(),
            race: race.clone(),
        };
        let app = axum::Router::new().fallback(cgi).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        GitServer {
            base: format!("http://{address}"),
            root,
            urls,
            race,
        }
    }

    /// The URL of the repository `name` (`<name>.git` under the root).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.base)
    }

    pub fn bare(&self, name: &str) -> PathBuf {
        self.root.path().join(format!("{name}.git"))
    }

    /// Every path and query the server was asked for.
    pub fn requested_urls(&self) -> Vec<String> {
        self.urls.lock().expect("the log").clone()
    }

    /// A bare repository whose default branch `main` has one commit per entry of `history`,
    /// each writing the given files; answers the commits' ids, oldest first.
    pub fn create_repo(&self, name: &str, history: &[&[(&str, &str)]]) -> Vec<String> {
        let bare = self.bare(name);
        git(
            self.root.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                path_str(&bare),
            ],
        );
        let work = tempfile::tempdir().expect("a work folder");
        git(
            work.path(),
            &["init", "--quiet", "--initial-branch=main", "."],
        );
        let mut commits = Vec::new();
        for (index, files) in history.iter().enumerate() {
            for (path, content) in *files {
                let target = work.path().join(path);
                std::fs::create_dir_all(target.parent().expect("a parent")).expect("folders");
                std::fs::write(target, content).expect("a file");
            }
            git(work.path(), &["add", "--all"]);
            git(
                work.path(),
                &["commit", "--quiet", "-m", &format!("commit {index}")],
            );
            commits.push(git(work.path(), &["rev-parse", "HEAD"]).trim().to_owned());
        }
        git(work.path(), &["push", "--quiet", path_str(&bare), "main"]);
        commits
    }

    /// Creates `branch` at `commit` in the repository `name` as the next push starts (when the
    /// client asks for the refs it pushes to), as if someone else pushed it just then.
    pub fn create_branch_as_the_next_push_starts(&self, name: &str, branch: &str, commit: &str) {
        *self.race.lock().expect("the race") =
            Some((name.to_owned(), branch.to_owned(), commit.to_owned()));
    }

    /// Adds a branch to a bare repository, at `commit`.
    pub fn create_branch(&self, name: &str, branch: &str, commit: &str) {
        git(
            &self.bare(name),
            &["update-ref", &format!("refs/heads/{branch}"), commit],
        );
    }

    /// A `pre-receive` hook in the bare repository, refusing every push with `message` (a
    /// shell word list, expanded by the hook).
    pub fn refuse_pushes(&self, name: &str, message: &str) {
        use std::os::unix::fs::PermissionsExt;
        let hook = self.bare(name).join("hooks/pre-receive");
        std::fs::create_dir_all(hook.parent().expect("hooks")).expect("the hooks folder");
        std::fs::write(&hook, format!("#!/bin/sh\necho \"{message}\"\nexit 1\n"))
            .expect("the hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .expect("executable");
    }

    /// `git <args>` in the bare repository, answering stdout.
    pub fn in_bare(&self, name: &str, args: &[&str]) -> String {
        git(&self.bare(name), args)
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Runs git for the tests' own set-up, with no configuration from the machine.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn cgi(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.urls.lock().expect("the log").push(uri.to_string());
    if uri.query() == Some("service=git-receive-pack") {
        let race = state.race.lock().expect("the race").take();
        if let Some((name, branch, commit)) = race {
            git(
                &state.root.join(format!("{name}.git")),
                &["update-ref", &format!("refs/heads/{branch}"), &commit],
            );
        }
    }
    let authorized = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(state.expected.as_str());
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"tests\"")
            .body(Body::from("authentication required"))
            .expect("a response");
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
        // An authenticated user: http-backend then enables receive-pack.
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        // As a CGI server may pass it on; a hook can then echo it, as a careless server might.
        .env("HTTP_AUTHORIZATION", header("authorization"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("git http-backend starts");
    let mut stdin = child.stdin.take().expect("its stdin");
    // Written beside the read of stdout, so neither side can fill a pipe and wait on the other.
    tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child
        .wait_with_output()
        .await
        .expect("git http-backend ends");
    let (head, rest) = split_cgi(&output.stdout);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            status = code.parse().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .status(status)
        .body(Body::from(rest.to_vec()))
        .expect("a response")
}

/// A CGI answer's headers and body, split at the first blank line.
fn split_cgi(output: &[u8]) -> (&[u8], &[u8]) {
    for (separator, length) in [(&b"\r\n\r\n"[..], 4), (&b"\n\n"[..], 2)] {
        if let Some(at) = output
            .windows(length)
            .position(|window| window == separator)
        {
            return (&output[..at], &output[at + length..]);
        }
    }
    (output, &[])
}
