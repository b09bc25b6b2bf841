//! JavaScript and TypeScript pieces: named imports (and `require` destructurings) from one module
//! become one statement; the rest of each piece as written, test titles renamed on a clash.

use std::ops::Range;

use tree_sitter::Node;

use crate::assemble::{Fate, Piece, file, flat_pieces, name_fate};
use crate::text::collapse_whitespace;
use crate::tree::{self, named_children};

pub(super) fn merge(pieces: &[Piece<'_>]) -> String {
    let mut imports = JsImports::default();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "import_statement" => Fate::Import,
            "lexical_declaration" | "variable_declaration" if require_of(node, text).is_some() => {
                Fate::Import
            }
            "function_declaration" | "class_declaration" | "generator_function_declaration" => {
                name_fate(node.child_by_field_name("name"), text)
            }
            "expression_statement" => Fate::Keep {
                name: test_title(node, text),
            },
            _ => Fate::Keep { name: None },
        },
        |node, text| imports.add(node, text),
        |old, suffix| {
            // A title string keeps its quotes: `'Calculator.add'` → `'Calculator.add_2'`.
            let mut chars = old.chars();
            match (chars.next(), chars.next_back()) {
                (Some(open @ ('\'' | '"' | '`')), Some(close)) if open == close => {
                    format!("{open}{}{suffix}{close}", chars.as_str())
                }
                _ => format!("{old}{suffix}"),
            }
        },
    );
    let mut blocks = vec![imports.render()];
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 1)
}

/// For `test('title', …)`, `it.skip("title", …)`, `describe(…)`: the title string's range and the
/// title (the key keeps the callee, so a `describe` and a `test` may share a title).
fn test_title(node: Node<'_>, text: &str) -> Option<(Range<usize>, String)> {
    let call = named_children(node).into_iter().next()?;
    if call.kind() != "call_expression" {
        return None;
    }
    let function = call.child_by_field_name("function")?;
    let callee = tree::text(function, text);
    let base = callee.split('.').next().unwrap_or(callee);
    if !matches!(base, "test" | "it" | "describe" | "suite") {
        return None;
    }
    let arguments = call.child_by_field_name("arguments")?;
    let title = named_children(arguments).into_iter().next()?;
    if !matches!(title.kind(), "string" | "template_string") {
        return None;
    }
    let title_text = tree::text(title, text);
    let inner = title_text
        .get(1..title_text.len().saturating_sub(1))
        .unwrap_or_default();
    let group = if matches!(base, "describe" | "suite") {
        "describe"
    } else {
        "test"
    };
    Some((title.byte_range(), format!("{group}:{inner}")))
}

/// `const { a } = require('x')` / `const x = require('x')`: the declarator's name node and the
/// module string.
fn require_of<'a>(node: Node<'a>, text: &str) -> Option<(Node<'a>, String)> {
    let declarators: Vec<Node<'a>> = named_children(node)
        .into_iter()
        .filter(|child| child.kind() == "variable_declarator")
        .collect();
    let [declarator] = declarators.as_slice() else {
        return None;
    };
    let value = declarator.child_by_field_name("value")?;
    if value.kind() != "call_expression"
        || tree::text(value.child_by_field_name("function")?, text) != "require"
    {
        return None;
    }
    let arguments = named_children(value.child_by_field_name("arguments")?);
    let [module] = arguments.as_slice() else {
        return None;
    };
    if module.kind() != "string" {
        return None;
    }
    let module_text = tree::text(*module, text);
    Some((
        declarator.child_by_field_name("name")?,
        module_text
            .get(1..module_text.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// JavaScript imports merged per module: named imports (and `require` destructurings) from one
/// module become one statement; anything else is kept once, as written.
#[derive(Default)]
struct JsImports {
    /// (module, kind) in first-seen order, with the default name and the named specifiers.
    merged: Vec<JsImport>,
    /// Statements kept as written (side-effect, namespace and type-only imports), deduplicated.
    verbatim: Vec<String>,
    /// The order of everything, as indexes: `Ok` into `merged`, `Err` into `verbatim`.
    order: Vec<Result<usize, usize>>,
}

struct JsImport {
    module: String,
    quote: char,
    require: bool,
    default: Option<String>,
    named: Vec<String>,
}

impl JsImports {
    fn add(&mut self, node: Node<'_>, text: &str) {
        if node.kind() == "import_statement" {
            self.add_import(node, text);
        } else if let Some((name, module)) = require_of(node, text) {
            match name.kind() {
                "identifier" => {
                    let default = tree::text(name, text).to_owned();
                    self.merge(&module, '\'', true, Some(default), Vec::new());
                }
                "object_pattern" => {
                    let named = named_children(name)
                        .into_iter()
                        .map(|part| collapse_whitespace(tree::text(part, text)))
                        .collect();
                    self.merge(&module, '\'', true, None, named);
                }
                _ => self.keep(tree::text(node, text)),
            }
        }
    }

    fn add_import(&mut self, node: Node<'_>, text: &str) {
        let statement = tree::text(node, text);
        let Some(source) = node.child_by_field_name("source") else {
            return self.keep(statement);
        };
        let source_text = tree::text(source, text);
        let quote = source_text.chars().next().unwrap_or('\'');
        let module = source_text
            .get(1..source_text.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned();
        let clause = named_children(node)
            .into_iter()
            .find(|child| child.kind() == "import_clause");
        // `import type …`, side-effect imports and namespace imports are kept as written.
        let is_type_only = statement
            .trim_start_matches("import")
            .trim_start()
            .starts_with("type ");
        let Some(clause) = clause.filter(|_| !is_type_only) else {
            return self.keep(statement);
        };
        let mut default = None;
        let mut named = Vec::new();
        for part in named_children(clause) {
            match part.kind() {
                "identifier" => default = Some(tree::text(part, text).to_owned()),
                "named_imports" => {
                    for specifier in named_children(part) {
                        if specifier.kind() == "import_specifier" {
                            named.push(collapse_whitespace(tree::text(specifier, text)));
                        }
                    }
                }
                _ => return self.keep(statement),
            }
        }
        self.merge(&module, quote, false, default, named);
    }

    fn keep(&mut self, statement: &str) {
        let statement = collapse_whitespace(statement);
        if !self.verbatim.contains(&statement) {
            self.verbatim.push(statement);
            self.order.push(Err(self.verbatim.len() - 1));
        }
    }

    fn merge(
        &mut self,
        module: &str,
        quote: char,
        require: bool,
        default: Option<String>,
        named: Vec<String>,
    ) {
        // A second default name for one module cannot share its statement.
        let existing = self.merged.iter().position(|import| {
            import.module == module
                && import.require == require
                && (default.is_none() || import.default.is_none() || import.default == default)
        });
        let index = match existing {
            Some(index) => index,
            None => {
                self.merged.push(JsImport {
                    module: module.to_owned(),
                    quote,
                    require,
                    default: None,
                    named: Vec::new(),
                });
                self.order.push(Ok(self.merged.len() - 1));
                self.merged.len() - 1
            }
        };
        let import = &mut self.merged[index];
        if default.is_some() {
            import.default = default;
        }
        for name in named {
            if !import.named.contains(&name) {
                import.named.push(name);
            }
        }
    }

    fn render(&self) -> String {
        let mut lines = Vec::new();
        for entry in &self.order {
            match entry {
                Err(index) => lines.push(self.verbatim[*index].clone()),
                Ok(index) => {
                    let import = &self.merged[*index];
                    let quoted = format!("{q}{}{q}", import.module, q = import.quote);
                    let named = (!import.named.is_empty())
                        .then(|| format!("{{ {} }}", import.named.join(", ")));
                    if import.require {
                        if let Some(default) = &import.default {
                            lines.push(format!("const {default} = require({quoted});"));
                        }
                        if let Some(named) = named {
                            lines.push(format!("const {named} = require({quoted});"));
                        }
                    } else {
                        let clause: Vec<String> =
                            import.default.iter().cloned().chain(named).collect();
                        lines.push(format!("import {} from {quoted};", clause.join(", ")));
                    }
                }
            }
        }
        lines.join("\n")
    }
}
