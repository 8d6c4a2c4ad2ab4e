package org.emovec.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import org.emovec.pipeline.Extract;
import org.emovec.pipeline.Report;
import org.emovec.pipeline.Stories;
import org.emovec.pipeline.Validate;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"The whole experiment: stories -> activations and vectors -> checks V1-V11 -> report (each stage is also its own command).",
                "Resumable: rerun the same command after a kill and finished work is kept. With no --model, the embedded tiny random model",
                "at a small demo scale (its checks must fail: a random model holds no emotions)."})
final class RunCommand implements Callable<Integer> {
    @Mixin RunOptions options;

    @Override
    public Integer call() throws Exception {
        try (RunOptions.Run run = options.open()) {
            long t0 = System.nanoTime();
            Stories.run(run.dir(), run.model(), run.settings(), run.sizing(), options.quiet);
            long t1 = System.nanoTime();
            Extract.run(run.dir(), run.model(), run.settings(), run.sizing(), options.quiet);
            long t2 = System.nanoTime();
            Validate.LayerResult r = Validate.run(run.dir(), run.model(), run.settings(), List.of(run.settings().layer()), true, run.sizing(), options.quiet).get(0);
            long t3 = System.nanoTime();
            Path report = Report.write(run.dir(), run.settings().layer());
            System.err.printf("emovec run: stories %.1f s, extract %.1f s, validate %.1f s, report %.1f s (work already done is skipped)%n",
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (System.nanoTime() - t3) / 1e9);
            ValidateCommand.print(r);
            System.out.println("report: " + report);
        }
        return 0;
    }
}
