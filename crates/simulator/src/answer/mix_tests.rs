//! The answers over the parser corpus: the mix's kinds, that every answer parses, and answers to
//! run feedback.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use codegen::extract::code_from_answer;
use codegen::prompt::{Feedback, for_unit};
use codegen::{Target, Unit, parse_units, syntax_issues};
use domain::{Framework, Language, SourceFileName};

use super::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../codegen/tests/corpus")
}

/// Every corpus source: (language, name, text).
fn corpus() -> Vec<(Language, String, String)> {
    let mut files = Vec::new();
    for language in Language::ALL {
        let Ok(entries) = fs::read_dir(corpus_dir().join(language.id())) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension != "units")
            })
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .expect("a UTF-8 name")
                .to_owned();
            let text = fs::read_to_string(&path).expect("a corpus file");
            files.push((language, name, text));
        }
    }
    assert!(files.len() >= 20, "the corpus is found: {files:?}");
    files
}

fn answering(mix: AnswerMix) -> Answering {
    Answering { mix, seed: 42 }
}

/// The test file the simulator answers for `unit`, with `feedback` when set.
fn ask(
    answering: &Answering,
    target: &Target<'_>,
    unit: &Unit,
    feedback: Option<&Feedback<'_>>,
) -> String {
    let prompt = for_unit(target, unit, feedback);
    let text = answer(Some(&prompt.user), answering);
    code_from_answer(&text, target.language).unwrap_or_else(|| panic!("a code block in\n{text}"))
}

#[test]
fn the_mix_over_the_corpus_has_every_kind_and_every_answer_parses() {
    let answering = answering(AnswerMix::default());
    let mut kinds = std::collections::HashMap::new();
    let mut total = 0;
    for (language, name, source) in corpus() {
        let file_name = SourceFileName::parse(&name).expect("a valid name");
        for framework in language.frameworks() {
            let target = Target {
                language,
                framework: *framework,
                file_name: &file_name,
                source: &source,
            };
            let units = parse_units(target.source_syntax(), &source).expect("the corpus parses");
            for unit in &units {
                if *framework == language.default_framework() {
                    *kinds.entry(kind_of(&answering, &name, unit)).or_insert(0) += 1;
                    total += 1;
                }
                let code = ask(&answering, &target, unit, None);
                let issues = syntax_issues(target.test_syntax(), &code);
                assert!(
                    issues.is_empty(),
                    "{name} {framework} {}:\n{code}\n{issues:?}",
                    unit.name
                );
                // An answer to any run feedback parses too.
                let feedback = Feedback::Run {
                    tests: &code,
                    what: "failed",
                    output: "E       AssertionError: assert 'x' == 0\nexpected: <0> but was: <5>\n  left: 5\n right: 0",
                };
                let corrected = ask(&answering, &target, unit, Some(&feedback));
                let issues = syntax_issues(target.test_syntax(), &corrected);
                assert!(
                    issues.is_empty(),
                    "{name} {framework} {} corrected:\n{corrected}\n{issues:?}",
                    unit.name
                );
            }
        }
    }
    for kind in [
        Kind::NoBuild,
        Kind::WrongValue,
        Kind::Flaky,
        Kind::Duplicate,
        Kind::Right,
    ] {
        let count = kinds.get(&kind).copied().unwrap_or(0);
        assert!(count > 0, "{kind:?} in {kinds:?}");
    }
    // Roughly the configured shares: wrong values are the commonest failure.
    let wrong = kinds.get(&Kind::WrongValue).copied().unwrap_or(0);
    assert!(wrong * 4 > total, "{kinds:?} of {total}");
}

#[test]
fn kinds_repeat_for_a_seed_and_change_with_it() {
    let (language, name, source) = corpus()
        .into_iter()
        .find(|(_, name, _)| name == "text_utils.py")
        .expect("text_utils.py");
    let units = parse_units(codegen::Syntax::of(language, &name), &source).expect("parses");
    let kinds = |seed| -> Vec<Kind> {
        let answering = Answering {
            mix: AnswerMix::default(),
            seed,
        };
        units
            .iter()
            .map(|unit| kind_of(&answering, &name, unit))
            .collect()
    };
    assert_eq!(kinds(7), kinds(7));
    assert!((0..20).any(|seed| kinds(seed) != kinds(7)));
    let all_right = Answering {
        mix: AnswerMix::all_right(),
        seed: 7,
    };
    assert!(
        units
            .iter()
            .all(|unit| kind_of(&all_right, &name, unit) == Kind::Right)
    );
}

fn text_utils() -> (SourceFileName, String) {
    let source = fs::read_to_string(corpus_dir().join("python/text_utils.py")).expect("the file");
    (
        SourceFileName::parse("text_utils.py").expect("valid"),
        source,
    )
}

fn slugify(source: &str) -> Unit {
    parse_units(
        codegen::Syntax::of(Language::Python, "text_utils.py"),
        source,
    )
    .expect("parses")
    .into_iter()
    .find(|unit| unit.name == "slugify")
    .expect("slugify")
}

#[test]
fn a_pytest_failure_is_answered_with_the_observed_value() {
    let (file_name, source) = text_utils();
    let target = Target {
        language: Language::Python,
        framework: Framework::Pytest,
        file_name: &file_name,
        source: &source,
    };
    let unit = slugify(&source);
    let always_wrong = answering(AnswerMix {
        wrong_value: 1.0,
        still_wrong: 0.0,
        ..AnswerMix::all_right()
    });
    let first = ask(&always_wrong, &target, &unit, None);
    assert!(first.contains("assert result == 0"), "{first}");
    let output = "    def test_slugify():\n        result = slugify(text=\"Hello World\", separator=\"-\")\n>       assert result == 0\nE       assert 'hello-world' == 0\n\ntest_text_utils.py:8: AssertionError";
    let feedback = Feedback::Run {
        tests: &first,
        what: "failed",
        output,
    };
    let corrected = ask(&always_wrong, &target, &unit, Some(&feedback));
    assert!(
        corrected.contains("assert result == 'hello-world'"),
        "{corrected}"
    );
    assert!(
        corrected.contains("text = \"Hello World\"\n    separator = \"-\"\n")
            && corrected.contains("result = slugify(text=text, separator=separator)"),
        "the same call\n{corrected}"
    );
    // A model that does not manage the fix writes the printed text as a string.
    let never_fixed = answering(AnswerMix {
        still_wrong: 1.0,
        ..AnswerMix::all_right()
    });
    let missed = ask(&never_fixed, &target, &unit, Some(&feedback));
    assert!(
        missed.contains("assert result == \"'hello-world'\""),
        "{missed}"
    );
}

#[test]
fn fixes_drop_what_broke_the_first_answer() {
    let (file_name, source) = text_utils();
    let target = Target {
        language: Language::Python,
        framework: Framework::Pytest,
        file_name: &file_name,
        source: &source,
    };
    let unit = slugify(&source);
    for (mix, broken) in [
        (
            AnswerMix {
                no_build: 1.0,
                ..AnswerMix::all_right()
            },
            "import slugif\n",
        ),
        (
            AnswerMix {
                flaky: 1.0,
                ..AnswerMix::all_right()
            },
            "random.random()",
        ),
    ] {
        let answering = answering(mix);
        let first = ask(&answering, &target, &unit, None);
        assert!(first.contains(broken), "{first}");
        let feedback = Feedback::Run {
            tests: &first,
            what: "did not build",
            output: "E   something went wrong",
        };
        let fixed = ask(&answering, &target, &unit, Some(&feedback));
        assert!(!fixed.contains(broken), "{fixed}");
        assert!(fixed.contains("result = slugify("), "{fixed}");
        // Also when the file that ran holds other tests.
        let assembled = format!("{first}\n\ndef test_other():\n    assert True\n");
        let feedback = Feedback::Run {
            tests: &assembled,
            what: "did not build",
            output: "E       assert 0.7 == 0",
        };
        let fixed = ask(&answering, &target, &unit, Some(&feedback));
        assert!(!fixed.contains(broken), "{fixed}");
        assert!(fixed.contains("assert result is not None"), "{fixed}");
    }
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const PYTHON: &str = "/usr/bin/python3";

/// Runs pytest on `test_text_utils.py` in `dir`: (passed, output).
fn pytest(dir: &Path) -> (bool, String) {
    let output = Command::new(PYTHON)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_text_utils.py",
        ])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The loop the worker runs, by hand: a wrong first answer fails under pytest, its failure goes
/// back, and the corrected answer passes.
#[test]
fn a_corrected_python_answer_passes_under_pytest() {
    let available = Command::new(PYTHON)
        .args(["-m", "pytest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        available,
        "{PYTHON} -m pytest does not run: install python3-pytest (Debian) to run this test"
    );
    let (file_name, source) = text_utils();
    let target = Target {
        language: Language::Python,
        framework: Framework::Pytest,
        file_name: &file_name,
        source: &source,
    };
    let unit = slugify(&source);
    let dir = TempDir(std::env::temp_dir().join(format!("aiut-sim-pytest-{}", std::process::id())));
    fs::create_dir_all(&dir.0).expect("a temp dir");
    fs::write(dir.0.join("text_utils.py"), &source).expect("the source");
    let answering = answering(AnswerMix {
        wrong_value: 1.0,
        still_wrong: 0.0,
        ..AnswerMix::all_right()
    });
    let first = ask(&answering, &target, &unit, None);
    fs::write(dir.0.join("test_text_utils.py"), &first).expect("the tests");
    let (passed, output) = pytest(&dir.0);
    assert!(!passed, "the first answer is wrong\n{first}\n{output}");
    let feedback = Feedback::Run {
        tests: &first,
        what: "failed",
        output: &output,
    };
    let corrected = ask(&answering, &target, &unit, Some(&feedback));
    fs::write(dir.0.join("test_text_utils.py"), &corrected).expect("the tests");
    let (passed, output) = pytest(&dir.0);
    assert!(passed, "the corrected answer passes\n{corrected}\n{output}");
}
