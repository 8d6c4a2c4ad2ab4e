package org.emovec.pipeline;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.emovec.engine.CaptureRequest;
import org.emovec.engine.Captured;
import org.emovec.engine.EmovecException;
import org.emovec.engine.Model;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScoreResult;
import org.emovec.engine.ScorerOptions;
import org.emovec.engine.Sizing;
import org.emovec.engine.Span;
import org.emovec.io.Npy;

/**
 * Stage 2: activations. Each story is run through the model alone (BOS + its text, no prompt: the prompt names
 * the emotion), and the residual stream is averaged over its tokens from the fromToken-th on (position
 * fromToken, counting BOS as 0) at every chosen layer in one pass, so layer sweeps need no re-run. An emotion's
 * activation is the mean of its stories' means; each emotion is written when done (a killed run redoes at most
 * one emotion). Neutral dialogues are averaged over all their tokens, one row per dialogue. Then the vectors
 * are built ({@link Vectors}).
 */
public final class Extract {
    /** What an emotion's activations were made from; written after its .npy, so it marks the emotion done. */
    public record Summary(String emotion, List<Integer> layers, int texts, int skippedShort, long tokens, List<Double> meanNorms) {}

    /**
     * Texts per scoring call (of one emotion): a call's texts are sorted by length into batches, the last part-full,
     * and its results (31 x 16 KiB a story at 8B) are held until the call is complete.
     */
    private static final int CHUNK = 512;

    private Extract() {}

    /**
     * How extraction batches texts: each text in a KV stream of its own ({@link Sizing#perText}), 4096 tokens per
     * llama_decode in one micro-batch. Bigger micro-batches make bigger matrix products, and with a stream per text
     * attention no longer grows with the batch. H100, 8B F16, capture of 31 layers, one run (`emovec bench
     * --extraction-shapes`, docs/measurements/2026-11-25-h100-ubatch/run2-f16/): 30,645 tok/s at 4096 (25.3 GiB),
     * 31,370 at 8192 (35.9 GiB), 29,386 at 2048, one stream for a 1024-token batch 26,688; HF's forward 30,984.
     * 4096, not 8192: the bench scores 1,536 texts in one call, the pipeline at most CHUNK of one emotion's (120 in
     * a 10% corpus: 4.4 batches of 8192), and each call ends in a part-full batch.
     * Within a --vram-budget, one stream for the batch ({@link #sharedStream}): its KV cache is one batch long.
     */
    static ScorerOptions scorerOptions(Sizing sizing, int longest) { return scorerOptions(sizing, 4096, longest); }

    /** The same layout at another llama_decode batch size (`emovec bench --extraction-shapes`). */
    static ScorerOptions scorerOptions(Sizing sizing, int batchTokens, int longest) {
        return sizing.plan() == null ? sizing.perText(batchTokens, longest) : sharedStream(sizing, longest);
    }

    /**
     * One KV stream for the batch: every token attends over the whole batch, masked to its own text, so a few
     * stories per call (1024 tokens) cost far less attention than 8192 tokens did.
     */
    static ScorerOptions sharedStream(Sizing sizing, int longest) { return sizing.scorer(1024, 1024, longest); }

    public static void run(RunDir dir, Model model, Settings s, Sizing sizing, boolean quiet) throws IOException {
        if (!Stories.complete(dir)) throw new EmovecException("the stories of " + dir.root() + " are not complete: run 'emovec stories' first");
        for (int l : s.layers()) {
            Model.checkLayer(l, model.layers());
            if (l == model.layers() - 1) {
                throw new EmovecException("layer " + l + " is the last block, where llama.cpp keeps only the rows whose logits are read,"
                        + " so it cannot be averaged over a story: choose layers 0.." + (model.layers() - 2));
            }
        }
        Files.createDirectories(dir.activations());
        List<String> todo = new ArrayList<>();
        for (String e : s.emotions()) if (!Files.exists(summaryFile(dir, e))) todo.add(e);
        if (!Files.exists(summaryFile(dir, Stories.NEUTRAL))) todo.add(Stories.NEUTRAL);
        if (!todo.isEmpty()) {
            long t0 = System.nanoTime();
            int[] layers = s.layers().stream().mapToInt(Integer::intValue).toArray();
            Map<String, List<Stories.Story>> texts = new LinkedHashMap<>();
            for (String e : todo) texts.put(e, Stories.read(dir, e));
            long total = texts.values().stream().mapToLong(List::size).sum();
            System.err.printf("emovec extract: %d texts (%d emotions to do, and the neutral dialogues) at %d layers%n", total,
                    todo.size() - (todo.contains(Stories.NEUTRAL) ? 1 : 0), layers.length);
            List<Means> all = new ArrayList<>();
            texts.forEach((e, stories) -> {
                List<int[]> tokens = new ArrayList<>();
                for (Stories.Story story : stories) tokens.add(model.tokenize(story.text(), true, false));
                all.add(new Means(dir, s, e, stories, tokens, layers, model.width()));
            });
            // The stories, then the neutral dialogues, each with a scorer sized for its own longest text: a KV stream
            // per text holds the longest, and a batch as many streams as texts of a quarter of that fill it, so
            // dialogues of ~1,600 tokens would leave a 4096-token batch of ~300-token stories a quarter empty.
            try (Progress bar = new Progress("extract", total, 0, "texts", quiet)) {
                for (boolean neutral : new boolean[] {false, true}) {
                    List<Means> group = all.stream().filter(m -> m.neutral == neutral).toList();
                    if (group.isEmpty()) continue;
                    int longest = group.stream().flatMap(m -> m.tokens.stream()).mapToInt(t -> t.length).max().orElse(1);
                    try (PromptScorer scorer = new PromptScorer(model, scorerOptions(sizing, longest))) {
                        extract(scorer, group, bar);
                    }
                }
            }
            dir.recordTime("extract", (System.nanoTime() - t0) / 1e9, s.emotions().size() + 1 - todo.size());
        }
        Vectors.build(dir, s);
    }

    /**
     * Scores every text of these emotions in one stream of scoring calls of CHUNK texts (PromptScorer.scoreChunks:
     * the device does not wait for the host between calls, nor while it adds up results), and writes each emotion's
     * files as its last call comes in.
     */
    private static void extract(PromptScorer scorer, List<Means> means, Progress bar) throws IOException {
        List<Call> calls = new ArrayList<>();
        for (Means m : means) for (int from = 0; from < m.stories.size(); from += CHUNK) calls.add(new Call(m, from));
        try {
            scorer.scoreChunks(calls.stream().map(Call::requests).iterator(), (c, i, r) -> {
                bar.step(1);
                calls.get(c).arrived(i, r);
            });
            for (Means m : means) if (m.stories.isEmpty()) m.write(); // no call: says why in one line
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /**
     * One scoring call: up to CHUNK of an emotion's texts from text `from`. Its results are held until all are in,
     * then added up in text order; a call's groups are all read before the next call's, so an emotion's calls
     * complete in order, and its last writes the emotion's files.
     */
    private static final class Call {
        final Means means;
        final int from;
        ScoreResult[] results;
        int missing;

        Call(Means means, int from) {
            this.means = means;
            this.from = from;
            results = new ScoreResult[Math.min(CHUNK, means.stories.size() - from)];
            missing = results.length;
        }

        List<ScoreRequest> requests() { return means.requests(from, results.length); }

        void arrived(int index, ScoreResult r) {
            results[index] = r;
            if (--missing > 0) return;
            means.add(results);
            results = null;
            if (from + CHUNK >= means.stories.size()) means.write();
        }
    }

    /** One emotion's (or the neutral dialogues') running sums over its texts' captured means, and its files. */
    private static final class Means {
        final RunDir dir;
        final Settings s;
        final String emotion;
        final List<Stories.Story> stories;
        final List<int[]> tokens;
        final int[] layers;
        final boolean neutral;
        final Span span;
        final int width;
        final double[][] sum;
        final double[] normSum;
        final long[] normCount;
        final List<float[][]> rows = new ArrayList<>(); // neutral: one row per dialogue and layer
        int used, skipped;
        long tokenCount;

        Means(RunDir dir, Settings s, String emotion, List<Stories.Story> stories, List<int[]> tokens, int[] layers, int width) {
            this.dir = dir;
            this.s = s;
            this.emotion = emotion;
            this.stories = stories;
            this.tokens = tokens;
            this.layers = layers;
            this.width = width;
            neutral = emotion.equals(Stories.NEUTRAL);
            span = Span.from(neutral ? 1 : s.fromToken());
            sum = new double[layers.length][width];
            normSum = new double[layers.length];
            normCount = new long[layers.length];
        }

        /** Texts from..from+count as scoring requests. */
        List<ScoreRequest> requests(int from, int count) {
            List<ScoreRequest> requests = new ArrayList<>();
            for (int i = from; i < from + count; i++) {
                requests.add(ScoreRequest.of(stories.get(i).id(), tokens.get(i)).withCapture(CaptureRequest.mean(span, layers)));
            }
            return requests;
        }

        /** Adds a call's results, in its texts' order. */
        void add(ScoreResult[] results) {
            for (ScoreResult r : results) {
                Captured c = r.captured();
                if (c.counts()[0] == 0) {
                    skipped++;
                    continue;
                }
                for (int l = 0; l < layers.length; l++) {
                    float[] m = c.means()[l];
                    for (int j = 0; j < width; j++) {
                        if (!Float.isFinite(m[j])) {
                            throw new EmovecException("story " + r.id() + ": the residual at layer " + layers[l] + " is " + m[j]
                                    + " (NaN/Inf): the model or its quantization overflows on this text; nothing of it was kept");
                        }
                        sum[l][j] += m[j];
                    }
                    normSum[l] += c.meanNorms()[l] * c.counts()[l];
                    normCount[l] += c.counts()[l];
                }
                if (neutral) rows.add(c.means());
                tokenCount += c.counts()[0];
                used++;
            }
        }

        /** The emotion's mean (the dialogues' rows) and its summary, which marks it done. */
        void write() {
            if (used == 0) {
                throw new EmovecException(emotion + ": none of its " + stories.size() + " texts reaches token " + span.from()
                        + ": generate longer stories (--story-max-tokens) or lower --from-token");
            }
            try {
                if (neutral) {
                    for (int l = 0; l < layers.length; l++) {
                        float[][] m = new float[rows.size()][];
                        for (int i = 0; i < m.length; i++) m[i] = rows.get(i)[l];
                        Npy.write(dir.activations().resolve("neutral-L" + layers[l] + ".npy"), m);
                    }
                } else {
                    float[][] mean = new float[layers.length][width];
                    for (int l = 0; l < layers.length; l++) for (int j = 0; j < width; j++) mean[l][j] = (float) (sum[l][j] / used);
                    Npy.write(activationFile(dir, emotion), mean);
                }
                List<Double> norms = new ArrayList<>();
                for (int l = 0; l < layers.length; l++) norms.add(normSum[l] / normCount[l]);
                Json.write(summaryFile(dir, emotion), new Summary(emotion, s.layers(), used, skipped, tokenCount, norms));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    static Path activationFile(RunDir dir, String emotion) { return dir.activations().resolve(RunDir.fileName(emotion) + ".npy"); }

    static Path summaryFile(RunDir dir, String emotion) { return dir.activations().resolve(RunDir.fileName(emotion) + ".json"); }

    static Summary summary(RunDir dir, String emotion) throws IOException { return Json.read(summaryFile(dir, emotion), Summary.class); }
}
