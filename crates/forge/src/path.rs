//! Names that come from users and from forges, parsed before they reach a URL, a file system or
//! git's command line: a path inside a repository, a commit id, a branch name.

use std::fmt;

use crate::error::ForgeError;

/// A relative path inside a repository, `/`-separated, that cannot leave the checkout: no `..`,
/// no `.`, no empty part, not absolute, no backslash or control character, and nothing under
/// `.git` (which would let a write reach git's own configuration and hooks).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    pub const MAX_LEN: usize = 4096;

    pub fn parse(text: &str) -> Result<RepoPath, ForgeError> {
        let refuse = |reason| ForgeError::InvalidPath {
            path: text.chars().take(200).collect(),
            reason,
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if text.len() > Self::MAX_LEN {
            return Err(refuse("it is too long"));
        }
        if text.starts_with('/') {
            return Err(refuse("it is absolute"));
        }
        if text.chars().any(|c| c == '\\' || c.is_control()) {
            return Err(refuse("it holds a backslash or a control character"));
        }
        for part in text.split('/') {
            match part {
                "" => return Err(refuse("it has an empty part (`//` or a trailing `/`)")),
                "." | ".." => return Err(refuse("it has a `.` or `..` part")),
                _ if part.eq_ignore_ascii_case(".git") => {
                    return Err(refuse("it reaches into `.git`"));
                }
                _ => {}
            }
        }
        Ok(RepoPath(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's parts, for building URLs and file-system paths one part at a time.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitId(String);

impl CommitId {
    pub fn parse(text: &str) -> Result<CommitId, ForgeError> {
        let well_formed =
            matches!(text.len(), 40 | 64) && text.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !well_formed {
            return Err(ForgeError::InvalidCommit(text.chars().take(80).collect()));
        }
        Ok(CommitId(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A branch name git accepts (the rules of `git check-ref-format --branch`), further kept from
/// starting with `-` so it can never be read as an option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BranchName(String);

impl BranchName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Result<BranchName, ForgeError> {
        let refuse = |reason| ForgeError::InvalidBranch {
            name: text.chars().take(100).collect(),
            reason,
        };
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(refuse("it must be 1 to 255 characters"));
        }
        if text.starts_with('-') {
            return Err(refuse("it starts with `-`"));
        }
        if text == "HEAD" || text == "@" {
            return Err(refuse("it is a name git reserves"));
        }
        if text
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c) || c == '\u{7f}')
        {
            return Err(refuse(
                "it holds a space, a control character or one of ~ ^ : ? * [ \\",
            ));
        }
        if text.contains("..") || text.contains("@{") || text.contains("//") {
            return Err(refuse("it holds `..`, `@{` or `//`"));
        }
        if text.starts_with('/') || text.ends_with('/') || text.ends_with('.') {
            return Err(refuse("it starts or ends with `/`, or ends with `.`"));
        }
        for part in text.split('/') {
            if part.starts_with('.') || part.ends_with(".lock") {
                return Err(refuse("a part starts with `.` or ends with `.lock`"));
            }
        }
        Ok(BranchName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full name of the branch's ref, `refs/heads/<name>`.
    pub fn full_ref(&self) -> String {
        format!("refs/heads/{}", self.0)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_stay_inside_are_accepted() {
        for text in [
            "a.py",
            "src/pkg/mod.rs",
            "tests/test_x.py",
            ".github/workflows/ci.yml",
        ] {
            assert_eq!(RepoPath::parse(text).expect(text).as_str(), text);
        }
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for text in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            ".git/config",
            "sub/.GIT/hooks/pre-commit",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(RepoPath::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn commit_ids_are_full_hex() {
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        assert_eq!(
            CommitId::parse(sha).expect("sha-1").as_str(),
            sha.to_lowercase()
        );
        assert!(CommitId::parse(&"a".repeat(64)).is_ok());
        for text in ["", "abc", "main", &"g".repeat(40), "--upload-pack=x"] {
            assert!(CommitId::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn branch_names_follow_git() {
        for text in ["aiunittest/batch-1", "feature/x.y", "a"] {
            assert!(BranchName::parse(text).is_ok(), "{text:?} was refused");
        }
        for text in [
            "", "-f", "--force", "HEAD", "a b", "a..b", "a~1", "a^", "a:b", "a?", "a*", "a[",
            "a\\b", "/a", "a/", "a.", "a/.b", "a.lock", "a@{1}", "a//b",
        ] {
            assert!(BranchName::parse(text).is_err(), "{text:?} was accepted");
        }
    }
}
