//! Per-unit test code merged into one test file: one package line, deduplicated imports, one test
//! class where the framework needs one, test names kept unique.
//!
//! Each piece is parsed with tree-sitter and its top-level nodes sorted into imports (merged at the
//! top) and the rest. Per language:
//! - Python, Go, C++, JavaScript/TypeScript: the rest of each piece is kept as written, pieces
//!   separated by blank lines (two for Python). Go imports become one `import ( … )` block;
//!   JavaScript named imports (and `require` destructurings) from one module become one statement.
//! - Java and C#: the members of each piece's first top-level class go into one test class named
//!   after the test file (`CalculatorTest`, `InvoiceTests`), with the class annotations of every
//!   piece; C# keeps the first namespace. Other top-level types follow the test class.
//! - Rust: when every piece is a `#[cfg(test)] mod tests { … }`, their bodies are merged into one
//!   such module; otherwise every item goes to the top level (the test file is itself a child
//!   module of the source).
//!
//! A later test (or other named definition) with the name of an earlier one is renamed `name_2`,
//! `name_3` … even when identical, since two units can get identical tests; other top-level
//! statements and members identical to earlier ones are dropped.

use std::collections::HashSet;
use std::ops::Range;

use domain::Language;
use tree_sitter::Node;

use crate::imports::collect_go_import_specs;
use crate::text::{collapse_whitespace, lines_without_blank_edges};
use crate::tree::{self, children, is_comment, named_child_of_kind, named_children};
use crate::{Target, syntax_issues};

/// The merged test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub file_name: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("no test code to assemble")]
    Empty,
    /// A piece does not parse, so its parts cannot be told apart. `piece` counts from 1.
    #[error("test piece {piece} cannot be merged: {reason}")]
    Unmergeable { piece: usize, reason: String },
}

/// Merges `pieces` (each a test file for one unit, already syntax-checked) into one file named by
/// the language's convention.
pub fn assemble(target: &Target<'_>, pieces: &[String]) -> Result<Assembled, AssembleError> {
    let pieces: Vec<&String> = pieces
        .iter()
        .filter(|piece| !piece.trim().is_empty())
        .collect();
    if pieces.is_empty() {
        return Err(AssembleError::Empty);
    }
    let syntax = target.test_syntax();
    let mut parsed = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        let unmergeable = |reason: String| AssembleError::Unmergeable {
            piece: index + 1,
            reason,
        };
        if let Some(issue) = syntax_issues(syntax, piece).first() {
            return Err(unmergeable(format!("it does not parse ({issue})")));
        }
        let tree = syntax
            .tree(piece)
            .ok_or_else(|| unmergeable("the grammar could not be loaded".to_owned()))?;
        parsed.push(Piece { text: piece, tree });
    }
    let file_name = target.test_file_name();
    let code = match target.language {
        Language::Python => python(&parsed),
        Language::Java => java(&parsed, &file_name)?,
        Language::Go => go(&parsed),
        Language::Cpp => cpp(&parsed),
        Language::Csharp => csharp(&parsed, &file_name)?,
        Language::Rust => rust(&parsed),
        Language::Javascript | Language::Typescript => js(&parsed),
    };
    Ok(Assembled { file_name, code })
}

struct Piece<'a> {
    text: &'a str,
    tree: tree_sitter::Tree,
}

/// Names already used in the merged file; a taken name gets the first free `_2`, `_3` … suffix.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `None` when `name` is free (and now taken), else the new name.
    fn claim(&mut self, name: &str) -> Option<String> {
        if self.taken.insert(name.to_owned()) {
            return None;
        }
        let mut suffix = 2;
        loop {
            let candidate = format!("{name}_{suffix}");
            if self.taken.insert(candidate.clone()) {
                return Some(candidate);
            }
            suffix += 1;
        }
    }
}

/// The start of the line holding `byte`.
fn line_start(text: &str, byte: usize) -> usize {
    text[..byte].rfind('\n').map_or(0, |at| at + 1)
}

/// Just past the newline ending the line holding `byte` (or the end of the text).
fn line_end(text: &str, byte: usize) -> usize {
    text[byte..]
        .find('\n')
        .map_or(text.len(), |at| byte + at + 1)
}

/// The comments directly above `node` (no blank line between), which belong to it.
fn leading_comments_start(node: Node<'_>, text: &str) -> usize {
    let mut start = node.start_byte();
    let mut current = node;
    while let Some(previous) = current.prev_sibling() {
        if !is_comment(previous) {
            break;
        }
        let between = &text[previous.end_byte()..start];
        if between.matches('\n').count() > 1 || !between.trim().is_empty() {
            break;
        }
        start = previous.start_byte();
        current = previous;
    }
    start
}

/// The whole lines of `node` with its leading comments: what removing it from a piece removes.
fn whole_lines(node: Node<'_>, text: &str) -> Range<usize> {
    let start = line_start(text, leading_comments_start(node, text));
    let end = line_end(
        text,
        node.end_byte().saturating_sub(1).max(node.start_byte()),
    );
    start..end
}

/// `text` with `edits` applied (ranges sorted, overlapping ones skipped).
fn apply_edits(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| (range.start, range.end));
    let mut out = String::new();
    let mut position = 0;
    for (range, replacement) in edits {
        if range.start < position {
            continue;
        }
        out.push_str(&text[position..range.start]);
        out.push_str(&replacement);
        position = range.end;
    }
    out.push_str(&text[position..]);
    out
}

/// Leading and trailing blank lines removed, and trailing whitespace of every line.
fn trim_blank_lines(text: &str) -> String {
    lines_without_blank_edges(text)
        .iter()
        .map(|line| line.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` moved so its least indented line starts at `indent`.
fn reindent(text: &str, indent: &str) -> String {
    let common = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| {
            if line.trim().is_empty() {
                String::new()
            } else {
                let cut = common.min(line.len() - line.trim_start().len());
                format!("{indent}{}", &line[cut..])
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file: header blocks and body blocks, blocks separated by `gap` blank lines, one trailing
/// newline.
fn file(blocks: &[String], gap: usize) -> String {
    let separator = "\n".repeat(gap + 1);
    let kept: Vec<&str> = blocks
        .iter()
        .map(|block| block.trim_matches('\n'))
        .filter(|block| !block.trim().is_empty())
        .collect();
    let mut code = kept.join(&separator);
    code.push('\n');
    code
}

/// Pieces whose top level is imports and free-standing definitions: imports are removed from each
/// piece and merged by the caller; the rest stays as written, minus duplicates, plus renames.
struct FlatPiece {
    body: String,
}

/// What to do with one top-level node of a flat piece.
enum Fate {
    /// An import: removed here, merged at the top.
    Import,
    /// A definition or statement: kept unless identical to an earlier one. `name` is the range
    /// of its name and the name's key, for renaming on a clash.
    Keep {
        name: Option<(Range<usize>, String)>,
    },
}

/// Splits each piece into its imports (handed to `take_import` in order) and its body.
fn flat_pieces(
    pieces: &[Piece<'_>],
    mut fate: impl FnMut(Node<'_>, &str) -> Fate,
    mut take_import: impl FnMut(Node<'_>, &str),
    rename: impl Fn(&str, &str) -> String,
) -> Vec<FlatPiece> {
    let mut names = Names::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for piece in pieces {
        let text = piece.text;
        let root = piece.tree.root_node();
        let mut edits = Vec::new();
        for node in named_children(root) {
            if is_comment(node) {
                continue;
            }
            match fate(node, text) {
                Fate::Import => {
                    take_import(node, text);
                    edits.push((whole_lines(node, text), String::new()));
                }
                Fate::Keep { name: None } => {
                    let whole = collapse_whitespace(tree::text(node, text));
                    if !seen.insert(whole) {
                        edits.push((whole_lines(node, text), String::new()));
                    }
                }
                Fate::Keep {
                    name: Some((range, key)),
                } => {
                    // Named definitions are never dropped: two units may get identical tests.
                    if let Some(new_name) = names.claim(&key) {
                        let old = &text[range.clone()];
                        let suffix = &new_name[key.len()..];
                        edits.push((range, rename(old, suffix)));
                    }
                }
            }
        }
        out.push(FlatPiece {
            body: trim_blank_lines(&apply_edits(text, edits)),
        });
    }
    out
}

/// Appends `suffix` to a plain name.
fn append_suffix(old: &str, suffix: &str) -> String {
    format!("{old}{suffix}")
}

fn name_fate(node: Option<Node<'_>>, text: &str) -> Fate {
    Fate::Keep {
        name: node.map(|name| (name.byte_range(), tree::text(name, text).to_owned())),
    }
}

fn python(pieces: &[Piece<'_>]) -> String {
    let mut future = Vec::new();
    let mut imports: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "import_statement" | "import_from_statement" | "future_import_statement" => {
                Fate::Import
            }
            "function_definition" | "class_definition" => {
                name_fate(node.child_by_field_name("name"), text)
            }
            "decorated_definition" => name_fate(
                node.child_by_field_name("definition")
                    .and_then(|definition| definition.child_by_field_name("name")),
                text,
            ),
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            let line = collapse_whitespace(tree::text(node, text));
            let list = if node.kind() == "future_import_statement" {
                &mut future
            } else {
                &mut imports
            };
            if !list.contains(&line) {
                list.push(line);
            }
        },
        append_suffix,
    );
    let mut header: Vec<String> = future;
    // `import x` lines first, then `from x import y`, each in first-seen order.
    header.extend(
        imports
            .iter()
            .filter(|line| line.starts_with("import "))
            .cloned(),
    );
    header.extend(
        imports
            .iter()
            .filter(|line| !line.starts_with("import "))
            .cloned(),
    );
    let mut blocks = vec![header.join("\n")];
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 2)
}

fn go(pieces: &[Piece<'_>]) -> String {
    let mut package = None;
    let mut specs: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "package_clause" => {
                if package.is_none() {
                    package = Some(collapse_whitespace(tree::text(node, text)));
                }
                Fate::Import
            }
            "import_declaration" => Fate::Import,
            "function_declaration" => name_fate(node.child_by_field_name("name"), text),
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            if node.kind() == "import_declaration" {
                let mut found = Vec::new();
                collect_go_import_specs(node, text, &mut found);
                for spec in found {
                    if !specs.contains(&spec) {
                        specs.push(spec);
                    }
                }
            }
        },
        append_suffix,
    );
    let mut blocks = vec![package.unwrap_or_else(|| "package main".to_owned())];
    if !specs.is_empty() {
        // The standard library first, as gofmt's goimports groups them.
        let (standard, others): (Vec<&String>, Vec<&String>) = specs.iter().partition(|spec| {
            let path = spec.rsplit('"').nth(1).unwrap_or(spec);
            !path.split('/').next().unwrap_or(path).contains('.')
        });
        let mut lines = vec!["import (".to_owned()];
        lines.extend(standard.iter().map(|spec| format!("\t{spec}")));
        if !standard.is_empty() && !others.is_empty() {
            lines.push(String::new());
        }
        lines.extend(others.iter().map(|spec| format!("\t{spec}")));
        lines.push(")".to_owned());
        blocks.push(lines.join("\n"));
    }
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 1)
}

const GTEST_MACROS: &[&str] = &["TEST", "TEST_F", "TEST_P", "TYPED_TEST", "TYPED_TEST_P"];

fn cpp(pieces: &[Piece<'_>]) -> String {
    let mut includes: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "preproc_include" => Fate::Import,
            "function_definition" => Fate::Keep {
                name: gtest_name(node, text),
            },
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            // The include with the comments above it, deduplicated by the include alone.
            let include = collapse_whitespace(tree::text(node, text));
            if includes
                .iter()
                .any(|seen| seen.lines().last() == Some(include.as_str()))
            {
                return;
            }
            let start = leading_comments_start(node, text);
            let comments = trim_blank_lines(&text[start..node.start_byte()]);
            if comments.is_empty() {
                includes.push(include);
            } else {
                includes.push(format!("{comments}\n{include}"));
            }
        },
        append_suffix,
    );
    // System headers (`<…>`) first, then the project's.
    let (system, local): (Vec<&String>, Vec<&String>) = includes.iter().partition(|include| {
        include
            .lines()
            .last()
            .is_some_and(|line| line.contains('<'))
    });
    let mut blocks = Vec::new();
    blocks.push(
        system
            .iter()
            .map(|include| include.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    blocks.push(
        local
            .iter()
            .map(|include| include.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 1)
}

/// For `TEST(Suite, Name) { … }`: the range of `Name` and the key `Suite.Name`.
fn gtest_name(node: Node<'_>, text: &str) -> Option<(Range<usize>, String)> {
    let declarator = node.child_by_field_name("declarator")?;
    if declarator.kind() != "function_declarator" {
        return None;
    }
    let macro_name = tree::text(declarator.child_by_field_name("declarator")?, text);
    if !GTEST_MACROS.contains(&macro_name) {
        return None;
    }
    let parameters = named_children(declarator.child_by_field_name("parameters")?);
    let name = parameters.last()?;
    let key: Vec<&str> = parameters
        .iter()
        .map(|parameter| tree::text(*parameter, text).trim())
        .collect();
    // The rename applies to the last part of the key, the test's name.
    let suite = key[..key.len().saturating_sub(1)].join(".");
    let key = format!("{suite}.{}", tree::text(*name, text).trim());
    Some((name.byte_range(), key))
}

fn js(pieces: &[Piece<'_>]) -> String {
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

/// One member (or top-level item) with the comments and attributes above it, reindented to
/// column 0, and the key that identifies it for renaming.
struct Member {
    text: String,
    /// The member's name: its range relative to `text`, and the clash key.
    name: Option<(Range<usize>, String)>,
}

/// The members of a class body (Java `class_body`, C# `declaration_list`), comments attached to
/// the member below them.
fn members(
    body: Node<'_>,
    text: &str,
    name_of: impl Fn(Node<'_>, &str) -> Option<(Range<usize>, String)>,
) -> Vec<Member> {
    let mut out = Vec::new();
    let mut pending_start: Option<usize> = None;
    for child in named_children(body) {
        if is_comment(child) {
            pending_start.get_or_insert(child.start_byte());
            continue;
        }
        let start = line_start(text, pending_start.take().unwrap_or(child.start_byte()));
        let chunk = &text[start..child.end_byte()];
        let name =
            name_of(child, text).map(|(range, key)| (range.start - start..range.end - start, key));
        out.push(Member {
            text: chunk.to_owned(),
            name,
        });
    }
    out
}

/// Members of several pieces merged: identical ones once, clashing names renamed.
fn merge_members(all: Vec<Member>, indent: &str) -> Vec<String> {
    let mut names = Names::default();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for member in all {
        // Unnamed members (fields, setup) once; named ones are renamed on a clash instead.
        if member.name.is_none() && !seen.insert(collapse_whitespace(&member.text)) {
            continue;
        }
        let mut text = member.text;
        if let Some((range, key)) = member.name
            && let Some(new_name) = names.claim(&key)
        {
            let suffix = &new_name[key.len()..];
            text = format!("{}{suffix}{}", &text[..range.end], &text[range.end..]);
        }
        out.push(reindent(&text, indent));
    }
    out
}

/// A Java or C# method's name and its clash key. Overloads are legal in both: only the same name
/// with the same parameters clashes.
fn method_name_with_parameters(node: Node<'_>, text: &str) -> Option<(Range<usize>, String)> {
    if node.kind() != "method_declaration" {
        return None;
    }
    let name = node.child_by_field_name("name")?;
    let parameters = node
        .child_by_field_name("parameters")
        .map(|parameters| collapse_whitespace(tree::text(parameters, text)))
        .unwrap_or_default();
    Some((
        name.byte_range(),
        format!("{}{parameters}", tree::text(name, text)),
    ))
}

fn java(pieces: &[Piece<'_>], file_name: &str) -> Result<String, AssembleError> {
    let class_name = file_name.strip_suffix(".java").unwrap_or(file_name);
    let mut package = None;
    let mut imports: Vec<String> = Vec::new();
    let mut annotations: Vec<String> = Vec::new();
    let mut modifiers: Option<Vec<String>> = None;
    let mut heritage: Option<String> = None;
    let mut all_members = Vec::new();
    let mut extra_types: Vec<String> = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        let text = piece.text;
        let classes: Vec<Node<'_>> = named_children(piece.tree.root_node())
            .into_iter()
            .filter(|node| node.kind() == "class_declaration")
            .collect();
        let chosen = choose_test_class(&classes, text, class_name, "@Test").map(|node| node.id());
        let mut found_class = false;
        for node in named_children(piece.tree.root_node()) {
            match node.kind() {
                "package_declaration" => {
                    package.get_or_insert_with(|| collapse_whitespace(tree::text(node, text)));
                }
                "import_declaration" => {
                    let line = collapse_whitespace(tree::text(node, text));
                    if !imports.contains(&line) {
                        imports.push(line);
                    }
                }
                "class_declaration" if Some(node.id()) == chosen => {
                    found_class = true;
                    let mut own_modifiers = Vec::new();
                    if let Some(list) = named_child_of_kind(node, &["modifiers"]) {
                        for modifier in children(list) {
                            let modifier_text = collapse_whitespace(tree::text(modifier, text));
                            if modifier.kind().ends_with("annotation") {
                                if !annotations.contains(&modifier_text) {
                                    annotations.push(modifier_text);
                                }
                            } else {
                                own_modifiers.push(modifier_text);
                            }
                        }
                    }
                    modifiers.get_or_insert(own_modifiers);
                    if heritage.is_none() {
                        let parts: Vec<String> = ["superclass", "interfaces"]
                            .iter()
                            .filter_map(|field| node.child_by_field_name(field))
                            .map(|part| collapse_whitespace(tree::text(part, text)))
                            .collect();
                        if !parts.is_empty() {
                            heritage = Some(parts.join(" "));
                        }
                    }
                    if let Some(body) = node.child_by_field_name("body") {
                        all_members.extend(members(body, text, method_name_with_parameters));
                    }
                }
                kind if is_comment(node) || kind == "ERROR" => {}
                _ => {
                    let start = line_start(text, leading_comments_start(node, text));
                    let chunk = trim_blank_lines(&text[start..node.end_byte()]);
                    if !extra_types.contains(&chunk) {
                        extra_types.push(chunk);
                    }
                }
            }
        }
        if !found_class {
            return Err(AssembleError::Unmergeable {
                piece: index + 1,
                reason: "it has no top-level class".to_owned(),
            });
        }
    }
    let mut blocks = Vec::new();
    if let Some(package) = package {
        blocks.push(package);
    }
    let (static_imports, plain): (Vec<String>, Vec<String>) = imports
        .into_iter()
        .partition(|line| line.starts_with("import static "));
    blocks.push(plain.join("\n"));
    blocks.push(static_imports.join("\n"));
    let mut class = annotations;
    let mut header: Vec<String> = modifiers.unwrap_or_default();
    header.push(format!("class {class_name}"));
    if let Some(heritage) = heritage {
        header.push(heritage);
    }
    class.push(format!("{} {{", header.join(" ")));
    let merged = merge_members(all_members, "    ");
    for member in merged {
        class.push(String::new());
        class.push(member);
    }
    class.push("}".to_owned());
    blocks.push(class.join("\n"));
    blocks.extend(extra_types);
    Ok(file(&blocks, 1))
}

/// The class whose members are the tests: the one named like the test file, else the first with
/// a test `marker` (`@Test`, `[Test`), else the first.
fn choose_test_class<'a>(
    classes: &[Node<'a>],
    text: &str,
    class_name: &str,
    marker: &str,
) -> Option<Node<'a>> {
    let named = |node: &Node<'a>| {
        node.child_by_field_name("name")
            .is_some_and(|name| tree::text(name, text) == class_name)
    };
    classes
        .iter()
        .find(|node| named(node))
        .or_else(|| {
            classes
                .iter()
                .find(|node| tree::text(**node, text).contains(marker))
        })
        .or_else(|| classes.first())
        .copied()
}

/// Every class declaration of a C# tree, through namespaces, in order.
fn csharp_classes<'a>(node: Node<'a>, out: &mut Vec<Node<'a>>) {
    for child in named_children(node) {
        match child.kind() {
            "class_declaration" => out.push(child),
            "namespace_declaration" | "declaration_list" => csharp_classes(child, out),
            _ => {}
        }
    }
}

/// What a C# piece holds, gathered through its namespaces.
#[derive(Default)]
struct CsharpParts {
    usings: Vec<String>,
    namespace: Option<String>,
    attributes: Vec<String>,
    modifiers: Option<Vec<String>>,
    bases: Option<String>,
    members: Vec<Member>,
    extra_types: Vec<String>,
}

fn csharp(pieces: &[Piece<'_>], file_name: &str) -> Result<String, AssembleError> {
    let class_name = file_name.strip_suffix(".cs").unwrap_or(file_name);
    let mut parts = CsharpParts::default();
    for (index, piece) in pieces.iter().enumerate() {
        let mut classes = Vec::new();
        csharp_classes(piece.tree.root_node(), &mut classes);
        let mut found_class = false;
        let chosen = CsharpChoice {
            class_name,
            node_id: choose_test_class(&classes, piece.text, class_name, "[").map(|node| node.id()),
        };
        collect_csharp(
            piece.tree.root_node(),
            piece.text,
            "",
            &chosen,
            &mut parts,
            &mut found_class,
        );
        if !found_class {
            return Err(AssembleError::Unmergeable {
                piece: index + 1,
                reason: "it has no class".to_owned(),
            });
        }
    }
    let mut blocks = vec![parts.usings.join("\n")];
    let (indent, open, close) = match &parts.namespace {
        Some(namespace) => ("    ", format!("namespace {namespace}\n{{"), Some("}")),
        None => ("", String::new(), None),
    };
    let mut class = Vec::new();
    for attribute in &parts.attributes {
        class.push(format!("{indent}{attribute}"));
    }
    let mut header = parts.modifiers.unwrap_or_default();
    header.push(format!("class {class_name}"));
    if let Some(bases) = &parts.bases {
        header.push(bases.clone());
    }
    class.push(format!("{indent}{}", header.join(" ")));
    class.push(format!("{indent}{{"));
    let member_indent = format!("{indent}    ");
    for (position, member) in merge_members(parts.members, &member_indent)
        .into_iter()
        .enumerate()
    {
        if position > 0 {
            class.push(String::new());
        }
        class.push(member);
    }
    class.push(format!("{indent}}}"));
    let mut inner = vec![class.join("\n")];
    for extra in &parts.extra_types {
        inner.push(reindent(extra, indent));
    }
    let inner = inner.join("\n\n");
    match close {
        Some(close) => blocks.push(format!("{open}\n{inner}\n{close}")),
        None => blocks.push(inner),
    }
    Ok(file(&blocks, 1))
}

/// The class name of the merged file and the node of this piece's test class.
struct CsharpChoice<'a> {
    class_name: &'a str,
    node_id: Option<usize>,
}

fn collect_csharp(
    node: Node<'_>,
    text: &str,
    prefix: &str,
    chosen: &CsharpChoice<'_>,
    parts: &mut CsharpParts,
    found_class: &mut bool,
) {
    let class_name = chosen.class_name;
    let mut prefix = prefix.to_owned();
    for child in named_children(node) {
        match child.kind() {
            "using_directive" => {
                let line = collapse_whitespace(tree::text(child, text));
                if !parts.usings.contains(&line) {
                    parts.usings.push(line);
                }
            }
            "namespace_declaration" | "file_scoped_namespace_declaration" => {
                let name = child
                    .child_by_field_name("name")
                    .map(|name| tree::text(name, text))
                    .unwrap_or_default();
                let full = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}.{name}")
                };
                parts.namespace.get_or_insert_with(|| full.clone());
                if child.kind() == "file_scoped_namespace_declaration" {
                    // Declarations after a file-scoped namespace are its siblings or children,
                    // depending on the grammar version.
                    collect_csharp(child, text, &full, chosen, parts, found_class);
                    prefix = full;
                } else if let Some(body) = child.child_by_field_name("body") {
                    collect_csharp(body, text, &full, chosen, parts, found_class);
                }
            }
            "class_declaration" if Some(child.id()) == chosen.node_id => {
                *found_class = true;
                let mut own_modifiers = Vec::new();
                for part in named_children(child) {
                    match part.kind() {
                        "attribute_list" => {
                            let attribute = collapse_whitespace(tree::text(part, text));
                            if !parts.attributes.contains(&attribute) {
                                parts.attributes.push(attribute);
                            }
                        }
                        "modifier" => own_modifiers.push(tree::text(part, text).to_owned()),
                        "base_list" => {
                            parts
                                .bases
                                .get_or_insert_with(|| collapse_whitespace(tree::text(part, text)));
                        }
                        _ => {}
                    }
                }
                parts.modifiers.get_or_insert(own_modifiers);
                if let Some(body) = child.child_by_field_name("body") {
                    let old_name = child
                        .child_by_field_name("name")
                        .map(|name| tree::text(name, text).to_owned())
                        .unwrap_or_default();
                    for mut member in members(body, text, method_name_with_parameters) {
                        // A constructor is named after the class, which is renamed.
                        if !old_name.is_empty() && old_name != class_name {
                            member.text = rename_constructor(&member.text, &old_name, class_name);
                        }
                        parts.members.push(member);
                    }
                }
            }
            // The name of a namespace being walked.
            kind if is_comment(child)
                || matches!(kind, "ERROR" | "identifier" | "qualified_name") => {}
            "global_attribute" | "extern_alias_directive" => {
                let line = collapse_whitespace(tree::text(child, text));
                if !parts.usings.contains(&line) {
                    parts.usings.push(line);
                }
            }
            _ => {
                let start = line_start(text, leading_comments_start(child, text));
                let chunk = trim_blank_lines(&text[start..child.end_byte()]);
                if !parts.extra_types.contains(&chunk) {
                    parts.extra_types.push(chunk);
                }
            }
        }
    }
}

/// `public OldTests()` → `public NewTests()` in a constructor's text.
fn rename_constructor(member: &str, old: &str, new: &str) -> String {
    let Some(open) = member.find('(') else {
        return member.to_owned();
    };
    let head = &member[..open];
    if head.trim_end().ends_with(old) && !head.contains('=') {
        let at = head.trim_end().len() - old.len();
        let before_ok = head[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if before_ok {
            return format!("{}{new}{}", &member[..at], &member[at + old.len()..]);
        }
    }
    member.to_owned()
}

/// Rust items with the attributes and comments above them; `mod tests` bodies flattened.
struct RustItems {
    inner_attributes: Vec<String>,
    uses: Vec<String>,
    items: Vec<Member>,
}

fn rust(pieces: &[Piece<'_>]) -> String {
    let mut outer = RustItems {
        inner_attributes: Vec::new(),
        uses: Vec::new(),
        items: Vec::new(),
    };
    let mut module = RustItems {
        inner_attributes: Vec::new(),
        uses: Vec::new(),
        items: Vec::new(),
    };
    let mut wrapped = 0;
    for piece in pieces {
        let text = piece.text;
        let mut piece_wrapped = false;
        for (attributes_start, node) in rust_chunks(piece.tree.root_node()) {
            if let Some(body) = test_module_body(node, text, attributes_start) {
                piece_wrapped = true;
                for (start, inner) in rust_chunks(body) {
                    collect_rust_item(inner, start, text, &mut module);
                }
            } else {
                collect_rust_item(node, attributes_start, text, &mut outer);
            }
        }
        if piece_wrapped {
            wrapped += 1;
        }
    }
    let all_wrapped = wrapped == pieces.len();
    if !all_wrapped {
        // The test file is the test module itself: everything goes to the top level.
        for attribute in module.inner_attributes.drain(..) {
            if !outer.inner_attributes.contains(&attribute) {
                outer.inner_attributes.push(attribute);
            }
        }
        for line in module.uses.drain(..) {
            if !outer.uses.contains(&line) {
                outer.uses.push(line);
            }
        }
        outer.items.append(&mut module.items);
    }
    let mut blocks = vec![outer.inner_attributes.join("\n"), outer.uses.join("\n")];
    let outer_items = merge_members(outer.items, "");
    blocks.extend(outer_items);
    if all_wrapped {
        let mut lines = vec!["#[cfg(test)]".to_owned(), "mod tests {".to_owned()];
        let mut sections = Vec::new();
        if !module.inner_attributes.is_empty() {
            sections.push(reindent(&module.inner_attributes.join("\n"), "    "));
        }
        if !module.uses.is_empty() {
            sections.push(reindent(&module.uses.join("\n"), "    "));
        }
        sections.extend(merge_members(module.items, "    "));
        lines.push(sections.join("\n\n"));
        lines.push("}".to_owned());
        blocks.push(lines.join("\n"));
    }
    file(&blocks, 1)
}

/// The items of a Rust `source_file` or `declaration_list`, each with the start of the attributes
/// and comments directly above it.
fn rust_chunks(node: Node<'_>) -> Vec<(usize, Node<'_>)> {
    let mut out = Vec::new();
    let mut pending: Option<usize> = None;
    for child in named_children(node) {
        if is_comment(child) || child.kind() == "attribute_item" {
            pending.get_or_insert(child.start_byte());
            continue;
        }
        out.push((pending.take().unwrap_or(child.start_byte()), child));
    }
    out
}

/// The body of `#[cfg(test)] mod tests { … }` (any `mod` with a body under `cfg(test)`).
fn test_module_body<'a>(node: Node<'a>, text: &str, attributes_start: usize) -> Option<Node<'a>> {
    if node.kind() != "mod_item" {
        return None;
    }
    let attributes = &text[attributes_start..node.start_byte()];
    let body = node.child_by_field_name("body")?;
    let name = node
        .child_by_field_name("name")
        .map(|name| tree::text(name, text))
        .unwrap_or_default();
    (attributes.contains("cfg(test)") || name == "tests").then_some(body)
}

fn collect_rust_item(node: Node<'_>, start: usize, text: &str, into: &mut RustItems) {
    match node.kind() {
        "use_declaration" | "extern_crate_declaration" => {
            let line = collapse_whitespace(&text[start..node.end_byte()]);
            if !into.uses.contains(&line) {
                into.uses.push(line);
            }
        }
        "inner_attribute_item" => {
            let line = collapse_whitespace(tree::text(node, text));
            if !into.inner_attributes.contains(&line) {
                into.inner_attributes.push(line);
            }
        }
        _ => {
            let chunk_start = line_start(text, start);
            let name = (node.kind() == "function_item")
                .then(|| node.child_by_field_name("name"))
                .flatten()
                .map(|name| {
                    (
                        name.start_byte() - chunk_start..name.end_byte() - chunk_start,
                        tree::text(name, text).to_owned(),
                    )
                });
            into.items.push(Member {
                text: text[chunk_start..node.end_byte()].to_owned(),
                name,
            });
        }
    }
}

#[cfg(test)]
mod tests;
