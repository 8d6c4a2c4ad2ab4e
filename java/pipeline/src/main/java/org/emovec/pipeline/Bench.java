package org.emovec.pipeline;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;

import org.emovec.engine.BatchGenerator;
import org.emovec.engine.CaptureRequest;
import org.emovec.engine.GenerationRequest;
import org.emovec.engine.GenerationResult;
import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.GpuMemory;
import org.emovec.engine.KvCopyCheck;
import org.emovec.engine.Model;
import org.emovec.engine.Native;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScoreResult;
import org.emovec.engine.ScorerOptions;
import org.emovec.engine.Sizing;
import org.emovec.engine.Span;
import org.emovec.paperdata.PaperData;

/**
 * `emovec bench`: the pipeline's own work on one model, at a small scale, timed stage by stage with the same code
 * the stages run: story generation with the paper's prompt and sampling (with and without sharing each prompt's
 * KV cache across its stories; shared with the other KV cache type too), extraction (prefill with capture of every layer, and plain prefill as the peer in
 * the same run), preference scoring (the 4032 prompts; the steered pairs with and without span steering), model
 * load time and peak device memory per stage. Rates are set against the hardware's ceilings.
 */
public final class Bench {
    /**
     * What to run: stories for `emotions` x `topics` x `storiesPerTopic` at most `storyMaxTokens` new tokens each;
     * `layer` the steered layer (-1: 2/3 of the depth); peak TFLOP/s and bandwidth (bytes/s) for the ceilings;
     * `extractionShapes`: more {batch tokens, ubatch tokens} shapes to time extraction at (plain and with capture),
     * in the pipeline's layout, beside its own shape (finding the fastest; without a VRAM budget only);
     * `comparisons`: also time the layouts the pipeline does not use, as peers in the same run (each prompt
     * prefilled, one context, the other KV cache, one KV stream for extraction and preferences); without them a
     * bench takes about a third of the time.
     */
    public record Options(int emotions, int topics, int storiesPerTopic, int storyMaxTokens, int layer, double peakTflops, double peakBandwidth,
                          List<int[]> extractionShapes, boolean comparisons) {
        public Options {
            extractionShapes = extractionShapes == null ? List.of() : List.copyOf(extractionShapes);
        }
    }

    /** One measured figure: what, how many items and tokens in how long, and the stage's peak device memory. */
    public record Row(String stage, String condition, long items, long tokens, double seconds, double itemsPerSecond, double tokensPerSecond,
                      long peakDeviceBytes, Double ceilingTokensPerSecond) {}

    /** emovec's llama.cpp patches: JSON key -> {switch (emovec.h, emovec_llama_switch), what the load line says}. */
    private static final Map<String, String[]> LLAMA_PATCHES = new LinkedHashMap<>();
    static {
        LLAMA_PATCHES.put("f16_products_in_f32", new String[] {"EMOVEC_CUBLAS_F16_F32_OUTPUT", "F16 products in F32"});
        LLAMA_PATCHES.put("fattn_kv_max_half_tiles", new String[] {"EMOVEC_FATTN_KV_MAX_HALF_TILES", "masked KV skipped in half tiles"});
        LLAMA_PATCHES.put("cublas_reuse_input", new String[] {"EMOVEC_CUBLAS_REUSE_INPUT", "product inputs converted once"});
    }

    private Bench() {}

    public static Map<String, Object> run(Path modelPath, int gpuLayers, Sizing sizing, Options o) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Row> rows = new ArrayList<>();
        long before = GpuMemory.used();
        long t0 = System.nanoTime();
        int layerCount;
        try (Model model = Model.load(modelPath, gpuLayers)) {
            layerCount = model.layers();
            double load = (System.nanoTime() - t0) / 1e9;
            long afterLoad = GpuMemory.used();
            out.put("model", modelPath.toString());
            out.put("model_description", model.description());
            out.put("parameters", model.parameters());
            out.put("model_bytes", model.bytes());
            // emovec's llama.cpp patches (README, "Speed and memory"): which are on, in the JSON and on the load line
            StringBuilder patches = new StringBuilder();
            LLAMA_PATCHES.forEach((key, p) -> {
                boolean on = Native.llamaPatchOn(p[0]);
                out.put(key, on);
                if (on) patches.append(", ").append(p[1]);
            });
            out.put("load_seconds", load);
            out.put("device_bytes_before_load", before);
            out.put("device_bytes_after_load", afterLoad);
            if (sizing.plan() != null) out.put("vram_plan", sizing.plan().describe());
            System.err.printf(Locale.ROOT, "emovec bench: %s loaded in %.1f s%s%s%n", model.description(), load,
                    afterLoad < 0 ? "" : String.format(Locale.ROOT, ", device memory %.2f GiB", afterLoad / 1073741824.0),
                    patches);

            // Ceilings: a forward pass costs ~2 FLOP per weight per token; a decode step reads every weight once.
            double flopsPerToken = 2.0 * (model.parameters() - (long) model.vocabSize() * model.width());
            double computeCeiling = o.peakTflops() * 1e12 / flopsPerToken;
            boolean gpu = GpuMemory.available(); // the ceilings are a GPU's; on a CPU they would mislead
            out.put("ceilings", Map.of("flops_per_token", flopsPerToken, "peak_tflops", o.peakTflops(), "peak_bandwidth_bytes_per_second", o.peakBandwidth(),
                    "compute_tokens_per_second", computeCeiling));

            // 1. Stories: the paper's prompt, 12 stories per (emotion, topic) share it.
            Settings s = Settings.paper(model.layers()).with(Map.of("emotions", Settings.screeningEmotions(o.emotions()), "topics", o.topics(),
                    "storiesPerTopic", o.storiesPerTopic(), "storyMaxTokens", o.storyMaxTokens()));
            List<Stories.Call> calls = Stories.calls(s).stream().filter(c -> !c.emotion().equals(Stories.NEUTRAL)).toList();
            List<GenerationRequest> requests = Stories.requests(model, calls, s);
            List<String> texts = new ArrayList<>();
            int parallelUsed = 0;
            int lanesUsed = 1;
            // baseline first (the table's ratios are to the first row); then, where the pipeline's generator steps
            // several contexts, the same shared-prompt stories on one, as the peer in the same run; then the shared
            // stories with the other KV cache (f16 / q8_0), where the model's heads take it
            GeneratorOptions.KvCache cache = sizing.storyCache();
            GeneratorOptions.KvCache otherCache = cache == GeneratorOptions.KvCache.F16 ? GeneratorOptions.KvCache.Q8_0 : GeneratorOptions.KvCache.F16;
            out.put("story_kv_cache", cache.id());
            // Shared prompts are KV streams copied by emovec_kv_copy: read back through llama.cpp's state API on this
            // backend, a copy must match its source byte for byte (the CPU tests cannot speak for a GPU).
            for (GeneratorOptions.KvCache c : List.of(cache, otherCache)) {
                if (!c.holds(model.headDim())) continue;
                KvCopyCheck.Result check = KvCopyCheck.run(model, requests.get(0).prompt(), c);
                System.err.println("emovec bench: KV copy check, " + check.describe() + (check.identical() ? "" : " (MISMATCH: shared-prompt stories are wrong here)"));
                out.put("kv_copy_identical_" + c.id(), check.identical());
            }
            int streamSeqsUsed = 1;
            for (int condition = 0; condition < 5; condition++) {
                if (condition != 1 && !o.comparisons()) continue; // 1: the pipeline's own way
                boolean share = condition > 0;
                var options = sizing.generator(Stories.contextPerSequence(requests), requests.size()).withSharePrompts(share);
                if (condition == 2) {
                    if (lanesUsed == 1) continue;
                    options = options.withLanes(1);
                }
                if (condition == 3) {
                    if (!otherCache.holds(model.headDim())) continue;
                    options = sizing.withStoryCache(otherCache).generator(Stories.contextPerSequence(requests), requests.size());
                }
                if (condition == 4) { // the pipeline's way in the other KV stream layout: streams of 16, or one a sequence
                    int other = streamSeqsUsed > 1 ? 1 : GeneratorOptions.STREAM_SEQS;
                    if (!gpu || options.parallel() % other != 0) continue;
                    options = options.withSeqsPerStream(other);
                }
                parallelUsed = condition < 2 ? options.parallel() : parallelUsed;
                try (GpuMemory.Peak peak = new GpuMemory.Peak(); BatchGenerator g = new BatchGenerator(model, options)) {
                    long s0 = System.nanoTime();
                    List<GenerationResult> results = g.generateAll(requests);
                    double secs = (System.nanoTime() - s0) / 1e9;
                    long generated = results.stream().mapToLong(r -> r.tokens().length).sum();
                    if (condition == 1) results.forEach(r -> texts.add(r.text()));
                    // steady state: steps with no prompt in the batch (a short bench's last wave runs part-empty)
                    String key = switch (condition) {
                        case 0 -> "prefilled";
                        case 1 -> "shared";
                        case 2 -> "shared_one_context";
                        case 3 -> "shared_" + otherCache.id();
                        default -> streamSeqsUsed > 1 ? "shared_stream_per_sequence" : "shared_streams_of_" + GeneratorOptions.STREAM_SEQS;
                    };
                    out.put("stories_decode_only_tokens_per_second_" + key, g.stats().decodeOnlyTokensPerSecond());
                    // decode ceiling: each step streams the weights once for `parallel` sequences, or is compute-bound
                    double ceiling = Math.min(computeCeiling, options.parallel() * o.peakBandwidth() / model.bytes());
                    if (condition < 2) {
                        lanesUsed = g.lanes();
                        out.put("story_lanes", lanesUsed);
                    }
                    if (condition == 1) {
                        streamSeqsUsed = g.seqsPerStream();
                        out.put("story_seqs_per_stream", streamSeqsUsed);
                    }
                    String contexts = g.lanes() > 1 ? " x " + g.lanes() + " contexts in turn" : "";
                    String streams = g.seqsPerStream() > 1 ? ", KV streams of " + g.seqsPerStream() : share ? ", a KV stream each" : "";
                    rows.add(new Row("stories", (share ? "prompt KV shared" : "each prompt prefilled") + ", " + options.parallel() + " parallel" + contexts + streams
                            + (condition == 3 ? ", " + otherCache.id() + " KV cache" : ""),
                            results.size(), generated, secs, results.size() / secs, generated / secs, peak.bytes(), gpu ? ceiling : null));
                    print(rows.get(rows.size() - 1));
                    Map<String, Double> host = hostPerStep(g.stats());
                    out.put("stories_host_ms_per_step_" + key, host);
                    System.err.printf(Locale.ROOT, "  host per step: %.2f ms = in llama_decode %.2f + waiting %.2f + sampling %.2f + other %.2f;"
                            + " %.0f steps, %.2f micro-batches a step (%.2f a decode-only step); decode-only steps %.2f ms,"
                            + " the %.0f with prompt tokens (%.0f in all) %.2f ms%n",
                            host.get("wall"), host.get("in_llama_decode"), host.get("waiting"), host.get("sampling"), host.get("other"),
                            host.get("steps"), host.get("ubatches_per_step"), host.get("ubatches_per_decode_only_step"),
                            host.get("decode_only_step_ms"), host.get("prompt_steps"), host.get("prompt_tokens"), host.get("prompt_step_ms"));
                }
            }
            out.put("story_parallel", parallelUsed);
            // the lengths llama-batched-bench must run at to be the stories' like-for-like peer (tools/device-run.sh)
            out.put("story_prompt_tokens", (int) Math.round(requests.stream().mapToInt(r -> r.prompt().length).average().orElse(0)));
            out.put("story_max_tokens", o.storyMaxTokens());

            // 2. Extraction: each story alone (BOS + text), mean residual from token fromToken at every layer but the last.
            List<int[]> tokens = texts.stream().map(t -> model.tokenize(t, true, false)).toList();
            int longest = tokens.stream().mapToInt(t -> t.length).max().orElse(1);
            int[] layers = IntStream.range(0, model.layers() - 1).toArray();
            double meanNorm = 0;
            int layer = o.layer() >= 0 ? o.layer() : s.layer(); // default: the layer the pipeline checks and steers at
            ScorerOptions pipelineShape = Extract.scorerOptions(sizing, longest);
            // plain prefill at each shape, then capture at each: the pipeline's shape (the row the paper-scale figures
            // use), one KV stream for each batch (the pipeline's is one per text), and the other shapes asked for, in
            // the pipeline's layout
            List<ScorerOptions> shapes = new ArrayList<>(List.of(pipelineShape));
            if (sizing.plan() == null) {
                if (o.comparisons()) shapes.add(Extract.sharedStream(sizing, longest));
                for (int[] bu : o.extractionShapes()) {
                    ScorerOptions other = Extract.scorerOptions(sizing, bu[0], longest);
                    shapes.add(other.withBatch(other.batchTokens(), bu[1]));
                }
            }
            for (int k = 0; k < 2 * shapes.size(); k++) {
                boolean capture = k >= shapes.size();
                ScorerOptions shape = shapes.get(k % shapes.size());
                try (GpuMemory.Peak peak = new GpuMemory.Peak(); PromptScorer scorer = new PromptScorer(model, shape)) {
                    List<ScoreRequest> qs = new ArrayList<>();
                    for (int i = 0; i < tokens.size(); i++) {
                        ScoreRequest q = ScoreRequest.of("s" + i, tokens.get(i));
                        qs.add(capture ? q.withCapture(CaptureRequest.mean(Span.from(s.fromToken()), layers)) : q);
                    }
                    long s0 = System.nanoTime();
                    List<ScoreResult> res = scorer.score(qs);
                    double secs = (System.nanoTime() - s0) / 1e9;
                    long n = tokens.stream().mapToLong(t -> t.length).sum();
                    if (capture && shape == pipelineShape) {
                        double sum = 0;
                        int count = 0;
                        for (ScoreResult r : res) {
                            if (r.captured().counts()[layer] > 0) {
                                sum += r.captured().meanNorms()[layer];
                                count++;
                            }
                        }
                        meanNorm = count == 0 ? 1 : sum / count;
                    }
                    String where = shape.batchTokens() + "-token batches, ubatch " + shape.ubatchTokens()
                            + (shape.kvPerSequence() ? ", a KV stream per text" : "");
                    rows.add(new Row("extraction", (capture ? "capture " + layers.length + " layers, " : "plain prefill, ") + where, tokens.size(), n, secs,
                            tokens.size() / secs, n / secs, peak.bytes(), gpu ? computeCeiling : null));
                    print(rows.get(rows.size() - 1));
                }
            }

            // 3. Preferences: all 4032 prompts, then the steered pairs without and with the vector on the steered options' tokens.
            List<PaperData.Activity> activities = PaperData.activities();
            Validate.PreferencePrompt[][] prompts = Validate.preferencePrompts(model, activities);
            int[] candidates = {Validate.singleToken(model, "A"), Validate.singleToken(model, "B")};
            boolean[] steered = Validate.steeredActivities(activities);
            List<int[]> pairs = Validate.steeredPairs(steered);
            float[] v = Validate.randomDirections(1, model.width(), s.seed())[0];
            double alpha = s.steerAlphaNorm() * meanNorm;
            List<ScoreRequest> all = Validate.preferenceRequests(prompts, candidates);
            int longestPrompt = Validate.longest(all);
            ScorerOptions checks = Validate.scorerOptions(sizing, longestPrompt);
            try (GpuMemory.Peak peak = new GpuMemory.Peak(); PromptScorer scorer = new PromptScorer(model, checks)) {
                List<ScoreRequest> steer = Validate.steeredRequests(prompts, pairs, steered, layer, v, alpha, candidates);
                List<ScoreRequest> plain = steer.stream().map(q -> q.withSteering(List.of())).toList();
                scorer.score(all.subList(0, Math.min(64, all.size()))); // first-use allocations out of the timing
                for (var c : List.of(Map.entry("all prompts, unsteered", all), Map.entry("steered pairs, unsteered", plain),
                        Map.entry("steered pairs, span steering at L" + layer, steer))) {
                    rows.add(timedScoring(c.getKey(), scorer, c.getValue(), peak, gpu ? computeCeiling : null));
                }
            }
            // the same prompts on one KV stream, as the checks packed them before (8192-token batches of 512-token
            // micro-batches, each attending over every cell filled before it, masked) and in 1024-token batches
            if (sizing.plan() == null && o.comparisons()) {
                for (ScorerOptions one : List.of(sizing.scorer(8192, 512, longestPrompt), sizing.scorer(1024, 1024, longestPrompt))) {
                    try (GpuMemory.Peak peak = new GpuMemory.Peak(); PromptScorer scorer = new PromptScorer(model, one)) {
                        scorer.score(all.subList(0, Math.min(64, all.size())));
                        rows.add(timedScoring("all prompts, unsteered, " + one.batchTokens() + "-token batches, ubatch " + one.ubatchTokens()
                                + ", one KV stream", scorer, all, peak, gpu ? computeCeiling : null));
                    }
                }
            }
        }
        out.put("rows", rows);
        out.put("peak_device_bytes", rows.stream().mapToLong(Row::peakDeviceBytes).max().orElse(-1));
        out.put("paper_scale", paperScale(rows, Settings.paper(layerCount), o.storyMaxTokens()));
        return out;
    }

    /**
     * The paper-scale run timed from this bench's rates: the paper's 205,200 stories (of this bench's length, at
     * most storyMaxTokens new tokens) and neutral dialogues generated with shared prompts, all of them extracted at
     * every layer, and at one checked layer the 4032 preference prompts plus the steered pairs under each steering
     * condition (the top emotions and the exemplars).
     */
    static Map<String, Object> paperScale(List<Row> rows, Settings paper, int storyMaxTokens) {
        Map<String, Object> m = new LinkedHashMap<>();
        long texts = (long) paper.emotions().size() * paper.topics() * paper.storiesPerTopic() + (long) paper.neutralTopics() * paper.dialoguesPerTopic();
        int conditions = paper.steerTop() + paper.steerExemplars().size();
        Row stories = row(rows, "stories", "prompt KV shared"), extraction = row(rows, "extraction", "capture");
        Row preferences = row(rows, "preferences", "all prompts"), steering = row(rows, "preferences", "steered pairs, span steering");
        if (stories == null || extraction == null || preferences == null || steering == null) return m;
        m.put("texts", texts);
        m.put("story_max_tokens", storyMaxTokens);
        m.put("steering_conditions", conditions);
        double storySeconds = texts / stories.itemsPerSecond(), extractionSeconds = texts / extraction.itemsPerSecond();
        double validateSeconds = preferences.items() / preferences.itemsPerSecond() + conditions * steering.items() / steering.itemsPerSecond();
        m.put("stories_seconds", storySeconds);
        m.put("extraction_seconds", extractionSeconds);
        m.put("validate_seconds_per_layer", validateSeconds);
        m.put("total_hours", (storySeconds + extractionSeconds + validateSeconds) / 3600);
        return m;
    }

    private static Row row(List<Row> rows, String stage, String conditionStart) {
        return rows.stream().filter(r -> r.stage().equals(stage) && r.condition().startsWith(conditionStart)).findFirst().orElse(null);
    }

    /**
     * Issue 6's soak: story generation with capture of every layer on each story, without pause, for the given
     * minutes; every minute a line with that minute's tokens/s, the Java heap in use after a GC, the process's
     * resident memory and the device memory in use, so drift in any of them shows.
     */
    public static List<Map<String, Object>> soak(Path modelPath, int gpuLayers, Sizing sizing, Options o, double minutes) {
        List<Map<String, Object>> samples = new ArrayList<>();
        try (Model model = Model.load(modelPath, gpuLayers)) {
            Settings s = Settings.paper(model.layers()).with(Map.of("emotions", Settings.allEmotions(), "topics", 100, "storiesPerTopic", o.storiesPerTopic(),
                    "storyMaxTokens", o.storyMaxTokens()));
            List<Stories.Call> calls = Stories.calls(s).stream().filter(c -> !c.emotion().equals(Stories.NEUTRAL)).toList();
            int[] layers = IntStream.range(0, model.layers() - 1).toArray();
            List<GenerationRequest> requests = Stories.requests(model, calls.subList(0, Math.min(calls.size(), 4096)), s).stream()
                    .map(q -> q.withCapture(CaptureRequest.mean(Span.all(), layers))).toList();
            long end = System.nanoTime() + (long) (minutes * 60e9), start = System.nanoTime();
            long[] tokens = {0}, minute = {start}, ubatches = {0}, steps = {0}, cells = {0};
            var options = sizing.generator(Stories.contextPerSequence(requests), requests.size()).forRequests(requests);
            try (BatchGenerator g = new BatchGenerator(model, options).captureLayers(layers)) {
                java.util.Iterator<GenerationRequest> endless = new java.util.Iterator<>() {
                    int i;
                    public boolean hasNext() { return System.nanoTime() < end; }
                    public GenerationRequest next() { return requests.get(i++ % requests.size()); }
                };
                g.run(endless, new BatchGenerator.Listener() {
                    public void finished(GenerationResult r) {}

                    public void step(int newTokens, int active) {
                        tokens[0] += newTokens;
                        long now = System.nanoTime();
                        if (now - minute[0] < 60e9) return;
                        System.gc();
                        Runtime rt = Runtime.getRuntime();
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("minute", samples.size() + 1);
                        m.put("tokens_per_second", tokens[0] / ((now - minute[0]) / 1e9));
                        // llama.cpp micro-batches per decode step: more means each step reads the weights more often
                        m.put("ubatches_per_step", (double) (g.stats().ubatches - ubatches[0]) / (g.stats().steps - steps[0]));
                        // KV cells each step attends over: grows as the sequences fall out of step (see Stats)
                        m.put("attended_kv_cells_per_step", (double) (g.stats().attendedCells - cells[0]) / (g.stats().steps - steps[0]));
                        ubatches[0] = g.stats().ubatches;
                        cells[0] = g.stats().attendedCells;
                        steps[0] = g.stats().steps;
                        m.put("heap_after_gc_mib", (rt.totalMemory() - rt.freeMemory()) >> 20);
                        m.put("rss_mib", residentMiB());
                        m.put("device_used_mib", GpuMemory.used() < 0 ? -1 : GpuMemory.used() >> 20);
                        samples.add(m);
                        System.err.println("emovec soak: " + m);
                        tokens[0] = 0;
                        minute[0] = now;
                    }
                });
            }
        }
        return samples;
    }

    /** The process's resident memory (VmRSS) in MiB, or -1 off Linux. */
    private static long residentMiB() {
        try {
            for (String l : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("\\D", "")) >> 10;
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // not Linux
        }
        return -1;
    }

    /**
     * Where the generating thread's time went, per step of any context: inside llama_decode (llama.cpp's host work,
     * the GPU's queue meanwhile fed only by steps queued before), waiting for results, sampling, and the rest; and
     * the micro-batches per step (each reads every weight). On several contexts the GPU idles once the host's own
     * work per step (all but the waiting) outgrows a step's GPU time.
     */
    static Map<String, Double> hostPerStep(BatchGenerator.Stats st) {
        double n = Math.max(1, st.steps) * 1e6;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("wall", st.totalNanos / n);
        m.put("in_llama_decode", st.submitNanos / n);
        m.put("waiting", (st.decodeNanos - st.submitNanos) / n);
        m.put("sampling", st.sampleNanos / n);
        m.put("other", (st.totalNanos - st.decodeNanos - st.sampleNanos) / n);
        m.put("steps", (double) st.steps);
        m.put("ubatches_per_step", (double) st.ubatches / Math.max(1, st.steps));
        m.put("ubatches_per_decode_only_step", (double) st.decodeOnlyUbatches / Math.max(1, st.decodeOnlySteps));
        // the steps that also feed prompt tokens (new prompts' prefill, a copied prompt's last token), against the rest
        long promptSteps = st.steps - st.decodeOnlySteps;
        m.put("decode_only_step_ms", st.decodeOnlyNanos / 1e6 / Math.max(1, st.decodeOnlySteps));
        m.put("prompt_steps", (double) promptSteps);
        m.put("prompt_step_ms", (st.totalNanos - st.decodeOnlyNanos) / 1e6 / Math.max(1, promptSteps));
        m.put("prompt_tokens", (double) st.prefillTokens);
        return m;
    }

    /** Scores the preference prompts once, timed: one printed row. */
    private static Row timedScoring(String condition, PromptScorer scorer, List<ScoreRequest> qs, GpuMemory.Peak peak, Double ceiling) {
        long n = qs.stream().mapToLong(q -> q.tokens().length).sum();
        long s0 = System.nanoTime();
        scorer.score(qs);
        double secs = (System.nanoTime() - s0) / 1e9;
        Row row = new Row("preferences", condition, qs.size(), n, secs, qs.size() / secs, n / secs, peak.bytes(), ceiling);
        print(row);
        return row;
    }

    private static void print(Row r) {
        System.err.printf(Locale.ROOT, "emovec bench: %-12s %-44s %6d items %9d tokens %7.1f s  %8.1f items/s %9.0f tok/s%n",
                r.stage(), r.condition(), r.items(), r.tokens(), r.seconds(), r.itemsPerSecond(), r.tokensPerSecond());
    }

    /** The figures as a table: rates, ratios to the ceilings and between conditions of a stage. */
    public static String table(Map<String, Object> result) {
        @SuppressWarnings("unchecked") List<Row> rows = (List<Row>) result.get("rows");
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "model %s, load %.1f s%n", result.get("model_description"), (Double) result.get("load_seconds")));
        sb.append(String.format(Locale.ROOT, "%-12s %-52s %8s %10s %10s %9s %10s%n", "stage", "condition", "items/s", "tok/s", "vs first", "of ceiling", "peak dev"));
        String stage = "";
        double first = 0;
        for (Row r : rows) {
            if (!r.stage().equals(stage)) {
                stage = r.stage();
                first = r.stage().equals("preferences") ? 0 : r.tokensPerSecond();
            }
            // preferences: compare the steered pairs with and without steering (same prompts)
            if (r.stage().equals("preferences") && r.condition().startsWith("steered pairs, unsteered")) first = r.itemsPerSecond();
            double base = r.stage().equals("preferences") ? r.itemsPerSecond() : r.tokensPerSecond();
            sb.append(String.format(Locale.ROOT, "%-12s %-52s %8.1f %10.0f %9s %9s %10s%n", r.stage(), r.condition(), r.itemsPerSecond(), r.tokensPerSecond(),
                    first > 0 ? String.format(Locale.ROOT, "%.1f%%", 100 * base / first) : "",
                    r.ceilingTokensPerSecond() == null ? "" : String.format(Locale.ROOT, "%.1f%%", 100 * r.tokensPerSecond() / r.ceilingTokensPerSecond()),
                    r.peakDeviceBytes() < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f GiB", r.peakDeviceBytes() / 1073741824.0)));
        }
        @SuppressWarnings("unchecked") Map<String, Object> paper = (Map<String, Object>) result.get("paper_scale");
        if (paper != null && paper.containsKey("total_hours")) {
            sb.append(String.format(Locale.ROOT, "paper scale at these rates (%,d texts of <= %d new tokens, every layer, %d steering conditions): "
                            + "stories %.2f h, extraction %.2f h, validate %.1f min per layer; %.2f h in all%n",
                    (long) paper.get("texts"), (int) paper.get("story_max_tokens"), (int) paper.get("steering_conditions"),
                    (double) paper.get("stories_seconds") / 3600, (double) paper.get("extraction_seconds") / 3600,
                    (double) paper.get("validate_seconds_per_layer") / 60, (double) paper.get("total_hours")));
        }
        return sb.toString();
    }
}
