//! Java: JUnit 5 through its console launcher, under JaCoCo's agent, with line and branch coverage
//! of the source file. Debian's `openjdk-17-jdk-headless`, `junit5`, `libjacoco-java` and, for
//! Mockito, `libmockito-java`; `toolchains/install` takes JaCoCo's agent out of its jar and
//! compiles what Debian lacks: JaCoCo's XML report tool and Mockito's JUnit 5 extension.
//!
//! Debian's JaCoCo (0.8.6) reads class files up to Java 16's, and javac 17 marks enums with
//! constant bodies as sealed, which JaCoCo 0.8.6 cannot read: the files compile for Java 16
//! unless they use sealed types, which need 17 (their coverage is then left out).

use std::io;
use std::path::Path;

use super::{Plan, Toolchain, plain_name};
use crate::sandbox::Command;
use crate::{Job, Measured};

pub(crate) struct Java {
    /// Whether Mockito is on the class path.
    pub(crate) mockito: bool,
}

const JAVA: &str = "/usr/bin/java";
const JAVAC: &str = "/usr/bin/javac";
const LAUNCHER: &str = "/usr/share/java/junit-platform-console-standalone.jar";
const TOOLS: &str = "/usr/local/lib/aiunittest/java";
/// Mockito, what it needs, and its JUnit 5 extension (compiled by `toolchains/install`: Debian has
/// none).
const MOCKITO: &[&str] = &[
    "/usr/local/lib/aiunittest/java/mockito-junit-jupiter",
    "/usr/share/java/mockito-core.jar",
    "/usr/share/java/byte-buddy.jar",
    "/usr/share/java/byte-buddy-agent.jar",
    "/usr/share/java/objenesis.jar",
];
const JACOCO: &[&str] = &[
    "/usr/share/java/org.jacoco.core.jar",
    "/usr/share/java/org.jacoco.report.jar",
    "/usr/share/java/asm.jar",
    "/usr/share/java/asm-commons.jar",
    "/usr/share/java/asm-tree.jar",
];
/// Short-lived JVMs: a heap well under the memory limit, the cheapest collector, the quick JIT
/// tier only, and the class data archive where there is one.
const JVM: &[&str] = &[
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
];
const CLASSES: &str = "classes";
const EXEC: &str = "jacoco.exec";
const REPORT: &str = "jacoco.xml";

impl Java {
    /// The JDK's files outside `/usr`: `/usr/bin/java` is a link through /etc/alternatives, and
    /// the JDK reads its settings from /etc.
    fn jdk(command: Command) -> Command {
        command
            .read_only("/etc/alternatives")
            .read_only("/etc/java-17-openjdk")
            .no_address_space_limit()
    }

    fn class_path(&self) -> String {
        let mut path = vec![LAUNCHER];
        if self.mockito {
            path.extend_from_slice(MOCKITO);
        }
        path.join(":")
    }

    /// Runs the tests in the compiled classes; `agent` is JaCoCo's `-javaagent` option, if any.
    fn launch(&self, agent: Option<&str>) -> String {
        let mut words: Vec<String> = vec![JAVA.to_owned()];
        words.extend(JVM.iter().map(|flag| (*flag).to_owned()));
        words.extend(agent.map(str::to_owned));
        words.extend(
            [
                "-jar",
                LAUNCHER,
                "--disable-banner",
                "--disable-ansi-colors",
                "--details=tree",
                "--fail-if-no-tests",
            ]
            .map(str::to_owned),
        );
        let mut class_path = vec![CLASSES.to_owned()];
        if self.mockito {
            class_path.extend(MOCKITO.iter().map(|jar| (*jar).to_owned()));
        }
        words.push(format!("--class-path={}", class_path.join(":")));
        // Every class compiled from the test file, whatever it is called.
        words.extend(
            [
                &format!("--scan-class-path={CLASSES}"),
                "--include-classname=.*",
            ]
            .map(|word| word.to_owned()),
        );
        words.join(" ")
    }
}

impl Toolchain for Java {
    fn tool(&self) -> &'static str {
        if self.mockito {
            "JUnit 5 + Mockito + JaCoCo"
        } else {
            "JUnit 5 + JaCoCo"
        }
    }

    fn probe(&self) -> Command {
        let mut files = vec![
            JAVAC.to_owned(),
            LAUNCHER.to_owned(),
            format!("{TOOLS}/jacocoagent.jar"),
            format!("{TOOLS}/JacocoXml.class"),
        ];
        files.extend(JACOCO.iter().map(|jar| (*jar).to_owned()));
        if self.mockito {
            files.extend(MOCKITO.iter().map(|jar| (*jar).to_owned()));
            files.push(format!(
                "{TOOLS}/mockito-junit-jupiter/org/mockito/junit/jupiter/MockitoExtension.class"
            ));
        }
        let tests: Vec<String> = files.iter().map(|file| format!("test -r {file}")).collect();
        Java::jdk(Command::shell(format!(
            "{} && {JAVA} -Xshare:auto -version",
            tests.join(" && ")
        )))
    }

    fn install_hint(&self) -> &'static str {
        if self.mockito {
            "Java's tests need JDK 17, JUnit 5, JaCoCo and Mockito (Debian: openjdk-17-jdk-headless \
             junit5 libjacoco-java libasm-java libmockito-java; then the runner's toolchains/install)"
        } else {
            "Java's tests need JDK 17, JUnit 5 and JaCoCo (Debian: openjdk-17-jdk-headless junit5 \
             libjacoco-java libasm-java; then the runner's toolchains/install)"
        }
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        let source = plain_name(job.source_file_name)?;
        let test = plain_name(job.test_file_name)?;
        std::fs::write(dir.join(source), job.source)?;
        std::fs::write(dir.join(test), job.test_code)?;
        std::fs::create_dir_all(dir.join(CLASSES))?;
        let release = if uses_sealed_types(job.source) || uses_sealed_types(job.test_code) {
            "17"
        } else {
            "16"
        };
        let mut javac: Vec<String> = vec![JAVAC.to_owned()];
        javac.extend(JVM.iter().map(|flag| format!("-J{flag}")));
        javac.extend(
            [
                "--release",
                release,
                "-encoding",
                "UTF-8",
                "-g",
                "-nowarn",
                "-implicit:none",
                "-d",
                CLASSES,
                "-cp",
                &self.class_path(),
                source,
                test,
            ]
            .map(str::to_owned),
        );
        let agent = format!("-javaagent:{TOOLS}/jacocoagent.jar=destfile={EXEC}");
        let report = format!(
            "{JAVA} {} -cp {TOOLS}:{} JacocoXml {EXEC} {CLASSES} {REPORT}",
            JVM.join(" "),
            JACOCO.join(":")
        );
        let with_coverage = format!(
            "{}; status=$?; {report} >/dev/null 2>&1; exit $status",
            self.launch(Some(&agent))
        );
        Ok(Plan {
            build: Some(Java::jdk(Command::new(javac))),
            run_with_coverage: Java::jdk(Command::shell(with_coverage)),
            run: Java::jdk(Command::shell(self.launch(None))),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(REPORT)).ok()?;
        crate::coverage::from_jacoco_xml(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        missing_package(output, job.source_file_name)
    }
}

/// Whether Java code declares sealed types (a word test: comments and strings count too, which
/// only costs the coverage of the enums with bodies).
fn uses_sealed_types(code: &str) -> bool {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .any(|word| matches!(word, "sealed" | "non-sealed" | "permits"))
}

/// The first package javac says does not exist in an error of the source file
/// (`Money.java:3: error: package org.joda.money does not exist`).
fn missing_package(output: &str, source_file_name: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let (location, message) = line.split_once(": error: ")?;
        let file = location.rsplit_once(':')?.0;
        if !crate::coverage::path_matches(file, source_file_name) {
            return None;
        }
        let package = message
            .strip_prefix("package ")?
            .strip_suffix(" does not exist")?;
        Some(package.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_package_the_source_imports_is_its_missing_module() {
        let output = "Money.java:4: error: package org.joda.money does not exist\n\
                      import org.joda.money.CurrencyUnit;\n                     ^\n\
                      MoneyTest.java:3: error: package org.assertj.core.api does not exist\n";
        assert_eq!(
            missing_package(output, "Money.java").as_deref(),
            Some("org.joda.money")
        );
        assert_eq!(missing_package(output, "Other.java"), None);
        assert_eq!(
            missing_package(
                "MoneyTest.java:3: error: package org.assertj.core.api does not exist",
                "Money.java"
            ),
            None
        );
        assert_eq!(
            missing_package("Money.java:9: error: cannot find symbol", "Money.java"),
            None
        );
    }

    #[test]
    fn sealed_types_are_told_by_their_keywords() {
        assert!(uses_sealed_types(
            "public sealed interface Shape permits Circle {}"
        ));
        assert!(uses_sealed_types(
            "non-sealed class Square extends Shape {}"
        ));
        assert!(!uses_sealed_types("class Sealer { boolean sealedFlag; }"));
    }
}
