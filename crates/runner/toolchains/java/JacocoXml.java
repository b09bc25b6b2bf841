import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.tools.ExecFileLoader;
import org.jacoco.report.IReportVisitor;
import org.jacoco.report.xml.XMLFormatter;

/**
 * Turns a JaCoCo execution data file into JaCoCo's XML report: what `jacococli report --xml`
 * does, for machines without the CLI (Debian packages JaCoCo's libraries, not its CLI).
 *
 * <p>Usage: {@code JacocoXml <jacoco.exec> <classes directory> <report.xml>}
 *
 * <p>A class file JaCoCo cannot read (a newer class file feature) is left out of the report with
 * a note on stderr, rather than losing the whole report.
 */
public final class JacocoXml {
    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            System.err.println("usage: JacocoXml <jacoco.exec> <classes directory> <report.xml>");
            System.exit(2);
        }
        ExecFileLoader loader = new ExecFileLoader();
        loader.load(new File(args[0]));
        CoverageBuilder builder = new CoverageBuilder();
        analyze(new Analyzer(loader.getExecutionDataStore(), builder), new File(args[1]));
        try (OutputStream out = new FileOutputStream(args[2])) {
            IReportVisitor visitor = new XMLFormatter().createVisitor(out);
            visitor.visitInfo(
                    loader.getSessionInfoStore().getInfos(),
                    loader.getExecutionDataStore().getContents());
            visitor.visitBundle(builder.getBundle("tests"), null);
            visitor.visitEnd();
        }
    }

    private static void analyze(Analyzer analyzer, File file) {
        File[] children = file.listFiles();
        if (children != null) {
            java.util.Arrays.sort(children);
            for (File child : children) {
                analyze(analyzer, child);
            }
            return;
        }
        if (!file.getName().endsWith(".class")) {
            return;
        }
        try (InputStream in = new FileInputStream(file)) {
            analyzer.analyzeClass(in, file.getPath());
        } catch (IOException | RuntimeException error) {
            System.err.println("left out of the coverage report: " + file + ": " + error);
        }
    }
}
