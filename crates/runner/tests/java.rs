//! Java tests run for real (JUnit 5 under JaCoCo's agent): verdicts, and coverage figures checked
//! against JaCoCo's own counters for the same files, compiled and run by hand.

mod common;

use common::{
    assert_fails_saying, assert_fails_then_does_not_build, assert_missing_module,
    assert_partly_covered, assert_passes_and_measures, by_hand, corpus, framework_job, tempdir,
    toolchain_runner, write_job_files,
};
use domain::Framework;
use runner::Job;

const MONEY_TESTS: &str = r#"package com.example.bank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigDecimal;
import org.junit.jupiter.api.Test;

class MoneyTest {
    @Test
    void plusAddsAmountsOfTheSameCurrency() {
        Money sum = new Money(150).plus(new Money(250));
        assertEquals(new BigDecimal("4.00"), sum.amount());
    }

    @Test
    void plusRefusesAnotherCurrency() {
        assertThrows(IllegalArgumentException.class,
                () -> new Money(100).plus(Money.zero(Money.Currency.USD)));
    }

    @Test
    void euroDescribesItself() {
        assertEquals("euro", Money.Currency.EUR.describe());
    }
}
"#;

fn junit5<'a>(source_file_name: &'a str, source: &'a str, tests: &'a str) -> Job<'a> {
    let test_file_name = match source_file_name {
        "Money.java" => "MoneyTest.java",
        "Wallet.java" => "WalletTest.java",
        _ => "SubjectTest.java",
    };
    framework_job(
        Framework::Junit5,
        source_file_name,
        source,
        test_file_name,
        tests,
    )
}

const TOOLS: &str = "/usr/local/lib/aiunittest/java";
const LAUNCHER: &str = "/usr/share/java/junit-platform-console-standalone.jar";
const JACOCO: &str = "/usr/share/java/org.jacoco.core.jar:/usr/share/java/org.jacoco.report.jar:\
                      /usr/share/java/asm.jar:/usr/share/java/asm-commons.jar:/usr/share/java/asm-tree.jar";

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_jacoco_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("java/Money.java");
    let job = junit5("Money.java", &source, MONEY_TESTS);
    let (output, measured) = assert_passes_and_measures(&runner, &job, 1).await;
    assert!(output.contains("3 tests successful"), "{output}");
    let summary = measured.summary();

    // The same files, compiled, run and reported by hand with the same tools, outside any sandbox.
    let dir = tempdir("java-by-hand");
    write_job_files(
        &dir,
        &[("Money.java", &source), ("MoneyTest.java", MONEY_TESTS)],
    );
    by_hand(
        &dir,
        "/usr/bin/javac",
        &[
            "--release",
            "16",
            "-g",
            "-d",
            "classes",
            "-cp",
            LAUNCHER,
            "Money.java",
            "MoneyTest.java",
        ],
    );
    by_hand(
        &dir,
        "/usr/bin/java",
        &[
            &format!("-javaagent:{TOOLS}/jacocoagent.jar=destfile=jacoco.exec"),
            "-jar",
            LAUNCHER,
            "--class-path=classes",
            "--select-class=com.example.bank.MoneyTest",
        ],
    );
    by_hand(
        &dir,
        "/usr/bin/java",
        &[
            "-cp",
            &format!("{TOOLS}:{JACOCO}"),
            "JacocoXml",
            "jacoco.exec",
            "classes",
            "report.xml",
        ],
    );
    let xml = std::fs::read_to_string(dir.join("report.xml")).expect("report");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(&xml, options).expect("xml");
    let money = document
        .descendants()
        .find(|node| {
            node.has_tag_name("sourcefile") && node.attribute("name") == Some("Money.java")
        })
        .expect("Money.java in the report");
    // JaCoCo's own totals for the file: (missed, covered).
    let counter = |kind: &str| {
        let node = money
            .children()
            .find(|node| node.has_tag_name("counter") && node.attribute("type") == Some(kind))
            .expect("counter");
        let number = |name| {
            node.attribute(name)
                .and_then(|value| value.parse::<u32>().ok())
                .expect("number")
        };
        (number("missed"), number("covered"))
    };
    let (lines_missed, lines_covered) = counter("LINE");
    let (branches_missed, branches_covered) = counter("BRANCH");
    assert_eq!(summary.lines_covered, lines_covered);
    assert_eq!(summary.lines_total, lines_missed + lines_covered);
    assert_eq!(summary.branches_covered, Some(branches_covered));
    assert_eq!(
        summary.branches_total,
        Some(branches_missed + branches_covered)
    );
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_and_broken_code_does_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("java/Money.java");
    let failing = "package com.example.bank;\n\nimport static org.junit.jupiter.api.Assertions.assertEquals;\nimport org.junit.jupiter.api.Test;\n\nclass MoneyTest {\n    @Test\n    void usdDescribesItself() {\n        assertEquals(\"dollar\", Money.Currency.USD.describe());\n    }\n}\n";
    assert_fails_then_does_not_build(
        &runner,
        junit5("Money.java", &source, failing),
        &["expected: <dollar> but was: <usd>"],
        ("Money.Currency.USD.describe()", "Money.Currency.USD.name("),
        "MoneyTest.java:9: error",
    )
    .await;
}

#[tokio::test]
async fn a_package_the_source_imports_and_nobody_has_is_a_missing_module() {
    let runner = toolchain_runner().await;
    let source = "package com.example.bank;\n\nimport org.joda.money.CurrencyUnit;\n\npublic class Wallet {\n    public CurrencyUnit unit() {\n        return CurrencyUnit.EUR;\n    }\n}\n";
    let tests = "package com.example.bank;\n\nimport org.junit.jupiter.api.Test;\n\nclass WalletTest {\n    @Test\n    void unit() {\n        new Wallet().unit();\n    }\n}\n";
    let job = junit5("Wallet.java", source, tests);
    assert_missing_module(&runner, &job, "org.joda.money").await;
}

/// A test in the shape the prompt asks for: `@ExtendWith(MockitoExtension.class)`, `@Mock` fields.
const GREETER_TESTS: &str = r#"package com.example.clock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.mockito.Mockito.*;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.mockito.Mock;
import org.mockito.junit.jupiter.MockitoExtension;

@ExtendWith(MockitoExtension.class)
class GreeterTest {
    @Mock
    Greeter.Clock clock;

    @Test
    void morning() {
        when(clock.hour()).thenReturn(9);
        assertEquals("good morning", new Greeter(clock).greet());
        verify(clock).hour();
    }
}
"#;

#[tokio::test]
async fn mockito_extension_mocks_fields_with_strict_stubs() {
    let runner = toolchain_runner().await;
    let source = "package com.example.clock;\n\npublic class Greeter {\n    public interface Clock {\n        int hour();\n    }\n\n    private final Clock clock;\n\n    public Greeter(Clock clock) {\n        this.clock = clock;\n    }\n\n    public String greet() {\n        return clock.hour() < 12 ? \"good morning\" : \"good afternoon\";\n    }\n}\n";
    let mockito = |tests| {
        framework_job(
            Framework::Junit5Mockito,
            "Greeter.java",
            source,
            "GreeterTest.java",
            tests,
        )
    };
    let (_, measured) = assert_passes_and_measures(&runner, &mockito(GREETER_TESTS), 0).await;
    let summary = measured.summary();
    assert_eq!(summary.branches_total, Some(2));
    assert_eq!(summary.branches_covered, Some(1));

    // A stub the test never uses fails it, as with Mockito's own extension.
    let unused = GREETER_TESTS.replace(
        "        verify(clock).hour();\n",
        "        verify(clock).hour();\n        when(mock(Greeter.Clock.class).hour()).thenReturn(15);\n",
    );
    let stub_unused = mockito(&unused);
    assert_fails_saying(&runner, &stub_unused, 0, &["UnnecessaryStubbingException"]).await;
}
