package org.emovec.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.emovec.pipeline.Report;
import org.emovec.pipeline.RunDir;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Stage 4: write DIR/report/index.html (verdict, checks, controls, figures, every setting and choice) from the validate results.")
final class ReportCommand implements Callable<Integer> {
    @Option(names = {"-o", "--out"}, defaultValue = "out/run", description = "run directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--layer", description = "the validated layer to report (default: the run's --layer)")
    Integer layer;

    @Option(names = "--debug", description = "print stack traces of failures")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        RunDir dir = new RunDir(out);
        int l = layer != null ? layer : dir.manifest().settings().layer();
        System.out.println("report: " + Report.write(dir, l));
        return 0;
    }
}
