//! Offline scaffolds for the parser corpus: for every corpus file, every unit it yields and every
//! framework of its language, the per-unit test files are generated, assembled into one, and the
//! result must parse. The Python files are also collected by pytest, which must find one test per
//! unit — that proves the imports resolve and the files are valid Python, not just parseable.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use codegen::assemble::assemble;
use codegen::extract::code_from_answer;
use codegen::prompt::{for_unit, read_facts};
use codegen::scaffold::{Flavor, unit_tests};
use codegen::{Target, Unit, parse_units, syntax_issues};
use domain::{Framework, Language, SourceFileName};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The corpus sources of `language`, sorted.
fn sources_of(language: Language) -> Vec<PathBuf> {
    let dir = corpus_dir().join(language.id());
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut sources: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|extension| extension != "units")
        })
        .collect();
    sources.sort();
    sources
}

/// The name the source is given: inside a package directory, so module paths are exercised.
fn source_name(path: &Path) -> String {
    let base = path
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name");
    format!("app/{base}")
}

struct Generated {
    file_name: String,
    code: String,
    units: usize,
}

fn generate(
    language: Language,
    framework: Framework,
    name: &str,
    source: &str,
    flavor: Flavor,
) -> Generated {
    let file_name = SourceFileName::parse(name).expect("a valid name");
    let target = Target {
        language,
        framework,
        file_name: &file_name,
        source,
    };
    let units: Vec<Unit> = parse_units(target.source_syntax(), source)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    let pieces: Vec<String> = units
        .iter()
        .map(|unit| {
            let piece = unit_tests(&target, unit, flavor);
            let issues = syntax_issues(target.test_syntax(), &piece);
            assert!(
                issues.is_empty(),
                "{name} {framework} {flavor:?} {}:\n{piece}\n{issues:?}",
                unit.name
            );
            piece
        })
        .collect();
    let assembled = assemble(&target, &pieces)
        .unwrap_or_else(|error| panic!("{name} {framework} {flavor:?}: {error}"));
    let issues = syntax_issues(target.test_syntax(), &assembled.code);
    assert!(
        issues.is_empty(),
        "{name} {framework} {flavor:?}: the assembled file does not parse:\n{}\n{issues:?}",
        assembled.code
    );
    Generated {
        file_name: assembled.file_name,
        code: assembled.code,
        units: units.len(),
    }
}

#[test]
fn every_corpus_file_scaffolds_and_assembles_in_every_framework() {
    let mut files = 0;
    for language in Language::ALL {
        for path in sources_of(language) {
            let source = fs::read_to_string(&path).expect("a readable corpus file");
            let name = source_name(&path);
            for framework in language.frameworks() {
                for flavor in [Flavor::Scaffold, Flavor::Simulated] {
                    let generated = generate(language, *framework, &name, &source, flavor);
                    assert!(generated.units > 0, "{name}");
                }
            }
            files += 1;
        }
    }
    assert!(files > 0, "the corpus is empty");
}

/// What the model simulator does with a prompt, for every corpus unit: the prompt's facts read
/// back name the unit and the whole source, and a simulated answer in a fence extracts to the
/// code it holds.
#[test]
fn prompts_read_back_and_answers_extract_for_every_corpus_unit() {
    for language in Language::ALL {
        for path in sources_of(language) {
            let source = fs::read_to_string(&path).expect("a readable corpus file");
            let name = source_name(&path);
            let file_name = SourceFileName::parse(&name).expect("a valid name");
            let framework = language.default_framework();
            let target = Target {
                language,
                framework,
                file_name: &file_name,
                source: &source,
            };
            let units = parse_units(target.source_syntax(), &source).expect("units");
            for unit in &units {
                let prompt = for_unit(&target, unit, None);
                let facts = read_facts(&prompt.user)
                    .unwrap_or_else(|| panic!("{name} {}: no facts", unit.name));
                assert_eq!(facts.source, source, "{name}");
                assert_eq!(
                    (facts.unit_name.as_str(), facts.unit_line),
                    (unit.name.as_str(), unit.start_line),
                    "{name}"
                );
                assert_eq!((facts.language, facts.framework), (language, framework));
                assert!(!facts.is_retry);

                let code = unit_tests(&target, unit, Flavor::Simulated);
                let answer = format!(
                    "Here are the tests.\n\n```{}\n{}\n```\n",
                    language.id(),
                    code.trim_end()
                );
                assert_eq!(
                    code_from_answer(&answer, language).as_deref(),
                    Some(code.trim_end()),
                    "{name} {}",
                    unit.name
                );
            }
        }
    }
}

/// A directory under the system's temp dir, removed when dropped (even when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "aiut-scaffolds-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        fs::create_dir_all(&path).expect("a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn require_pytest() {
    let available = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        available,
        "pytest is not available to python3; run `python3 -m pip install pytest` (CI installs it)"
    );
}

/// Runs `python3 <args>` in `dir`: (success, stdout, stderr).
fn python3(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every Python corpus file in every Python framework; all problems are reported together.
#[test]
fn pytest_collects_one_test_per_python_unit() {
    require_pytest();
    let sources = sources_of(Language::Python);
    assert!(!sources.is_empty(), "the Python corpus is empty");
    let mut failures = Vec::new();
    for path in sources {
        let source = fs::read_to_string(&path).expect("a readable corpus file");
        let name = source_name(&path);
        let module = name.trim_end_matches(".py").replace('/', ".");
        for framework in Language::Python.frameworks() {
            let generated = generate(
                Language::Python,
                *framework,
                &name,
                &source,
                Flavor::Scaffold,
            );
            let dir = TempDir::new(framework.id());
            let source_path = dir.0.join(&name);
            fs::create_dir_all(source_path.parent().expect("a parent directory"))
                .expect("the package directory");
            fs::write(&source_path, &source).expect("the source file");
            fs::write(dir.0.join(&generated.file_name), &generated.code).expect("the test file");

            // A source that fails on import cannot be collected whatever the tests look like.
            let (imports, _, stderr) = python3(&dir.0, &["-c", &format!("import {module}")]);
            if !imports {
                failures.push(format!(
                    "{name}: the corpus source itself fails on import, so pytest cannot collect tests for it:\n{stderr}"
                ));
                break;
            }
            let (collected_ok, stdout, stderr) = python3(
                &dir.0,
                &[
                    "-m",
                    "pytest",
                    "--collect-only",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                ],
            );
            if !collected_ok {
                failures.push(format!(
                    "{name} {framework}: pytest could not collect the tests\n{}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                    generated.code
                ));
                continue;
            }
            let collected = stdout.lines().filter(|line| line.contains("::")).count();
            if collected != generated.units {
                failures.push(format!(
                    "{name} {framework}: {collected} tests collected for {} units\n{}\n--- stdout\n{stdout}",
                    generated.units, generated.code
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
