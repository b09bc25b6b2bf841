//! An access token for a forge. It never prints: `Debug` shows `ForgeToken(***)` and there is no
//! `Display`; the only way out is [`ForgeToken::expose`], used where a header is built.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::ForgeError;

#[derive(Clone)]
pub struct ForgeToken(SecretString);

impl ForgeToken {
    /// The longest token accepted; real ones are well under a hundred characters.
    pub const MAX_LEN: usize = 1024;

    /// Accepts printable ASCII without spaces: a token goes into an HTTP header, so a newline or
    /// a control character in it could forge another header.
    pub fn parse(text: &str) -> Result<ForgeToken, ForgeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ForgeError::InvalidToken("the token is empty"));
        }
        if text.len() > Self::MAX_LEN {
            return Err(ForgeError::InvalidToken("the token is too long"));
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(ForgeError::InvalidToken(
                "the token holds a character other than printable ASCII",
            ));
        }
        Ok(ForgeToken(SecretString::from(text.to_owned())))
    }

    /// The token itself, for the one place that builds an `Authorization` header from it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ForgeToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ForgeToken(***)")
    }
}

/// Replaces every occurrence of the secrets in `text` (a forge's message, git's stderr) by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut redacted = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        redacted = redacted.replace(secret, "***");
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_prints() {
        let token = ForgeToken::parse(" ghp_abcdef0123456789 ").expect("a well-formed token");
        assert_eq!(token.expose(), "ghp_abcdef0123456789");
        assert_eq!(format!("{token:?}"), "ForgeToken(***)");
        assert!(!format!("{:?}", Some(&token)).contains("ghp_"));
    }

    #[test]
    fn a_token_that_could_break_a_header_is_refused() {
        for text in [
            "",
            "   ",
            "abc\r\nX-Evil: 1",
            "with space",
            "tab\there",
            "é",
        ] {
            assert!(ForgeToken::parse(text).is_err(), "{text:?} was accepted");
        }
        let long = "a".repeat(ForgeToken::MAX_LEN + 1);
        assert!(ForgeToken::parse(&long).is_err());
    }

    #[test]
    fn redaction_hides_every_occurrence() {
        assert_eq!(
            redact("x tok y tok", &["tok", ""]),
            "x *** y ***",
            "an empty secret must not be spliced everywhere"
        );
    }
}
