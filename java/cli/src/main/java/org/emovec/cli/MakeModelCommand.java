package org.emovec.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.emovec.model.ModelMaker;
import org.emovec.model.ModelPreset;
import org.emovec.model.WeightFormat;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(name = "make-model", mixinStandardHelpOptions = true,
        description = {"Write a Llama-architecture GGUF with seeded random weights, the real Llama 3 tokenizer and the Llama 3.1 Instruct chat template.",
                "Random weights fail every semantic check by design; they serve tests and throughput work."})
final class MakeModelCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--preset", defaultValue = "tiny", description = "tiny, llama-3.1-8b or llama-3.1-8b-4l (default: ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--type", defaultValue = "f32", description = "f32, f16, bf16, q8_0 or q4_k_m (quantized by llama.cpp) (default: ${DEFAULT-VALUE})")
    String type;

    @Option(names = "--seed", defaultValue = "0", description = "random seed; the same seed gives the same bytes (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = {"-o", "--out"}, required = true, description = "output .gguf path")
    Path out;

    @Option(names = "--debug", hidden = true)
    boolean debug;

    @Override
    public Integer call() throws Exception {
        ModelPreset p;
        WeightFormat f;
        try {
            p = ModelPreset.byId(preset);
            f = WeightFormat.byId(type);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        long t0 = System.nanoTime();
        ModelMaker.make(p, f, seed, out);
        System.out.printf("wrote %s (%s, %s, seed %d, %.1f MiB) in %.1f s%n", out, p.id, f.id, seed,
                Files.size(out) / (1024.0 * 1024.0), (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
