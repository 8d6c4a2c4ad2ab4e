package org.emovec.cli;

import java.util.concurrent.Callable;

import org.emovec.pipeline.Extract;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "extract", mixinStandardHelpOptions = true,
        description = {"Stage 2: average each story's residual stream from token 50 on at every chosen layer (one pass), then build the",
                "emotion vectors: emotion mean minus the mean over emotions, neutral-dialogue principal components projected out, unit length.",
                "Writes DIR/activations/ and DIR/vectors/L<L>.npy (+ vectors.json)."})
final class ExtractCommand implements Callable<Integer> {
    @Mixin RunOptions options;

    @Override
    public Integer call() throws Exception {
        try (RunOptions.Run run = options.open()) {
            Extract.run(run.dir(), run.model(), run.settings(), run.sizing(), options.quiet);
            System.out.println("vectors: " + run.dir().vectors());
        }
        return 0;
    }
}
