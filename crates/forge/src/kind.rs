//! The kinds of forge, and the name of a repository on each.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ForgeError;
use crate::token::ForgeToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// github.com (`https://api.github.com`) or GitHub Enterprise (`https://HOST/api/v3`).
    Github,
    /// gitlab.com (`https://gitlab.com/api/v4`) or a self-hosted GitLab (`https://HOST/api/v4`).
    Gitlab,
    /// Any git server over HTTPS: clone and push, no API.
    Git,
}

impl ForgeKind {
    pub fn parse(text: &str) -> Result<ForgeKind, ForgeError> {
        match text {
            "github" => Ok(ForgeKind::Github),
            "gitlab" => Ok(ForgeKind::Gitlab),
            "git" => Ok(ForgeKind::Git),
            _ => Err(ForgeError::InvalidRepository(format!(
                "unknown forge {:?}; expected github, gitlab or git",
                text.chars().take(40).collect::<String>()
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
            ForgeKind::Git => "git",
        }
    }

    /// The public service's API base, when there is one.
    pub fn default_api_base(self) -> Option<&'static str> {
        match self {
            ForgeKind::Github => Some("https://api.github.com"),
            ForgeKind::Gitlab => Some("https://gitlab.com/api/v4"),
            ForgeKind::Git => None,
        }
    }

    /// The `Authorization` header git sends over HTTPS: Basic, with the user name each forge
    /// documents for token access (GitHub `x-access-token`, GitLab `oauth2`).
    pub(crate) fn git_authorization(self, token: &ForgeToken) -> String {
        let user = match self {
            ForgeKind::Github => "x-access-token",
            ForgeKind::Gitlab => "oauth2",
            ForgeKind::Git => "git",
        };
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", token.expose()));
        format!("Basic {credentials}")
    }
}

/// A repository's name on its forge: `owner/name` on GitHub, `group[/subgroup…]/project` (or the
/// numeric project id) on GitLab. Each part is letters, digits, `.`, `_` and `-`, and not `.` or
/// `..`, so it cannot change the API path it is put in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(kind: ForgeKind, text: &str) -> Result<RepoName, ForgeError> {
        let refuse = |reason: &str| {
            ForgeError::InvalidRepository(format!(
                "{:?}: {reason}",
                text.chars().take(100).collect::<String>()
            ))
        };
        if text.len() > 512 {
            return Err(refuse("the name is too long"));
        }
        let parts: Vec<&str> = text.split('/').collect();
        let numeric_id =
            parts.len() == 1 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let shape_ok = match kind {
            ForgeKind::Github => parts.len() == 2,
            ForgeKind::Gitlab => parts.len() >= 2 || numeric_id,
            ForgeKind::Git => return Err(ForgeError::Unsupported),
        };
        if !shape_ok {
            return Err(refuse(match kind {
                ForgeKind::Github => "expected owner/name",
                _ => "expected group/project or a project id",
            }));
        }
        for part in parts {
            let allowed = !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !allowed {
                return Err(refuse(
                    "each part is letters, digits, `.`, `_` or `-`, and not `.` or `..`",
                ));
            }
        }
        Ok(RepoName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_cannot_change_the_api_path() {
        assert!(RepoName::parse(ForgeKind::Github, "acme/widgets").is_ok());
        assert!(RepoName::parse(ForgeKind::Gitlab, "acme/tools/widgets").is_ok());
        assert!(RepoName::parse(ForgeKind::Gitlab, "42").is_ok());
        for (kind, text) in [
            (ForgeKind::Github, "acme"),
            (ForgeKind::Github, "acme/tools/widgets"),
            (ForgeKind::Github, "../admin"),
            (ForgeKind::Github, "acme/.."),
            (ForgeKind::Github, "acme/w?x=1"),
            (ForgeKind::Github, "acme/w%2F"),
            (ForgeKind::Gitlab, "acme"),
            (ForgeKind::Gitlab, "acme//w"),
            (ForgeKind::Gitlab, ""),
            (ForgeKind::Git, "acme/widgets"),
        ] {
            assert!(
                RepoName::parse(kind, text).is_err(),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn git_sends_basic_credentials_with_each_forges_user() {
        let token = ForgeToken::parse("tok").expect("a token");
        // base64("x-access-token:tok"), base64("oauth2:tok")
        assert_eq!(
            ForgeKind::Github.git_authorization(&token),
            "Basic eC1hY2Nlc3MtdG9rZW46dG9r"
        );
        assert_eq!(
            ForgeKind::Gitlab.git_authorization(&token),
            "Basic b2F1dGgyOnRvaw=="
        );
    }
}
