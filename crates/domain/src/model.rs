use std::fmt;

use serde::{Deserialize, Serialize};

/// A model identifier as the API names it (`offline`, `gpt-4.1-mini`, `deepseek/deepseek-chat`).
/// Whether such a model is configured is the registry's business, not this type's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(pub(crate) String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelIdError {
    #[error("the model name is empty")]
    Empty,
    #[error("the model name is longer than {max} characters", max = ModelId::MAX_LEN)]
    TooLong,
    #[error("the model name may only contain letters, digits and . _ - : /")]
    BadCharacter,
}

impl ModelId {
    pub const MAX_LEN: usize = 100;

    pub fn parse(input: &str) -> Result<ModelId, ModelIdError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ModelIdError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(ModelIdError::TooLong);
        }
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/');
        if !trimmed.chars().all(allowed) {
            return Err(ModelIdError::BadCharacter);
        }
        Ok(ModelId(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_model_names() {
        for name in [
            "offline",
            "gpt-4.1-mini",
            "deepseek-V3",
            "llama3.1:8b",
            "openai/gpt-4o",
        ] {
            assert_eq!(
                ModelId::parse(name).map(|id| id.to_string()),
                Ok(name.to_owned())
            );
        }
        assert_eq!(ModelId::parse(" "), Err(ModelIdError::Empty));
        assert_eq!(ModelId::parse("a b"), Err(ModelIdError::BadCharacter));
        assert_eq!(ModelId::parse(&"m".repeat(101)), Err(ModelIdError::TooLong));
    }

    proptest! {
        #[test]
        fn parsed_ids_round_trip(input in "\\PC{0,120}") {
            if let Ok(id) = ModelId::parse(&input) {
                prop_assert_eq!(ModelId::parse(id.as_str()), Ok(id.clone()));
            }
        }
    }
}
