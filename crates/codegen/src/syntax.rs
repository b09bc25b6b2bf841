use domain::Language;

/// A tree-sitter grammar. One per language, except TypeScript, whose `.tsx` files need the TSX
/// grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    Python,
    Java,
    Go,
    Cpp,
    CSharp,
    Rust,
    JavaScript,
    TypeScript,
    Tsx,
}

impl Syntax {
    /// Every grammar, for tests that must cover them all.
    #[cfg(test)]
    pub(crate) const ALL: [Syntax; 9] = [
        Syntax::Python,
        Syntax::Java,
        Syntax::Go,
        Syntax::Cpp,
        Syntax::CSharp,
        Syntax::Rust,
        Syntax::JavaScript,
        Syntax::TypeScript,
        Syntax::Tsx,
    ];

    /// The grammar for a file of `language` named `file_name` (only the extension matters, and only
    /// for `.tsx`). The JavaScript grammar reads JSX itself.
    pub fn of(language: Language, file_name: &str) -> Syntax {
        match language {
            Language::Python => Syntax::Python,
            Language::Java => Syntax::Java,
            Language::Go => Syntax::Go,
            Language::Cpp => Syntax::Cpp,
            Language::Csharp => Syntax::CSharp,
            Language::Rust => Syntax::Rust,
            Language::Javascript => Syntax::JavaScript,
            Language::Typescript if file_name.to_ascii_lowercase().ends_with(".tsx") => Syntax::Tsx,
            Language::Typescript => Syntax::TypeScript,
        }
    }

    pub fn language(self) -> Language {
        match self {
            Syntax::Python => Language::Python,
            Syntax::Java => Language::Java,
            Syntax::Go => Language::Go,
            Syntax::Cpp => Language::Cpp,
            Syntax::CSharp => Language::Csharp,
            Syntax::Rust => Language::Rust,
            Syntax::JavaScript => Language::Javascript,
            Syntax::TypeScript | Syntax::Tsx => Language::Typescript,
        }
    }

    pub(crate) fn grammar(self) -> tree_sitter::Language {
        match self {
            Syntax::Python => tree_sitter_python::LANGUAGE.into(),
            Syntax::Java => tree_sitter_java::LANGUAGE.into(),
            Syntax::Go => tree_sitter_go::LANGUAGE.into(),
            Syntax::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Syntax::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Syntax::Rust => tree_sitter_rust::LANGUAGE.into(),
            Syntax::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Syntax::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Syntax::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        }
    }

    /// Parses `source` into a tree. `None` only if the grammar could not be loaded, which a test
    /// rules out for every grammar.
    pub(crate) fn tree(self, source: &str) -> Option<tree_sitter::Tree> {
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&self.grammar()).ok()?;
        parser.parse(source, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grammar_loads_and_parses() {
        for syntax in Syntax::ALL {
            let tree = syntax.tree("").expect("grammar loads");
            assert!(!tree.root_node().has_error(), "{syntax:?}");
        }
    }

    #[test]
    fn tsx_files_get_the_tsx_grammar() {
        assert_eq!(Syntax::of(Language::Typescript, "ui/App.tsx"), Syntax::Tsx);
        assert_eq!(
            Syntax::of(Language::Typescript, "ui/app.ts"),
            Syntax::TypeScript
        );
        assert_eq!(
            Syntax::of(Language::Javascript, "ui/App.jsx"),
            Syntax::JavaScript
        );
    }
}
