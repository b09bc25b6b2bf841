//! How a test file reaches the code under test, derived from the source's path and contents.
//!
//! The test file is assumed to sit where [`crate::Target::test_file_name`] names it:
//! - Python: at the project root (where pytest runs), importing the module by its dotted path
//!   (`app/utils/math_ops.py` → `from app.utils.math_ops import …`; a leading `src/` is a source
//!   root, not a package, and is dropped).
//! - Java: in the source's package, so the class under test needs no import; the source's own
//!   imports are repeated so the types in the signatures resolve.
//! - Go: in the source's package (an internal test), so unexported names are reachable too.
//! - C++: beside the source, including the header that declares it (`x.cpp` → `"x.h"`, a header
//!   includes itself).
//! - C#: `using` every namespace the source declares, plus the source's own `using`s.
//! - Rust: a child module of the source (`#[cfg(test)] #[path = "x_test.rs"] mod tests;` in
//!   `x.rs`), so `use super::*;` reaches private items too.
//! - JavaScript/TypeScript: beside the source, importing the exported names from `./stem`. See
//!   [`JsStyle`] for when that is `require` instead of `import`.

use domain::{Framework, Language};

use crate::text::collapse_whitespace;
use crate::tree::{named_child_of_kind, named_children, text};
use crate::{Syntax, Target, Unit};

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
    let file_name = target.file_name.as_str();
    let (directory, stem, extension) = split_path(file_name);
    match target.language {
        Language::Python => Access::Python {
            module: python_module(directory, stem),
        },
        Language::Java => {
            let (package, source_imports) = java_package_and_imports(target.source);
            Access::Java {
                package,
                class_name: stem.to_owned(),
                source_imports,
            }
        }
        Language::Go => {
            let (package, source_imports) = go_package_and_imports(target.source);
            Access::Go {
                package: package.unwrap_or_else(|| "main".to_owned()),
                source_imports,
            }
        }
        Language::Cpp => {
            let is_header = matches!(
                extension.as_str(),
                "h" | "hh" | "hpp" | "hxx" | "h++" | "inl"
            );
            let base = target.file_name.base_name();
            // A name that cannot sit in an include's quotes is left to the reader.
            if base.contains(['"', '\\']) {
                Access::Cpp {
                    header: String::new(),
                    guessed: true,
                }
            } else if is_header {
                Access::Cpp {
                    header: base.to_owned(),
                    guessed: false,
                }
            } else {
                Access::Cpp {
                    header: format!("{stem}.h"),
                    guessed: true,
                }
            }
        }
        Language::Csharp => {
            let (namespaces, source_usings) = csharp_namespaces_and_usings(target.source);
            Access::Csharp {
                namespaces,
                source_usings,
            }
        }
        Language::Rust => Access::Rust,
        Language::Javascript | Language::Typescript => {
            let syntax = target.source_syntax();
            let module_facts = js_module_facts(syntax, target.source);
            let style = js_style(target.language, target.framework, &extension, &module_facts);
            // Node's ES module loader never guesses extensions, and `.mjs`/`.cjs` are never
            // resolved implicitly by any runner; TypeScript imports go without one.
            let keep_extension = target.language == Language::Javascript
                && (matches!(extension.as_str(), "mjs" | "cjs")
                    || (target.framework == Framework::NodeTest && style == JsStyle::EsModule));
            let specifier = if keep_extension && !extension.is_empty() {
                format!("./{stem}.{extension}")
            } else {
                format!("./{stem}")
            };
            Access::Js {
                specifier,
                style,
                default_exports: module_facts.default_exports,
            }
        }
    }
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
            Access::Python { module } => {
                if names.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("from {module} import {}", names.join(", "))]
                }
            }
            Access::Java { source_imports, .. } => source_imports.clone(),
            Access::Go { .. } => Vec::new(),
            Access::Cpp { header, .. } if header.is_empty() => {
                vec!["// TODO: #include the header declaring the code under test.".to_owned()]
            }
            Access::Cpp { header, guessed } => {
                let mut lines = Vec::new();
                if *guessed {
                    lines.push(format!(
                        "// The header declaring the code under test, assumed beside the source as {header}."
                    ));
                }
                lines.push(format!("#include \"{header}\""));
                lines
            }
            Access::Csharp {
                namespaces,
                source_usings,
            } => {
                let mut lines: Vec<String> = source_usings.clone();
                for namespace in namespaces {
                    let line = format!("using {namespace};");
                    if !lines.contains(&line) {
                        lines.push(line);
                    }
                }
                lines
            }
            Access::Rust => vec!["use super::*;".to_owned()],
            Access::Js {
                specifier,
                style,
                default_exports,
            } => {
                if names.is_empty() {
                    return Vec::new();
                }
                let default = names.iter().find(|name| default_exports.contains(name));
                let named: Vec<&str> = names
                    .iter()
                    .filter(|name| Some(*name) != default)
                    .map(String::as_str)
                    .collect();
                let mut lines = Vec::new();
                match style {
                    JsStyle::EsModule => {
                        let mut clause = Vec::new();
                        if let Some(default) = default {
                            clause.push(default.clone());
                        }
                        if !named.is_empty() {
                            clause.push(format!("{{ {} }}", named.join(", ")));
                        }
                        lines.push(format!("import {} from '{specifier}';", clause.join(", ")));
                    }
                    JsStyle::CommonJs => {
                        if let Some(default) = default {
                            lines.push(format!("const {default} = require('{specifier}');"));
                        }
                        if !named.is_empty() {
                            lines.push(format!(
                                "const {{ {} }} = require('{specifier}');",
                                named.join(", ")
                            ));
                        }
                    }
                }
                lines
            }
        }
    }
}

/// The top-level name a test of `unit` refers to: the outermost container (a class, a TS
/// namespace), or the unit itself. `None` where nothing needs importing by name.
pub fn imported_name(language: Language, unit: &Unit) -> Option<String> {
    match language {
        Language::Python | Language::Javascript | Language::Typescript => {
            let name = match &unit.container {
                Some(container) => container.split('.').next().unwrap_or(container),
                None => unit.name.as_str(),
            };
            is_identifier(name).then(|| name.to_owned())
        }
        _ => None,
    }
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
    match language {
        Language::Python | Language::Go | Language::Rust => true,
        Language::Javascript | Language::Typescript => {
            unit.is_public && !unit.name.starts_with('#')
        }
        Language::Java | Language::Cpp | Language::Csharp => unit.is_public,
    }
}

/// One line saying how the test reaches `unit`, for prompts: `from app.x import Outer`,
/// `#include "x.h"`, `package calc (the test is in the same package)` …
pub fn summary(target: &Target<'_>, unit: &Unit) -> String {
    let access = access(target);
    let names: Vec<String> = imported_name(target.language, unit).into_iter().collect();
    let lines: Vec<String> = access
        .import_lines(&names)
        .into_iter()
        .filter(|line| !line.starts_with("//"))
        .collect();
    match &access {
        Access::Java {
            package,
            class_name,
            ..
        } => match package {
            Some(package) => format!(
                "package {package}; (the test is in the same package as {class_name}, no import needed)"
            ),
            None => format!("default package (the test is beside {class_name}, no import needed)"),
        },
        Access::Go { package, .. } => {
            format!("package {package} (the test is in the same package, no import needed)")
        }
        _ if lines.is_empty() => "nothing to import".to_owned(),
        _ => lines.join(" "),
    }
}

/// `dir/sub/name.ext` → (`dir/sub`, `name`, `ext` lower-cased).
fn split_path(file_name: &str) -> (&str, &str, String) {
    let (directory, base) = match file_name.rsplit_once('/') {
        Some((directory, base)) => (directory, base),
        None => ("", file_name),
    };
    match base.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => {
            (directory, stem, extension.to_ascii_lowercase())
        }
        _ => (directory, base, String::new()),
    }
}

fn python_module(directory: &str, stem: &str) -> String {
    let mut parts: Vec<&str> = directory
        .split('/')
        .filter(|part| !part.is_empty())
        .collect();
    if parts.first() == Some(&"src") {
        parts.remove(0);
    }
    if stem != "__init__" || parts.is_empty() {
        parts.push(stem);
    }
    parts.join(".")
}

fn java_package_and_imports(source: &str) -> (Option<String>, Vec<String>) {
    let Some(tree) = Syntax::Java.tree(source) else {
        return (None, Vec::new());
    };
    let mut package = None;
    let mut imports = Vec::new();
    for child in named_children(tree.root_node()) {
        match child.kind() {
            "package_declaration" => {
                package = named_child_of_kind(child, &["scoped_identifier", "identifier"])
                    .map(|name| text(name, source).to_owned());
            }
            "import_declaration" => imports.push(collapse_whitespace(text(child, source))),
            _ => {}
        }
    }
    (package, imports)
}

fn go_package_and_imports(source: &str) -> (Option<String>, Vec<String>) {
    let Some(tree) = Syntax::Go.tree(source) else {
        return (None, Vec::new());
    };
    let mut package = None;
    let mut imports = Vec::new();
    for child in named_children(tree.root_node()) {
        match child.kind() {
            "package_clause" => {
                package = named_child_of_kind(child, &["package_identifier"])
                    .map(|name| text(name, source).to_owned());
            }
            "import_declaration" => collect_go_import_specs(child, source, &mut imports),
            _ => {}
        }
    }
    (package, imports)
}

/// The `import_spec`s under a Go import declaration, whitespace collapsed.
pub(crate) fn collect_go_import_specs(
    node: tree_sitter::Node<'_>,
    source: &str,
    specs: &mut Vec<String>,
) {
    for child in named_children(node) {
        match child.kind() {
            "import_spec" => specs.push(collapse_whitespace(text(child, source))),
            "import_spec_list" => collect_go_import_specs(child, source, specs),
            _ => {}
        }
    }
}

fn csharp_namespaces_and_usings(source: &str) -> (Vec<String>, Vec<String>) {
    let mut namespaces = Vec::new();
    let mut usings = Vec::new();
    if let Some(tree) = Syntax::CSharp.tree(source) {
        collect_csharp(tree.root_node(), source, "", &mut namespaces, &mut usings);
    }
    (namespaces, usings)
}

fn collect_csharp(
    node: tree_sitter::Node<'_>,
    source: &str,
    prefix: &str,
    namespaces: &mut Vec<String>,
    usings: &mut Vec<String>,
) {
    let mut prefix = prefix.to_owned();
    for child in named_children(node) {
        match child.kind() {
            "using_directive" => {
                let line = collapse_whitespace(text(child, source));
                if !usings.contains(&line) {
                    usings.push(line);
                }
            }
            "namespace_declaration" | "file_scoped_namespace_declaration" => {
                let Some(name) = child.child_by_field_name("name") else {
                    continue;
                };
                let name = text(name, source);
                let full = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}.{name}")
                };
                if !namespaces.contains(&full) {
                    namespaces.push(full.clone());
                }
                if child.kind() == "file_scoped_namespace_declaration" {
                    // Declarations after a file-scoped namespace belong to it.
                    collect_csharp(child, source, &full, namespaces, usings);
                    prefix = full;
                } else if let Some(body) = child.child_by_field_name("body") {
                    collect_csharp(body, source, &full, namespaces, usings);
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct JsModuleFacts {
    uses_esm: bool,
    uses_commonjs: bool,
    default_exports: Vec<String>,
}

fn js_module_facts(syntax: Syntax, source: &str) -> JsModuleFacts {
    let mut facts = JsModuleFacts::default();
    let Some(tree) = syntax.tree(source) else {
        return facts;
    };
    for child in named_children(tree.root_node()) {
        match child.kind() {
            "import_statement" => facts.uses_esm = true,
            "export_statement" => {
                facts.uses_esm = true;
                let statement = text(child, source);
                if statement
                    .trim_start_matches("export")
                    .trim_start()
                    .starts_with("default")
                {
                    let named = child
                        .child_by_field_name("declaration")
                        .and_then(|declaration| declaration.child_by_field_name("name"))
                        .or_else(|| {
                            child
                                .child_by_field_name("value")
                                .filter(|value| value.kind() == "identifier")
                        });
                    if let Some(name) = named {
                        facts.default_exports.push(text(name, source).to_owned());
                    }
                }
            }
            "expression_statement" => {
                let statement = text(child, source);
                if statement.starts_with("module.exports") || statement.starts_with("exports.") {
                    facts.uses_commonjs = true;
                    // `module.exports = Name;` makes `Name` the whole module.
                    if let Some(rest) = statement.strip_prefix("module.exports") {
                        let value = rest.trim_start().trim_start_matches('=').trim();
                        let value = value.trim_end_matches(';').trim();
                        if !value.is_empty()
                            && value
                                .chars()
                                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                        {
                            facts.default_exports.push(value.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

fn js_style(
    language: Language,
    framework: Framework,
    extension: &str,
    facts: &JsModuleFacts,
) -> JsStyle {
    if language == Language::Typescript || framework == Framework::Vitest {
        return JsStyle::EsModule;
    }
    match extension {
        "mjs" => JsStyle::EsModule,
        "cjs" => JsStyle::CommonJs,
        _ if facts.uses_commonjs && !facts.uses_esm => JsStyle::CommonJs,
        _ => JsStyle::EsModule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnitKind;
    use domain::SourceFileName;

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
