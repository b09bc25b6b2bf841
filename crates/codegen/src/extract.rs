//! Code out of a model's answer: fenced blocks with or without a language tag, several blocks, or
//! no fences at all.
//!
//! Fences follow CommonMark: a line starting (after indentation) with three or more backticks or
//! tildes opens a block; a line of at least as many of the same character, and nothing else,
//! closes it. An unterminated block runs to the end of the answer.

use domain::Language;

use crate::lang::support;
use crate::text::lines_without_blank_edges;

/// The code in `answer`: the fenced blocks tagged with `language` (or untagged) joined in order, or
/// the whole answer when it has no fences. `None` when nothing code-like is left.
pub fn code_from_answer(answer: &str, language: Language) -> Option<String> {
    let blocks = fenced_blocks(answer);
    if blocks.is_empty() {
        let trimmed = answer.trim();
        return (!trimmed.is_empty()).then(|| trimmed.to_owned());
    }
    let kept: Vec<String> = blocks
        .into_iter()
        .filter(|block| block.tag.is_empty() || tag_matches(&block.tag, language))
        .map(|block| trim_blank_lines(&block.content))
        .filter(|content| !content.is_empty())
        .collect();
    (!kept.is_empty()).then(|| kept.join("\n\n"))
}

struct Block {
    /// The info string's first word, lower-cased, without braces or a leading dot (`{.python}`).
    tag: String,
    content: String,
}

fn fenced_blocks(answer: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    // (fence character, fence length, indentation, tag, lines)
    let mut open: Option<(char, usize, usize, String, Vec<&str>)> = None;
    for line in answer.lines() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some((fence_char, length, info)) = opening_fence(trimmed) {
                    let indent = line.len() - trimmed.len();
                    open = Some((fence_char, length, indent, tag_of(info), Vec::new()));
                }
            }
            Some((fence_char, length, indent, _, lines)) => {
                let candidate = trimmed.trim_end();
                let run = candidate.chars().take_while(|c| c == fence_char).count();
                if run >= *length && run == candidate.chars().count() {
                    if let Some((_, _, _, tag, lines)) = open.take() {
                        blocks.push(Block {
                            tag,
                            content: lines.join("\n"),
                        });
                    }
                } else {
                    // The fence's own indentation is not part of the code.
                    let removable = line.len() - line.trim_start_matches(' ').len();
                    lines.push(&line[removable.min(*indent)..]);
                }
            }
        }
    }
    if let Some((_, _, _, tag, lines)) = open {
        blocks.push(Block {
            tag,
            content: lines.join("\n"),
        });
    }
    blocks
}

/// (fence character, fence length, info string) when `line` opens a fence.
fn opening_fence(line: &str) -> Option<(char, usize, &str)> {
    let fence_char = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = line.chars().take_while(|c| *c == fence_char).count();
    if length < 3 {
        return None;
    }
    let info = &line[length..];
    // A backtick fence's info string cannot contain backticks (that is inline code).
    if fence_char == '`' && info.contains('`') {
        return None;
    }
    Some((fence_char, length, info.trim()))
}

fn tag_of(info: &str) -> String {
    let first = info.split_whitespace().next().unwrap_or_default();
    first
        .trim_matches(['{', '}'])
        .trim_start_matches('.')
        .split([',', '{'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Whether a block tag names `language`.
fn tag_matches(tag: &str, language: Language) -> bool {
    support(language).notation().fence_aliases.contains(&tag)
}

/// Leading and trailing blank lines dropped, trailing whitespace of the last line too.
fn trim_blank_lines(content: &str) -> String {
    lines_without_blank_edges(content)
        .join("\n")
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn python(answer: &str) -> Option<String> {
        code_from_answer(answer, Language::Python)
    }

    #[test]
    fn a_tagged_block_is_taken() {
        let answer = "Here are the tests:\n\n```python\nimport x\n\ndef test_a():\n    assert x.a()\n```\n\nThey cover the normal case.";
        assert_eq!(
            python(answer).as_deref(),
            Some("import x\n\ndef test_a():\n    assert x.a()")
        );
    }

    #[test]
    fn aliases_are_accepted() {
        let cases = [
            (Language::Python, "py"),
            (Language::Python, "Python"),
            (Language::Java, "java"),
            (Language::Go, "golang"),
            (Language::Cpp, "c++"),
            (Language::Cpp, "hpp"),
            (Language::Csharp, "c#"),
            (Language::Csharp, "cs"),
            (Language::Rust, "rs"),
            (Language::Javascript, "jsx"),
            (Language::Javascript, "mjs"),
            (Language::Typescript, "tsx"),
            (Language::Typescript, "typescript"),
        ];
        for (language, tag) in cases {
            let answer = format!("```{tag}\ncode\n```");
            assert_eq!(
                code_from_answer(&answer, language).as_deref(),
                Some("code"),
                "{tag}"
            );
        }
        assert_eq!(python("```{.python}\ncode\n```").as_deref(), Some("code"));
        assert_eq!(
            python("``` python title=\"t.py\"\ncode\n```").as_deref(),
            Some("code")
        );
    }

    #[test]
    fn untagged_blocks_are_taken() {
        assert_eq!(python("```\ncode\n```").as_deref(), Some("code"));
        assert_eq!(python("~~~\ncode\n~~~").as_deref(), Some("code"));
    }

    #[test]
    fn several_blocks_are_joined_with_a_blank_line() {
        let answer = "First:\n```python\nimport a\n```\nThen:\n```\ndef test_a():\n    pass\n```\n";
        assert_eq!(
            python(answer).as_deref(),
            Some("import a\n\ndef test_a():\n    pass")
        );
    }

    #[test]
    fn blocks_of_other_languages_are_ignored() {
        let answer = "Install:\n```bash\npip install pytest\n```\n```python\ndef test_a():\n    pass\n```\nOutput:\n```text\n1 passed\n```\n```json\n{}\n```";
        assert_eq!(python(answer).as_deref(), Some("def test_a():\n    pass"));
        assert_eq!(python("```bash\npip install x\n```"), None);
        assert_eq!(
            code_from_answer("```python\nx = 1\n```", Language::Typescript),
            None
        );
    }

    #[test]
    fn no_fences_means_the_whole_answer() {
        assert_eq!(
            python("\n  def test_a():\n    pass\n\n").as_deref(),
            Some("def test_a():\n    pass")
        );
        assert_eq!(python("   \n\n"), None);
        assert_eq!(python(""), None);
    }

    #[test]
    fn an_unterminated_fence_runs_to_the_end() {
        assert_eq!(
            python("Tests:\n```python\ndef test_a():\n    pass\n").as_deref(),
            Some("def test_a():\n    pass")
        );
    }

    #[test]
    fn longer_fences_hold_shorter_ones() {
        let answer = "````python\ndef test_doc():\n    doc = \"\"\"\n```\nx\n```\n\"\"\"\n````";
        assert_eq!(
            python(answer).as_deref(),
            Some("def test_doc():\n    doc = \"\"\"\n```\nx\n```\n\"\"\"")
        );
        // A tilde fence is not closed by backticks.
        assert_eq!(python("~~~\na\n```\nb\n~~~").as_deref(), Some("a\n```\nb"));
    }

    #[test]
    fn empty_blocks_leave_nothing() {
        assert_eq!(python("```python\n\n```"), None);
        assert_eq!(python("```python\n```\n```\n  \n```"), None);
    }

    #[test]
    fn indented_fences_are_read() {
        let answer = "1. The tests:\n   ```python\n   def test_a():\n       pass\n   ```";
        assert_eq!(python(answer).as_deref(), Some("def test_a():\n    pass"));
    }

    proptest! {
        #[test]
        fn never_panics(answer in "(```|~~~|[a-z]{0,6}|\\n| ){0,20}", index in 0usize..8) {
            let _ = code_from_answer(&answer, Language::ALL[index]);
        }

        #[test]
        fn fenced_code_comes_back(code in "[a-z =()]{1,20}(\\n[a-z =()]{1,20}){0,4}") {
            let answer = format!("Here you go:\n```python\n{code}\n```\nDone.");
            let expected = trim_blank_lines(&code);
            prop_assume!(!expected.is_empty());
            prop_assert_eq!(python(&answer), Some(expected));
        }
    }
}
