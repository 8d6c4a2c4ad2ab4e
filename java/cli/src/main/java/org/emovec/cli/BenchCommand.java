package org.emovec.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.Sizing;
import org.emovec.io.AtomicFiles;
import org.emovec.pipeline.Bench;

import com.fasterxml.jackson.databind.ObjectMapper;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(name = "bench", mixinStandardHelpOptions = true, subcommands = BenchHooksCommand.class,
        description = {"Time the pipeline's own work on one model, in one run: story generation (the paper's prompt, sampling on; KV of each",
                "prompt shared across its stories, and not), extraction (prefill with capture of every layer, and plain prefill), preference",
                "scoring (4032 prompts; the steered pairs with and without span steering), model load time and peak device memory.",
                "Prints a table, writes JSON. 'emovec bench hooks' measures what capture and steering cost in isolation."})
final class BenchCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;

    @Spec CommandSpec spec;

    @Option(names = "--parallel", defaultValue = "256", description = "sequences decoded together, 1..256 (default: ${DEFAULT-VALUE})")
    int parallel;

    @Option(names = "--lanes", defaultValue = "0", description = "llama.cpp contexts story generation steps in turn (0, the default: two on a GPU,"
            + " one on a CPU or within --vram-budget); with more than one, the shared-prompt stories are also timed on one")
    int lanes;

    @Option(names = "--vram-budget", description = "keep peak device memory under this (e.g. 8G), as `emovec run --vram-budget` does")
    String vramBudget;

    @Option(names = "--kv-cache", defaultValue = "f16", description = "story generation's KV cache, f16 or q8_0, as `emovec run --kv-cache`;"
            + " the shared-prompt stories are timed with the other one too (default: ${DEFAULT-VALUE})")
    String kvCache;

    @Option(names = "--emotions", defaultValue = "4", description = "emotions whose stories are generated (default: ${DEFAULT-VALUE})")
    int emotions;

    @Option(names = "--topics", defaultValue = "2", description = "topics per emotion (default: ${DEFAULT-VALUE})")
    int topics;

    @Option(names = "--stories", defaultValue = "12", description = "stories per emotion and topic, sharing one prompt (default: ${DEFAULT-VALUE}, as the paper)")
    int stories;

    @Option(names = "--story-max-tokens", defaultValue = "300", description = "new tokens per story at most (default: ${DEFAULT-VALUE})")
    int storyMaxTokens;

    @Option(names = "--layer", defaultValue = "-1", description = "steered layer (emovec layer L = l_out-L = HF hidden_states[L+1]; default 2/3 of the depth)")
    int layer;

    @Option(names = "--peak-tflops", defaultValue = "790", description = "the device's dense bf16/f16 TFLOP/s, for the ceilings (default: ${DEFAULT-VALUE})")
    double peakTflops;

    @Option(names = "--peak-bandwidth", defaultValue = "3.0e12", description = "the device's memory bandwidth in bytes/s, for the ceilings (default: ${DEFAULT-VALUE})")
    double peakBandwidth;

    @Option(names = "--extraction-shapes", split = ",", paramLabel = "BATCHxUBATCH",
            description = "also time extraction (plain and with capture, in the pipeline's layout) in these llama_decode batch x ubatch"
                    + " token sizes, e.g. 2048x512,2048x2048 (the pipeline's own shape is always timed; ignored with --vram-budget)")
    List<String> extractionShapes = List.of();

    @Option(names = "--comparisons", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "also time the layouts the pipeline does not use, as its peers in the same run: each story prompt prefilled,"
                    + " one context, the other KV cache, one KV stream for extraction and preferences (--no-comparisons: the pipeline's"
                    + " own rows only, in about a third of the time)")
    boolean comparisons;

    @Option(names = "--soak-minutes", description = "instead: generate stories with capture of every layer without pause for this long, and print"
            + " tokens/s, heap after GC, resident and device memory every minute (a long-run stability check)")
    Double soakMinutes;

    @Option(names = {"-o", "--out"}, description = "write the figures as JSON here")
    Path out;

    @Option(names = "--debug", description = "print stack traces")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        Path modelPath = modelOptions.path();
        Sizing sizing = Sizing.of(parallel, modelPath, vramBudget).withLanes(lanes).withStoryCache(GeneratorOptions.KvCache.of(kvCache));
        List<int[]> shapes = new ArrayList<>();
        for (String shape : extractionShapes) {
            String[] bu = shape.toLowerCase(Locale.ROOT).split("x");
            try {
                if (bu.length != 2) throw new NumberFormatException();
                int[] sizes = {Integer.parseInt(bu[0]), Integer.parseInt(bu[1])};
                if (sizes[0] < 1 || sizes[1] < 1) throw new NumberFormatException();
                shapes.add(sizes);
            } catch (NumberFormatException e) {
                throw new ParameterException(spec.commandLine(), "--extraction-shapes: '" + shape + "' is not BATCHxUBATCH (e.g. 2048x512)");
            }
        }
        Bench.Options options = new Bench.Options(emotions, topics, stories, storyMaxTokens, layer, peakTflops, peakBandwidth, shapes, comparisons);
        if (soakMinutes != null) {
            var samples = Bench.soak(modelPath, modelOptions.gpuLayers, sizing, options, soakMinutes);
            if (out != null) AtomicFiles.writeString(out, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(samples));
            return 0;
        }
        Map<String, Object> result = Bench.run(modelPath, modelOptions.gpuLayers, sizing, options);
        System.out.print(Bench.table(result));
        if (out != null) AtomicFiles.writeString(out, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(result));
        return 0;
    }
}
