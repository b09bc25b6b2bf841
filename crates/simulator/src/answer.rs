//! What the simulator says: tests for the unit an AIunittest prompt asks about, cut into the pieces
//! a stream sends, and the token counts reported for it.

use codegen::prompt::{self, PromptFacts};
use codegen::scaffold::{self, Flavor};
use codegen::{Syntax, Target, Unit};
use domain::Language;

/// The answer to any prompt that is not one of AIunittest's.
pub(crate) const NOT_OURS: &str = "I am the AIunittest model simulator: I only write unit tests \
     for prompts made by AIunittest, and this message is not one of them.";

/// The answer to the last user message: prose and one fenced block of tests when it is an
/// AIunittest prompt, a plain sentence otherwise.
pub(crate) fn answer(user_message: Option<&str>) -> String {
    match user_message.and_then(prompt::read_facts) {
        Some(facts) => tests_for(&facts),
        None => NOT_OURS.to_owned(),
    }
}

fn tests_for(facts: &PromptFacts) -> String {
    let target = Target {
        language: facts.language,
        framework: facts.framework,
        file_name: &facts.file_name,
        source: &facts.source,
    };
    let syntax = Syntax::of(facts.language, facts.file_name.as_str());
    let units = codegen::parse_units(syntax, &facts.source).unwrap_or_default();
    let Some(unit) = find_unit(&units, &facts.unit_name, facts.unit_line) else {
        return format!(
            "I could not find `{}` at line {} of {}, so I have no tests to offer for it.",
            facts.unit_name, facts.unit_line, facts.file_name
        );
    };
    let code = scaffold::unit_tests(&target, unit, Flavor::Simulated);
    let name = unit.qualified_name(separator(facts.language));
    let lead = if facts.is_retry {
        format!(
            "Here is a corrected version of the {} tests for `{name}`, without the reported issues.",
            facts.framework.display_name()
        )
    } else {
        format!(
            "Here are {} tests for `{name}`.",
            facts.framework.display_name()
        )
    };
    format!(
        "{lead}\n\n```{tag}\n{code}\n```\n",
        tag = facts.language.id(),
        code = code.trim_end()
    )
}

/// The unit at the line the prompt names; by name alone if the line has moved.
fn find_unit<'a>(units: &'a [Unit], name: &str, line: u32) -> Option<&'a Unit> {
    units
        .iter()
        .find(|unit| unit.name == name && unit.start_line == line)
        .or_else(|| units.iter().find(|unit| unit.name == name))
}

fn separator(language: Language) -> &'static str {
    match language {
        Language::Cpp | Language::Rust => "::",
        _ => ".",
    }
}

/// Longest run of visible characters in one piece.
const PIECE_CHARS: usize = 4;

/// `answer` cut into word-ish pieces of a few characters, each with the whitespace before it. The
/// pieces joined give back `answer`; each stands for one completion token.
pub(crate) fn pieces(answer: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut visible = 0;
    for character in answer.chars() {
        let whitespace = character.is_whitespace();
        if visible > 0 && (whitespace || visible == PIECE_CHARS) {
            pieces.push(std::mem::take(&mut current));
            visible = 0;
        }
        current.push(character);
        if !whitespace {
            visible += 1;
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Prompt tokens as commonly estimated: a token per four characters, rounded up.
pub(crate) fn estimate_tokens(characters: usize) -> u32 {
    u32::try_from(characters.div_ceil(4)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_back_to_the_answer() {
        for text in [
            "",
            "word",
            "Here are pytest tests for `add`.\n\n```python\ndef test_add():\n    assert add(1, 2) == 3\n```\n",
            "  leading and trailing  ",
            "naïve ünïcode → 測試 text",
            "averyveryverylongidentifier_without_spaces",
        ] {
            let pieces = pieces(text);
            assert_eq!(pieces.concat(), text);
            for piece in &pieces {
                assert!(
                    piece.chars().filter(|c| !c.is_whitespace()).count() <= PIECE_CHARS,
                    "{piece:?}"
                );
            }
        }
    }

    #[test]
    fn pieces_are_a_few_characters_each() {
        let pieces = pieces("def test_add():\n    assert add(1, 2) == 3\n");
        assert_eq!(pieces[0], "def");
        assert_eq!(pieces[1], " test");
        assert_eq!(pieces[2], "_add");
        assert!(pieces.len() > 8);
    }

    #[test]
    fn a_foreign_prompt_gets_the_plain_sentence() {
        assert_eq!(answer(Some("Write me a poem about crabs.")), NOT_OURS);
        assert_eq!(answer(None), NOT_OURS);
        assert!(!NOT_OURS.contains("```"));
    }

    #[test]
    fn tokens_round_up() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
        assert_eq!(estimate_tokens(9), 3);
    }
}
