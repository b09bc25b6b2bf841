//! How a test file reaches the code under test, derived from the source's path and contents.
//!
//! The test file is assumed to sit where [`crate::Target::test_file_name`] names it. [`Access`]
//! says what that takes, one variant per language; each language's rules are in its folder
//! (`lang/<language>/imports.rs`, and `access` in `lang/<language>/mod.rs`):
//! - Python: at the project root, importing the module by its dotted path;
//! - Java and Go: in the source's package, so nothing of it is imported;
//! - C++: beside the source, including the header that declares it;
//! - C#: `using` every namespace the source declares;
//! - Rust: a child module of the source, with `use super::*;`;
//! - JavaScript/TypeScript: beside the source, importing from `./stem` ([`JsStyle`]).

use domain::Language;

use crate::lang::{self, support};
use crate::{Target, Unit};

/// How a JavaScript test file loads the module under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsStyle {
    /// `import { a } from './x'`: TypeScript, `.mjs`/`.mts`, Vitest (which runs tests as ES
    /// modules), and any source that uses `import`/`export` or does not use CommonJS exports.
    EsModule,
    /// `const { a } = require('./x')`: a `.cjs` source, or a source that exports through
    /// `module.exports`/`exports.x` and has no `import`/`export`, under Jest or node:test (which
    /// load `.js` files as CommonJS unless told otherwise).
    CommonJs,
}

/// Where the code under test lives, as seen from the test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Python {
        /// The dotted module path, `app.utils.math_ops`.
        module: String,
    },
    Java {
        /// The source's package; the test is declared in it too.
        package: Option<String>,
        /// The class named like the file, which the test class is named after.
        class_name: String,
        /// The source's `import` declarations, repeated in the test.
        source_imports: Vec<String>,
    },
    Go {
        /// The source's package name; the test is declared in it too.
        package: String,
        /// The source's import specs (`"time"`, `str "strings"`): the test imports those its
        /// placeholders name.
        source_imports: Vec<String>,
    },
    Cpp {
        /// The header to include, relative to the test file beside the source.
        header: String,
        /// The header is a guess from the source's name (`x.cpp` → `x.h`), not the source itself.
        guessed: bool,
    },
    Csharp {
        /// The namespaces the source declares, outermost first, nested ones joined (`A.B`).
        namespaces: Vec<String>,
        /// The source's own `using` directives, repeated in the test.
        source_usings: Vec<String>,
    },
    Rust,
    Js {
        /// `./stem`, with the extension where the runtime needs it.
        specifier: String,
        style: JsStyle,
        /// Names the source exports as its default export (`export default class X`,
        /// `module.exports = X`).
        default_exports: Vec<String>,
    },
}

/// How the test file for `target` reaches its source.
pub fn access(target: &Target<'_>) -> Access {
    let path = SourcePath::of(target.file_name.as_str());
    support(target.language).access(target, &path)
}

impl Access {
    /// The line that opens the test file: `package x;` (Java) or `package x` (Go).
    pub fn package_line(&self) -> Option<String> {
        match self {
            Access::Java {
                package: Some(package),
                ..
            } => Some(format!("package {package};")),
            Access::Go { package, .. } => Some(format!("package {package}")),
            _ => None,
        }
    }

    /// The lines that bring `names` (the top-level names the tests refer to) into scope.
    pub fn import_lines(&self, names: &[String]) -> Vec<String> {
        match self {
            Access::Python { module } => lang::python::imports::import_lines(module, names),
            Access::Java { source_imports, .. } => source_imports.clone(),
            Access::Go { .. } => Vec::new(),
            Access::Cpp { header, guessed } => lang::cpp::imports::import_lines(header, *guessed),
            Access::Csharp {
                namespaces,
                source_usings,
            } => lang::csharp::imports::import_lines(namespaces, source_usings),
            Access::Rust => vec!["use super::*;".to_owned()],
            Access::Js {
                specifier,
                style,
                default_exports,
            } => lang::javascript::imports::import_lines(specifier, *style, default_exports, names),
        }
    }
}

/// The top-level name a test of `unit` refers to: the outermost container (a class, a TS
/// namespace), or the unit itself. `None` where nothing needs importing by name.
pub fn imported_name(language: Language, unit: &Unit) -> Option<String> {
    support(language).imported_name(unit)
}

/// The outermost container of `unit` (or the unit itself), where that is an identifier: what
/// languages that import by name (Python, JavaScript, TypeScript) import.
pub(crate) fn outermost_name(unit: &Unit) -> Option<String> {
    let name = match &unit.container {
        Some(container) => container.split('.').next().unwrap_or(container),
        None => unit.name.as_str(),
    };
    is_identifier(name).then(|| name.to_owned())
}

/// A plain identifier: a letter, `_` or `$`, then letters, digits, `_` or `$`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_' || first == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// Whether a test in the conventional test file can call `unit` at all. Python imports `_private`
/// names like any other, Go tests share the package and Rust tests are a child module; elsewhere
/// only exported or public units are reachable.
pub fn is_reachable(language: Language, unit: &Unit) -> bool {
    support(language).is_reachable(unit)
}

/// One line saying how the test reaches `unit`, for prompts: `from app.x import Outer`,
/// `#include "x.h"`, `package calc (the test is in the same package)` …
pub fn summary(target: &Target<'_>, unit: &Unit) -> String {
    let access = access(target);
    if let Some(line) = support(target.language).same_package_summary(&access) {
        return line;
    }
    let names: Vec<String> = imported_name(target.language, unit).into_iter().collect();
    let lines: Vec<String> = access
        .import_lines(&names)
        .into_iter()
        .filter(|line| !line.starts_with("//"))
        .collect();
    if lines.is_empty() {
        "nothing to import".to_owned()
    } else {
        lines.join(" ")
    }
}

/// The source's path in the parts the import rules use: `dir/sub/name.ext` → `dir/sub`, `name`,
/// `ext` (lower-cased).
pub(crate) struct SourcePath<'a> {
    pub(crate) directory: &'a str,
    pub(crate) stem: &'a str,
    pub(crate) extension: String,
}

impl<'a> SourcePath<'a> {
    fn of(file_name: &'a str) -> SourcePath<'a> {
        let (directory, base) = match file_name.rsplit_once('/') {
            Some((directory, base)) => (directory, base),
            None => ("", file_name),
        };
        let (stem, extension) = match base.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, extension.to_ascii_lowercase()),
            _ => (base, String::new()),
        };
        SourcePath {
            directory,
            stem,
            extension,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnitKind;
    use domain::{Framework, SourceFileName};

    fn access_of(language: Language, framework: Framework, name: &str, source: &str) -> Access {
        let file_name = SourceFileName::parse(name).expect("valid name");
        access(&Target {
            language,
            framework,
            file_name: &file_name,
            source,
        })
    }

    fn unit(name: &str, container: Option<&str>, is_public: bool) -> Unit {
        Unit {
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
            is_public,
            start_line: 1,
            end_line: 2,
        }
    }

    #[test]
    fn python_modules_come_from_the_path() {
        let access = access_of(
            Language::Python,
            Framework::Pytest,
            "app/utils/math_ops.py",
            "",
        );
        assert_eq!(
            access.import_lines(&["Calculator".to_owned(), "add".to_owned()]),
            ["from app.utils.math_ops import Calculator, add"]
        );
        let access = access_of(Language::Python, Framework::Pytest, "src/pkg/m.py", "");
        assert_eq!(
            access,
            Access::Python {
                module: "pkg.m".to_owned()
            }
        );
        let access = access_of(Language::Python, Framework::Pytest, "pkg/__init__.py", "");
        assert_eq!(
            access,
            Access::Python {
                module: "pkg".to_owned()
            }
        );
        assert_eq!(
            imported_name(
                Language::Python,
                &unit("length", Some("Polygon.Edge"), true)
            ),
            Some("Polygon".to_owned())
        );
    }

    #[test]
    fn java_tests_share_the_package() {
        let source =
            "package com.shop.billing;\n\nimport java.util.List;\n\npublic class Invoice {}\n";
        let access = access_of(
            Language::Java,
            Framework::Junit5,
            "src/Invoice.java",
            source,
        );
        assert_eq!(
            access.package_line().as_deref(),
            Some("package com.shop.billing;")
        );
        assert_eq!(access.import_lines(&[]), ["import java.util.List;"]);
        let Access::Java { class_name, .. } = access else {
            panic!("java access");
        };
        assert_eq!(class_name, "Invoice");
        let access = access_of(Language::Java, Framework::Junit5, "A.java", "class A {}");
        assert_eq!(access.package_line(), None);
    }

    #[test]
    fn go_tests_share_the_package() {
        let source = "package calc\n\nimport (\n\t\"time\"\n\tstr \"strings\"\n)\n";
        let access = access_of(Language::Go, Framework::GoTesting, "calc/calc.go", source);
        assert_eq!(access.package_line().as_deref(), Some("package calc"));
        let Access::Go { source_imports, .. } = access else {
            panic!("go access");
        };
        assert_eq!(source_imports, ["\"time\"", "str \"strings\""]);
    }

    #[test]
    fn cpp_includes_the_header() {
        let access = access_of(Language::Cpp, Framework::Gtest, "src/stack.cpp", "");
        let lines = access.import_lines(&[]);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("#include \"stack.h\"")
        );
        assert!(lines[0].starts_with("//"), "says the header is assumed");
        let access = access_of(Language::Cpp, Framework::Gtest, "src/stack.hpp", "");
        assert_eq!(access.import_lines(&[]), ["#include \"stack.hpp\""]);
    }

    #[test]
    fn csharp_uses_the_namespaces() {
        let source = "using System;\nnamespace Shop { namespace Billing { class A {} } }\n";
        let access = access_of(Language::Csharp, Framework::Nunit, "A.cs", source);
        assert_eq!(
            access.import_lines(&[]),
            ["using System;", "using Shop;", "using Shop.Billing;"]
        );
        let source = "namespace Shop.Billing;\nusing System.Linq;\npublic class A {}\n";
        let access = access_of(Language::Csharp, Framework::Xunit, "A.cs", source);
        assert_eq!(
            access.import_lines(&[]),
            ["using System.Linq;", "using Shop.Billing;"]
        );
    }

    #[test]
    fn rust_tests_are_a_child_module() {
        let access = access_of(Language::Rust, Framework::RustBuiltin, "src/lib.rs", "");
        assert_eq!(access.import_lines(&[]), ["use super::*;"]);
    }

    #[test]
    fn js_imports_follow_the_module_style() {
        let names = ["add".to_owned()];
        let esm = "export function add(a, b) { return a + b; }\n";
        let access = access_of(Language::Javascript, Framework::Jest, "lib/math.js", esm);
        assert_eq!(
            access.import_lines(&names),
            ["import { add } from './math';"]
        );

        let cjs = "function add(a, b) { return a + b; }\nmodule.exports = { add };\n";
        let access = access_of(Language::Javascript, Framework::Jest, "math.js", cjs);
        assert_eq!(
            access.import_lines(&names),
            ["const { add } = require('./math');"]
        );
        let access = access_of(Language::Javascript, Framework::Vitest, "math.js", cjs);
        assert_eq!(
            access.import_lines(&names),
            ["import { add } from './math';"]
        );
        let access = access_of(Language::Javascript, Framework::NodeTest, "math.js", cjs);
        assert_eq!(
            access.import_lines(&names),
            ["const { add } = require('./math');"]
        );

        let access = access_of(Language::Javascript, Framework::Jest, "math.mjs", esm);
        assert_eq!(
            access.import_lines(&names),
            ["import { add } from './math.mjs';"]
        );
        let access = access_of(Language::Javascript, Framework::NodeTest, "math.js", esm);
        assert_eq!(
            access.import_lines(&names),
            ["import { add } from './math.js';"]
        );

        let ts = "export default class Stack {}\nexport function add(a: number) { return a; }\n";
        let access = access_of(Language::Typescript, Framework::NodeTest, "ds/stack.ts", ts);
        assert_eq!(
            access.import_lines(&["Stack".to_owned(), "add".to_owned()]),
            ["import Stack, { add } from './stack';"]
        );
    }

    #[test]
    fn reachability_follows_visibility() {
        let private = unit("helper", None, false);
        assert!(is_reachable(Language::Python, &private));
        assert!(is_reachable(Language::Go, &private));
        assert!(is_reachable(Language::Rust, &private));
        assert!(!is_reachable(Language::Javascript, &private));
        assert!(!is_reachable(Language::Java, &private));
        assert!(!is_reachable(
            Language::Typescript,
            &unit("#secret", Some("A"), true)
        ));
    }

    #[test]
    fn summaries_are_one_line() {
        let file_name = SourceFileName::parse("app/x.py").expect("valid");
        let target = Target {
            language: Language::Python,
            framework: Framework::Pytest,
            file_name: &file_name,
            source: "",
        };
        assert_eq!(
            summary(&target, &unit("compute", Some("Outer"), true)),
            "from app.x import Outer"
        );
    }
}
