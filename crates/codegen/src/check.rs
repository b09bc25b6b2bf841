//! The syntax check every generated file passes before it is stored: tree-sitter finds no `ERROR`
//! and no `MISSING` node.

use std::fmt;

use crate::Syntax;

/// One place where the code does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxIssue {
    /// 1-based line and column.
    pub line: u32,
    pub column: u32,
    /// `unexpected <text>` for an error node, `missing <kind>` for a node the parser had to invent.
    pub message: String,
}

impl fmt::Display for SyntaxIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// At most this many issues are reported: enough to fix the code, short enough for a prompt.
const MAX_ISSUES: usize = 10;

/// Every place where `code` fails to parse, outermost first, at most [`MAX_ISSUES`]. Empty means the
/// code is well-formed (not that it compiles).
pub fn syntax_issues(syntax: Syntax, code: &str) -> Vec<SyntaxIssue> {
    let Some(tree) = syntax.tree(code) else {
        return vec![SyntaxIssue {
            line: 1,
            column: 1,
            message: "the grammar could not be loaded".to_owned(),
        }];
    };
    let mut issues = Vec::new();
    let mut cursor = tree.walk();
    let mut descend = true;
    loop {
        let node = cursor.node();
        if descend && node.has_error() {
            if node.is_error() || node.is_missing() {
                issues.push(issue_at(node, code));
                if issues.len() == MAX_ISSUES {
                    break;
                }
            } else if cursor.goto_first_child() {
                continue;
            }
        }
        if cursor.goto_next_sibling() {
            descend = true;
            continue;
        }
        if !cursor.goto_parent() {
            break;
        }
        descend = false;
    }
    issues
}

fn issue_at(node: tree_sitter::Node<'_>, code: &str) -> SyntaxIssue {
    let position = node.start_position();
    let message = if node.is_missing() {
        format!("missing {}", node.kind())
    } else {
        let text = code.get(node.byte_range()).unwrap_or_default();
        let first_line = text.lines().next().unwrap_or_default().trim();
        let shown: String = first_line.chars().take(40).collect();
        format!("unexpected `{shown}`")
    };
    SyntaxIssue {
        line: u32::try_from(position.row + 1).unwrap_or(u32::MAX),
        column: u32::try_from(position.column + 1).unwrap_or(u32::MAX),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_code_has_no_issues() {
        assert!(syntax_issues(Syntax::Python, "def f(x):\n    return x\n").is_empty());
        assert!(syntax_issues(Syntax::Go, "package a\n\nfunc F() int { return 1 }\n").is_empty());
    }

    #[test]
    fn broken_code_is_located() {
        let issues = syntax_issues(Syntax::Python, "def f(x):\n    return x +\n");
        assert!(!issues.is_empty());
        assert_eq!(issues[0].line, 2, "{issues:?}");

        let issues = syntax_issues(Syntax::Java, "class A { void f() { int x = ; } }");
        assert!(!issues.is_empty());
        let issues = syntax_issues(Syntax::Rust, "fn f() { let x = (1, ; }");
        assert!(!issues.is_empty());
    }

    #[test]
    fn a_missing_token_is_an_issue() {
        let issues = syntax_issues(Syntax::Go, "package a\nfunc F() { if true { }\n");
        assert!(!issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn issues_are_capped() {
        let code = ")\n".repeat(100);
        assert!(syntax_issues(Syntax::Python, &code).len() <= MAX_ISSUES);
    }
}

/// Whether a test file checks anything: it uses an assertion of its language's test tools, or
/// expects a failure. A file without one calls code and can only fail by crashing.
pub fn has_assertion(language: domain::Language, code: &str) -> bool {
    let markers = crate::lang::support(language).notation().assertion_markers;
    code.lines()
        .map(str::trim_start)
        // Comments do not check anything.
        .filter(|line| !line.starts_with('#') && !line.starts_with("//"))
        .any(|line| markers.iter().any(|marker| line.contains(marker)))
}

#[cfg(test)]
mod assertion_tests {
    use super::has_assertion;
    use domain::Language;

    #[test]
    fn a_test_that_only_calls_has_no_assertion() {
        assert!(has_assertion(
            Language::Python,
            "def test_x():\n    assert f() == 1\n"
        ));
        assert!(!has_assertion(
            Language::Python,
            "def test_x():\n    f()\n    # assert later\n"
        ));
        assert!(has_assertion(
            Language::Go,
            "func TestX(t *testing.T) {\n\tif f() != 1 {\n\t\tt.Errorf(\"x\")\n\t}\n}\n"
        ));
        assert!(!has_assertion(
            Language::Cpp,
            "TEST(X, Y) {\n  f();\n  // EXPECT_EQ later\n}\n"
        ));
        assert!(has_assertion(
            Language::Typescript,
            "test('x', () => { assert.equal(f(), 1); });"
        ));
    }
}
