//! Test code for one unit, built from the parse alone. Two flavours:
//! - [`Flavor::Scaffold`], the offline provider's answer: arrange/act/assert with typed placeholder
//!   arguments, each test skipped with a reason so it never pretends to check behaviour;
//! - [`Flavor::Simulated`], the model simulator's answer: the same shape, not skipped, with plausible
//!   assertions — what a model would send back, for tests and demos of the pipeline. A [`Twist`]
//!   ([`simulated_tests`], [`duplicate_tests`]) makes it go right or wrong the way a model's tests
//!   do: sample arguments, a missing helper, a wrong or a varying assertion, a value a run observed.
//!
//! A unit the test file cannot reach (not exported from a JavaScript module, not public in Java, C#
//! or C++) gets a skipped test in both flavours, saying why.
//!
//! Every file is checked with [`crate::syntax_issues`] before it is returned: if the types copied
//! from the signature do not parse in a declaration, the test is rebuilt with untyped placeholders,
//! and failing that, without the call.

use domain::Language;

use crate::imports::{self, Access};
use crate::lang::{LanguageSupport, support};
use crate::{Target, Unit, UnitKind, syntax_issues};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Scaffold,
    Simulated,
}

/// How a simulated answer departs from the plain [`Flavor::Simulated`] test: the ways a model's
/// tests go right or wrong. Every twist but [`Twist::Guess`] passes sample argument values
/// (`"Hello World"`, `3`) where the language's renderer knows some, so that a value observed in a
/// run can be asserted by the next answer, which makes the same call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Twist {
    /// The plain simulated test: placeholder arguments, guessed assertions.
    #[default]
    Guess,
    /// Sample arguments and assertions that hold wherever they can be known without running the
    /// code: a constructor makes an instance, a method returning nothing leaves its object.
    Sample,
    /// Does not build or load while still parsing: an import misspelled, or a call to a helper
    /// that does not exist.
    MissingHelper,
    /// Asserts a guessed value, which the run is likely to contradict.
    WrongValue,
    /// A real assertion next to one on something that varies between runs.
    Flaky,
    /// Asserts what a run of the same call observed.
    Expect(Expected),
}

/// What a run observed, for [`Twist::Expect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The call returned this value, as the language's test tool printed it; the renderer writes
    /// it as a literal of the language (quoting it where the tool does not).
    Value(String),
    /// The call raised or threw this exception type (`TypeError`, `java.lang.ArithmeticException`);
    /// empty where the tool does not name it (a C++ exception, a Rust panic).
    Raises(String),
}

/// A complete test file for `unit` alone (package line, imports, the test), in `target.framework`.
/// [`crate::assemble`] merges several of them into one file.
pub fn unit_tests(target: &Target<'_>, unit: &Unit, flavor: Flavor) -> String {
    render_checked(target, unit, unit, flavor, &Twist::Guess)
}

/// The model simulator's test file for `unit`, with `twist`. Always parses, like [`unit_tests`].
pub fn simulated_tests(target: &Target<'_>, unit: &Unit, twist: &Twist) -> String {
    render_checked(target, unit, unit, Flavor::Simulated, twist)
}

/// The model simulator's test of `called` named as a test of `named`: a duplicate that makes the
/// calls of another unit's test, so adds no coverage of its own.
pub fn duplicate_tests(target: &Target<'_>, called: &Unit, named: &Unit) -> String {
    render_checked(target, called, named, Flavor::Simulated, &Twist::Sample)
}

fn render_checked(
    target: &Target<'_>,
    unit: &Unit,
    named: &Unit,
    flavor: Flavor,
    twist: &Twist,
) -> String {
    let syntax = target.test_syntax();
    let access = imports::access(target);
    let plan = |detail| {
        let mut plan = Plan::new(target, unit, flavor, detail, access.clone());
        plan.twist = twist.clone();
        plan.named = named;
        plan
    };
    for detail in [Detail::Typed, Detail::Untyped, Detail::NoCall] {
        let code = render(&plan(detail));
        if syntax_issues(syntax, &code).is_empty() {
            return code;
        }
    }
    render(&plan(Detail::NoCall))
}

fn render(plan: &Plan<'_>) -> String {
    plan.support().scaffold(plan)
}

/// How much of the signature goes into the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Placeholders declared with the parameter types.
    Typed,
    /// Placeholders without types, for signatures whose types do not parse in a declaration.
    Untyped,
    /// Only the arrange section and a comment where the call would be.
    NoCall,
}

/// One argument of the call under test.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    /// A valid, unique local name.
    pub(crate) name: String,
    /// The parameter's type as written, when the detail level uses it.
    pub(crate) type_name: Option<String>,
}

/// Everything the per-language renderers (`lang/<language>/scaffold.rs`) need.
pub(crate) struct Plan<'a> {
    pub(crate) target: &'a Target<'a>,
    pub(crate) unit: &'a Unit,
    pub(crate) flavor: Flavor,
    pub(crate) detail: Detail,
    pub(crate) access: Access,
    pub(crate) args: Vec<Arg>,
    /// How a simulated answer departs from the plain one.
    pub(crate) twist: Twist,
    /// The unit the test is named after: `unit`, but for a duplicate.
    pub(crate) named: &'a Unit,
}

/// The local names a test declares itself; parameters named like them are renamed.
const RESERVED_LOCALS: &[&str] = &["subject", "result", "err", "t", "assert", "expect", "test"];

impl<'a> Plan<'a> {
    fn new(
        target: &'a Target<'a>,
        unit: &'a Unit,
        flavor: Flavor,
        detail: Detail,
        access: Access,
    ) -> Plan<'a> {
        let mut args: Vec<Arg> = Vec::new();
        for (index, param) in unit.params.iter().enumerate() {
            let mut name = identifier(&param.name);
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                name = format!("arg{}", index + 1);
            }
            if RESERVED_LOCALS.contains(&name.as_str())
                || support(target.language)
                    .notation()
                    .keywords
                    .contains(&name.as_str())
            {
                name.push_str("_arg");
            }
            while args.iter().any(|arg| arg.name == name) {
                name.push('_');
            }
            let type_name = match detail {
                Detail::Typed => param.type_name.clone(),
                Detail::Untyped | Detail::NoCall => None,
            };
            args.push(Arg { name, type_name });
        }
        Plan {
            target,
            unit,
            flavor,
            detail,
            access,
            args,
            twist: Twist::Guess,
            named: unit,
        }
    }

    /// Whether the arguments take sample values rather than empty placeholders.
    pub(crate) fn samples(&self) -> bool {
        self.twist != Twist::Guess
    }

    pub(crate) fn language(&self) -> Language {
        self.target.language
    }

    fn support(&self) -> &'static dyn LanguageSupport {
        support(self.language())
    }

    fn reachable(&self) -> bool {
        self.support().is_reachable(self.unit)
    }

    /// Why the test is skipped, if it is. Safe inside any string literal: no quotes, backslashes
    /// or newlines.
    pub(crate) fn skip_reason(&self) -> Option<String> {
        let what = self.display_name();
        let reason = if !self.reachable() {
            let visibility = self.support().visibility();
            format!(
                "{what} is not {visibility}, so a test file cannot call it; test it through the public API"
            )
        } else {
            match self.flavor {
                Flavor::Scaffold => format!(
                    "scaffold for {what}: replace the placeholder arguments and expected values, then remove this skip"
                ),
                Flavor::Simulated => return None,
            }
        };
        Some(string_safe(&reason))
    }

    /// `Container.name` in the language's notation, safe in a line comment.
    pub(crate) fn display_name(&self) -> String {
        comment_safe(&self.unit.qualified_name(self.separator()))
    }

    fn separator(&self) -> &'static str {
        self.support().notation().name_separator
    }

    /// Whether the act section calls the unit: the unit is reachable and its name and container
    /// can be written as code.
    pub(crate) fn calls(&self) -> bool {
        self.detail != Detail::NoCall
            && self.reachable()
            && is_callable_name(&self.unit.name)
            && self.container_path().is_none_or(|path| {
                path.split(['.', ':'])
                    .filter(|segment| !segment.is_empty())
                    .all(imports::is_identifier)
            })
    }

    /// Whether the arrange section builds an instance to call the method on.
    pub(crate) fn arranges_instance(&self) -> bool {
        self.needs_instance() && self.calls()
    }

    pub(crate) fn is_constructor(&self) -> bool {
        self.unit.kind == UnitKind::Constructor
    }

    /// A method called on an instance arranged first.
    pub(crate) fn needs_instance(&self) -> bool {
        self.unit.kind == UnitKind::Method && !self.unit.is_static && self.unit.container.is_some()
    }

    /// The container's path in code, generics dropped (`Stack<T>` → `Stack`, `*Stack` → `Stack`).
    pub(crate) fn container_path(&self) -> Option<String> {
        let container = self.unit.container.as_deref()?;
        let without_generics = strip_generics(container);
        Some(
            without_generics
                .trim_start_matches(['*', '&'])
                .trim()
                .to_owned(),
        )
    }

    /// The arguments of the container's constructor a simulated answer builds its subject with:
    /// the constructor (of the source's own, not private) with the fewest parameters whose
    /// parameters all have a sample value by `sample(type, index)`. `None` when the container has
    /// no such constructor, or one without parameters (the plain construction then works).
    pub(crate) fn constructor_args(
        &self,
        sample: impl Fn(&str, usize) -> Option<String>,
    ) -> Option<Vec<String>> {
        self.constructor_args_of(self.unit.container.as_deref()?, sample)
    }

    /// [`Plan::constructor_args`] for the class `container` (its path as the parse names it).
    pub(crate) fn constructor_args_of(
        &self,
        container: &str,
        sample: impl Fn(&str, usize) -> Option<String>,
    ) -> Option<Vec<String>> {
        if !self.samples() {
            return None;
        }
        let units = crate::parse_units(self.target.source_syntax(), self.target.source).ok()?;
        let constructors: Vec<&Unit> = units
            .iter()
            .filter(|unit| {
                unit.kind == UnitKind::Constructor
                    && unit.container.as_deref() == Some(container)
                    && !unit.signature.trim_start().starts_with("private")
            })
            .collect();
        if constructors.iter().any(|unit| unit.params.is_empty()) {
            return None;
        }
        constructors
            .iter()
            .filter_map(|unit| {
                unit.params
                    .iter()
                    .enumerate()
                    .map(|(index, param)| sample(param.type_name.as_deref()?, index))
                    .collect::<Option<Vec<String>>>()
            })
            .min_by_key(Vec::len)
    }

    /// Name parts for the test's name: the container's segments and the unit's name, as
    /// identifiers. Constructors are named `init`/`constructor` by their kind, not `__init__`.
    pub(crate) fn name_parts(&self) -> Vec<String> {
        let named = Plan {
            unit: self.named,
            args: Vec::new(),
            twist: Twist::Guess,
            access: self.access.clone(),
            ..*self
        };
        named.own_name_parts()
    }

    fn own_name_parts(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .container_path()
            .map(|path| {
                path.split(['.', ':'])
                    .filter(|part| !part.is_empty())
                    .map(identifier)
                    .filter(|part| !part.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = if self.is_constructor() {
            "constructor".to_owned()
        } else {
            identifier(&self.unit.name)
        };
        parts.push(if name.is_empty() {
            "unit".to_owned()
        } else {
            name
        });
        parts
            .into_iter()
            .map(|part| leading_letter(&part))
            .collect()
    }

    /// `_line12`-style suffix for languages with overloading, so overloads get distinct names.
    pub(crate) fn overload_line(&self) -> Option<u32> {
        self.support()
            .notation()
            .has_overloads
            .then_some(self.named.start_line)
    }

    pub(crate) fn returns_nothing(&self) -> bool {
        match self.unit.return_type.as_deref().map(str::trim) {
            None => self.support().notation().missing_return_type_means_nothing,
            Some(return_type) => matches!(
                return_type,
                "void" | "None" | "()" | "Task" | "ValueTask" | "Promise<void>" | "" | "!"
            ),
        }
    }
}

/// What a sample argument is, for a parameter known by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleKind {
    Text,
    Number,
}

/// The kind of value a model would pass for an untyped parameter named `name`.
pub(crate) fn sample_kind(name: &str) -> Option<SampleKind> {
    const TEXTS: &[&str] = &[
        "text", "name", "word", "title", "label", "key", "path", "url", "s", "str", "string",
        "message",
    ];
    const NUMBERS: &[&str] = &[
        "n", "count", "limit", "size", "index", "i", "x", "y", "width", "height", "amount", "a",
        "b",
    ];
    let lower = snake(name).to_ascii_lowercase();
    let last = lower.rsplit('_').next().unwrap_or(&lower);
    if TEXTS.contains(&last) {
        Some(SampleKind::Text)
    } else if NUMBERS.contains(&last) {
        Some(SampleKind::Number)
    } else {
        None
    }
}

/// The `index`th parameter's sample text, unquoted (it needs no escaping in any language).
pub(crate) fn sample_text(index: usize) -> &'static str {
    const TEXTS: &[&str] = &["Hello World", "-", "abc", "x"];
    TEXTS[index % TEXTS.len()]
}

/// The `index`th parameter's sample integer.
pub(crate) fn sample_number(index: usize) -> &'static str {
    const NUMBERS: &[&str] = &["3", "2", "5", "7"];
    NUMBERS[index % NUMBERS.len()]
}

/// Whether `name` can be written as the callee of a call (`operator+` can in C++).
fn is_callable_name(name: &str) -> bool {
    let operator = name.strip_prefix("operator").is_some_and(|symbol| {
        let symbol = symbol.trim();
        !symbol.is_empty()
            && (symbol.chars().all(|c| "+-*/%^&|~!=<>,[]()".contains(c))
                || imports::is_identifier(symbol))
    });
    operator || imports::is_identifier(name)
}

/// `name` as an ASCII identifier: symbols spelled out (`operator==` → `operator_eq_eq`), anything else
/// replaced by `_`, runs of `_` collapsed, leading and trailing `_` dropped.
pub(crate) fn identifier(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let word = match c {
            '+' => Some("plus"),
            '-' => Some("minus"),
            '*' if !out.is_empty() => Some("times"),
            '/' => Some("div"),
            '%' => Some("mod"),
            '=' => Some("eq"),
            '<' => Some("lt"),
            '>' => Some("gt"),
            '!' => Some("not"),
            '[' => Some("index"),
            '(' => Some("call"),
            '&' => Some("and"),
            '|' => Some("or"),
            '^' => Some("xor"),
            '~' => Some("tilde"),
            _ => None,
        };
        match word {
            Some(word) => {
                out.push('_');
                out.push_str(word);
                out.push('_');
            }
            None if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            None => out.push('_'),
        }
    }
    let mut collapsed = String::new();
    for c in out.chars() {
        if c == '_' && collapsed.ends_with('_') {
            continue;
        }
        collapsed.push(c);
    }
    collapsed.trim_matches('_').to_owned()
}

/// A name part that may start a name: `2d` → `n2d` (`fn 2d_area` would not parse).
pub(crate) fn leading_letter(part: &str) -> String {
    if part.starts_with(|c: char| c.is_ascii_digit()) {
        format!("n{part}")
    } else {
        part.to_owned()
    }
}

/// `Stack<T>` → `Stack`, `Map[K, V]` → `Map` (Go generics).
pub(crate) fn strip_generics(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '<' | '[' => depth += 1,
            '>' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// Text safe inside any of the languages' string literals.
pub(crate) fn string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\' | '`' | '$' | '{' | '}') && !c.is_control())
        .collect()
}

/// Text safe in a line comment: one line, and no backslash (which continues a C++ comment).
fn comment_safe(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c == '\\' || c.is_control() { ' ' } else { c })
        .collect();
    crate::text::collapse_whitespace(&cleaned)
}

/// `snake_case` from `CamelCase` and mixed names.
pub(crate) fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            out.push(c);
        }
    }
    out
}

/// `UpperCamel` from `snake_case` and mixed names.
pub(crate) fn upper_camel(text: &str) -> String {
    text.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The top-level comma-separated parts of `text` (commas inside brackets do not split).
pub(crate) fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '<' | '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            '>' | ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// Lines joined with `\n`, ending with a newline.
pub(crate) fn lines_to_file(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
