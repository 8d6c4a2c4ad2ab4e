package org.emovec.cli;

import java.util.List;
import java.util.concurrent.Callable;

import org.emovec.pipeline.Validate;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "validate", mixinStandardHelpOptions = true,
        description = {"Stage 3: the checks V1-V11 at --layer: logit lens, implicit scenarios, numerical templates, preference Elo,",
                "probe/Elo correlation, and steering on the steered activities' tokens only. Writes DIR/validate/L<L>.json and CSVs."})
final class ValidateCommand implements Callable<Integer> {
    @Mixin RunOptions options;

    @Option(names = "--no-steering", description = "skip the steering jobs (V10, V11)")
    boolean noSteering;

    @Override
    public Integer call() throws Exception {
        try (RunOptions.Run run = options.open()) {
            print(Validate.run(run.dir(), run.model(), run.settings(), List.of(run.settings().layer()), !noSteering, run.sizing(), options.quiet).get(0));
        }
        return 0;
    }

    static void print(Validate.LayerResult r) {
        System.out.printf("layer %d: %d of %d checks pass%n", r.layer(), r.passed(), r.applicable());
        for (var c : r.checks()) {
            System.out.printf("  %-4s %-5s %-48s %s  [%s]%n", c.id(), c.pass() == null ? "n/a" : c.pass() ? "pass" : "FAIL", c.name(), c.value(), c.threshold());
        }
    }
}
