//! What the simulator says: tests for the unit an AIunittest prompt asks about, cut into the pieces
//! a stream sends, and the token counts reported for it.

use codegen::feedback::{self, Observed};
use codegen::prompt::{self, PromptFacts, RunFacts};
use codegen::scaffold::{self, Expected, Twist};
use codegen::{Syntax, Target, Unit};

use super::config::AnswerMix;
use super::rng::SplitMix64;

/// The answer to any prompt that is not one of AIunittest's.
pub(crate) const NOT_OURS: &str = "I am the AIunittest model simulator: I only write unit tests \
     for prompts made by AIunittest, and this message is not one of them.";

/// The kinds of first answers, as a model's tests go right or wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Parses, but does not build or load.
    NoBuild,
    /// Asserts a guessed value.
    WrongValue,
    /// Asserts something that varies between runs, next to a real check.
    Flaky,
    /// Makes the calls of another unit's test.
    Duplicate,
    /// As right as can be known without running the code.
    Right,
}

/// How the simulator picks its answers: the mix's shares and the seed of the draws.
#[derive(Debug, Clone)]
pub(crate) struct Answering {
    pub mix: AnswerMix,
    pub seed: u64,
}

/// The answer to the last user message: prose and one fenced block of tests when it is an
/// AIunittest prompt, a plain sentence otherwise.
pub(crate) fn answer(user_message: Option<&str>, answering: &Answering) -> String {
    match user_message.and_then(prompt::read_facts) {
        Some(facts) => tests_for(&facts, answering),
        None => NOT_OURS.to_owned(),
    }
}

fn tests_for(facts: &PromptFacts, answering: &Answering) -> String {
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
    let code = match &facts.run {
        Some(run) => corrected(&target, &units, unit, run, answering),
        // Also the answer to syntax feedback: every answer parses.
        None => first_answer(&target, &units, unit, answering),
    };
    let name = unit.qualified_name(codegen::name_separator(facts.language));
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

/// The kind of the first answer for `unit` of `file`: the same for a seed, whatever the order of
/// the requests.
pub(crate) fn kind_of(answering: &Answering, file: &str, unit: &Unit) -> Kind {
    let draw = SplitMix64::new(
        answering.seed ^ fingerprint(&[file, &unit.name, &unit.start_line.to_string()]),
    )
    .next_unit();
    let mix = &answering.mix;
    let mut threshold = 0.0;
    for (share, kind) in [
        (mix.no_build, Kind::NoBuild),
        (mix.wrong_value, Kind::WrongValue),
        (mix.flaky, Kind::Flaky),
        (mix.duplicate, Kind::Duplicate),
    ] {
        threshold += share;
        if draw < threshold {
            return kind;
        }
    }
    Kind::Right
}

fn first_answer(target: &Target<'_>, units: &[Unit], unit: &Unit, answering: &Answering) -> String {
    match kind_of(answering, target.file_name.as_str(), unit) {
        Kind::NoBuild => scaffold::simulated_tests(target, unit, &Twist::MissingHelper),
        Kind::WrongValue => scaffold::simulated_tests(target, unit, &Twist::WrongValue),
        Kind::Flaky => scaffold::simulated_tests(target, unit, &Twist::Flaky),
        Kind::Duplicate => match duplicated(units, unit) {
            Some(other) => scaffold::duplicate_tests(target, other, unit),
            None => scaffold::simulated_tests(target, unit, &Twist::Sample),
        },
        Kind::Right => scaffold::simulated_tests(target, unit, &Twist::Sample),
    }
}

/// The unit whose test a duplicate copies: the nearest one before `unit` of the same reach, else
/// after it.
fn duplicated<'a>(units: &'a [Unit], unit: &Unit) -> Option<&'a Unit> {
    let others = || {
        units.iter().filter(|other| {
            other.is_public == unit.is_public
                && (other.name != unit.name || other.start_line != unit.start_line)
                && other.kind != codegen::UnitKind::Constructor
        })
    };
    others()
        .rfind(|other| other.start_line < unit.start_line)
        .or_else(|| others().next())
}

/// The answer to run feedback: the failure read back and fixed, the way a model would, except
/// for a seeded share of answers that are still wrong.
fn corrected(
    target: &Target<'_>,
    units: &[Unit],
    unit: &Unit,
    run: &RunFacts,
    answering: &Answering,
) -> String {
    let previous = previous_kind(target, units, unit, &run.tests);
    let fix = match previous {
        // The helper or import dropped, the varying check dropped, the unit's own calls.
        Some(Kind::NoBuild | Kind::Flaky | Kind::Duplicate) => Twist::Sample,
        _ => match feedback::observed(target.language, &run.output) {
            Some(Observed::Value(value)) => Twist::Expect(Expected::Value(value)),
            Some(Observed::Raises(exception)) => Twist::Expect(Expected::Raises(exception)),
            None => Twist::Sample,
        },
    };
    let draw = SplitMix64::new(
        answering.seed
            ^ fingerprint(&[
                target.file_name.as_str(),
                &unit.name,
                &run.tests,
                &run.output,
            ]),
    )
    .next_unit();
    let twist = if draw < answering.mix.still_wrong {
        still_wrong(fix)
    } else {
        fix
    };
    scaffold::simulated_tests(target, unit, &twist)
}

/// A correction that misses: the observed value asserted as the text the tool printed (quotes
/// and all), or a guess again.
fn still_wrong(fix: Twist) -> Twist {
    match fix {
        Twist::Expect(Expected::Value(value)) => Twist::Expect(Expected::Value(quoted(&value))),
        _ => Twist::WrongValue,
    }
}

/// `text` as a double-quoted string literal, which every language reads.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Which of the simulator's first answers `tests` is, when it shows one: every line that answer
/// has and the plain one lacks is in `tests` (which may hold other units' tests too).
fn previous_kind(target: &Target<'_>, units: &[Unit], unit: &Unit, tests: &str) -> Option<Kind> {
    let plain = scaffold::simulated_tests(target, unit, &Twist::Sample);
    let shown: std::collections::HashSet<&str> = tests.lines().map(str::trim).collect();
    let shows = |code: String| {
        let own: Vec<&str> = code
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !plain.lines().any(|other| other.trim() == *line))
            .collect();
        !own.is_empty() && own.iter().all(|line| shown.contains(line))
    };
    if shows(scaffold::simulated_tests(
        target,
        unit,
        &Twist::MissingHelper,
    )) {
        return Some(Kind::NoBuild);
    }
    if shows(scaffold::simulated_tests(target, unit, &Twist::Flaky)) {
        return Some(Kind::Flaky);
    }
    if let Some(other) = duplicated(units, unit)
        && shows(scaffold::duplicate_tests(target, other, unit))
    {
        return Some(Kind::Duplicate);
    }
    None
}

/// FNV-1a over the parts, each ended by a zero byte: a stable hash across runs and platforms.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    hash
}

/// The unit at the line the prompt names; by name alone if the line has moved.
fn find_unit<'a>(units: &'a [Unit], name: &str, line: u32) -> Option<&'a Unit> {
    units
        .iter()
        .find(|unit| unit.name == name && unit.start_line == line)
        .or_else(|| units.iter().find(|unit| unit.name == name))
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
        let answering = Answering {
            mix: AnswerMix::default(),
            seed: 1,
        };
        assert_eq!(
            answer(Some("Write me a poem about crabs."), &answering),
            NOT_OURS
        );
        assert_eq!(answer(None, &answering), NOT_OURS);
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

#[cfg(test)]
mod mix_tests;
