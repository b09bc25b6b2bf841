//! Tests that pin what running the code showed: the offline generator's answer, written from the
//! calls an explorer made in the sandbox ([`domain::observed`]). Each kept call becomes one test
//! that makes the same call and asserts what it returned or raised, and the state it left.
//!
//! They are regression tests: they say what the code does today, not what it should do. The
//! assembled file says so at the top ([`header`]).

use domain::Language;
use domain::observed::{
    Argument, ArgumentAfter, Case, ExploreRequest, Field, Outcome, Receiver, UnitRef,
};

use crate::imports::{self, Access};
use crate::lang::support;
use crate::scaffold::snake;
use crate::{Target, Unit, UnitKind, syntax_issues};

/// What a per-language renderer (`lang/<language>/pinned.rs`) needs.
pub(crate) struct PinPlan<'a> {
    pub(crate) target: &'a Target<'a>,
    pub(crate) unit: &'a Unit,
    pub(crate) access: Access,
    pub(crate) cases: &'a [Case],
}

impl PinPlan<'_> {
    pub(crate) fn is_constructor(&self) -> bool {
        self.unit.kind == UnitKind::Constructor
    }

    /// The top-level names the test file imports: the unit (or its class), and the file's own
    /// exception classes the cases raise.
    pub(crate) fn imported_names(&self) -> Vec<String> {
        let mut names: Vec<String> = imports::imported_name(self.target.language, self.unit)
            .into_iter()
            .collect();
        for case in self.cases {
            let mut add = |name: &str| {
                if imports::is_identifier(name) && !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            };
            if let Outcome::Raised {
                type_name,
                builtin: false,
                ..
            } = &case.outcome
            {
                add(type_name);
            }
            // Arguments built from the file's classes (`Point(1, 2)`, `[Line(Item('a'), 2)]`)
            // name them, wherever they are in the set-up.
            let receiver_arguments = case.receiver.iter().flat_map(|receiver| {
                receiver
                    .arguments
                    .iter()
                    .chain(receiver.calls.iter().flat_map(|call| &call.arguments))
            });
            for argument in case.arguments.iter().chain(receiver_arguments) {
                for class in constructed_classes(&argument.value) {
                    add(class);
                }
            }
        }
        names
    }

    /// `wrap`, `stack_push`, `stack_init`: the start of every test name of the unit.
    pub(crate) fn base_name(&self) -> String {
        let mut parts: Vec<String> = self
            .unit
            .container
            .iter()
            .flat_map(|container| container.split(['.', ':']))
            .filter(|part| !part.is_empty())
            .map(snake)
            .collect();
        parts.push(if self.is_constructor() {
            "init".to_owned()
        } else {
            snake(self.unit.name.trim_matches('_'))
        });
        parts.retain(|part| !part.is_empty());
        parts.join("_")
    }
}

/// What a case calls, language-neutral; each renderer spells it.
pub(crate) enum Callee<'a> {
    /// The class's constructor: `Stack(2)`, `new Stack(2)`.
    Constructor(&'a str),
    /// A method of the object built first: `subject.pop()`.
    Subject(&'a str),
    /// A static or class method, or another member, called on its class: `Stack.of(1)`.
    OnClass(&'a str, &'a str),
    /// A free function.
    Free(&'a str),
}

/// An argument the call changes, bound to a local name first so its state after the call can be
/// asserted.
pub(crate) struct Bound<'a> {
    pub(crate) index: usize,
    pub(crate) name: String,
    /// Its literal before the call.
    pub(crate) value: &'a str,
    pub(crate) after: &'a ArgumentAfter,
}

/// The parts of one case that every language writes the same way.
pub(crate) struct CaseShape<'a> {
    /// The object a method is called on, built and prepared first (none for static calls).
    pub(crate) receiver: Option<&'a Receiver>,
    pub(crate) callee: Callee<'a>,
    pub(crate) bound: Vec<Bound<'a>>,
    /// The object's fields asserted after the call (`subject.x`).
    pub(crate) receiver_after: Vec<&'a Field>,
}

impl<'a> CaseShape<'a> {
    /// The shape of `case` for `unit`; `reserved` are local names the language's tests use
    /// themselves, which a bound argument may not take.
    pub(crate) fn of(unit: &'a Unit, case: &'a Case, reserved: &[&str]) -> CaseShape<'a> {
        let receiver = case.receiver.as_ref().filter(|_| !case.is_static);
        let class = unit
            .container
            .as_deref()
            .map(|container| container.rsplit(['.', ':']).next().unwrap_or(container));
        let callee = if unit.kind == UnitKind::Constructor {
            Callee::Constructor(class.unwrap_or_default())
        } else if receiver.is_some() {
            Callee::Subject(&unit.name)
        } else if case.is_static || class.is_some() {
            Callee::OnClass(class.unwrap_or_default(), &unit.name)
        } else {
            Callee::Free(&unit.name)
        };
        let bound = case
            .arguments_after
            .iter()
            .filter_map(|after| {
                let argument = case.arguments.get(after.index)?;
                Some(Bound {
                    index: after.index,
                    name: local_name(argument, after.index, reserved),
                    value: &argument.value,
                    after,
                })
            })
            .collect();
        let receiver_after = case
            .receiver_after
            .iter()
            .filter(|field| receiver.is_some() && imports::is_identifier(&field.name))
            .collect();
        CaseShape {
            receiver,
            callee,
            bound,
            receiver_after,
        }
    }

    /// What is passed for argument `index`: its bound name, or its literal.
    pub(crate) fn passed<'s>(&'s self, index: usize, argument: &'s Argument) -> &'s str {
        self.bound
            .iter()
            .find(|bound| bound.index == index)
            .map_or(argument.value.as_str(), |bound| bound.name.as_str())
    }
}

/// A local name for an argument: its parameter's name (without `*` or `...`), unless that is not
/// an identifier or is one of `reserved`, then `arg<n>`.
fn local_name(argument: &Argument, index: usize, reserved: &[&str]) -> String {
    let name = argument.name.trim_start_matches(['*', '.']);
    if imports::is_identifier(name) && !reserved.contains(&name) {
        name.to_owned()
    } else {
        format!("arg{}", index + 1)
    }
}

/// The classes a value constructs: every capitalised name called in it (`Point` and `Line` of
/// `[Line(Point(1, 2))]`, `Stack` of `new Stack()`), outside string literals.
fn constructed_classes(value: &str) -> Vec<&str> {
    let mut classes = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start: Option<usize> = None;
    for (index, c) in value.char_indices() {
        if let Some(open) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == open {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            start.get_or_insert(index);
            continue;
        }
        if let Some(begin) = start.take() {
            let name = &value[begin..index];
            if c == '(' && name.starts_with(char::is_uppercase) && imports::is_identifier(name) {
                classes.push(name);
            }
        }
        if matches!(c, '\'' | '"' | '`') {
            quote = Some(c);
        }
    }
    classes
}

/// What a case shows, as words for a test's name: `returns_list`, `raises_value_error`.
pub(crate) fn describe(case: &Case) -> String {
    let what = match &case.outcome {
        Outcome::Returned { value, .. } => format!("returns_{}", value_word(value.trim())),
        Outcome::ReturnedUnstable { type_name } => format!("returns_a_{}", snake(type_name)),
        Outcome::ReturnedObject { type_name, .. } => format!("returns_{}", snake(type_name)),
        Outcome::Raised { type_name, .. } => format!("raises_{}", snake(type_name)),
    };
    what.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A word for a literal: the value itself when it is a short number or a keyword, else its kind.
fn value_word(value: &str) -> String {
    match value {
        "None" | "null" | "undefined" => return "nothing".to_owned(),
        "True" | "true" => return "true".to_owned(),
        "False" | "false" => return "false".to_owned(),
        "" => return "value".to_owned(),
        _ => {}
    }
    if value.len() <= 8 && value.parse::<f64>().is_ok() {
        return value.replace('-', "minus_").replace('.', "_");
    }
    match value.chars().next() {
        Some('[') => "list".to_owned(),
        Some('(') => "tuple".to_owned(),
        Some('{') => "mapping".to_owned(),
        Some('\'' | '"' | '`') if value.len() <= 2 => "empty_text".to_owned(),
        Some('\'' | '"' | '`') => "text".to_owned(),
        Some(c) if c.is_ascii_digit() || c == '-' => "number".to_owned(),
        _ => "value".to_owned(),
    }
}

/// Names made unique in order: `x`, `x_2`, `x_3`.
pub(crate) fn unique_names(names: Vec<String>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    names
        .into_iter()
        .map(|name| {
            let mut candidate = name.clone();
            let mut number = 1;
            while seen.contains(&candidate) {
                number += 1;
                candidate = format!("{name}_{number}");
            }
            seen.push(candidate.clone());
            candidate
        })
        .collect()
}

/// A test file for `unit` from the explorer's `cases`, in `target.framework`; `None` when the
/// language has no pinned tests, or no case gives a test that parses. A case whose code does
/// not parse (a literal the explorer wrote wrongly) is left out rather than failing the rest.
pub fn unit_tests(target: &Target<'_>, unit: &Unit, cases: &[Case]) -> Option<String> {
    if cases.is_empty() {
        return None;
    }
    let access = imports::access(target);
    let syntax = target.test_syntax();
    let render = |cases: &[Case]| {
        support(target.language).pinned(&PinPlan {
            target,
            unit,
            access: access.clone(),
            cases,
        })
    };
    let whole = render(cases)?;
    if syntax_issues(syntax, &whole).is_empty() {
        return Some(whole);
    }
    let parsing: Vec<Case> = cases
        .iter()
        .filter(|case| {
            render(std::slice::from_ref(case))
                .is_some_and(|code| syntax_issues(syntax, &code).is_empty())
        })
        .cloned()
        .collect();
    if parsing.is_empty() {
        return None;
    }
    render(&parsing).filter(|code| syntax_issues(syntax, code).is_empty())
}

/// Whether pinned tests can be written for `language` (an explorer runs it, and a renderer writes
/// its tests).
pub fn supported(language: Language) -> bool {
    matches!(
        language,
        Language::Python | Language::Javascript | Language::Typescript
    )
}

/// What an explorer is asked for the `units` of `target`.
pub fn explore_request(
    target: &Target<'_>,
    units: &[Unit],
    budget_ms: u64,
    call_timeout_ms: u64,
    max_cases_per_unit: u32,
) -> ExploreRequest {
    let module = match imports::access(target) {
        Access::Python { module } => module,
        // The explorer imports the file itself; the specifier is what the tests write.
        Access::Js { specifier, .. } => specifier,
        _ => String::new(),
    };
    ExploreRequest {
        source: target.file_name.as_str().to_owned(),
        module,
        units: units
            .iter()
            .map(|unit| UnitRef {
                name: unit.name.clone(),
                container: unit.container.clone(),
            })
            .collect(),
        budget_ms,
        call_timeout_ms,
        max_cases_per_unit,
        seed: 7,
    }
}

/// The comment that opens an assembled file of pinned tests.
pub fn header(language: Language) -> String {
    let lines = [
        "Regression tests written by AIunittest's offline generator, which ran the code:",
        "each test makes a call that was observed and asserts what it returned or raised.",
        "They pin what the code does today, not what it should do: read them before trusting them.",
    ];
    let marker = match language {
        Language::Python => "#",
        _ => "//",
    };
    let mut text: String = lines
        .iter()
        .map(|line| format!("{marker} {line}\n"))
        .collect();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::observed::{Argument, Call, Field, Receiver};
    use domain::{Framework, SourceFileName};

    const STACK: &str = "class EmptyError(Exception):\n    pass\n\n\nclass Stack:\n    def __init__(self, size: int):\n        self.size = size\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n\n    def pop(self):\n        if not self.items:\n            raise EmptyError('empty')\n        return self.items.pop()\n";

    fn argument(value: &str) -> Argument {
        Argument {
            name: "item".to_owned(),
            value: value.to_owned(),
            keyword: false,
        }
    }

    fn pop_cases() -> Vec<Case> {
        let receiver = |calls: Vec<Call>| Receiver {
            class: "Stack".to_owned(),
            arguments: vec![argument("2")],
            calls,
        };
        vec![
            Case {
                receiver: Some(receiver(vec![Call {
                    method: "push".to_owned(),
                    arguments: vec![argument("1.5")],
                }])),
                is_static: false,
                arguments: Vec::new(),
                awaited: false,
                collect: None,
                outcome: Outcome::Returned {
                    value: "1.5".to_owned(),
                    approx: true,
                },
                arguments_after: Vec::new(),
                receiver_after: vec![Field {
                    name: "items".to_owned(),
                    value: "[]".to_owned(),
                    approx: false,
                }],
            },
            Case {
                receiver: Some(receiver(Vec::new())),
                is_static: false,
                arguments: Vec::new(),
                awaited: false,
                collect: None,
                outcome: Outcome::Raised {
                    type_name: "EmptyError".to_owned(),
                    builtin: false,
                    message: "empty".to_owned(),
                },
                arguments_after: Vec::new(),
                receiver_after: Vec::new(),
            },
        ]
    }

    fn pop_tests(framework: Framework) -> String {
        let file_name = SourceFileName::parse("pkg/stack.py").expect("a name");
        let target = Target {
            language: Language::Python,
            framework,
            file_name: &file_name,
            source: STACK,
        };
        let units = crate::parse_units(target.source_syntax(), STACK).expect("units");
        let pop = units.iter().find(|unit| unit.name == "pop").expect("pop");
        unit_tests(&target, pop, &pop_cases()).expect("tests")
    }

    #[test]
    fn python_methods_are_pinned_on_an_object_built_and_prepared_first() {
        assert_eq!(
            pop_tests(Framework::Pytest),
            "import pytest\n\nfrom pkg.stack import Stack, EmptyError\n\n\n\
             def test_stack_pop_returns_1_5():\n    subject = Stack(2)\n    subject.push(1.5)\n    \
             result = subject.pop()\n    assert result == pytest.approx(1.5)\n    assert subject.items == []\n\n\n\
             def test_stack_pop_raises_empty_error():\n    subject = Stack(2)\n    \
             with pytest.raises(EmptyError):\n        subject.pop()\n"
        );
        let unittest = pop_tests(Framework::Unittest);
        assert!(
            unittest.contains("class TestStackPop(unittest.TestCase):"),
            "{unittest}"
        );
        assert!(
            unittest.contains("        self.assertAlmostEqual(result, 1.5)"),
            "{unittest}"
        );
        assert!(
            unittest.contains("        with self.assertRaises(EmptyError):"),
            "{unittest}"
        );
    }

    #[test]
    fn a_case_whose_code_does_not_parse_is_left_out() {
        let file_name = SourceFileName::parse("stack.py").expect("a name");
        let target = Target {
            language: Language::Python,
            framework: Framework::Pytest,
            file_name: &file_name,
            source: STACK,
        };
        let units = crate::parse_units(target.source_syntax(), STACK).expect("units");
        let pop = units.iter().find(|unit| unit.name == "pop").expect("pop");
        let mut cases = pop_cases();
        cases[0].outcome = Outcome::Returned {
            value: "[1, 2".to_owned(),
            approx: false,
        };
        let code = unit_tests(&target, pop, &cases).expect("the other case");
        assert!(!code.contains("[1, 2"), "{code}");
        assert!(code.contains("pytest.raises(EmptyError)"), "{code}");
        cases.truncate(1);
        assert_eq!(unit_tests(&target, pop, &cases), None);
    }

    #[test]
    fn values_name_tests_readably() {
        assert_eq!(value_word("42"), "42");
        assert_eq!(value_word("-1.5"), "minus_1_5");
        assert_eq!(value_word("['a', 'b']"), "list");
        assert_eq!(value_word("'hello'"), "text");
        assert_eq!(value_word("''"), "empty_text");
        assert_eq!(value_word("None"), "nothing");
        assert_eq!(value_word("123456789012"), "number");
    }

    #[test]
    fn names_are_made_unique_in_order() {
        let names = unique_names(vec!["a".into(), "b".into(), "a".into(), "a".into()]);
        assert_eq!(names, ["a", "b", "a_2", "a_3"]);
    }

    #[test]
    fn constructions_name_their_classes() {
        assert_eq!(constructed_classes("Point(1, 2)"), ["Point"]);
        assert_eq!(constructed_classes("new Stack()"), ["Stack"]);
        assert_eq!(
            constructed_classes("{'a': CartLine(Product('', 'X(1)', 0.0), 0)}"),
            ["CartLine", "Product"]
        );
        assert!(constructed_classes("[1, 2]").is_empty());
        assert!(constructed_classes("max(1, 2)").is_empty());
        assert!(constructed_classes("'Point(1, 2)'").is_empty());
    }
}
