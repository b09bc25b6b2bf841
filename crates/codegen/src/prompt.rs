//! The prompts sent to models, and [`read_facts`], which reads back what a prompt asks for (the model
//! simulator answers with it). The prompts' version is [`domain::PROMPT_VERSION`], part of every
//! cache key.

use domain::{Framework, Language, SourceFileName};

use crate::{Target, Unit};

/// A chat prompt: the system message and the user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// The prompt asking for tests of `unit`. `previous_issues`, when set, is the syntax check's report
/// on the previous answer, which the model is asked to fix.
pub fn for_unit(target: &Target<'_>, unit: &Unit, previous_issues: Option<&str>) -> Prompt {
    let _ = (target, unit, previous_issues);
    Prompt {
        system: String::new(),
        user: String::new(),
    }
}

/// What a prompt made by [`for_unit`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptFacts {
    pub language: Language,
    pub framework: Framework,
    pub file_name: SourceFileName,
    pub unit_name: String,
    pub unit_line: u32,
    pub source: String,
    /// The prompt reports syntax issues of an earlier answer.
    pub is_retry: bool,
}

/// Reads the facts back from a user message made by [`for_unit`]; `None` for any other text.
pub fn read_facts(user_message: &str) -> Option<PromptFacts> {
    let _ = user_message;
    None
}
