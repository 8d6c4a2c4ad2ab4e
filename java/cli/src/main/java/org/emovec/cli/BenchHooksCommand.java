package org.emovec.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

import org.emovec.engine.BatchGenerator;
import org.emovec.engine.CaptureRequest;
import org.emovec.engine.GenerationRequest;
import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.Model;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.Sampling;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScorerOptions;
import org.emovec.engine.Span;
import org.emovec.engine.Steering;
import org.emovec.io.AtomicFiles;
import org.emovec.pipeline.Settings;
import org.emovec.pipeline.Validate;

import com.fasterxml.jackson.databind.ObjectMapper;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "hooks", mixinStandardHelpOptions = true,
        description = {"Measure what the hook layer costs, in one run on one model: prefill (prompt scoring) and batched decode",
                "throughput with no hook, capture of one layer, capture of every layer, and steering on token spans.",
                "Figures are printed as a table and written as JSON; compare conditions within one run, never across machines."})
final class BenchHooksCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;

    @Option(names = "--prompts", defaultValue = "256", description = "prefill: prompts scored (default: ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--prompt-tokens", defaultValue = "256", description = "prefill: tokens per prompt (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--sequences", defaultValue = "32", description = "prefill: prompts per llama_decode (default: ${DEFAULT-VALUE})")
    int sequences;

    @Option(names = "--parallel", defaultValue = "256", description = "decode: sequences decoded together (default: ${DEFAULT-VALUE})")
    int parallel;

    @Option(names = "--lanes", defaultValue = "1", description = "decode: contexts of --parallel sequences stepped in turn, each given --parallel requests"
            + " (two hide the host's time between steps behind the other's GPU work) (default: ${DEFAULT-VALUE})")
    int lanes;

    @Option(names = "--gen-tokens", defaultValue = "128", description = "decode: new tokens per sequence (default: ${DEFAULT-VALUE})")
    int genTokens;

    @Option(names = "--repeats", defaultValue = "3", description = "rounds over all conditions; each figure is the best round (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--layer", description = "the one captured / steered layer (default: the pipeline's, 2/3 of the depth)")
    Integer layer;

    @Option(names = {"-o", "--out"}, description = "write the figures as JSON here")
    Path out;

    @Option(names = "--debug", description = "print stack traces")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        Path modelPath = modelOptions.path();
        Map<String, Object> report = new LinkedHashMap<>();
        try (Model m = Model.load(modelPath, modelOptions.gpuLayers)) {
            int l = layer != null ? layer : Settings.defaultLayer(m.layers());
            int[] all = IntStream.range(0, m.layers()).toArray();
            float[] v = Validate.randomDirections(1, m.width(), 1)[0];
            report.put("model", modelPath.toString());
            report.put("model_description", m.description());
            report.put("layer", l);
            System.out.printf("model %s, captured/steered layer %d (layer L = l_out-L = HF hidden_states[L+1])%n", m.description(), l);

            int promptLen = 64;
            List<int[]> texts = new ArrayList<>(), genPrompts = new ArrayList<>();
            for (int i = 0; i < prompts; i++) texts.add(tokens(m, i, promptTokens));
            for (int i = 0; i < parallel * lanes; i++) genPrompts.add(tokens(m, 1000 + i, promptLen));
            Span prefillSpan = Span.of(promptTokens / 2, promptTokens / 2 + 16), generatedSpan = Span.from(promptLen);
            List<Condition> conditions = List.of(
                    new Condition("no hook", null, false, false),
                    new Condition("split at 1 layer, no work", CaptureRequest.mean(Span.all(), l), false, true),
                    new Condition("capture 1 layer", CaptureRequest.mean(Span.all(), l), false, false),
                    new Condition("split at all layers, no work", CaptureRequest.mean(Span.all(), all), false, true),
                    new Condition("capture all layers", CaptureRequest.mean(Span.all(), all), false, false),
                    new Condition("steer a token span", null, true, false));
            Map<String, Double> prefillRates = new LinkedHashMap<>(), decodeRates = new LinkedHashMap<>();
            // prompts not shared: a request that captures or steers never shares its prompt, so without this the
            // no-hook condition alone would copy KV streams instead of prefilling (the prompts repeat every 33)
            GeneratorOptions go = new GeneratorOptions(parallel, promptLen + genTokens + 8, Math.max(2048, parallel), 0, true, GeneratorOptions.Sampler.HOST)
                    .withSharePrompts(false).withLanes(lanes);
            for (int round = 0; round < repeats; round++) {
                for (Condition c : conditions) {
                    System.setProperty("emovec.hookDiagnostics", c.splitOnly() ? "1" : "0");
                    List<Steering> steer = c.steer() ? List.of(new Steering(l, v, 1.0, prefillSpan)) : List.of();
                    try (PromptScorer s = new PromptScorer(m, ScorerOptions.defaults().withSequences(sequences).withBatch(sequences * promptTokens, 512))) {
                        s.score(List.of(ScoreRequest.of("warmup", texts.get(0)).withCapture(c.capture()).withSteering(steer))); // first-use allocations out of the timing
                        List<ScoreRequest> qs = new ArrayList<>();
                        for (int i = 0; i < texts.size(); i++) qs.add(ScoreRequest.of("p" + i, texts.get(i)).withCapture(c.capture()).withSteering(steer));
                        System.err.printf("  round %d, prefill %-30s timing%n", round + 1, c.name()); // a mark for tools/cuda-trace
                        long t0 = System.nanoTime();
                        s.score(qs);
                        double rate = (double) prompts * promptTokens / ((System.nanoTime() - t0) / 1e9);
                        prefillRates.merge(c.name(), rate, Math::max);
                        System.err.printf("  round %d, prefill %-30s %,.0f tok/s%n", round + 1, c.name(), rate);
                    }
                }
                for (Condition c : conditions) {
                    System.setProperty("emovec.hookDiagnostics", c.splitOnly() ? "1" : "0");
                    List<Steering> steer = c.steer() ? List.of(new Steering(l, v, 1.0, generatedSpan)) : List.of();
                    try (BatchGenerator g = new BatchGenerator(m, go).captureLayers(all)) {
                        g.generateAll(List.of(new GenerationRequest("warmup", genPrompts.get(0), Sampling.defaults(0), 4)));
                        List<GenerationRequest> qs = new ArrayList<>();
                        for (int i = 0; i < genPrompts.size(); i++) {
                            qs.add(new GenerationRequest("g" + i, genPrompts.get(i), Sampling.defaults(i), genTokens).withCapture(c.capture()).withSteering(steer));
                        }
                        BatchGenerator.Stats st = g.stats();
                        long before = st.decodeOnlyTokens, beforeNs = st.decodeOnlyNanos, steps = st.steps, dec = st.decodeNanos, smp = st.sampleNanos, tot = st.totalNanos;
                        System.err.printf("  round %d, decode %-31s timing%n", round + 1, c.name());
                        g.generateAll(qs);
                        decodeRates.merge(c.name(), (st.decodeOnlyTokens - before) / ((st.decodeOnlyNanos - beforeNs) / 1e9), Math::max);
                        long n = st.steps - steps;
                        System.err.printf("  round %d, decode %-31s per step: llama_decode %.2f ms, sampling %.2f ms, other %.2f ms%n", round + 1, c.name(),
                                (st.decodeNanos - dec) / 1e6 / n, (st.sampleNanos - smp) / 1e6 / n, ((st.totalNanos - tot) - (st.decodeNanos - dec) - (st.sampleNanos - smp)) / 1e6 / n);
                    }
                }
            }
            System.clearProperty("emovec.hookDiagnostics");
            report.put("prefill_tokens_per_second", prefillRates);
            report.put("decode_tokens_per_second", decodeRates);
            print("prefill, best of " + repeats + " (" + prompts + " prompts x " + promptTokens + " tokens, " + sequences + " per decode; steered span: 16 prompt tokens)", prefillRates);
            report.put("decode_lanes", lanes);
            print("decode, best of " + repeats + " (" + parallel + " sequences" + (lanes > 1 ? " x " + lanes + " contexts in turn" : "") + ", " + promptLen + " prompt + " + genTokens + " new tokens, sampling on; decode-only steps; steered span: the generated tokens)", decodeRates);
        }
        if (out != null) AtomicFiles.writeString(out, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report));
        return 0;
    }

    /**
     * A measured condition, the same for prefill and decode: what each sequence captures (null: nothing), whether
     * it steers a token span, and whether the hook only splits llama.cpp's graph at the captured layers (no work).
     */
    record Condition(String name, CaptureRequest capture, boolean steer, boolean splitOnly) {}

    private static void print(String title, Map<String, Double> rates) {
        double base = rates.values().iterator().next();
        System.out.println(title);
        System.out.printf("  %-30s %12s %9s%n", "condition", "tok/s", "vs none");
        rates.forEach((k, v) -> System.out.printf("  %-30s %12.0f %8.1f%%%n", k, v, 100 * v / base));
    }

    /** n tokens of plain text, different for each index (BOS first). */
    static int[] tokens(Model m, int index, int n) {
        String[] words = ("the river carried old light across the valley while children counted boats and their parents argued "
                + "softly about bread weather letters trains music gardens winter roads lamps windows stones bridges clocks songs maps").split(" ");
        StringBuilder sb = new StringBuilder();
        int[] t = new int[0];
        for (int j = 0; t.length < n; j += 16) {
            for (int k = 0; k < 16; k++) sb.append(words[(index * 7 + j + k * 3) % words.length]).append(' ');
            t = m.tokenize(sb.toString(), true, false);
        }
        return Arrays.copyOf(t, n);
    }
}
