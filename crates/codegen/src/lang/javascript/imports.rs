//! A JavaScript or TypeScript test sits beside the source and imports the exported names from
//! `./stem`. See [`JsStyle`] for when that is `require` instead of `import`.

use domain::{Framework, Language};

use crate::imports::{Access, JsStyle, SourcePath};
use crate::tree::{named_children, text};
use crate::{Syntax, Target};

/// How the test file for `target` loads its module.
pub(super) fn access(target: &Target<'_>, path: &SourcePath<'_>) -> Access {
    let extension = path.extension.as_str();
    let stem = path.stem;
    let syntax = target.source_syntax();
    let module_facts = module_facts(syntax, target.source);
    let style = style(target.language, target.framework, extension, &module_facts);
    // Node's ES module loader never guesses extensions, and `.mjs`/`.cjs` are never
    // resolved implicitly by any runner; TypeScript imports go without one.
    let keep_extension = target.language == Language::Javascript
        && (matches!(extension, "mjs" | "cjs")
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

/// One `import` (or up to two `require`s) bringing `names` in from `specifier`; a name the module
/// exports as its default is imported as the default.
pub(crate) fn import_lines(
    specifier: &str,
    style: JsStyle,
    default_exports: &[String],
    names: &[String],
) -> Vec<String> {
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

#[derive(Debug, Default)]
struct ModuleFacts {
    uses_esm: bool,
    uses_commonjs: bool,
    default_exports: Vec<String>,
}

fn module_facts(syntax: Syntax, source: &str) -> ModuleFacts {
    let mut facts = ModuleFacts::default();
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

fn style(
    language: Language,
    framework: Framework,
    extension: &str,
    facts: &ModuleFacts,
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
