package org.emovec.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import org.emovec.pipeline.Sweep;
import org.emovec.pipeline.Validate;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = {"The checks over a range of layers from the activations extract captured (no new stories or extraction):",
                "DIR/sweep/sweep.csv (V3, V9, V10 and every check's pass/fail per layer) and figures of V3 and V10 by layer."})
final class SweepCommand implements Callable<Integer> {
    @Mixin RunOptions options;

    @Option(names = "--sweep-layers", defaultValue = "all", description = "layers to check: all extracted, or a list like 8-28 (default: ${DEFAULT-VALUE})")
    String sweepLayers;

    @Option(names = "--no-steering", description = "skip the steering jobs (V10, V11): minutes instead of hours at full scale")
    boolean noSteering;

    @Override
    public Integer call() throws Exception {
        try (RunOptions.Run run = options.open()) {
            List<Integer> layers = new ArrayList<>();
            if (sweepLayers.equals("all")) layers.addAll(run.settings().layers());
            else for (int l : CaptureCommand.parseLayers(sweepLayers, run.model().layers())) layers.add(l);
            List<Validate.LayerResult> results = Validate.run(run.dir(), run.model(), run.settings(), layers, !noSteering, run.sizing(), options.quiet);
            java.nio.file.Path table = Sweep.write(run.dir(), results);
            System.out.print(java.nio.file.Files.readString(table));
            System.out.println("sweep: " + table);
        }
        return 0;
    }
}
