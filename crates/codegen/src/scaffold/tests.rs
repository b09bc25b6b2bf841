use domain::{Framework, Language, SourceFileName};

use super::*;
use crate::Param;

fn param(name: &str, type_name: Option<&str>) -> Param {
    Param {
        name: name.to_owned(),
        type_name: type_name.map(str::to_owned),
    }
}

struct Shape {
    kind: UnitKind,
    name: &'static str,
    container: Option<&'static str>,
    is_static: bool,
    is_async: bool,
    params: Vec<Param>,
    return_type: Option<&'static str>,
}

fn unit(shape: &Shape, line: u32) -> Unit {
    Unit {
        kind: shape.kind,
        name: shape.name.to_owned(),
        container: shape.container.map(str::to_owned),
        signature: format!("{}(…)", shape.name),
        doc: None,
        params: shape.params.clone(),
        return_type: shape.return_type.map(str::to_owned),
        is_async: shape.is_async,
        is_static: shape.is_static,
        is_public: true,
        start_line: line,
        end_line: line + 3,
    }
}

fn shape(
    kind: UnitKind,
    name: &'static str,
    container: Option<&'static str>,
    params: Vec<Param>,
    return_type: Option<&'static str>,
) -> Shape {
    Shape {
        kind,
        name,
        container,
        is_static: false,
        is_async: false,
        params,
        return_type,
    }
}

/// A file name, a source and unit shapes for each language: a function, a method, a static
/// method, a constructor, an async unit, typed and untyped parameters.
fn cases(language: Language) -> (&'static str, &'static str, Vec<Shape>) {
    use UnitKind::{Constructor, Function, Method};
    match language {
        Language::Python => (
            "app/utils/math_ops.py",
            "class Calculator:\n    pass\n",
            vec![
                shape(
                    Function,
                    "add",
                    None,
                    vec![param("a", Some("int")), param("b", Some("float"))],
                    Some("int"),
                ),
                shape(
                    Function,
                    "untyped",
                    None,
                    vec![
                        param("x", None),
                        param("*args", None),
                        param("**kwargs", None),
                    ],
                    None,
                ),
                shape(
                    Method,
                    "compute",
                    Some("Calculator"),
                    vec![
                        param("items", Some("List[int]")),
                        param("name", Some("str")),
                        param("w", Some("Widget")),
                    ],
                    Some("bool"),
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "create",
                        Some("Calculator"),
                        vec![param("cls", None), param("flag", Some("bool"))],
                        Some("\"Calculator\""),
                    )
                },
                shape(
                    Constructor,
                    "__init__",
                    Some("Calculator"),
                    vec![param("value", Some("Optional[int]"))],
                    None,
                ),
                Shape {
                    is_async: true,
                    ..shape(
                        Method,
                        "fetch",
                        Some("Polygon.Edge"),
                        vec![param("url", Some("str"))],
                        Some("bytes"),
                    )
                },
                shape(Method, "reset", Some("Calculator"), vec![], Some("None")),
            ],
        ),
        Language::Java => (
            "src/main/java/com/shop/Calculator.java",
            "package com.shop;\n\nimport java.util.List;\n\npublic class Calculator {}\n",
            vec![
                shape(
                    Method,
                    "add",
                    Some("Calculator"),
                    vec![param("a", Some("int")), param("b", Some("int"))],
                    Some("int"),
                ),
                shape(
                    Method,
                    "add",
                    Some("Calculator"),
                    vec![param("a", Some("double")), param("b", Some("double"))],
                    Some("double"),
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "of",
                        Some("Calculator"),
                        vec![
                            param("items", Some("List<Integer>")),
                            param("rest", Some("String...")),
                        ],
                        Some("Calculator"),
                    )
                },
                shape(
                    Constructor,
                    "Calculator",
                    Some("Calculator"),
                    vec![
                        param("name", Some("final String")),
                        param("w", Some("Widget")),
                    ],
                    None,
                ),
                shape(
                    Method,
                    "reset",
                    Some("Calculator"),
                    vec![param("grid", Some("int[][]"))],
                    Some("void"),
                ),
                shape(
                    Method,
                    "weird",
                    Some("Outer.Inner"),
                    vec![param("m", Some("Map<String, List<Integer>>"))],
                    Some("boolean"),
                ),
            ],
        ),
        Language::Go => (
            "calc/stack.go",
            "package calc\n\nimport (\n\t\"time\"\n\t\"context\"\n)\n",
            vec![
                shape(
                    Function,
                    "Add",
                    None,
                    vec![param("a", Some("int")), param("b", Some("int"))],
                    Some("int"),
                ),
                shape(
                    Function,
                    "Parse",
                    None,
                    vec![
                        param("ctx", Some("context.Context")),
                        param("d", Some("time.Duration")),
                    ],
                    Some("(int, error)"),
                ),
                shape(
                    Method,
                    "Push",
                    Some("*Stack"),
                    vec![param("items", Some("...int"))],
                    None,
                ),
                shape(
                    Method,
                    "Peek",
                    Some("Stack"),
                    vec![],
                    Some("(value int, ok bool)"),
                ),
                shape(
                    Function,
                    "helper",
                    None,
                    vec![param("m", Some("map[string]int"))],
                    Some("*Stack"),
                ),
                shape(Constructor, "Stack", Some("Stack"), vec![], None),
            ],
        ),
        Language::Cpp => (
            "src/stack.cpp",
            "#include \"stack.h\"\n",
            vec![
                shape(
                    Function,
                    "add",
                    Some("math"),
                    vec![param("a", Some("int")), param("b", Some("const double&"))],
                    Some("double"),
                ),
                shape(
                    Method,
                    "push",
                    Some("ds::Stack"),
                    vec![param("value", Some("std::string&&"))],
                    Some("void"),
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "create",
                        Some("ds::Stack"),
                        vec![
                            param("name", Some("const char*")),
                            param("p", Some("Node *")),
                        ],
                        Some("Stack*"),
                    )
                },
                shape(
                    Constructor,
                    "Stack",
                    Some("ds::Stack"),
                    vec![param("size", Some("std::size_t"))],
                    None,
                ),
                shape(
                    Method,
                    "operator==",
                    Some("ds::Stack"),
                    vec![param("other", Some("const Stack&"))],
                    Some("bool"),
                ),
                shape(
                    Function,
                    "free",
                    None,
                    vec![param("", Some("int"))],
                    Some("std::string"),
                ),
            ],
        ),
        Language::Csharp => (
            "Billing/Invoice.cs",
            "using System;\nnamespace Shop.Billing\n{\n    public class Invoice {}\n}\n",
            vec![
                shape(
                    Method,
                    "Total",
                    Some("Shop.Billing.Invoice"),
                    vec![
                        param("rate", Some("decimal")),
                        param("lines", Some("IEnumerable<Line>")),
                    ],
                    Some("decimal"),
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "Parse",
                        Some("Shop.Billing.Invoice"),
                        vec![
                            param("text", Some("string")),
                            param("result", Some("out int")),
                        ],
                        Some("bool"),
                    )
                },
                shape(
                    Constructor,
                    "Invoice",
                    Some("Shop.Billing.Invoice"),
                    vec![param("items", Some("params string[]"))],
                    None,
                ),
                Shape {
                    is_async: true,
                    ..shape(
                        Method,
                        "SaveAsync",
                        Some("Shop.Billing.Invoice"),
                        vec![param("store", Some("IStore"))],
                        Some("Task"),
                    )
                },
                Shape {
                    is_async: true,
                    ..shape(
                        Method,
                        "LoadAsync",
                        Some("Shop.Billing.Invoice"),
                        vec![param("id", Some("int?"))],
                        Some("Task<Invoice>"),
                    )
                },
                shape(
                    Method,
                    "Add",
                    Some("Shop.Billing.Invoice"),
                    vec![param("items", Some("List<string>"))],
                    Some("void"),
                ),
            ],
        ),
        Language::Rust => (
            "src/stack.rs",
            "pub struct Stack;\n",
            vec![
                shape(
                    Function,
                    "add",
                    None,
                    vec![param("a", Some("i32")), param("b", Some("&str"))],
                    Some("i32"),
                ),
                shape(
                    Method,
                    "push",
                    Some("Stack<T>"),
                    vec![param("value", Some("&'a mut Vec<u8>"))],
                    None,
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "new",
                        Some("Stack<T>"),
                        vec![param("items", Some("&[Self]"))],
                        Some("Self"),
                    )
                },
                Shape {
                    is_async: true,
                    ..shape(
                        Function,
                        "load",
                        None,
                        vec![param("path", Some("impl AsRef<Path>"))],
                        Some("Result<String, Error>"),
                    )
                },
                shape(
                    Method,
                    "peek",
                    Some("Stack"),
                    vec![param("(a, b)", Some("(u8, u8)"))],
                    Some("Option<&T>"),
                ),
                shape(
                    Function,
                    "untyped",
                    None,
                    vec![param("x", None)],
                    Some("bool"),
                ),
            ],
        ),
        Language::Javascript => (
            "lib/math.js",
            "export class Calculator {}\nexport function add(a, b) { return a + b; }\n",
            vec![
                shape(
                    Function,
                    "add",
                    None,
                    vec![param("a", None), param("b", None)],
                    None,
                ),
                shape(
                    Method,
                    "compute",
                    Some("Calculator"),
                    vec![param("...rest", None)],
                    None,
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "create",
                        Some("Calculator"),
                        vec![param("{ x, y }", None)],
                        None,
                    )
                },
                shape(
                    Constructor,
                    "constructor",
                    Some("Calculator"),
                    vec![param("value", None)],
                    None,
                ),
                Shape {
                    is_async: true,
                    ..shape(Function, "load", None, vec![param("url", None)], None)
                },
            ],
        ),
        Language::Typescript => (
            "src/ds/stack.ts",
            "export class Stack<T> {}\nexport function add(a: number) { return a; }\n",
            vec![
                shape(
                    Function,
                    "add",
                    None,
                    vec![
                        param("a", Some("number")),
                        param("b", Some("string | undefined")),
                    ],
                    Some("number"),
                ),
                shape(
                    Method,
                    "push",
                    Some("Stack"),
                    vec![param("item", Some("T")), param("items", Some("Array<T>"))],
                    Some("void"),
                ),
                Shape {
                    is_static: true,
                    ..shape(
                        Method,
                        "of",
                        Some("Stack"),
                        vec![
                            param("values", Some("number[]")),
                            param("f", Some("(x: number) => void")),
                        ],
                        Some("Stack<number>"),
                    )
                },
                shape(
                    Constructor,
                    "constructor",
                    Some("Stack"),
                    vec![param("size", Some("number"))],
                    None,
                ),
                Shape {
                    is_async: true,
                    ..shape(
                        Method,
                        "load",
                        Some("Stack"),
                        vec![param("url", Some("URL"))],
                        Some("Promise<string>"),
                    )
                },
            ],
        ),
    }
}

fn target<'a>(
    language: Language,
    framework: Framework,
    file_name: &'a SourceFileName,
    source: &'a str,
) -> Target<'a> {
    Target {
        language,
        framework,
        file_name,
        source,
    }
}

#[test]
fn every_framework_and_shape_parses() {
    for language in Language::ALL {
        let (name, source, shapes) = cases(language);
        let file_name = SourceFileName::parse(name).expect("valid name");
        for framework in language.frameworks() {
            let target = target(language, *framework, &file_name, source);
            for (index, shape) in shapes.iter().enumerate() {
                let unit = unit(shape, 10 + 10 * u32::try_from(index).expect("small"));
                for flavor in [Flavor::Scaffold, Flavor::Simulated] {
                    let code = unit_tests(&target, &unit, flavor);
                    let issues = syntax_issues(target.test_syntax(), &code);
                    assert!(
                        issues.is_empty(),
                        "{framework} {flavor:?} {}:\n{code}\n{issues:?}",
                        unit.name
                    );
                    // The typed rendering itself parses: the fallbacks are not what made it pass.
                    let typed = render(&Plan::new(
                        &target,
                        &unit,
                        flavor,
                        Detail::Typed,
                        imports::access(&target),
                    ));
                    assert_eq!(typed, code, "{framework} {}", unit.name);
                    if flavor == Flavor::Scaffold {
                        assert!(
                            code.contains("scaffold for "),
                            "{framework}: skipped with a reason\n{code}"
                        );
                    } else {
                        assert!(
                            !code.contains("scaffold"),
                            "{framework}: not skipped\n{code}"
                        );
                    }
                }
            }
        }
    }
}

fn twists() -> Vec<Twist> {
    vec![
        Twist::Guess,
        Twist::Sample,
        Twist::MissingHelper,
        Twist::WrongValue,
        Twist::Flaky,
        Twist::Expect(Expected::Value("5".to_owned())),
        Twist::Expect(Expected::Value("'hello-world'".to_owned())),
        Twist::Expect(Expected::Value("\"hello-world\"".to_owned())),
        Twist::Expect(Expected::Value("hello world".to_owned())),
        Twist::Expect(Expected::Value("true".to_owned())),
        Twist::Expect(Expected::Raises("TypeError".to_owned())),
        Twist::Expect(Expected::Raises(
            "java.lang.IllegalArgumentException".to_owned(),
        )),
        Twist::Expect(Expected::Raises(String::new())),
    ]
}

#[test]
fn every_twist_parses_for_every_framework_and_shape() {
    for language in Language::ALL {
        let (name, source, shapes) = cases(language);
        let file_name = SourceFileName::parse(name).expect("valid name");
        for framework in language.frameworks() {
            let target = target(language, *framework, &file_name, source);
            for (index, shape) in shapes.iter().enumerate() {
                let unit = unit(shape, 10 + 10 * u32::try_from(index).expect("small"));
                for twist in twists() {
                    let code = simulated_tests(&target, &unit, &twist);
                    let issues = syntax_issues(target.test_syntax(), &code);
                    assert!(
                        issues.is_empty(),
                        "{framework} {twist:?} {}:\n{code}\n{issues:?}",
                        unit.name
                    );
                    assert!(
                        !code.contains("scaffold"),
                        "{framework}: not skipped\n{code}"
                    );
                }
            }
        }
    }
}

/// The plain simulated answer is what it was: [`Twist::Guess`] is [`Flavor::Simulated`].
#[test]
fn the_guess_is_the_simulated_flavour() {
    for language in Language::ALL {
        let (name, source, shapes) = cases(language);
        let file_name = SourceFileName::parse(name).expect("valid name");
        let target = target(language, language.default_framework(), &file_name, source);
        for shape in &shapes {
            let unit = unit(shape, 4);
            assert_eq!(
                simulated_tests(&target, &unit, &Twist::Guess),
                unit_tests(&target, &unit, Flavor::Simulated)
            );
        }
    }
}

#[test]
fn python_twists() {
    let source = "def slugify(text: str, separator: str = \"-\") -> str:\n    return text\n";
    let file_name = SourceFileName::parse("app/text.py").expect("valid name");
    let target = target(Language::Python, Framework::Pytest, &file_name, source);
    let slugify = unit(
        &shape(
            UnitKind::Function,
            "slugify",
            None,
            vec![param("text", Some("str")), param("separator", Some("str"))],
            Some("str"),
        ),
        1,
    );
    let render = |twist: Twist| simulated_tests(&target, &slugify, &twist);
    let sample = render(Twist::Sample);
    assert!(
        sample.contains("text = \"Hello World\"\n    separator = \"-\"\n"),
        "{sample}"
    );
    assert!(sample.contains("assert result is not None"), "{sample}");
    let missing = render(Twist::MissingHelper);
    assert!(
        missing.starts_with("from app.text import slugif\n"),
        "{missing}"
    );
    assert!(render(Twist::WrongValue).contains("assert result == 0\n"));
    let flaky = render(Twist::Flaky);
    assert!(flaky.starts_with("import random\n"), "{flaky}");
    assert!(flaky.contains("assert result is not None\n    assert random.random() < 0.5"));
    let expected = render(Twist::Expect(Expected::Value("'hello-world'".to_owned())));
    assert!(
        expected.contains("assert result == 'hello-world'"),
        "{expected}"
    );
    let raises = render(Twist::Expect(Expected::Raises("TypeError".to_owned())));
    assert!(raises.starts_with("import pytest\n"), "{raises}");
    assert!(
        raises.contains(
            "with pytest.raises(TypeError):\n        slugify(text=text, separator=separator)"
        ),
        "{raises}"
    );
    // A duplicate makes another unit's calls under this unit's name.
    let other = unit(
        &shape(
            UnitKind::Function,
            "word_count",
            None,
            vec![param("text", None)],
            Some("int"),
        ),
        5,
    );
    let duplicate = duplicate_tests(&target, &slugify, &other);
    assert!(duplicate.contains("def test_word_count():"), "{duplicate}");
    assert!(duplicate.contains("result = slugify("), "{duplicate}");
}

/// The skip marker comes before the call, so nothing runs.
#[test]
fn skips_come_before_the_call() {
    let markers: &[(Framework, &str)] = &[
        (Framework::Pytest, "@pytest.mark.skip(reason="),
        (Framework::Unittest, "@unittest.skip("),
        (Framework::Junit5, "@Disabled("),
        (Framework::Junit5Mockito, "@Disabled("),
        (Framework::GoTesting, "t.Skip("),
        (Framework::Testify, "t.Skip("),
        (Framework::Gtest, "GTEST_SKIP() <<"),
        (Framework::Nunit, "[Ignore("),
        (Framework::Xunit, "[Fact(Skip = "),
        (Framework::RustBuiltin, "#[ignore = "),
        (Framework::Jest, "test.skip("),
        (Framework::Vitest, "test.skip("),
        (Framework::NodeTest, "{ skip: '"),
    ];
    for (framework, marker) in markers {
        let language = framework.languages()[0];
        let (name, source, shapes) = cases(language);
        let file_name = SourceFileName::parse(name).expect("valid name");
        let target = target(language, *framework, &file_name, source);
        let unit = unit(&shapes[0], 3);
        let code = unit_tests(&target, &unit, Flavor::Scaffold);
        let marker_at = code
            .find(marker)
            .unwrap_or_else(|| panic!("{framework}: {marker}\n{code}"));
        let act_at = code.find(" Act").expect("the act section");
        assert!(marker_at < act_at, "{framework}\n{code}");
        let simulated = unit_tests(&target, &unit, Flavor::Simulated);
        assert!(!simulated.contains(marker), "{framework}\n{simulated}");
    }
}

#[test]
fn overloads_get_distinct_names() {
    for language in [Language::Java, Language::Csharp, Language::Cpp] {
        let (name, source, _) = cases(language);
        let file_name = SourceFileName::parse(name).expect("valid name");
        let target = target(language, language.default_framework(), &file_name, source);
        let first = shape(
            UnitKind::Method,
            "add",
            Some("Calculator"),
            vec![param("a", Some("int"))],
            Some("int"),
        );
        let second = shape(
            UnitKind::Method,
            "add",
            Some("Calculator"),
            vec![param("a", Some("double"))],
            Some("double"),
        );
        let one = unit_tests(&target, &unit(&first, 4), Flavor::Simulated);
        let two = unit_tests(&target, &unit(&second, 9), Flavor::Simulated);
        let header = |code: &str| {
            code.lines()
                .find(|line| line.contains("void ") || line.starts_with("TEST("))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        assert_ne!(header(&one), header(&two), "{language}");
        assert!(
            header(&one).contains("add") || header(&one).contains("Add"),
            "{one}"
        );
    }
}

#[test]
fn python_placeholders_and_calls() {
    let (name, source, shapes) = cases(Language::Python);
    let file_name = SourceFileName::parse(name).expect("valid name");
    let target = target(Language::Python, Framework::Pytest, &file_name, source);
    let code = unit_tests(&target, &unit(&shapes[2], 5), Flavor::Simulated);
    assert_eq!(
        code,
        "from app.utils.math_ops import Calculator\n\n\n\
         def test_calculator_compute():\n    \
         # Arrange\n    \
         subject = Calculator()  # TODO: pass the constructor's arguments\n    \
         items = []\n    \
         name = \"\"\n    \
         w = None  # TODO: a Widget\n\n    \
         # Act\n    \
         result = subject.compute(items=items, name=name, w=w)\n\n    \
         # Assert\n    \
         assert result is False  # TODO: the expected value\n"
    );
    let code = unit_tests(&target, &unit(&shapes[5], 5), Flavor::Scaffold);
    assert!(code.contains("import asyncio"), "{code}");
    assert!(
        code.contains("from app.utils.math_ops import Polygon"),
        "{code}"
    );
    assert!(
        code.contains("result = asyncio.run(subject.fetch(url=url))"),
        "{code}"
    );
    let code = unit_tests(&target, &unit(&shapes[3], 5), Flavor::Simulated);
    assert!(
        code.contains("result = Calculator.create(flag=flag)"),
        "{code}"
    );
}

#[test]
fn unreachable_units_are_skipped_in_both_flavours() {
    let file_name = SourceFileName::parse("lib/math.js").expect("valid");
    let target = target(
        Language::Javascript,
        Framework::Jest,
        &file_name,
        "function hidden() {}\n",
    );
    let mut hidden = unit(&shape(UnitKind::Function, "hidden", None, vec![], None), 1);
    hidden.is_public = false;
    let code = unit_tests(&target, &hidden, Flavor::Simulated);
    assert!(code.contains("test.skip("), "{code}");
    assert!(code.contains("not exported"), "{code}");
    assert!(!code.contains("hidden()"), "no call\n{code}");
    assert!(
        !code.contains("require") && !code.contains("import"),
        "{code}"
    );
}

#[test]
fn names_become_identifiers() {
    assert_eq!(identifier("operator=="), "operator_eq_eq");
    assert_eq!(identifier("__init__"), "init");
    assert_eq!(identifier("(a, b)"), "call_a_b");
    assert_eq!(snake("SaveAsync"), "save_async");
    assert_eq!(upper_camel("save_async"), "SaveAsync");
    assert_eq!(strip_generics("Stack<T, U>"), "Stack");
}

mod generated_units {
    use super::*;
    use proptest::prelude::*;

    fn any_unit() -> impl Strategy<Value = Unit> {
        let name = prop_oneof![
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            "operator(\\+|==|<<|\\[\\]|\\(\\)| bool)",
            "#[a-z]{1,4}",
            "[^\\n]{0,6}",
        ];
        let container = proptest::option::of(prop_oneof![
            "[A-Z][a-z]{0,5}((\\.|::)[A-Z][a-z]{0,5}){0,2}(<T>)?",
            "\\*?[A-Z][a-z]{0,4}(\\[T\\])?",
            "[^\\n]{0,6}",
        ]);
        let type_name = proptest::option::of(prop_oneof![
            "(int|str|bool|float|string|number|i32|&str|&mut Vec<u8>|List<int>|double|T|Widget|\\.\\.\\.int|String\\.\\.\\.|int\\[\\]|const char\\*|std::string&&)",
            "[A-Za-z0-9_<>\\[\\], *&.?|:()'{};=`\"\\\\\\n]{0,12}",
        ]);
        let param = ("[a-zA-Z_*.{}, ()\\[\\]$#-]{0,8}", type_name.clone())
            .prop_map(|(name, type_name)| Param { name, type_name });
        let kind = prop_oneof![
            Just(UnitKind::Function),
            Just(UnitKind::Method),
            Just(UnitKind::Constructor)
        ];
        (
            kind,
            name,
            container,
            proptest::collection::vec(param, 0..4),
            type_name,
            any::<(bool, bool, bool)>(),
            1u32..500,
        )
            .prop_map(
                |(
                    kind,
                    name,
                    container,
                    params,
                    return_type,
                    (is_async, is_static, is_public),
                    line,
                )| Unit {
                    kind,
                    name,
                    container,
                    signature: String::new(),
                    doc: None,
                    params,
                    return_type,
                    is_async,
                    is_static,
                    is_public,
                    start_line: line,
                    end_line: line + 1,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn any_unit_gets_a_simulated_answer_that_parses(unit in any_unit(), framework_index in 0usize..13, twist_index in 0usize..13) {
            let framework = Framework::ALL[framework_index];
            let language = framework.languages()[0];
            let (name, source, _) = cases(language);
            let file_name = SourceFileName::parse(name).expect("valid name");
            let target = target(language, framework, &file_name, source);
            let twist = &twists()[twist_index];
            let code = simulated_tests(&target, &unit, twist);
            let issues = syntax_issues(target.test_syntax(), &code);
            prop_assert!(issues.is_empty(), "{framework} {twist:?}\n{code}\n{issues:?}");
        }

        #[test]
        fn any_unit_gets_a_file_that_parses(unit in any_unit(), framework_index in 0usize..13, scaffold in any::<bool>()) {
            let framework = Framework::ALL[framework_index];
            let language = framework.languages()[0];
            let (name, source, _) = cases(language);
            let file_name = SourceFileName::parse(name).expect("valid name");
            let target = target(language, framework, &file_name, source);
            let flavor = if scaffold { Flavor::Scaffold } else { Flavor::Simulated };
            let code = unit_tests(&target, &unit, flavor);
            let issues = syntax_issues(target.test_syntax(), &code);
            prop_assert!(issues.is_empty(), "{framework}\n{code}\n{issues:?}");
        }
    }
}

/// The simulated answer with `twist` for the unit named `name` (the first of that name) of the
/// corpus-like `source`, parsed as `file` in `language`'s default framework.
fn simulated_for(language: Language, file: &str, source: &str, name: &str, twist: Twist) -> String {
    let file_name = SourceFileName::parse(file).expect("valid name");
    let target = target(language, language.default_framework(), &file_name, source);
    let units = crate::parse_units(target.source_syntax(), source).expect("units");
    let unit = units
        .iter()
        .find(|unit| unit.name == name)
        .unwrap_or_else(|| panic!("no unit {name} in {units:?}"));
    simulated_tests(&target, unit, &twist)
}

const RUST_STACK: &str = "pub struct Stack<T> {\n    items: Vec<T>,\n    capacity: usize,\n}\n\n\
impl<T> Stack<T> {\n    pub fn with_capacity(capacity: usize) -> Self {\n        Self { items: Vec::new(), capacity }\n    }\n\n\
    pub fn push(&mut self, item: T) -> bool {\n        self.items.push(item);\n        self.items.len() <= self.capacity\n    }\n\n\
    pub fn pop(&mut self) -> Option<T> {\n        self.items.pop()\n    }\n}\n";

/// Rust answers give a generic container a concrete type, build the subject with the type's own
/// constructor and type the arguments: `let x = Default::default();` needs annotations (E0282)
/// and `Stack` without its parameter does not name a type (E0107).
#[test]
fn rust_simulated_answers_are_typed_and_constructed() {
    for twist in [Twist::Sample, Twist::WrongValue, Twist::Flaky] {
        let push = simulated_for(
            Language::Rust,
            "stack.rs",
            RUST_STACK,
            "push",
            twist.clone(),
        );
        assert!(
            push.contains("let mut subject = Stack::<i32>::with_capacity(3);"),
            "{push}"
        );
        assert!(push.contains("let item = 3;"), "{push}");
        assert!(!push.contains("Default::default()"), "{push}");
        assert!(!push.contains(": T "), "{push}");
    }
    let built = simulated_for(
        Language::Rust,
        "stack.rs",
        RUST_STACK,
        "with_capacity",
        Twist::Sample,
    );
    assert!(
        built.contains("let result = Stack::<i32>::with_capacity(capacity);"),
        "{built}"
    );
    // The Option of a number is compared, so that a failing run shows the value.
    let pop = simulated_for(
        Language::Rust,
        "stack.rs",
        RUST_STACK,
        "pop",
        Twist::WrongValue,
    );
    assert!(pop.contains("assert_eq!(result, Some(0));"), "{pop}");
    // The first answer still goes wrong where the twist says so.
    let missing = simulated_for(
        Language::Rust,
        "stack.rs",
        RUST_STACK,
        "push",
        Twist::MissingHelper,
    );
    assert!(missing.contains("make_test_fixture()"), "{missing}");
    let flaky = simulated_for(Language::Rust, "stack.rs", RUST_STACK, "push", Twist::Flaky);
    assert!(flaky.contains("HashMap"), "{flaky}");
    // The offline scaffold is as it was.
    let file_name = SourceFileName::parse("stack.rs").expect("valid name");
    let target = target(
        Language::Rust,
        Framework::RustBuiltin,
        &file_name,
        RUST_STACK,
    );
    let units = crate::parse_units(target.source_syntax(), RUST_STACK).expect("units");
    let scaffold = unit_tests(&target, &units[1], Flavor::Scaffold);
    assert!(
        scaffold.contains("let mut subject: Stack = Default::default();"),
        "{scaffold}"
    );
}

/// A type without `Debug` is not printed with `{:?}` (E0277), and a trait's method is called with
/// the trait's module imported.
#[test]
fn rust_simulated_answers_import_traits_and_print_only_debug_types() {
    let source = "pub mod geometry {\n    pub trait Shape {\n        fn area(&self) -> f64;\n    }\n\n\
    pub struct Circle {\n        pub radius: f64,\n    }\n\n\
    impl Circle {\n        pub fn new(radius: f64) -> Self {\n            Circle { radius }\n        }\n    }\n\n\
    impl Shape for Circle {\n        fn area(&self) -> f64 {\n            self.radius\n        }\n    }\n}\n";
    let new = simulated_for(Language::Rust, "shapes.rs", source, "new", Twist::Sample);
    assert!(!new.contains("{result:?}"), "{new}");
    assert!(new.contains("let _ = &result;"), "{new}");
    let area = simulated_for(Language::Rust, "shapes.rs", source, "area", Twist::Sample);
    assert!(area.contains("use super::geometry::*;"), "{area}");
    assert!(
        area.contains("let mut subject = geometry::Circle::new(2.5);"),
        "{area}"
    );
}

/// Java: a class without a constructor taking nothing is built with sample arguments, a nested
/// enum is imported and given its first constant.
#[test]
fn java_simulated_answers_construct_and_import_nested_types() {
    let source = "package com.example;\n\npublic class Money {\n    private final long cents;\n\n\
    public Money(long cents) {\n        this.cents = cents;\n    }\n\n\
    public long cents() {\n        return cents;\n    }\n\n\
    public static Money zero(Currency currency) {\n        return new Money(0);\n    }\n\n\
    public enum Currency {\n        EUR, USD;\n\n        public String code() {\n            return name();\n        }\n    }\n}\n";
    let cents = simulated_for(Language::Java, "Money.java", source, "cents", Twist::Sample);
    assert!(cents.contains("Money subject = new Money(3L);"), "{cents}");
    let zero = simulated_for(Language::Java, "Money.java", source, "zero", Twist::Sample);
    assert!(
        zero.contains("import com.example.Money.Currency;"),
        "{zero}"
    );
    assert!(
        zero.contains("Currency currency = Currency.values()[0];"),
        "{zero}"
    );
    let code = simulated_for(Language::Java, "Money.java", source, "code", Twist::Sample);
    assert!(
        code.contains("Money.Currency subject = Money.Currency.values()[0];"),
        "{code}"
    );
}

/// C++: a class template is instantiated, and built with its constructor.
#[test]
fn cpp_simulated_answers_instantiate_templates() {
    let source = "#include <cstddef>\n#include <vector>\n\nnamespace linalg {\n\ntemplate <typename T>\nclass Matrix {\npublic:\n    Matrix(std::size_t rows, std::size_t cols) : rows_(rows), data_(rows * cols) {}\n\n    std::size_t rows() const { return rows_; }\n\nprivate:\n    std::size_t rows_;\n    std::vector<T> data_;\n};\n\n}\n";
    let rows = simulated_for(Language::Cpp, "matrix.hpp", source, "rows", Twist::Sample);
    assert!(
        rows.contains("linalg::Matrix<int> subject{3, 2};"),
        "{rows}"
    );
}

/// Go: generic types and functions get `int` for their type parameters.
#[test]
fn go_simulated_answers_instantiate_generics() {
    let source = "package collections\n\ntype Stack[T any] struct {\n\titems []T\n}\n\n\
func (s *Stack[T]) Push(v T) {\n\ts.items = append(s.items, v)\n}\n\n\
func Sum[N int | float64](values ...N) N {\n\tvar total N\n\tfor _, v := range values {\n\t\ttotal += v\n\t}\n\treturn total\n}\n\n\
func Counter() func() int {\n\treturn func() int { return 1 }\n}\n";
    let push = simulated_for(Language::Go, "stack.go", source, "Push", Twist::Sample);
    assert!(push.contains("var subject Stack[int]"), "{push}");
    assert!(push.contains("var v int = 3"), "{push}");
    let sum = simulated_for(Language::Go, "stack.go", source, "Sum", Twist::Sample);
    assert!(sum.contains("var values []int"), "{sum}");
    assert!(sum.contains("result := Sum[int](values...)"), "{sum}");
    let counter = simulated_for(Language::Go, "stack.go", source, "Counter", Twist::Sample);
    assert!(!counter.contains("%v\", result"), "{counter}");
}
