//! The prompts sent to models, and [`read_facts`], which reads back what a prompt asks for (the model
//! simulator answers with it). The prompts' version is [`domain::PROMPT_VERSION`], part of every
//! cache key.
//!
//! The user message starts with machine-readable header lines (`Language: python`, `Framework:
//! pytest`, `File: …`, `Unit: method Outer.compute (line 12)`, `Import: …`, `Test file: …`), then
//! titled sections, each a fenced block whose fence is longer than any backtick run in its
//! content, so [`read_facts`] recovers every section exactly.

use domain::{Framework, Language, SourceFileName};

use crate::lang::support;
use crate::text::collapse_whitespace;
use crate::{Target, Unit, imports};

/// A chat prompt: the system message and the user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

const SIGNATURE_TITLE: &str = "Signature:";
const DOC_TITLE: &str = "Documentation:";
const SOURCE_TITLE: &str = "The whole file, for context:";
const ISSUES_TITLE: &str = "Your previous answer does not parse. Fix these syntax problems and answer again with the whole test file:";
const PREVIOUS_TESTS_TITLE: &str = "Your previous test file:";
const RUN_OUTPUT_TITLE: &str = "When it was run, the tests";
const RUN_OUTPUT_TITLE_END: &str = ". Fix the tests (not the code under test) and answer again with the whole test file. The output:";

/// What went wrong with the previous answer, for the model to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback<'a> {
    /// The answer did not parse: the syntax check's report.
    Syntax(&'a str),
    /// The tests were built and run, and did not pass.
    Run {
        /// The test file that was run.
        tests: &'a str,
        /// What happened, in a few words: `did not build`, `failed`, `passed on some runs and
        /// failed on others`, `were stopped by the time limit`.
        what: &'a str,
        /// The tools' output (compiler errors, assertion messages), trimmed.
        output: &'a str,
    },
}

/// The prompt asking for tests of `unit`. `feedback`, when set, reports what was wrong with the
/// previous answer, which the model is asked to fix.
pub fn for_unit(target: &Target<'_>, unit: &Unit, feedback: Option<&Feedback<'_>>) -> Prompt {
    let language = target.language.display_name();
    let framework = target.framework.display_name();
    let import = imports::summary(target, unit);
    let test_file = target.test_file_name();
    let mut system = format!(
        "You are a senior {language} engineer who writes thorough, idiomatic unit tests.\n\
         \n\
         Rules:\n\
         - Answer with ONE fenced code block containing a complete test file in {framework} for {language}, and nothing else.\n\
         - The test file is `{test_file}`. Reach the code under test with: {import}\n\
         - Follow the conventions of {framework}: {conventions}\n\
         - Test the one unit you are asked about: its normal behaviour, edge cases and errors, with concrete inputs and expected values worked out from the code.\n\
         - No placeholder tests: nothing skipped, no empty tests, no TODOs, no assertions that always pass.\n\
         - Do not restate or copy the source under test into your answer.",
        conventions = conventions(target.framework),
    );
    if !imports::is_reachable(target.language, unit) {
        system.push_str(
            "\n- The unit is not exported or public, so the test file cannot call it directly: test it through the exported or public code that uses it.",
        );
    }

    let separator = support(target.language).notation().name_separator;
    let mut user = String::new();
    user.push_str(&format!("Language: {}\n", target.language.id()));
    user.push_str(&format!("Framework: {}\n", target.framework.id()));
    user.push_str(&format!("File: {}\n", target.file_name.as_str()));
    user.push_str(&format!(
        "Unit: {} {} (line {})\n",
        unit.kind.as_str(),
        collapse_whitespace(&unit.qualified_name(separator)),
        unit.start_line
    ));
    user.push_str(&format!("Import: {}\n", collapse_whitespace(&import)));
    user.push_str(&format!("Test file: {test_file}\n"));
    user.push('\n');
    user.push_str(&format!(
        "Write {framework} tests for the {} `{}` of `{}`.\n\n",
        unit.kind.as_str(),
        collapse_whitespace(&unit.qualified_name(separator)),
        target.file_name.as_str()
    ));
    push_section(
        &mut user,
        SIGNATURE_TITLE,
        support(target.language).notation().fence_tag,
        &unit.signature,
    );
    if let Some(doc) = unit.doc.as_deref().filter(|doc| !doc.trim().is_empty()) {
        push_section(&mut user, DOC_TITLE, "text", doc);
    }
    push_section(
        &mut user,
        SOURCE_TITLE,
        support(target.language).notation().fence_tag,
        target.source,
    );
    match feedback {
        Some(Feedback::Syntax(issues)) => {
            push_section(&mut user, ISSUES_TITLE, "text", issues.trim_end());
        }
        Some(Feedback::Run {
            tests,
            what,
            output,
        }) => {
            push_section(
                &mut user,
                PREVIOUS_TESTS_TITLE,
                support(target.language).notation().fence_tag,
                tests.trim_end(),
            );
            push_section(
                &mut user,
                &format!(
                    "{RUN_OUTPUT_TITLE} {}{RUN_OUTPUT_TITLE_END}",
                    collapse_whitespace(what)
                ),
                "text",
                output.trim_end(),
            );
        }
        None => {}
    }
    Prompt { system, user }
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
    /// The prompt reports syntax issues of an earlier answer, or how its tests ran.
    pub is_retry: bool,
    /// How the tests of an earlier answer ran, when the prompt says so.
    pub run: Option<RunFacts>,
}

/// The run feedback of a prompt, read back: [`Feedback::Run`] with owned text. `tests` and
/// `output` come back without trailing whitespace, `what` with its whitespace collapsed, as the
/// prompt shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub tests: String,
    pub what: String,
    pub output: String,
}

/// Reads the facts back from a user message made by [`for_unit`]; `None` for any other text.
pub fn read_facts(user_message: &str) -> Option<PromptFacts> {
    let mut language = None;
    let mut framework = None;
    let mut file_name = None;
    let mut unit = None;
    let mut offset = 0;
    while offset < user_message.len() {
        let line_end = user_message[offset..]
            .find('\n')
            .map_or(user_message.len(), |at| offset + at);
        let line = &user_message[offset..line_end];
        offset = line_end + 1;
        if line.trim().is_empty() {
            break;
        }
        let (key, value) = line.split_once(": ")?;
        match key {
            "Language" => language = value.parse::<Language>().ok(),
            "Framework" => framework = Some(value),
            "File" => file_name = SourceFileName::parse(value).ok(),
            "Unit" => unit = Some(value),
            _ => {}
        }
    }
    let language = language?;
    let framework = Framework::parse_for(language, framework?).ok()?;
    let (unit_name, unit_line) = read_unit(language, unit?)?;

    // The rest: titled fenced sections.
    let sections = read_sections(user_message.get(offset..).unwrap_or_default());
    let is_retry = sections
        .iter()
        .any(|(title, _)| title == ISSUES_TITLE || title.starts_with(RUN_OUTPUT_TITLE));
    let run = read_run(&sections);
    let source = sections
        .into_iter()
        .find(|(title, _)| title == SOURCE_TITLE)
        .map(|(_, content)| content)?;
    Some(PromptFacts {
        language,
        framework,
        file_name: file_name?,
        unit_name,
        unit_line,
        source,
        is_retry,
        run,
    })
}

/// The previous test file and the run's report, when both sections are there.
fn read_run(sections: &[(String, String)]) -> Option<RunFacts> {
    let tests = sections
        .iter()
        .find(|(title, _)| title == PREVIOUS_TESTS_TITLE)
        .map(|(_, content)| content)?;
    let (what, output) = sections.iter().find_map(|(title, content)| {
        let what = title
            .strip_prefix(RUN_OUTPUT_TITLE)?
            .strip_prefix(' ')?
            .strip_suffix(RUN_OUTPUT_TITLE_END)?;
        Some((what, content))
    })?;
    Some(RunFacts {
        tests: tests.clone(),
        what: what.to_owned(),
        output: output.clone(),
    })
}

/// `method Outer.compute (line 12)` → (`compute`, 12).
fn read_unit(language: Language, text: &str) -> Option<(String, u32)> {
    let (described, line) = text.rsplit_once(" (line ")?;
    let line: u32 = line.strip_suffix(')')?.parse().ok()?;
    let (_kind, qualified) = described.split_once(' ')?;
    let separator = support(language).notation().name_separator;
    let name = qualified.rsplit(separator).next().unwrap_or(qualified);
    Some((name.to_owned(), line))
}

/// The fenced sections of `text`, in order, each with the line before it as its title.
fn read_sections(text: &str) -> Vec<(String, String)> {
    let mut sections = Vec::new();
    let mut offset = 0;
    let mut previous_line: Option<String> = None;
    while offset < text.len() {
        let line_end = text[offset..]
            .find('\n')
            .map_or(text.len(), |at| offset + at);
        let line = &text[offset..line_end];
        let fence_length = line.chars().take_while(|c| *c == '`').count();
        if fence_length >= 3 {
            let fence = &line[..fence_length];
            let content_start = (line_end + 1).min(text.len());
            let closing = format!("\n{fence}");
            let mut search = line_end;
            let mut content_end = text.len();
            let mut next = text.len();
            // The closing fence is a line that is exactly the fence.
            while let Some(at) = text[search..].find(&closing) {
                let start = search + at;
                let after = start + closing.len();
                if after == text.len() || text[after..].starts_with('\n') {
                    content_end = start;
                    next = (after + 1).min(text.len());
                    break;
                }
                search = after;
            }
            let content = text
                .get(content_start..content_end.max(content_start))
                .unwrap_or_default();
            let title = previous_line.take().unwrap_or_default();
            sections.push((title, content.to_owned()));
            offset = next;
            continue;
        }
        previous_line = (!line.trim().is_empty()).then(|| line.to_owned());
        offset = line_end + 1;
    }
    sections
}

fn push_section(out: &mut String, title: &str, tag: &str, content: &str) {
    let fence = fence_for(content);
    out.push_str(title);
    out.push('\n');
    out.push_str(&fence);
    out.push_str(tag);
    out.push('\n');
    out.push_str(content);
    out.push('\n');
    out.push_str(&fence);
    out.push_str("\n\n");
}

/// Backticks, one more than the longest run in `content` and at least three.
fn fence_for(content: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn conventions(framework: Framework) -> &'static str {
    match framework {
        Framework::Pytest => {
            "plain `def test_*` functions with bare `assert`; `pytest.raises` for exceptions; `@pytest.mark.parametrize` for tables of cases; fixtures for shared setup; no `unittest.TestCase` classes. Async code runs under `asyncio.run` (pytest-asyncio may not be installed)."
        }
        Framework::Unittest => {
            "`unittest.TestCase` subclasses with `test_*` methods; `self.assertEqual`, `self.assertTrue`, `self.assertRaises` and the other `self.assert*` methods; `setUp` for shared setup; `subTest` for tables of cases."
        }
        Framework::Junit5 => {
            "JUnit Jupiter only (`org.junit.jupiter.api.Test`, `@BeforeEach`, `@DisplayName`, `@ParameterizedTest`); static imports from `org.junit.jupiter.api.Assertions` (`assertEquals`, `assertThrows`); a package-private test class named after the test file, in the package of the class under test; no JUnit 4 APIs."
        }
        Framework::Junit5Mockito => {
            "JUnit Jupiter with Mockito: `@ExtendWith(MockitoExtension.class)` on the test class, `@Mock` fields for collaborators, `when(...).thenReturn(...)` and `verify(...)`; static imports from `org.junit.jupiter.api.Assertions`; a package-private test class named after the test file, in the package of the class under test."
        }
        Framework::GoTesting => {
            "`func TestXxx(t *testing.T)` functions in the package under test; table-driven cases with `t.Run` subtests; `t.Errorf` and `t.Fatalf` for failures; the standard library only."
        }
        Framework::Testify => {
            "`func TestXxx(t *testing.T)` functions in the package under test; table-driven cases with `t.Run` subtests; `github.com/stretchr/testify/assert` for checks and `require` where the test cannot go on."
        }
        Framework::Gtest => {
            "`TEST(Suite, Name)` and `TEST_F` with fixtures; `EXPECT_*` for checks, `ASSERT_*` where the test cannot go on, `EXPECT_THROW` for exceptions; `#include <gtest/gtest.h>`; no `main` (gtest_main provides it)."
        }
        Framework::Nunit => {
            "a `[TestFixture]` public class named after the test file; `[Test]` and `[TestCase(...)]` methods; the constraint model `Assert.That(actual, Is.EqualTo(expected))`; `Assert.Throws<T>` for exceptions; `[SetUp]` for shared setup."
        }
        Framework::Xunit => {
            "a public class named after the test file; `[Fact]`, and `[Theory]` with `[InlineData(...)]`; `Assert.Equal(expected, actual)`, `Assert.True`, `Assert.Throws<T>`; the constructor for shared setup; `async Task` tests for async code."
        }
        Framework::RustBuiltin => {
            "`#[test]` functions with `assert_eq!`, `assert!` and `matches!`; `#[should_panic]` for panics; the file is included as a child module of the source, so it starts with `use super::*;`, has no `mod tests` wrapper and uses no external crates."
        }
        Framework::Jest => {
            "`describe` and `test` globals (no import needed); `expect(...).toBe`, `toEqual`, `toThrow`; `await` with `resolves`/`rejects` for promises; `jest.fn()` for mocks."
        }
        Framework::Vitest => {
            "`describe`, `test`, `expect` and `vi` imported from 'vitest'; `expect(...).toBe`, `toEqual`, `toThrow`; `await` with `resolves`/`rejects` for promises; `vi.fn()` for mocks."
        }
        Framework::NodeTest => {
            "`test` and `describe` from 'node:test' and `assert` from 'node:assert/strict'; `assert.equal`, `assert.deepEqual`, `assert.throws`, `await assert.rejects`; no third-party libraries."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Param, UnitKind};
    use proptest::prelude::*;

    fn unit(name: &str, container: Option<&str>, line: u32, doc: Option<&str>) -> Unit {
        Unit {
            kind: UnitKind::Method,
            name: name.to_owned(),
            container: container.map(str::to_owned),
            signature: format!("def {name}(self, x: int) -> int"),
            doc: doc.map(str::to_owned),
            params: vec![Param {
                name: "x".to_owned(),
                type_name: Some("int".to_owned()),
            }],
            return_type: Some("int".to_owned()),
            is_async: false,
            is_static: false,
            is_public: true,
            start_line: line,
            end_line: line + 2,
        }
    }

    fn prompt(
        language: Language,
        framework: Framework,
        name: &str,
        source: &str,
        unit: &Unit,
        issues: Option<&str>,
    ) -> Prompt {
        let file_name = SourceFileName::parse(name).expect("valid");
        let target = Target {
            language,
            framework,
            file_name: &file_name,
            source,
        };
        for_unit(&target, unit, issues.map(Feedback::Syntax).as_ref())
    }

    #[test]
    fn the_user_message_starts_with_the_header() {
        let source = "class Outer:\n    def compute(self, x: int) -> int:\n        return x\n";
        let unit = unit("compute", Some("Outer"), 2, Some("Computes."));
        let prompt = prompt(
            Language::Python,
            Framework::Pytest,
            "app/x.py",
            source,
            &unit,
            None,
        );
        assert!(
            prompt.user.starts_with(
                "Language: python\nFramework: pytest\nFile: app/x.py\nUnit: method Outer.compute (line 2)\nImport: from app.x import Outer\nTest file: test_x.py\n\n"
            ),
            "{}",
            prompt.user
        );
        assert!(prompt.user.contains("def compute(self, x: int) -> int"));
        assert!(prompt.user.contains("Computes."));
        assert!(prompt.system.contains("ONE fenced code block"));
        assert!(prompt.system.contains("in pytest for Python"));
        assert!(prompt.system.contains("from app.x import Outer"));
        assert!(prompt.system.contains("pytest.raises"));
        assert!(
            !prompt.system.contains(source),
            "the system message has no source"
        );
    }

    #[test]
    fn facts_round_trip() {
        let source = "class Outer:\n    def compute(self, x: int) -> int:\n        return x\n";
        let unit = unit("compute", Some("Outer"), 2, None);
        let prompt = prompt(
            Language::Python,
            Framework::Unittest,
            "app/x.py",
            source,
            &unit,
            None,
        );
        let facts = read_facts(&prompt.user).expect("facts");
        assert_eq!(
            facts,
            PromptFacts {
                language: Language::Python,
                framework: Framework::Unittest,
                file_name: SourceFileName::parse("app/x.py").expect("valid"),
                unit_name: "compute".to_owned(),
                unit_line: 2,
                source: source.to_owned(),
                is_retry: false,
                run: None,
            }
        );
    }

    fn run_prompt(tests: &str, what: &str, output: &str) -> Prompt {
        let file_name = SourceFileName::parse("app/x.py").expect("valid");
        let target = Target {
            language: Language::Python,
            framework: Framework::Pytest,
            file_name: &file_name,
            source: "def compute(x):\n    return x\n",
        };
        let feedback = Feedback::Run {
            tests,
            what,
            output,
        };
        for_unit(&target, &unit("compute", None, 1, None), Some(&feedback))
    }

    #[test]
    fn run_feedback_round_trips() {
        let tests =
            "from app.x import compute\n\n\ndef test_compute():\n    assert compute(1) == 0\n";
        let output = "    def test_compute():\n>       assert compute(1) == 0\nE       assert 1 == 0\nE        +  where 1 = compute(1)\n\ntest_x.py:5: AssertionError";
        let prompt = run_prompt(tests, "failed", output);
        let facts = read_facts(&prompt.user).expect("facts");
        assert!(facts.is_retry);
        assert_eq!(facts.source, "def compute(x):\n    return x\n");
        assert_eq!(
            facts.run,
            Some(RunFacts {
                tests: tests.trim_end().to_owned(),
                what: "failed".to_owned(),
                output: output.to_owned(),
            })
        );
        // The syntax feedback is not run feedback.
        let syntax = prompt_with_issues();
        let facts = read_facts(&syntax.user).expect("facts");
        assert!(facts.is_retry);
        assert_eq!(facts.run, None);
    }

    fn prompt_with_issues() -> Prompt {
        prompt(
            Language::Python,
            Framework::Pytest,
            "app/x.py",
            "def compute(x):\n    return x\n",
            &unit("compute", None, 1, None),
            Some("line 1, column 2: unexpected `x`"),
        )
    }

    #[test]
    fn run_feedback_with_fences_and_long_what_round_trips() {
        let tests = "```\n// ````x````\nfn t() {}";
        let output = "error[E0425]: cannot find function `make`\n ```\n  |\n```\nThe output:";
        let what = "passed on some runs and failed on others. Fix the tests";
        let prompt = run_prompt(tests, what, output);
        let run = read_facts(&prompt.user).and_then(|facts| facts.run);
        assert_eq!(
            run,
            Some(RunFacts {
                tests: tests.to_owned(),
                what: what.to_owned(),
                output: output.to_owned(),
            })
        );
    }

    #[test]
    fn sources_with_fences_round_trip() {
        let source =
            "/// Example:\n/// ```\n/// let x = ````four````;\n/// ```\npub fn f() {}\n```\n";
        let unit = unit(
            "f",
            Some("Stack<T>"),
            5,
            Some("Docs with ``` fences\n```rust\nx\n```"),
        );
        let prompt = prompt(
            Language::Rust,
            Framework::RustBuiltin,
            "src/lib.rs",
            source,
            &unit,
            Some("line 1, column 2: unexpected `x`\n```"),
        );
        assert!(prompt.user.contains("\n`````rust\n"), "{}", prompt.user);
        let facts = read_facts(&prompt.user).expect("facts");
        assert_eq!(facts.source, source);
        assert_eq!(facts.unit_name, "f");
        assert_eq!(facts.unit_line, 5);
        assert!(facts.is_retry);
        assert!(prompt.user.contains("unexpected `x`"));
    }

    #[test]
    fn retries_are_marked() {
        let unit = unit("Compute", Some("Outer"), 7, None);
        let prompt = prompt(
            Language::Csharp,
            Framework::Xunit,
            "Outer.cs",
            "namespace A { public class Outer {} }",
            &unit,
            Some("line 3, column 1: missing ;"),
        );
        let facts = read_facts(&prompt.user).expect("facts");
        assert!(facts.is_retry);
        assert_eq!(facts.source, "namespace A { public class Outer {} }");
        assert!(prompt.user.contains("missing ;"));
    }

    #[test]
    fn unreachable_units_are_tested_through_the_public_api() {
        let public = unit("helper", None, 3, None);
        let hidden = Unit {
            is_public: false,
            ..public.clone()
        };
        let source = "function helper() {}\n";
        let ask = |unit: &Unit| {
            prompt(
                Language::Typescript,
                Framework::Vitest,
                "src/a.ts",
                source,
                unit,
                None,
            )
            .system
        };
        assert!(ask(&hidden).contains("not exported or public"));
        assert!(!ask(&public).contains("not exported or public"));
    }

    #[test]
    fn other_text_has_no_facts() {
        assert_eq!(read_facts(""), None);
        assert_eq!(read_facts("Write tests for this:\n```\nx\n```\n"), None);
        assert_eq!(read_facts("Language: cobol\nFramework: x\n"), None);
    }

    #[test]
    fn every_framework_has_a_prompt() {
        for framework in Framework::ALL {
            let language = framework.languages()[0];
            let unit = unit("run", None, 1, None);
            let prompt = prompt(language, framework, "src/app.x", "x", &unit, None);
            assert!(prompt.system.contains(framework.display_name()));
            let facts = read_facts(&prompt.user).expect("facts");
            assert_eq!((facts.language, facts.framework), (language, framework));
        }
    }

    proptest! {
        #[test]
        fn any_source_round_trips(source in "(`{0,6}|[a-z \\n\\r]{0,5}|~~~){0,12}", line in 1u32..10_000) {
            let unit = unit("compute", Some("Outer"), line, Some("doc ```"));
            let prompt = prompt(Language::Python, Framework::Pytest, "app/x.py", &source, &unit, None);
            let facts = read_facts(&prompt.user).expect("facts");
            prop_assert_eq!(facts.source, source);
            prop_assert_eq!(facts.unit_line, line);
            prop_assert!(!facts.is_retry);
        }

        #[test]
        fn any_run_feedback_round_trips(
            tests in "(`{0,6}|[a-z \n]{0,5}|~~~){0,10}[a-z`]",
            what in "[a-z]{1,8}( [a-z.]{1,8}){0,3}",
            output in "(`{0,6}|[a-zE>: \n]{0,5}){0,10}[a-z`]",
        ) {
            let prompt = run_prompt(&tests, &what, &output);
            let run = read_facts(&prompt.user).and_then(|facts| facts.run);
            prop_assert_eq!(run, Some(RunFacts { tests, what, output }));
        }
    }
}
