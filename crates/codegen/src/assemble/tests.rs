use domain::{Framework, Language, SourceFileName};

use super::*;

fn merge(language: Language, framework: Framework, name: &str, pieces: &[&str]) -> Assembled {
    let file_name = SourceFileName::parse(name).expect("valid name");
    let target = Target {
        language,
        framework,
        file_name: &file_name,
        source: "",
    };
    let pieces: Vec<String> = pieces.iter().map(|piece| (*piece).to_owned()).collect();
    let assembled = assemble(&target, &pieces).expect("mergeable");
    let issues = syntax_issues(target.test_syntax(), &assembled.code);
    assert!(issues.is_empty(), "{}\n{issues:?}", assembled.code);
    assembled
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn nothing_to_merge_is_an_error() {
    let file_name = SourceFileName::parse("a.py").expect("valid");
    let target = Target {
        language: Language::Python,
        framework: Framework::Pytest,
        file_name: &file_name,
        source: "",
    };
    assert_eq!(assemble(&target, &[]), Err(AssembleError::Empty));
    assert_eq!(
        assemble(&target, &["  \n".to_owned()]),
        Err(AssembleError::Empty)
    );
    let error = assemble(&target, &["def f(:\n".to_owned()]).expect_err("broken");
    assert!(
        matches!(error, AssembleError::Unmergeable { piece: 1, .. }),
        "{error}"
    );
}

#[test]
fn python_pieces() {
    let one = "import pytest\n\nfrom app.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n";
    let two = "from __future__ import annotations\nimport pytest\nfrom app.calc import sub\n\n\n# Subtraction.\ndef test_sub():\n    assert sub(3, 2) == 1\n\n\ndef test_add():\n    assert add(0, 0) == 0\n";
    let three = "import math\nfrom app.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\nclass TestCalc:\n    def test_x(self):\n        assert math.pi\n";
    let code = merge(
        Language::Python,
        Framework::Pytest,
        "app/calc.py",
        &[one, two, three],
    )
    .code;
    assert!(
        code.starts_with(
            "from __future__ import annotations\nimport pytest\nimport math\nfrom app.calc import add\nfrom app.calc import sub\n\n\ndef test_add():"
        ),
        "{code}"
    );
    assert_eq!(count(&code, "import pytest"), 1);
    assert_eq!(count(&code, "def test_add():"), 1, "{code}");
    assert_eq!(count(&code, "def test_add_2():"), 1, "{code}");
    assert_eq!(
        count(&code, "def test_add_3():"),
        1,
        "identical tests are renamed too\n{code}"
    );
    assert!(code.contains("# Subtraction.\ndef test_sub():"), "{code}");
    assert!(code.contains("\n\n\nclass TestCalc:"), "{code}");
    assert!(code.ends_with("assert math.pi\n"), "{code}");
}

#[test]
fn java_pieces() {
    let one = "package com.shop;\n\nimport org.junit.jupiter.api.Test;\n\nimport static org.junit.jupiter.api.Assertions.*;\n\nclass CalculatorTest {\n\n    @Test\n    void add() {\n        assertEquals(3, new Calculator().add(1, 2));\n    }\n}\n";
    let two = "package com.shop;\n\nimport org.junit.jupiter.api.Test;\nimport org.junit.jupiter.api.extension.ExtendWith;\nimport org.mockito.junit.jupiter.MockitoExtension;\n\n@ExtendWith(MockitoExtension.class)\npublic class CalculatorSubTest {\n    // Subtraction.\n    @Test\n    void sub() {\n        assertEquals(1, new Calculator().sub(3, 2));\n    }\n\n    @Test\n    void add() {\n        assertEquals(0, new Calculator().add(0, 0));\n    }\n\n    private int helper(int x) { return x; }\n}\n";
    let three = "package com.shop;\nimport org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\nclass CalculatorTest {\n  @Test void add() { assertEquals(3, new Calculator().add(1, 2)); }\n  private int helper(String x) { return 0; }\n}\nclass Fixture {}\n";
    let code = merge(
        Language::Java,
        Framework::Junit5,
        "src/Calculator.java",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("package com.shop;\n\nimport org.junit.jupiter.api.Test;\nimport org.junit.jupiter.api.extension.ExtendWith;\nimport org.mockito.junit.jupiter.MockitoExtension;\n\nimport static org.junit.jupiter.api.Assertions.*;\n\n@ExtendWith(MockitoExtension.class)\nclass CalculatorTest {\n"), "{code}");
    assert_eq!(count(&code, "package "), 1);
    assert_eq!(count(&code, "class CalculatorTest"), 1);
    assert!(!code.contains("CalculatorSubTest"), "{code}");
    assert_eq!(count(&code, "void add()"), 1, "{code}");
    assert_eq!(count(&code, "void add_2()"), 1, "{code}");
    assert_eq!(
        count(&code, "void add_3()"),
        1,
        "identical tests are renamed too\n{code}"
    );
    assert!(
        code.contains("    // Subtraction.\n    @Test\n    void sub() {"),
        "{code}"
    );
    assert!(
        code.contains("int helper(int x)") && code.contains("int helper(String x)"),
        "overloads stay\n{code}"
    );
    assert!(code.ends_with("}\n\nclass Fixture {}\n"), "{code}");
}

#[test]
fn java_renames_count_up() {
    let piece = "class ATest {\n    @Test\n    void works() {}\n}\n";
    let other = "class ATest {\n    @Test\n    void works() { int x = 1; }\n}\n";
    let third = "class ATest {\n    @Test\n    void works() { int y = 2; }\n}\n";
    let code = merge(
        Language::Java,
        Framework::Junit5,
        "A.java",
        &[piece, other, third],
    )
    .code;
    assert!(
        code.contains("void works()")
            && code.contains("void works_2()")
            && code.contains("void works_3()"),
        "{code}"
    );
}

#[test]
fn csharp_pieces() {
    let one = "using NUnit.Framework;\nusing Shop;\n\nnamespace Shop.Tests\n{\n    [TestFixture]\n    public class InvoiceTests\n    {\n        [Test]\n        public void Total()\n        {\n            Assert.That(new Invoice().Total(), Is.EqualTo(0));\n        }\n    }\n}\n";
    let two = "using NUnit.Framework;\nusing System;\n\nnamespace Shop.Tests;\n\n[TestFixture]\npublic class InvoiceParseTests\n{\n    private readonly Invoice invoice;\n\n    public InvoiceParseTests()\n    {\n        invoice = new Invoice();\n    }\n\n    [Test]\n    public void Total()\n    {\n        Assert.That(invoice.Total(), Is.EqualTo(1));\n    }\n}\n";
    let three = "using NUnit.Framework;\nnamespace Other\n{\n    public class Helper { }\n    public class InvoiceTests\n    {\n        [Test]\n        public void Parse() { Assert.Pass(); }\n    }\n}\n";
    let code = merge(
        Language::Csharp,
        Framework::Nunit,
        "Shop/Invoice.cs",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("using NUnit.Framework;\nusing Shop;\nusing System;\n\nnamespace Shop.Tests\n{\n    [TestFixture]\n    public class InvoiceTests\n    {\n        [Test]\n        public void Total()\n"), "{code}");
    assert_eq!(count(&code, "namespace "), 1, "{code}");
    assert_eq!(count(&code, "class InvoiceTests"), 1, "{code}");
    assert!(code.contains("public void Total_2()"), "{code}");
    assert!(
        code.contains("        public InvoiceTests()\n"),
        "constructor follows the class\n{code}"
    );
    assert!(code.contains("public void Parse()"), "{code}");
    assert!(
        code.contains("\n    public class Helper { }\n}\n"),
        "{code}"
    );
}

#[test]
fn xunit_without_namespace() {
    let one = "using Xunit;\npublic class ATests\n{\n    [Fact]\n    public void One() { Assert.True(true); }\n}\n";
    let two = "using Xunit;\npublic class ATests\n{\n    [Fact]\n    public void Two() { Assert.True(true); }\n}\n";
    let three = "using Xunit;\nusing System.Linq;\npublic class ATests\n{\n    [Fact]\n    public void One() { Assert.False(false); }\n}\n";
    let code = merge(
        Language::Csharp,
        Framework::Xunit,
        "A.cs",
        &[one, two, three],
    )
    .code;
    assert!(
        code.starts_with(
            "using Xunit;\nusing System.Linq;\n\npublic class ATests\n{\n    [Fact]\n"
        ),
        "{code}"
    );
    assert!(code.contains("One_2()"), "{code}");
}

#[test]
fn go_pieces() {
    let one = "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n";
    let two = "package calc\n\nimport (\n\t\"strings\"\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/assert\"\n)\n\n// Join joins.\nfunc TestJoin(t *testing.T) {\n\tassert.Equal(t, \"a\", strings.TrimSpace(\" a \"))\n}\n\nfunc TestAdd(t *testing.T) {\n\tassert.Equal(t, 0, Add(0, 0))\n}\n";
    let three = "package calc\n\nimport (\n\t\"testing\"\n\tstr \"strings\"\n)\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n\nfunc TestUpper(t *testing.T) {\n\t_ = str.ToUpper(\"a\")\n}\n";
    let code = merge(
        Language::Go,
        Framework::Testify,
        "calc/calc.go",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("package calc\n\nimport (\n\t\"testing\"\n\t\"strings\"\n\tstr \"strings\"\n\n\t\"github.com/stretchr/testify/assert\"\n)\n\nfunc TestAdd(t *testing.T) {"), "{code}");
    assert_eq!(count(&code, "package "), 1);
    assert_eq!(count(&code, "import ("), 1);
    assert_eq!(count(&code, "func TestAdd("), 1, "{code}");
    assert_eq!(count(&code, "func TestAdd_2("), 1, "{code}");
    assert!(code.contains("// Join joins.\nfunc TestJoin("), "{code}");
}

#[test]
fn cpp_pieces() {
    let one = "#include <gtest/gtest.h>\n\n// The header, beside the source.\n#include \"stack.h\"\n\nTEST(StackTest, Push) {\n    Stack s;\n    s.push(1);\n    EXPECT_EQ(s.size(), 1u);\n}\n";
    let two = "#include <gtest/gtest.h>\n#include <string>\n#include \"stack.h\"\n\nTEST(StackTest, Pop) {\n    Stack s;\n    EXPECT_TRUE(s.empty());\n}\n\nTEST(StackTest, Push) {\n    Stack s;\n    EXPECT_TRUE(s.empty());\n}\n";
    let three = "#include \"stack.h\"\n#include <gtest/gtest.h>\n\nnamespace {\nint helper() { return 1; }\n}\n\nTEST(OtherTest, Push) {\n    EXPECT_EQ(helper(), 1);\n}\n";
    let code = merge(
        Language::Cpp,
        Framework::Gtest,
        "src/stack.cpp",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("#include <gtest/gtest.h>\n#include <string>\n\n// The header, beside the source.\n#include \"stack.h\"\n\nTEST(StackTest, Push) {"), "{code}");
    assert_eq!(count(&code, "#include \"stack.h\""), 1);
    assert_eq!(count(&code, "TEST(StackTest, Push)"), 1, "{code}");
    assert_eq!(count(&code, "TEST(StackTest, Push_2)"), 1, "{code}");
    assert_eq!(
        count(&code, "TEST(OtherTest, Push)"),
        1,
        "another suite may reuse the name\n{code}"
    );
}

#[test]
fn rust_flat_pieces() {
    let one = "use super::*;\n\n#[test]\nfn adds() {\n    assert_eq!(add(1, 2), 3);\n}\n";
    let two = "use super::*;\nuse std::collections::HashMap;\n\n/// Subtracts.\n#[test]\nfn subs() {\n    assert_eq!(sub(3, 2), 1);\n}\n\n#[test]\nfn adds() {\n    assert_eq!(add(0, 0), 0);\n}\n";
    let three = "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(2, 2), 4);\n    }\n}\n";
    let code = merge(
        Language::Rust,
        Framework::RustBuiltin,
        "src/calc.rs",
        &[one, two, three],
    )
    .code;
    assert!(
        code.starts_with("use super::*;\nuse std::collections::HashMap;\n\n#[test]\nfn adds() {"),
        "{code}"
    );
    assert!(
        !code.contains("mod tests"),
        "mixed pieces are flattened\n{code}"
    );
    assert!(
        code.contains("/// Subtracts.\n#[test]\nfn subs() {"),
        "{code}"
    );
    assert!(
        code.contains("fn adds_2()") && code.contains("fn adds_3()"),
        "{code}"
    );
    assert!(
        code.contains("#[test]\nfn adds_3() {\n    assert_eq!(add(2, 2), 4);\n}"),
        "dedented\n{code}"
    );
}

#[test]
fn rust_wrapped_pieces() {
    let wrap =
        |body: &str| format!("#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{body}\n}}\n");
    let one = wrap("    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }");
    let two = wrap(
        "    use std::fmt::Write;\n\n    #[test]\n    fn subs() {\n        assert_eq!(sub(3, 2), 1);\n    }",
    );
    let three = wrap("    #[test]\n    fn adds() {\n        assert_eq!(add(2, 2), 4);\n    }");
    let code = merge(
        Language::Rust,
        Framework::RustBuiltin,
        "src/calc.rs",
        &[&one, &two, &three],
    )
    .code;
    assert!(code.starts_with("#[cfg(test)]\nmod tests {\n    use super::*;\n    use std::fmt::Write;\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n"), "{code}");
    assert_eq!(count(&code, "mod tests"), 1);
    assert!(code.contains("    fn adds_2() {"), "{code}");
}

#[test]
fn js_pieces() {
    let one = "import { describe, expect, test } from 'vitest';\nimport { add } from './calc';\n\ntest('add', () => {\n  expect(add(1, 2)).toBe(3);\n});\n";
    let two = "import { expect, test, vi } from 'vitest';\nimport Calc, { sub } from './calc';\nimport './setup';\n\n// Subtraction.\ntest('sub', () => {\n  expect(sub(3, 2)).toBe(1);\n});\n\ntest('add', () => {\n  expect(Calc.add(0, 0)).toBe(0);\n});\n";
    let three = "import * as path from 'node:path';\nimport { add } from './calc';\nimport './setup';\n\nfunction helper() { return 1; }\n\ntest.skip(\"add\", () => {});\n";
    let code = merge(
        Language::Javascript,
        Framework::Vitest,
        "lib/calc.js",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("import { describe, expect, test, vi } from 'vitest';\nimport Calc, { add, sub } from './calc';\nimport './setup';\nimport * as path from 'node:path';\n\ntest('add', () => {"), "{code}");
    assert!(code.contains("// Subtraction.\ntest('sub'"), "{code}");
    assert!(code.contains("test('add_2', () => {"), "{code}");
    assert!(code.contains("test.skip(\"add_3\", () => {});"), "{code}");
}

#[test]
fn js_commonjs_pieces() {
    let one = "const { test } = require('node:test');\nconst assert = require('node:assert/strict');\nconst { add } = require('./calc');\n\ntest('add', () => {\n  assert.equal(add(1, 2), 3);\n});\n";
    let two = "const { test } = require('node:test');\nconst assert = require('node:assert/strict');\nconst { sub } = require('./calc');\n\ntest('sub', () => {\n  assert.equal(sub(3, 2), 1);\n});\n";
    let three = "const { describe, test } = require('node:test');\nconst assert = require('node:assert/strict');\n\ndescribe('add', () => {\n  test('zero', () => assert.ok(true));\n});\n";
    let code = merge(
        Language::Javascript,
        Framework::NodeTest,
        "calc.js",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("const { test, describe } = require('node:test');\nconst assert = require('node:assert/strict');\nconst { add, sub } = require('./calc');\n\ntest('add', () => {"), "{code}");
    assert!(
        code.contains("describe('add'"),
        "a describe may share a test's title\n{code}"
    );
}

#[test]
fn typescript_pieces() {
    let one = "import { Stack } from './stack';\nimport type { Item } from './types';\n\ntest('Stack.push', () => {\n  const s = new Stack<number>();\n  expect(s.size).toBe(0);\n});\n";
    let two = "import { Stack } from './stack';\nimport type { Item } from './types';\n\ntest('Stack.pop', () => {\n  const item: Item = { id: 1 };\n  expect(new Stack<Item>().pop()).toBeUndefined();\n});\n";
    let three = "import { Queue } from './stack';\n\ntest('Stack.push', async () => {\n  const q = new Queue<string>();\n  expect(q).toBeDefined();\n});\n";
    let code = merge(
        Language::Typescript,
        Framework::Jest,
        "src/stack.ts",
        &[one, two, three],
    )
    .code;
    assert!(code.starts_with("import { Stack, Queue } from './stack';\nimport type { Item } from './types';\n\ntest('Stack.push'"), "{code}");
    assert!(code.contains("test('Stack.push_2', async"), "{code}");
}

#[test]
fn scaffolds_merge_in_every_framework() {
    use crate::scaffold::{Flavor, unit_tests};
    use crate::{Unit, UnitKind};
    let unit = |name: &str, container: Option<&str>, line: u32| Unit {
        kind: if container.is_some() {
            UnitKind::Method
        } else {
            UnitKind::Function
        },
        name: name.to_owned(),
        container: container.map(str::to_owned),
        signature: String::new(),
        doc: None,
        params: Vec::new(),
        return_type: None,
        is_async: false,
        is_static: false,
        is_public: true,
        start_line: line,
        end_line: line + 1,
    };
    for framework in Framework::ALL {
        let language = framework.languages()[0];
        let name = format!("src/calc.{}", language.primary_extension());
        let file_name = SourceFileName::parse(&name).expect("valid");
        let target = Target {
            language,
            framework,
            file_name: &file_name,
            source: "",
        };
        let units = [
            unit("add", None, 1),
            unit("add", Some("Calculator"), 5),
            unit("reset", Some("Calculator"), 9),
        ];
        let pieces: Vec<String> = units
            .iter()
            .map(|unit| unit_tests(&target, unit, Flavor::Scaffold))
            .collect();
        let assembled = assemble(&target, &pieces).expect("mergeable");
        let issues = syntax_issues(target.test_syntax(), &assembled.code);
        assert!(
            issues.is_empty(),
            "{framework}\n{}\n{issues:?}",
            assembled.code
        );
        assert_eq!(assembled.file_name, target.test_file_name());
    }
}

mod generated_pieces {
    use super::*;
    use crate::scaffold::{Flavor, unit_tests};
    use crate::{Param, Unit, UnitKind};
    use proptest::prelude::*;

    /// Units with few distinct names, so pieces clash.
    fn any_unit() -> impl Strategy<Value = Unit> {
        let kind = prop_oneof![
            Just(UnitKind::Function),
            Just(UnitKind::Method),
            Just(UnitKind::Constructor)
        ];
        let name = prop_oneof![Just("add"), Just("reset"), Just("Run")];
        let container = proptest::option::of(prop_oneof![Just("Calculator"), Just("Outer.Inner")]);
        let param_type =
            proptest::option::of(prop_oneof![Just("int"), Just("string"), Just("Widget")]);
        (
            kind,
            name,
            container,
            param_type,
            any::<(bool, bool, bool)>(),
            1u32..30,
        )
            .prop_map(
                |(kind, name, container, param_type, (is_async, is_static, is_public), line)| {
                    Unit {
                        kind,
                        name: name.to_owned(),
                        container: container.map(str::to_owned),
                        signature: String::new(),
                        doc: None,
                        params: vec![Param {
                            name: "value".to_owned(),
                            type_name: param_type.map(str::to_owned),
                        }],
                        return_type: None,
                        is_async,
                        is_static,
                        is_public,
                        start_line: line,
                        end_line: line + 1,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn merged_scaffolds_parse(
            units in proptest::collection::vec(any_unit(), 1..6),
            framework_index in 0usize..13,
            scaffold in any::<bool>(),
        ) {
            let framework = Framework::ALL[framework_index];
            let language = framework.languages()[0];
            let name = format!("src/calc.{}", language.primary_extension());
            let file_name = SourceFileName::parse(&name).expect("valid");
            let target = Target { language, framework, file_name: &file_name, source: "" };
            let flavor = if scaffold { Flavor::Scaffold } else { Flavor::Simulated };
            let pieces: Vec<String> = units.iter().map(|unit| unit_tests(&target, unit, flavor)).collect();
            let assembled = assemble(&target, &pieces).expect("mergeable");
            let issues = syntax_issues(target.test_syntax(), &assembled.code);
            prop_assert!(issues.is_empty(), "{framework}\n{}\n{issues:?}", assembled.code);
        }
    }

    /// White space of other classes at the start of lines, where the grammar accepts it.
    const WIDE_SPACES: &[&str] = &["\u{3000}", "\u{a0}", "\u{2003}", "\t", " "];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn pieces_indented_with_any_white_space_merge_without_panic(
            units in proptest::collection::vec(any_unit(), 1..5),
            framework_index in 0usize..13,
            spaces in proptest::collection::vec(proptest::sample::select(WIDE_SPACES), 1..40),
        ) {
            let framework = Framework::ALL[framework_index];
            let language = framework.languages()[0];
            let name = format!("src/calc.{}", language.primary_extension());
            let file_name = SourceFileName::parse(&name).expect("valid");
            let target = Target { language, framework, file_name: &file_name, source: "" };
            let pieces: Vec<String> = units
                .iter()
                .map(|unit| unit_tests(&target, unit, Flavor::Simulated))
                .map(|piece| {
                    piece
                        .lines()
                        .zip(spaces.iter().cycle())
                        .map(|(line, space)| {
                            // Each level of indentation becomes one of the chosen white spaces.
                            let body = line.trim_start_matches(' ');
                            let depth = (line.len() - body.len()).div_ceil(4);
                            format!("{}{body}\n", space.repeat(depth))
                        })
                        .collect()
                })
                .collect();
            // Whether it merges depends on the grammar; it never panics.
            let _ = assemble(&target, &pieces);
        }
    }
}

#[test]
fn lines_starting_with_a_wide_space_are_reindented_without_cutting_a_character() {
    // U+3000 is white space of three bytes; a line indented with two ASCII spaces beside it
    // once made the common indent cut it in half.
    let text = "\u{3000}int a = 1;\n  int b = 2;\n";
    assert_eq!(
        super::reindent(text, "    "),
        "    \u{3000}int a = 1;\n      int b = 2;"
    );
    assert_eq!(super::reindent("    x\n    y", ""), "x\ny");
    assert_eq!(super::reindent("\t\tx\n\ty", "  "), "  \tx\n  y");
    let java = "class CalcTest {\n\u{3000}@Test\n  void adds() {}\n}\n";
    let target_name = domain::SourceFileName::parse("Calc.java").expect("a name");
    let target = crate::Target {
        language: domain::Language::Java,
        framework: domain::Framework::Junit5,
        file_name: &target_name,
        source: "class Calc {}",
    };
    // Whatever it makes of such a piece, assembling it does not panic.
    let _ = super::assemble(&target, &[java.to_owned(), java.to_owned()]);
}

/// Untrusted text, from a model or a user, with white space of every class: assembling it, and
/// parsing it as a source, never panics, whatever the language.
mod untrusted_text {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of test code, and white space of every class (tabs, CR, NBSP, em space, ideographic
    /// space, line and paragraph separators), so indentation mixes them.
    const FRAGMENTS: &[&str] = &[
        "def test_a():\n",
        "class T:\n",
        "import x\n",
        "from m import a\n",
        "fn t() {}\n",
        "#[test]\n",
        "@Test\n",
        "void t() {}\n",
        "package p;\n",
        "package p\n",
        "func T(t *testing.T) {}\n",
        "TEST(A, B) {}\n",
        "#include \"a.h\"\n",
        "using X;\n",
        "test('a', () => {});\n",
        "import { a } from './a';\n",
        "mod tests {\n",
        "}\n",
        "{\n",
        "    ",
        "\t",
        "\r\n",
        "\u{a0}",
        "\u{2003}",
        "\u{3000}",
        "\u{2028}",
        "\u{2029}",
        "\u{feff}",
        "assert x == 1\n",
        "é",
        "𝄞",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn assembling_and_parsing_never_panic(
            pieces in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24),
                1..4,
            ),
            framework_index in 0usize..13,
        ) {
            let framework = Framework::ALL[framework_index];
            let language = framework.languages()[0];
            let name = format!("src/calc.{}", language.primary_extension());
            let file_name = SourceFileName::parse(&name).expect("valid");
            let pieces: Vec<String> = pieces.iter().map(|piece| piece.concat()).collect();
            let target = Target { language, framework, file_name: &file_name, source: &pieces[0] };
            let _ = assemble(&target, &pieces);
            let _ = crate::parse_units(target.source_syntax(), &pieces[0]);
            for piece in &pieces {
                let _ = reindent(piece, "    ");
                let _ = crate::extract::code_from_answer(piece, language);
            }
        }
    }
}
