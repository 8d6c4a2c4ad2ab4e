package org.emovec.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.function.Function;
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
import org.emovec.model.DefaultModel;

import com.fasterxml.jackson.databind.ObjectMapper;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure what the hook layer costs, in one run on one model: prefill (prompt scoring) and batched decode",
                "throughput with no hook, capture of one layer, capture of every layer, and steering on token spans.",
                "Figures are printed as a table and written as JSON; compare conditions within one run, never across machines."})
final class BenchCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "GGUF model (default: the embedded tiny random model)")
    Path model;

    @Option(names = "--gpu-layers", defaultValue = "-1", description = "layers on the GPU, -1 all (default: ${DEFAULT-VALUE})")
    int gpuLayers;

    @Option(names = "--prompts", defaultValue = "256", description = "prefill: prompts scored (default: ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--prompt-tokens", defaultValue = "256", description = "prefill: tokens per prompt (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--sequences", defaultValue = "32", description = "prefill: prompts per llama_decode (default: ${DEFAULT-VALUE})")
    int sequences;

    @Option(names = "--parallel", defaultValue = "256", description = "decode: sequences decoded together (default: ${DEFAULT-VALUE})")
    int parallel;

    @Option(names = "--gen-tokens", defaultValue = "128", description = "decode: new tokens per sequence (default: ${DEFAULT-VALUE})")
    int genTokens;

    @Option(names = "--repeats", defaultValue = "2", description = "rounds over all conditions; each figure is the best round (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--layer", description = "the one captured / steered layer (default: about 2/3 of the depth)")
    Integer layer;

    @Option(names = {"-o", "--out"}, description = "write the figures as JSON here")
    Path out;

    @Option(names = "--debug", description = "print stack traces")
    boolean debug;

    @Override
    public Integer call() throws Exception {
        Path modelPath = model != null ? model : DefaultModel.tiny();
        Map<String, Object> report = new LinkedHashMap<>();
        try (Model m = Model.load(modelPath, gpuLayers)) {
            int l = layer != null ? layer : Math.max(0, (int) Math.round(m.layers() * 2.0 / 3) - 1);
            int[] all = IntStream.range(0, m.layers()).toArray();
            float[] v = new float[m.width()];
            Random r = new Random(1);
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() / Math.sqrt(v.length));
            report.put("model", modelPath.toString());
            report.put("model_description", m.description());
            report.put("layer", l);
            System.out.printf("model %s, captured/steered layer %d (layer L = l_out-L = HF hidden_states[L+1])%n", m.description(), l);

            List<int[]> texts = new ArrayList<>();
            for (int i = 0; i < prompts; i++) texts.add(tokens(m, i, promptTokens));
            // Each condition: a transformation of the requests, and whether the hook only splits the graph (no work).
            List<Condition<ScoreRequest>> prefill = List.of(
                    new Condition<>("no hook", q -> q, false),
                    new Condition<>("split at 1 layer, no work", q -> q.withCapture(CaptureRequest.mean(Span.all(), l)), true),
                    new Condition<>("capture 1 layer", q -> q.withCapture(CaptureRequest.mean(Span.all(), l)), false),
                    new Condition<>("split at all layers, no work", q -> q.withCapture(CaptureRequest.mean(Span.all(), all)), true),
                    new Condition<>("capture all layers", q -> q.withCapture(CaptureRequest.mean(Span.all(), all)), false),
                    new Condition<>("steer a 16-token span", q -> q.withSteering(List.of(new Steering(l, v, 1.0, Span.of(promptTokens / 2, promptTokens / 2 + 16)))), false));
            int promptLen = 64;
            List<Condition<GenerationRequest>> decode = List.of(
                    new Condition<>("no hook", q -> q, false),
                    new Condition<>("split at 1 layer, no work", q -> q.withCapture(CaptureRequest.mean(Span.all(), l)), true),
                    new Condition<>("capture 1 layer", q -> q.withCapture(CaptureRequest.mean(Span.all(), l)), false),
                    new Condition<>("split at all layers, no work", q -> q.withCapture(CaptureRequest.mean(Span.all(), all)), true),
                    new Condition<>("capture all layers", q -> q.withCapture(CaptureRequest.mean(Span.all(), all)), false),
                    new Condition<>("steer the generated span", q -> q.withSteering(List.of(new Steering(l, v, 1.0, Span.from(q.prompt().length)))), false));
            Map<String, Double> prefillRates = new LinkedHashMap<>(), decodeRates = new LinkedHashMap<>();
            GeneratorOptions go = new GeneratorOptions(parallel, promptLen + genTokens + 8, Math.max(2048, parallel), 0, true, GeneratorOptions.Sampler.HOST);
            for (int round = 0; round < repeats; round++) {
                for (Condition<ScoreRequest> c : prefill) {
                    System.setProperty("emovec.hookDiagnostics", c.splitOnly() ? "1" : "0");
                    try (PromptScorer s = new PromptScorer(m, ScorerOptions.defaults().withSequences(sequences).withBatch(sequences * promptTokens, 512))) {
                        s.score(List.of(c.apply().apply(ScoreRequest.of("warmup", texts.get(0))))); // first-use allocations out of the timing
                        List<ScoreRequest> qs = new ArrayList<>();
                        for (int i = 0; i < texts.size(); i++) qs.add(c.apply().apply(ScoreRequest.of("p" + i, texts.get(i))));
                        long t0 = System.nanoTime();
                        s.score(qs);
                        double rate = (double) prompts * promptTokens / ((System.nanoTime() - t0) / 1e9);
                        prefillRates.merge(c.name(), rate, Math::max);
                    }
                }
                for (Condition<GenerationRequest> c : decode) {
                    System.setProperty("emovec.hookDiagnostics", c.splitOnly() ? "1" : "0");
                    try (BatchGenerator g = new BatchGenerator(m, go).captureLayers(all)) {
                        g.generateAll(List.of(new GenerationRequest("warmup", tokens(m, 0, promptLen), Sampling.defaults(0), 4)));
                        List<GenerationRequest> qs = new ArrayList<>();
                        for (int i = 0; i < parallel; i++) qs.add(c.apply().apply(new GenerationRequest("g" + i, tokens(m, 1000 + i, promptLen), Sampling.defaults(i), genTokens)));
                        BatchGenerator.Stats st = g.stats();
                        long before = st.decodeOnlyTokens, beforeNs = st.decodeOnlyNanos, steps = st.steps, dec = st.decodeNanos, smp = st.sampleNanos, tot = st.totalNanos;
                        g.generateAll(qs);
                        decodeRates.merge(c.name(), (st.decodeOnlyTokens - before) / ((st.decodeOnlyNanos - beforeNs) / 1e9), Math::max);
                        long n = st.steps - steps;
                        System.err.printf("  round %d, %-30s per step: llama_decode %.2f ms, sampling %.2f ms, other %.2f ms%n", round + 1, c.name(),
                                (st.decodeNanos - dec) / 1e6 / n, (st.sampleNanos - smp) / 1e6 / n, ((st.totalNanos - tot) - (st.decodeNanos - dec) - (st.sampleNanos - smp)) / 1e6 / n);
                    }
                }
            }
            System.clearProperty("emovec.hookDiagnostics");
            report.put("prefill_tokens_per_second", prefillRates);
            report.put("decode_tokens_per_second", decodeRates);
            print("prefill, best of " + repeats + " (" + prompts + " prompts x " + promptTokens + " tokens, " + sequences + " per decode)", prefillRates);
            print("decode, best of " + repeats + " (" + parallel + " sequences, " + promptLen + " prompt + " + genTokens + " new tokens, sampling on; decode-only steps)", decodeRates);
        }
        if (out != null) AtomicFiles.writeString(out, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report));
        return 0;
    }

    record Condition<T>(String name, Function<T, T> apply, boolean splitOnly) {}

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
