//! git itself, through the `git` program: a shallow clone of one commit, and the push of a new
//! branch holding one commit with given files.
//!
//! Every git run has a cleared environment and no system or global configuration; the token
//! reaches git only as an `http.extraHeader` given through `GIT_CONFIG_COUNT`/`KEY`/`VALUE`
//! variables — never on the command line, never in the URL, never in a credential store. Only
//! `https` is allowed (and `http` where the policy allows it), redirects are not followed (the
//! header would go with them), name resolution is pinned to the addresses the policy checked, and
//! symlinks are checked out as plain files so a repository cannot point a write outside itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use url::Url;

use crate::error::ForgeError;
use crate::kind::ForgeKind;
use crate::network::{CheckedHost, NetworkPolicy};
use crate::path::{BranchName, CommitId, RepoPath};
use crate::token::{ForgeToken, redact};

/// Who a commit is by; both author and committer are set to it explicitly.
#[derive(Debug, Clone)]
pub struct Signature {
    name: String,
    email: String,
}

impl Signature {
    pub fn new(name: &str, email: &str) -> Result<Signature, ForgeError> {
        let clean = |text: &str| {
            !text.trim().is_empty()
                && text.len() <= 200
                && !text.chars().any(|c| c.is_control() || c == '<' || c == '>')
        };
        if !clean(name) || !clean(email) || !email.contains('@') {
            return Err(ForgeError::InvalidRepository(
                "a commit's author needs a name and an e-mail address without <, > or control \
                 characters"
                    .into(),
            ));
        }
        Ok(Signature {
            name: name.trim().to_owned(),
            email: email.trim().to_owned(),
        })
    }
}

/// What to do about a file that already exists at a path being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingFiles {
    /// Fail with [`ForgeError::FileExists`] naming the path.
    Refuse,
    /// Replace it, and list it in [`PushedBranch::replaced`].
    Replace,
}

/// A new branch from `base` with one commit holding `files`.
#[derive(Debug, Clone)]
pub struct BranchPush {
    pub base: CommitId,
    pub branch: BranchName,
    pub files: Vec<(RepoPath, Vec<u8>)>,
    pub message: String,
    pub author: Signature,
    pub existing: ExistingFiles,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBranch {
    pub branch: BranchName,
    pub commit: CommitId,
    /// Files that existed at `base` and were replaced (only with [`ExistingFiles::Replace`]).
    pub replaced: Vec<RepoPath>,
}

/// One remote repository, reached over HTTP(S) with an optional token.
#[derive(Debug, Clone)]
pub struct GitRemote {
    kind: ForgeKind,
    url: Url,
    host: CheckedHost,
    token: Option<ForgeToken>,
    allow_plain_http: bool,
    timeout: Duration,
    program: PathBuf,
}

impl GitRemote {
    /// Checks the repository URL against the policy; nothing is reached yet.
    pub async fn connect(
        kind: ForgeKind,
        url: &str,
        token: Option<ForgeToken>,
        policy: &NetworkPolicy,
        timeout: Duration,
    ) -> Result<GitRemote, ForgeError> {
        let (url, host) = policy.check(url).await?;
        if url.path().trim_matches('/').is_empty() {
            return Err(ForgeError::InvalidUrl("the URL names no repository".into()));
        }
        Ok(GitRemote {
            kind,
            allow_plain_http: url.scheme() == "http" && policy.allows_plain_http(),
            url,
            host,
            token,
            timeout,
            program: PathBuf::from("git"),
        })
    }

    /// Runs another `git` program than the one on `PATH`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> GitRemote {
        self.program = program.into();
        self
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The branch the remote's `HEAD` points at, when it points at one.
    pub async fn default_branch(&self) -> Result<Option<BranchName>, ForgeError> {
        let scratch = scratch_dir()?;
        let out = self
            .run(
                scratch.path(),
                "ls-remote",
                &["ls-remote", "--symref", self.url.as_str(), "HEAD"],
                &[],
            )
            .await?;
        Ok(out
            .lines()
            .find_map(|line| {
                let target = line.strip_prefix("ref: refs/heads/")?;
                target.split_whitespace().next()
            })
            .and_then(|name| BranchName::parse(name).ok()))
    }

    pub async fn branch_exists(&self, branch: &BranchName) -> Result<bool, ForgeError> {
        match self.branch_head(branch).await {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The commit `branch` points at on the remote; [`ForgeError::NotFound`] when there is no
    /// such branch.
    pub async fn branch_head(&self, branch: &BranchName) -> Result<CommitId, ForgeError> {
        let scratch = scratch_dir()?;
        let full_ref = branch.full_ref();
        let out = self
            .run(
                scratch.path(),
                "ls-remote",
                &["ls-remote", "--heads", self.url.as_str(), &full_ref],
                &[],
            )
            .await?;
        let head = out.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            let commit = words.next()?;
            (words.next() == Some(full_ref.as_str())).then_some(commit)
        });
        match head {
            Some(commit) => CommitId::parse(commit),
            None => Err(ForgeError::NotFound {
                message: format!("the repository has no branch {branch}"),
            }),
        }
    }

    /// A checkout of exactly `commit`, one commit deep, into `into` (which must be empty or
    /// absent): `git init`, `fetch --depth 1 origin <commit>`, `checkout --detach`.
    pub async fn clone_at(&self, commit: &CommitId, into: &Path) -> Result<(), ForgeError> {
        tokio::fs::create_dir_all(into)
            .await
            .with_context(|| format!("creating {}", into.display()))?;
        let mut entries = tokio::fs::read_dir(into)
            .await
            .with_context(|| format!("reading {}", into.display()))?;
        if entries
            .next_entry()
            .await
            .with_context(|| format!("reading {}", into.display()))?
            .is_some()
        {
            return Err(ForgeError::Local(anyhow::anyhow!(
                "{} is not empty",
                into.display()
            )));
        }
        self.run(into, "init", &["init", "--quiet", "."], &[])
            .await?;
        self.run(
            into,
            "remote add",
            &["remote", "add", "origin", self.url.as_str()],
            &[],
        )
        .await?;
        self.run(
            into,
            "fetch",
            &[
                "fetch",
                "--quiet",
                "--depth",
                "1",
                "--no-tags",
                "--no-recurse-submodules",
                "origin",
                commit.as_str(),
            ],
            &[],
        )
        .await?;
        self.run(
            into,
            "checkout",
            &["checkout", "--quiet", "--detach", commit.as_str()],
            &[],
        )
        .await?;
        Ok(())
    }

    /// Pushes a new branch: refused for the remote's default branch and for a branch that
    /// exists (checked first for a clear answer, and again by the push itself, which may only
    /// create the ref), and for a file that exists unless replacing was asked for.
    pub async fn push_branch(&self, push: &BranchPush) -> Result<PushedBranch, ForgeError> {
        if push.files.is_empty() {
            return Err(ForgeError::InvalidRepository(
                "a push needs at least one file".into(),
            ));
        }
        if push.message.trim().is_empty() {
            return Err(ForgeError::InvalidRepository(
                "a commit needs a message".into(),
            ));
        }
        if self.default_branch().await?.as_ref() == Some(&push.branch) {
            return Err(ForgeError::DefaultBranch(push.branch.to_string()));
        }
        if self.branch_exists(&push.branch).await? {
            return Err(ForgeError::BranchExists(push.branch.to_string()));
        }
        let checkout = scratch_dir()?;
        let root = checkout.path();
        self.clone_at(&push.base, root).await?;

        let mut replaced = Vec::new();
        for (path, _) in &push.files {
            let target = safe_target(root, path).await?;
            if tokio::fs::symlink_metadata(&target).await.is_ok() {
                match push.existing {
                    ExistingFiles::Refuse => return Err(ForgeError::FileExists(path.clone())),
                    ExistingFiles::Replace => replaced.push(path.clone()),
                }
            }
        }
        for (path, content) in &push.files {
            let target = safe_target(root, path).await?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .with_context(|| format!("creating the folder of {path}"))?;
            }
            tokio::fs::write(&target, content)
                .await
                .with_context(|| format!("writing {path}"))?;
        }
        let mut add: Vec<&str> = vec!["add", "--"];
        add.extend(push.files.iter().map(|(path, _)| path.as_str()));
        // Paths are literal, never patterns.
        self.run(root, "add", &add, &[("GIT_LITERAL_PATHSPECS", "1")])
            .await?;
        let author = [
            ("GIT_AUTHOR_NAME", push.author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", push.author.email.as_str()),
            ("GIT_COMMITTER_NAME", push.author.name.as_str()),
            ("GIT_COMMITTER_EMAIL", push.author.email.as_str()),
        ];
        self.run(
            root,
            "commit",
            &["commit", "--quiet", "--no-verify", "-m", &push.message],
            &author,
        )
        .await?;
        let head = self
            .run(root, "rev-parse", &["rev-parse", "HEAD"], &[])
            .await?;
        let commit = CommitId::parse(head.trim())?;
        let full_ref = push.branch.full_ref();
        // An empty expected value: the ref must not exist, checked by the server as it updates.
        let lease = format!("--force-with-lease={full_ref}:");
        let refspec = format!("HEAD:{full_ref}");
        self.run(
            root,
            "push",
            &["push", "--quiet", "--no-verify", &lease, "origin", &refspec],
            &[],
        )
        .await
        .map_err(|error| match error {
            ForgeError::Git { ref stderr, .. }
                if stderr.contains("stale info") || stderr.contains("already exists") =>
            {
                ForgeError::BranchExists(push.branch.to_string())
            }
            other => other,
        })?;
        Ok(PushedBranch {
            branch: push.branch.clone(),
            commit,
            replaced,
        })
    }

    /// Runs git in `dir` with the hardened environment; answers its stdout.
    async fn run(
        &self,
        dir: &Path,
        action: &'static str,
        args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Result<String, ForgeError> {
        let authorization = self
            .token
            .as_ref()
            .map(|token| self.kind.git_authorization(token));
        let mut config: Vec<(&str, String)> = vec![
            // No credential helper may store or offer anything.
            ("credential.helper", String::new()),
            ("http.followRedirects", "false".into()),
            ("core.symlinks", "false".into()),
            ("core.hooksPath", "/dev/null".into()),
            ("core.fsmonitor", "false".into()),
            ("core.autocrlf", "false".into()),
            ("commit.gpgSign", "false".into()),
            ("init.defaultBranch", "main".into()),
            ("init.templateDir", String::new()),
            ("advice.detachedHead", "false".into()),
            ("submodule.recurse", "false".into()),
            ("gc.auto", "0".into()),
        ];
        if let Some(authorization) = &authorization {
            config.push((
                "http.extraHeader",
                format!("Authorization: {authorization}"),
            ));
        }
        if !self.host.resolved.is_empty() {
            let addresses: Vec<String> = self
                .host
                .resolved
                .iter()
                .map(|address| match address.ip() {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                })
                .collect();
            config.push((
                "http.curloptResolve",
                format!(
                    "{}:{}:{}",
                    self.host.host,
                    self.host.port,
                    addresses.join(",")
                ),
            ));
        }

        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
            )
            .env("LC_ALL", "C")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env(
                "GIT_ALLOW_PROTOCOL",
                if self.allow_plain_http {
                    "https:http"
                } else {
                    "https"
                },
            )
            .env("GIT_CONFIG_COUNT", config.len().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (index, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{index}"), key)
                .env(format!("GIT_CONFIG_VALUE_{index}"), value);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        tracing::debug!(action, remote = %self.url, "git");
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| ForgeError::Git {
                action,
                stderr: format!("timed out after {} s", self.timeout.as_secs()),
            })?
            .with_context(|| format!("waiting for git {action}"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut secrets: Vec<&str> = Vec::new();
        if let Some(token) = &self.token {
            secrets.push(token.expose());
        }
        // The credentials' base64 alone: a message echoing the header then reads `Basic ***`.
        if let Some(authorization) = &authorization {
            secrets.extend(authorization.strip_prefix("Basic "));
        }
        let stderr = redact(stderr.trim(), &secrets);
        Err(classify(action, stderr))
    }
}

/// git's messages for the answers a forge gives over HTTP.
fn classify(action: &'static str, stderr: String) -> ForgeError {
    let lower = stderr.to_lowercase();
    if lower.contains("the requested url returned error: 401")
        || lower.contains("authentication failed")
        || lower.contains("could not read username")
        || lower.contains("could not read password")
    {
        ForgeError::BadToken
    } else if lower.contains("the requested url returned error: 403") {
        ForgeError::Forbidden { message: stderr }
    } else if lower.contains("the requested url returned error: 404")
        || lower.contains("repository not found")
        || (lower.contains("not found")
            && (lower.contains("repository") || lower.contains("remote ref")))
    {
        ForgeError::NotFound { message: stderr }
    } else if action == "push"
        && (lower.contains("[remote rejected]")
            || lower.contains("pre-receive hook declined")
            || lower.contains("protected branch"))
    {
        ForgeError::PushRefused { stderr }
    } else {
        ForgeError::Git { action, stderr }
    }
}

fn scratch_dir() -> Result<tempfile::TempDir, ForgeError> {
    Ok(tempfile::Builder::new()
        .prefix("aiut-git-")
        .tempdir()
        .context("a temporary folder for git")?)
}

/// Where `path` lands in the checkout at `root`, refused when any folder on the way is not a
/// real folder (a file, or a symlink checked out by some other git) — a write must not be led
/// outside the checkout.
async fn safe_target(root: &Path, path: &RepoPath) -> Result<PathBuf, ForgeError> {
    let mut target = root.to_path_buf();
    let parts: Vec<&str> = path.parts().collect();
    for (index, part) in parts.iter().enumerate() {
        target.push(part);
        let Ok(metadata) = tokio::fs::symlink_metadata(&target).await else {
            continue;
        };
        let last = index + 1 == parts.len();
        if metadata.file_type().is_symlink()
            || (!last && !metadata.is_dir())
            || (last && metadata.is_dir())
        {
            return Err(ForgeError::InvalidPath {
                path: path.to_string(),
                reason: "a part of it is a link, or a file where a folder is needed, or a folder \
                         where the file goes",
            });
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_messages_map_to_their_errors() {
        let bad = classify(
            "fetch",
            "fatal: unable to access 'http://x/': The requested URL returned error: 401".into(),
        );
        assert!(matches!(bad, ForgeError::BadToken), "{bad:?}");
        let missing = classify(
            "fetch",
            "fatal: unable to access 'http://x/': The requested URL returned error: 404".into(),
        );
        assert!(
            matches!(missing, ForgeError::NotFound { .. }),
            "{missing:?}"
        );
        let protected = classify(
            "push",
            "remote: error: GH006: Protected branch update failed for refs/heads/aiunittest/x.\n \
             ! [remote rejected] HEAD -> aiunittest/x (protected branch hook declined)"
                .into(),
        );
        assert!(
            matches!(&protected, ForgeError::PushRefused { stderr } if stderr.contains("GH006")),
            "{protected:?}"
        );
        let other = classify("push", "error: failed to push some refs".into());
        assert!(
            matches!(other, ForgeError::Git { action: "push", .. }),
            "{other:?}"
        );
    }

    #[test]
    fn signatures_cannot_break_the_commit_header() {
        assert!(Signature::new("AIunittest", "bot@aiunittest.dev").is_ok());
        for (name, email) in [
            ("", "a@b"),
            ("x", "no-at"),
            ("x\nparent 0000", "a@b"),
            ("x", "a@b>"),
            ("<x", "a@b"),
        ] {
            assert!(Signature::new(name, email).is_err(), "{name:?} {email:?}");
        }
    }
}
