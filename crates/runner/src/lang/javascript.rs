//! JavaScript and TypeScript: node's own test runner (`node --test`) with its V8 coverage as
//! lcov. TypeScript and JSX load through `tsx` (npm, in the runner's Node tools), which strips
//! types and leaves source maps, so coverage is of the file as written. ES modules and CommonJS
//! both work as written: node 20.19+ detects module syntax and lets `require` load ES modules.
//! Vitest runs as it is; Jest through a transform of ours (`toolchains/jest-esbuild.cjs`) that
//! turns ES modules, TypeScript and JSX into CommonJS with esbuild, with Jest's own coverage.
//!
//! In a checkout the tests run from the repository's root on the test file at its path, beside
//! its source as the conventions put it, under the repository's own `package.json`. The tools'
//! own files take names no repository file can have (hidden ones), and Vitest's links into
//! node_modules leave the repository's own entries alone, so nothing of the repository is
//! replaced; its Vite and Jest configurations are not read (they name plugins and presets that
//! are not installed here). A package missing there is what the verdict names unless the tests
//! are alone in importing it.

use std::io;
use std::path::Path;

use super::{Plan, Toolchain, only_the_tests_import, plain_name, relative_path, shell_quote};
use crate::sandbox::Command;
use crate::{Job, Measured};

/// `node:test` for plain JavaScript, or through `tsx` for TypeScript and JSX.
pub(crate) struct NodeTest {
    pub(crate) typescript: bool,
}

const NODE: &str = "/usr/bin/node";
/// Where `toolchains/install` puts the Node tools (under /usr, so the sandbox sees them).
pub(crate) const NODE_TOOLS: &str = "/usr/local/lib/aiunittest/node_modules";
const REPORT: &str = ".lcov.info";
/// A name pattern no test matches: node loads the test file and runs none of its tests.
const MATCHES_NOTHING: &str = "(?!)";
/// The files of a repository that import JavaScript modules.
const MODULE_FILES: &[&str] = &[".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"];

/// A job's test file as one word of a command: its base name beside the source in a job alone
/// (written there), its quoted path in a checkout (already laid out).
fn test_word(job: &Job<'_>, dir: &Path) -> io::Result<String> {
    if job.checkout.is_some() {
        return Ok(shell_quote(
            &relative_path(job.test_file_name)?.display().to_string(),
        ));
    }
    let source = plain_name(job.source_file_name)?;
    let test = plain_name(job.test_file_name)?;
    std::fs::write(dir.join(source), job.source)?;
    std::fs::write(dir.join(test), job.test_code)?;
    Ok(test.to_owned())
}

/// The first of `missing` that makes the verdict: in a job alone, a module the source imports; in
/// a checkout, also a package the tests are not alone in importing.
fn verdict_module(job: &Job<'_>, missing: impl IntoIterator<Item = String>) -> Option<String> {
    missing.into_iter().find(|module| {
        imports(job.source, module)
            || job.checkout.is_some_and(|checkout| {
                !module.starts_with("./")
                    && !only_the_tests_import(job, checkout, MODULE_FILES, |code| {
                        imports(code, module)
                    })
            })
    })
}

impl NodeTest {
    /// Whether `file` needs `tsx`: TypeScript, and JSX, which node cannot parse.
    fn needs_tsx(&self, file: &str) -> bool {
        let extension = file.rsplit_once('.').map_or("", |(_, extension)| extension);
        self.typescript || matches!(extension, "jsx" | "tsx" | "ts" | "mts" | "cts")
    }

    fn node(&self, job: &Job<'_>, test: &str, options: &str) -> Command {
        let loader = if self.needs_tsx(job.source_file_name) || self.needs_tsx(job.test_file_name) {
            format!("--import {NODE_TOOLS}/tsx/dist/loader.mjs ")
        } else {
            String::new()
        };
        // The V8 heap reserves far more address space than it uses.
        Command::shell(format!("{NODE} {loader}--test {options} {test}"))
            .env("NODE_ENV", "test")
            .no_address_space_limit()
    }
}

impl Toolchain for NodeTest {
    fn tool(&self) -> &'static str {
        if self.typescript {
            "node:test + tsx"
        } else {
            "node:test"
        }
    }

    fn probe(&self) -> Command {
        // Module syntax detection and require() of ES modules came with node 20.19.
        let recent = format!(
            "{NODE} -e 'const [major, minor] = process.versions.node.split(\".\").map(Number); \
             if (major < 20 || (major === 20 && minor < 19)) {{ \
             console.error(\"node \" + process.version + \" is older than 20.19\"); process.exit(1) }}'"
        );
        let script = if self.typescript {
            format!("{recent} && test -f {NODE_TOOLS}/tsx/dist/loader.mjs")
        } else {
            recent
        };
        Command::shell(script).no_address_space_limit()
    }

    fn install_hint(&self) -> &'static str {
        if self.typescript {
            "TypeScript's tests need node 20.19 or later and tsx (Debian: nodejs; npm: tsx, from crates/runner/toolchains/package.json)"
        } else {
            "JavaScript's tests need node 20.19 or later (Debian: nodejs)"
        }
    }

    fn uses_checkout(&self, _job: &Job<'_>) -> bool {
        true
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let test = &test_word(job, dir)?;
        let spec = "--test-reporter=spec --test-reporter-destination=stdout";
        Ok(Plan {
            // Loading the tests without running them: a syntax error, or an import of something
            // that is not there, stops here, apart from the tests' own failures.
            build: Some(self.node(
                job,
                test,
                &format!("{spec} --test-name-pattern='{MATCHES_NOTHING}'"),
            )),
            run_with_coverage: self.node(
                job,
                test,
                &format!(
                    "--experimental-test-coverage {spec} \
                     --test-reporter=lcov --test-reporter-destination={REPORT}"
                ),
            ),
            run: self.node(job, test, spec),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(REPORT)).ok()?;
        crate::coverage::from_lcov(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        verdict_module(job, missing_modules(output))
    }
}

/// Vitest (npm, in the runner's Node tools) with its V8 coverage as lcov; it loads TypeScript and
/// ES modules itself.
pub(crate) struct Vitest;

const VITEST_REPORTS: &str = ".vitest-coverage";
/// In a checkout, the configuration Vitest reads instead of the repository's: none.
const VITEST_CONFIG: &str = ".aiut-vitest.config.mjs";

impl Vitest {
    fn vitest(test: &str, options: &str) -> Command {
        Command::shell(format!(
            "{NODE} {NODE_TOOLS}/vitest/vitest.mjs run --root /work --no-color {options} {test}"
        ))
        .env("NODE_ENV", "test")
        .env("CI", "1")
        // Vite's server binds `localhost`, which needs /etc/hosts to resolve.
        .read_only("/etc/hosts")
        .no_address_space_limit()
    }
}

impl Toolchain for Vitest {
    fn tool(&self) -> &'static str {
        "vitest"
    }

    fn probe(&self) -> Command {
        Command::shell(format!("{NODE} {NODE_TOOLS}/vitest/vitest.mjs --version"))
            .no_address_space_limit()
    }

    fn install_hint(&self) -> &'static str {
        "Vitest tests need node and vitest with @vitest/coverage-v8 (npm, from crates/runner/toolchains/package.json)"
    }

    fn uses_checkout(&self, _job: &Job<'_>) -> bool {
        true
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let test = test_word(job, dir)?;
        // The tests import `vitest` from the work directory, and Vite writes its own files under
        // node_modules: a writable node_modules whose entries point at the read-only tools.
        let modules = dir.join("node_modules");
        std::fs::create_dir_all(&modules)?;
        for entry in std::fs::read_dir(NODE_TOOLS)? {
            let name = entry?.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let link = modules.join(&name);
            // A package the repository keeps in its own node_modules stays as it is.
            if job.checkout.is_some() && link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(Path::new(NODE_TOOLS).join(&name), link)?;
        }
        let (include, config) = match job.checkout {
            None => (plain_name(job.source_file_name)?.to_owned(), String::new()),
            Some(_) => {
                std::fs::write(dir.join(VITEST_CONFIG), "export default {};\n")?;
                let source = relative_path(job.source_file_name)?.display().to_string();
                (
                    shell_quote(&glob_escape(&source)),
                    format!("--config /work/{VITEST_CONFIG} "),
                )
            }
        };
        let coverage = format!(
            "{config}--coverage.enabled --coverage.provider=v8 --coverage.reporter=lcov \
             --coverage.reportsDirectory=/work/{VITEST_REPORTS} --coverage.include={include}"
        );
        Ok(Plan {
            build: None,
            run_with_coverage: Vitest::vitest(&test, &coverage),
            run: Vitest::vitest(&test, config.trim_end()),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(VITEST_REPORTS).join("lcov.info")).ok()?;
        crate::coverage::from_lcov(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        verdict_module(
            job,
            missing_modules(output)
                .into_iter()
                .chain(vite_unresolved(output)),
        )
    }

    fn is_load_error(&self, execution: &crate::sandbox::Execution) -> bool {
        // A test file that does not load fails as a suite with no tests run.
        execution.output.contains("Failed to load")
            || execution.output.contains("Transform failed")
            || execution.output.contains("no tests")
            || execution.output.contains("SyntaxError")
    }
}

/// Jest (npm, in the runner's Node tools) in one process, with its own (Istanbul) coverage as
/// lcov; ES modules, TypeScript and JSX go through `jest-esbuild.cjs`, installed beside the tools.
pub(crate) struct Jest;

/// Jest reads its project again from the work directory, finding the configuration by name.
const JEST_CONFIG: &str = "jest.config.cjs";
/// In a checkout, a name the repository's own configuration cannot have.
const JEST_CHECKOUT_CONFIG: &str = ".aiut-jest.config.cjs";
const JEST_REPORTS: &str = ".jest-coverage";
/// Where `toolchains/install` puts Jest's transform.
const JEST_TRANSFORM: &str = "/usr/local/lib/aiunittest/jest-esbuild.cjs";

impl Jest {
    fn jest(config: &str, options: &str) -> Command {
        Command::shell(format!(
            "{NODE} {NODE_TOOLS}/jest/bin/jest.js --config /work/{config} \
             --ci --runInBand --watchman=false --colors=false {options}"
        ))
        .env("NODE_ENV", "test")
        .env("CI", "1")
        .no_address_space_limit()
    }

    /// The configuration: this test file only, everything through the esbuild transform, Jest's
    /// cache and reports inside the work directory.
    fn config(source: &str, test: &str) -> String {
        let json = |text: &str| serde_json::Value::from(text).to_string();
        let test_regex = format!("^/work/{}$", regex_escape(test));
        format!(
            "module.exports = {{\n\
             \x20 rootDir: \"/work\",\n\
             \x20 roots: [\"/work\"],\n\
             \x20 testEnvironment: \"node\",\n\
             \x20 testRegex: [{test_regex}],\n\
             \x20 transform: {{ \"\\\\.[cm]?[jt]sx?$\": {transform} }},\n\
             \x20 moduleFileExtensions: [\"js\", \"mjs\", \"cjs\", \"jsx\", \"ts\", \"mts\", \"cts\", \"tsx\", \"json\", \"node\"],\n\
             \x20 // `./geometry.js` in TypeScript names `./geometry.ts`; `./cart` still finds `./cart.js`.\n\
             \x20 moduleNameMapper: {{ \"^(\\\\.{{1,2}}/.*)\\\\.js$\": \"$1\" }},\n\
             \x20 cacheDirectory: \"/work/.jest-cache\",\n\
             \x20 watchman: false,\n\
             \x20 coverageDirectory: \"/work/{JEST_REPORTS}\",\n\
             \x20 collectCoverageFrom: [{source}],\n\
             }};\n",
            test_regex = json(&test_regex),
            transform = json(JEST_TRANSFORM),
            source = json(&glob_escape(source)),
        )
    }
}

/// `text` matched literally in a regular expression.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\^$.|?*+()[]{}/".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// `text` matched literally by a glob (micromatch's).
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\*?[](){}!+@".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

impl Toolchain for Jest {
    fn tool(&self) -> &'static str {
        "jest"
    }

    fn probe(&self) -> Command {
        Command::shell(format!(
            "test -f {JEST_TRANSFORM} && {NODE} {NODE_TOOLS}/jest/bin/jest.js --version"
        ))
        .no_address_space_limit()
    }

    fn install_hint(&self) -> &'static str {
        "Jest tests need node and jest with esbuild (npm, from crates/runner/toolchains/package.json) and the runner's transform (crates/runner/toolchains/install puts it beside them)"
    }

    fn uses_checkout(&self, _job: &Job<'_>) -> bool {
        true
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let config = match job.checkout {
            None => {
                let source = plain_name(job.source_file_name)?;
                let test = plain_name(job.test_file_name)?;
                std::fs::write(dir.join(source), job.source)?;
                std::fs::write(dir.join(test), job.test_code)?;
                std::fs::write(dir.join(JEST_CONFIG), Jest::config(source, test))?;
                JEST_CONFIG
            }
            Some(_) => {
                let source = relative_path(job.source_file_name)?.display().to_string();
                let test = relative_path(job.test_file_name)?.display().to_string();
                std::fs::write(dir.join(JEST_CHECKOUT_CONFIG), Jest::config(&source, &test))?;
                JEST_CHECKOUT_CONFIG
            }
        };
        Ok(Plan {
            // A test file that does not load fails as a suite ("Test suite failed to run").
            build: None,
            run_with_coverage: Jest::jest(config, "--coverage --coverageReporters=lcov"),
            run: Jest::jest(config, ""),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(JEST_REPORTS).join("lcov.info")).ok()?;
        crate::coverage::from_lcov(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        // Jest's resolver: `Cannot find module 'lodash' from 'cart.js'`.
        verdict_module(job, missing_modules(output))
    }

    fn is_load_error(&self, execution: &crate::sandbox::Execution) -> bool {
        execution.output.contains("Test suite failed to run")
    }
}

/// Vite's `Failed to resolve import "x" from "file"`.
fn vite_unresolved(output: &str) -> Vec<String> {
    let marker = "Failed to resolve import \"";
    let mut found = Vec::new();
    let mut rest = output;
    while let Some(start) = rest.find(marker) {
        rest = &rest[start + marker.len()..];
        let Some(end) = rest.find('"') else { break };
        found.push(package_of(&rest[..end]).to_owned());
    }
    found
}

/// The modules node could not find, as the code named them (a package, or `./file` for a file of
/// the work directory), from CommonJS's `Cannot find module 'x'` and the ES loader's
/// `Cannot find package 'x' imported from …` / `Cannot find module '/work/x' imported from …`.
fn missing_modules(output: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["Cannot find module '", "Cannot find package '"] {
        let mut rest = output;
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            let Some(end) = rest.find('\'') else { break };
            let name = &rest[..end];
            let name = match name.strip_prefix("/work/") {
                Some(file) => format!("./{file}"),
                None => package_of(name).to_owned(),
            };
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

/// The package of a bare specifier: `lodash/fp` → `lodash`, `@scope/pkg/x` → `@scope/pkg`.
fn package_of(specifier: &str) -> &str {
    if specifier.starts_with('.') || specifier.starts_with('/') {
        return specifier;
    }
    let parts = if specifier.starts_with('@') { 2 } else { 1 };
    match specifier.match_indices('/').nth(parts - 1) {
        Some((index, _)) => &specifier[..index],
        None => specifier,
    }
}

/// Whether `source` imports `module` (`import … from`, a bare `import`, `import()`, `require()`,
/// `export … from`), or a file of it (`lodash/fp`, `./db` for `./db.js`).
fn imports(source: &str, module: &str) -> bool {
    let without_extension = |specifier: &str| -> String {
        match specifier.rsplit_once('.') {
            Some((stem, extension))
                if !stem.is_empty() && !extension.contains('/') && stem != "." =>
            {
                stem.to_owned()
            }
            _ => specifier.to_owned(),
        }
    };
    specifiers(source).iter().any(|specifier| {
        if module.starts_with("./") {
            without_extension(specifier) == without_extension(module)
        } else {
            package_of(specifier) == module
        }
    })
}

/// The quoted module names in the source's imports and requires.
fn specifiers(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for line in source.lines() {
        let line = line.trim_start();
        if line.starts_with("//") || line.starts_with('*') {
            continue;
        }
        let loads = line.starts_with("import ")
            || line.starts_with("import{")
            || line.starts_with("export ")
            || line.starts_with("} from")
            || line.contains("require(")
            || line.contains("import(");
        if !loads {
            continue;
        }
        for quote in ['\'', '"', '`'] {
            let mut rest = line;
            while let Some(start) = rest.find(quote) {
                rest = &rest[start + 1..];
                let Some(end) = rest.find(quote) else { break };
                found.push(&rest[..end]);
                rest = &rest[end + 1..];
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_modules_come_from_either_loader() {
        let commonjs = "Error: Cannot find module 'lodash/fp'\nRequire stack:\n- /work/a.js";
        assert_eq!(missing_modules(commonjs), vec!["lodash".to_owned()]);
        let esm = "Error [ERR_MODULE_NOT_FOUND]: Cannot find package '@scope/pkg' imported from /work/a.js";
        assert_eq!(missing_modules(esm), vec!["@scope/pkg".to_owned()]);
        let file = "Cannot find module '/work/db.js' imported from /work/a.js";
        assert_eq!(missing_modules(file), vec!["./db.js".to_owned()]);
        assert!(missing_modules("AssertionError: 1 !== 2").is_empty());
    }

    #[test]
    fn only_the_sources_imports_count() {
        let source = "import React, { useState } from \"react\";\nconst fp = require('lodash/fp');\nimport { open } from './db.js';\n// import x from 'commented';\n";
        assert!(imports(source, "react"));
        assert!(imports(source, "lodash"));
        assert!(imports(source, "./db.js"));
        assert!(imports(source, "./db"));
        assert!(!imports(source, "commented"));
        assert!(!imports(source, "react-dom"));
        assert_eq!(package_of("@scope/pkg/sub"), "@scope/pkg");
        assert_eq!(package_of("lodash"), "lodash");
    }
}
