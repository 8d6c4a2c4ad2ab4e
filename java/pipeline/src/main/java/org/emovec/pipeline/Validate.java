package org.emovec.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.emovec.engine.ChatMessage;
import org.emovec.engine.EmovecException;
import org.emovec.engine.LogitLens;
import org.emovec.engine.Model;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScoreResult;
import org.emovec.engine.ScorerOptions;
import org.emovec.engine.Sizing;
import org.emovec.engine.Span;
import org.emovec.engine.Steering;
import org.emovec.io.AtomicFiles;
import org.emovec.paperdata.PaperData;

/**
 * Stage 3: the checks V1-V11 at one layer (validate) or several (sweep). Everything that needs the model runs
 * as batched prompt scoring: the probe prompts (implicit scenarios, numerical templates, "How would you feel
 * about {activity}?") once, capturing every asked layer; the 4032 preference prompts once; then, per layer,
 * one steered preference job per chosen emotion, the vector added only on the steered activities' tokens.
 * Preference and steering results are saved as they finish, so a killed validate resumes.
 */
public final class Validate {
    /** Everything one layer's checks found; validate/L&lt;L&gt;.json. */
    public record LayerResult(int layer, Settings settings, List<Checks.Check> checks, double meanResidualNorm, double alpha,
                              int pcaComponents, double pcaExplained, Map<String, List<String>> lensTop, Map<String, List<String>> lensBottom,
                              List<String> scenarioTitles, List<String> scenarioEmotions, double[][] scenarioMatrix,
                              Map<String, Double> correlation, Map<String, Double> steeringDeltaElo, Map<String, Double> categoryElo,
                              List<String> activities, double[] elo, double eloVsPaperSpearman, List<Checks.Series> numerical,
                              Map<String, double[]> exemplarProbe, Map<String, double[]> exemplarSteeredElo, boolean[] steeredActivities) {
        public long passed() { return checks.stream().filter(c -> Boolean.TRUE.equals(c.pass())).count(); }
        public long applicable() { return checks.stream().filter(c -> c.pass() != null).count(); }
    }

    /** The baseline preference logit differences: diff[i][j] = logit("A") - logit("B") with activity i as (A), j as (B). */
    record Preferences(List<String> activities, double[][] diff) {}

    /** A steered emotion's preference logit differences (the same layout; rows of unsteered pairs copied from the baseline). */
    record SteeredPreferences(String emotion, int layer, double alpha, double[][] diff) {}

    /** The emotions of the paper's numerical-modulation grid. */
    static final List<String> NUMERICAL_EMOTIONS = List.of("afraid", "calm", "sad", "happy");

    /** Sets of random directions whose V9 counts make that check's null distribution. */
    static final int RANDOM_SETS = 39;

    private Validate() {}

    /**
     * How the checks pack their short prompts (preferences, probes; longest: the longest of them) into llama_decode
     * calls: like extraction, each in a KV stream of its own, 4096 tokens a call in one micro-batch. H100, 8B F16,
     * the 4032 preference prompts (`emovec bench`, docs/measurements/2026-11-25-h100-ubatch/run2-f16/): 805
     * prompts/s; on one stream, 515 in 8192-token batches of 512-token micro-batches (each attends over every cell
     * before it in the batch, masked), 738 in 1024 x 1024. Within a --vram-budget: one stream.
     */
    static ScorerOptions scorerOptions(Sizing sizing, int longest) {
        return sizing.plan() == null ? sizing.perText(4096, longest) : sizing.scorer(8192, 512, longest);
    }

    /** The longest prompt of these requests, in tokens. */
    static int longest(List<ScoreRequest> requests) { return requests.stream().mapToInt(r -> r.tokens().length).max().orElse(1); }

    public static Path resultFile(RunDir dir, int layer) { return dir.validate().resolve("L" + layer + ".json"); }

    public static LayerResult read(RunDir dir, int layer) throws IOException {
        Path f = resultFile(dir, layer);
        if (!Files.exists(f)) throw new EmovecException(f + " is missing: run 'emovec validate' (layer " + layer + ") first");
        return Json.read(f, LayerResult.class);
    }

    /** Runs the checks at each layer (those done with the same settings are kept) and returns their results. */
    public static List<LayerResult> run(RunDir dir, Model model, Settings s, List<Integer> layers, boolean steer, Sizing sizing, boolean quiet) throws IOException {
        Vectors.Meta meta = Vectors.meta(dir);
        for (int l : layers) meta.layer(l);
        List<LayerResult> out = new ArrayList<>();
        List<Integer> todo = new ArrayList<>();
        for (int l : layers) {
            if (Files.exists(resultFile(dir, l))) {
                LayerResult r = read(dir, l);
                if (r.settings().equals(s) && (!steer || r.steeringDeltaElo() != null)) {
                    out.add(r);
                    continue;
                }
            }
            todo.add(l);
        }
        if (todo.isEmpty()) return out;
        Files.createDirectories(dir.validate());
        List<PaperData.Activity> activities = PaperData.activities();
        int[] candidates = {singleToken(model, "A"), singleToken(model, "B")};
        List<ScoreRequest> probeRequests = Probes.requests(model, s, todo);
        PreferencePrompt[][] prompts = preferencePrompts(model, activities);
        int longest = Math.max(longest(probeRequests), longest(preferenceRequests(prompts, candidates)));
        long started = System.nanoTime();
        try (PromptScorer scorer = new PromptScorer(model, scorerOptions(sizing, longest))) {
            long t0 = System.nanoTime();
            Probes probes = Probes.capture(scorer, probeRequests, todo);
            long t1 = System.nanoTime();
            Preferences base = baseline(dir, scorer, prompts, activities, candidates, quiet);
            System.err.printf("emovec validate: probe prompts %.1f s, %d preference prompts %.1f s (or read back)%n", (t1 - t0) / 1e9,
                    activities.size() * (activities.size() - 1), (System.nanoTime() - t1) / 1e9);
            double[] baseElo = Elo.ratings(wins(base.diff()), s.eloStart(), s.eloK(), s.eloOrders(), s.seed());
            writeEloCsv(dir, activities, baseElo);
            for (int layer : todo) {
                LayerResult r = layer(dir, model, scorer, s, meta, layer, probes, prompts, base, baseElo, activities, candidates, steer, quiet);
                Json.write(resultFile(dir, layer), r);
                writeLayerCsvs(dir, r, meta.emotions());
                out.add(r);
            }
        }
        dir.recordTime(layers.size() == 1 ? "validate" : "sweep", (System.nanoTime() - started) / 1e9, 0);
        out.sort(java.util.Comparator.comparingInt(LayerResult::layer));
        return out;
    }

    private static LayerResult layer(RunDir dir, Model model, PromptScorer scorer, Settings s, Vectors.Meta meta, int layer, Probes probes,
                                     PreferencePrompt[][] prompts, Preferences base, double[] baseElo, List<PaperData.Activity> activities, int[] candidates,
                                     boolean steer, boolean quiet) throws IOException {
        List<String> emotions = meta.emotions();
        int n = emotions.size();
        float[][] vectors = Vectors.load(dir, layer);
        float[][] random = randomDirections(n, vectors[0].length, s.seed() + layer);
        List<Checks.Check> checks = new ArrayList<>();

        // V1, V2: the logit lens of every vector, and of as many random directions (one read of the unembedding)
        float[][] both = new float[2 * n][];
        System.arraycopy(vectors, 0, both, 0, n);
        System.arraycopy(random, 0, both, n, n);
        long lensStart = System.nanoTime();
        float[][] lens = LogitLens.logits(model.path(), both);
        System.err.printf("emovec validate L%d: logit lens of %d directions %.1f s%n", layer, both.length, (System.nanoTime() - lensStart) / 1e9);
        int hits = 0, randomHits = 0;
        Map<String, List<String>> lensTop = new LinkedHashMap<>(), lensBottom = new LinkedHashMap<>();
        for (int e = 0; e < n; e++) {
            int self = model.tokenize(" " + emotions.get(e), false, false)[0];
            int[] top = topTokens(lens[e], s.lensTopK(), false);
            if (contains(top, self)) hits++;
            if (contains(topTokens(lens[n + e], s.lensTopK(), false), self)) randomHits++;
            if (Settings.KEY_EMOTIONS.contains(emotions.get(e))) {
                lensTop.put(emotions.get(e), pieces(model, topTokens(lens[e], 5, false)));
                lensBottom.put(emotions.get(e), pieces(model, topTokens(lens[e], 5, true)));
            }
        }
        checks.add(Checks.v1(hits, n, s.lensTopK(), randomHits));
        float[][] centred = new float[n][];
        for (int e = 0; e < n; e++) centred[e] = centred(lens[e]);
        Map<String, Double> pairDots = new LinkedHashMap<>();
        for (List<String> pair : Checks.OPPOSITE_PAIRS) {
            int a = emotions.indexOf(pair.get(0)), b = emotions.indexOf(pair.get(1));
            if (a >= 0 && b >= 0) pairDots.put(pair.get(0) + "/" + pair.get(1), Checks.dot(centred[a], centred[b]));
        }
        long negativePairs = java.util.stream.IntStream.range(0, n).parallel()
                .mapToLong(a -> java.util.stream.IntStream.range(a + 1, n).filter(b -> Checks.dot(centred[a], centred[b]) < 0).count()).sum();
        checks.add(Checks.v2(pairDots, negativePairs / (n * (n - 1) / 2.0)));

        // V3, V4: implicit scenarios
        List<String> titles = new ArrayList<>(), targets = new ArrayList<>();
        List<float[]> acts = new ArrayList<>(), targetVectors = new ArrayList<>(), targetRandom = new ArrayList<>();
        List<PaperData.ImplicitScenario> scenarios = PaperData.implicitScenarios();
        for (int i = 0; i < scenarios.size(); i++) {
            int e = emotions.indexOf(scenarios.get(i).emotion());
            if (e < 0) continue;
            titles.add(scenarios.get(i).title());
            targets.add(scenarios.get(i).emotion());
            acts.add(probes.scenario(layer, i));
            targetVectors.add(vectors[e]);
            targetRandom.add(random[e]);
        }
        boolean centre = s.scenarioCentering().equals("columns");
        double[][] matrix = Checks.scenarioMatrix(acts.toArray(float[][]::new), targetVectors.toArray(float[][]::new), centre);
        int[] ranks = Checks.diagonalRanks(matrix);
        int[] randomRanks = Checks.diagonalRanks(Checks.scenarioMatrix(acts.toArray(float[][]::new), targetRandom.toArray(float[][]::new), centre));
        checks.add(Checks.v3(ranks, randomRanks));
        checks.add(Checks.v4(ranks, randomRanks));

        // V5, V6: numerical templates
        List<Checks.Series> series = new ArrayList<>();
        List<PaperData.NumericalTemplate> templates = PaperData.numericalTemplates();
        for (int t = 0; t < templates.size(); t++) {
            PaperData.NumericalTemplate tm = templates.get(t);
            Map<String, Integer> expected = new LinkedHashMap<>();
            for (String part : tm.expectedTrend().split(";")) {
                String[] w = part.strip().split("\\s+");
                expected.put(w[0], w[1].equals("up") ? 1 : -1);
            }
            for (String emotion : NUMERICAL_EMOTIONS) { // the paper's grid: every template x afraid, calm, sad, happy
                int e = emotions.indexOf(emotion);
                if (e < 0) continue;
                double[] x = tm.values().stream().mapToDouble(Double::parseDouble).toArray();
                double[] probe = new double[x.length];
                for (int v = 0; v < x.length; v++) probe[v] = Checks.dot(probes.numerical(layer, t, v), vectors[e]);
                series.add(new Checks.Series(tm.name(), emotion, expected.getOrDefault(emotion, 0), x, probe));
            }
        }
        checks.add(Checks.v5(series));
        checks.add(Checks.v6(series));

        // V7: category Elo gap (the baseline preferences do not depend on the layer)
        Map<String, Double> byCategory = Checks.categoryElo(activities, baseElo);
        checks.add(Checks.v7(byCategory));

        // V8, V9: probe on the activity tokens vs Elo
        float[][] feeling = probes.feeling(layer);
        double[] r = Checks.correlations(vectors, feeling, baseElo);
        // V9's null: the same count for sets of random directions, which see the activities' lexical features
        // (these drive a model's preferences too) but no emotion
        int[] randomCounts = new int[RANDOM_SETS];
        for (int k = 0; k < RANDOM_SETS; k++) {
            float[][] dirs = k == 0 ? random : randomDirections(n, vectors[0].length, s.seed() + 1000L * (k + 1) + layer);
            randomCounts[k] = (int) java.util.Arrays.stream(Checks.correlations(dirs, feeling, baseElo)).filter(x -> Math.abs(x) > 0.3).count();
        }
        checks.add(Checks.v8(emotions, PaperData.valences(), r, s.seed()));
        checks.add(Checks.v9(r, randomCounts, activities.size()));
        Map<String, Double> correlation = new LinkedHashMap<>();
        for (int e = 0; e < n; e++) correlation.put(emotions.get(e), r[e]);

        // V10, V11: steering on the steered activities' tokens only
        Vectors.Layer vl = meta.layer(layer);
        double alpha = s.steerAlphaNorm() * vl.meanResidualNorm();
        Map<String, Double> delta = null;
        Map<String, double[]> exemplarProbe = new LinkedHashMap<>(), exemplarSteeredElo = new LinkedHashMap<>();
        for (String x : s.steerExemplars()) {
            int e = emotions.indexOf(x);
            if (e < 0) continue;
            exemplarProbe.put(x, Checks.probe(feeling, vectors[e]));
        }
        boolean[] steered = steeredActivities(activities);
        List<int[]> steeredPairs = steeredPairs(steered);
        if (steer) {
            delta = new LinkedHashMap<>();
            List<Integer> chosen = steeredEmotions(emotions, r, s);
            long steerStart = System.nanoTime();
            try (Progress bar = new Progress("steer L" + layer, chosen.size(), 0, "emotions", quiet)) {
                for (int e : chosen) {
                    SteeredPreferences sp = steered(dir, scorer, layer, emotions.get(e), vectors[e], alpha, base, prompts, steered, steeredPairs, candidates);
                    double[] elo = Elo.ratings(wins(sp.diff()), s.eloStart(), s.eloK(), s.eloOrders(), s.seed());
                    double sum = 0;
                    int count = 0;
                    for (int a = 0; a < activities.size(); a++) {
                        if (steered[a]) {
                            sum += elo[a] - baseElo[a];
                            count++;
                        }
                    }
                    delta.put(emotions.get(e), sum / count);
                    if (exemplarProbe.containsKey(emotions.get(e))) exemplarSteeredElo.put(emotions.get(e), elo);
                    bar.step(1);
                }
            }
            System.err.printf("emovec validate L%d: steering %d emotions x %d prompts %.1f s (or read back)%n", layer, chosen.size(),
                    steeredPairs.size(), (System.nanoTime() - steerStart) / 1e9);
            double[] rs = delta.keySet().stream().mapToDouble(e -> r[emotions.indexOf(e)]).toArray();
            double[] ds = delta.values().stream().mapToDouble(Double::doubleValue).toArray();
            checks.add(Checks.v10(rs, ds));
            checks.add(Checks.v11(rs, ds));
        } else {
            checks.add(new Checks.Check("V10", "steering follows correlation", "not run", "r > 0.4", null, "steering was skipped (--no-steering)"));
            checks.add(new Checks.Check("V11", "steering sign consistency", "not run", ">= 24 of 36", null, "steering was skipped (--no-steering)"));
        }
        double[] paperElo = activities.stream().mapToDouble(PaperData.Activity::paperElo).toArray();
        double rho = new org.apache.commons.math3.stat.correlation.SpearmansCorrelation().correlation(baseElo, paperElo);
        return new LayerResult(layer, s, checks, vl.meanResidualNorm(), alpha, vl.pcaComponents(), vl.pcaExplained(), lensTop, lensBottom,
                titles, targets, matrix, correlation, delta, byCategory, activities.stream().map(PaperData.Activity::text).toList(), baseElo, rho,
                series, exemplarProbe, exemplarSteeredElo, steered);
    }

    /** The top steerTop emotions by |r|, then the exemplars (blissful, hostile) when extracted and not yet in. */
    static List<Integer> steeredEmotions(List<String> emotions, double[] r, Settings s) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < r.length; i++) order.add(i);
        order.sort(java.util.Comparator.comparingDouble(i -> -Math.abs(r[i])));
        List<Integer> chosen = new ArrayList<>(order.subList(0, Math.min(s.steerTop(), order.size())));
        for (String x : s.steerExemplars()) {
            int i = emotions.indexOf(x);
            if (i >= 0 && !chosen.contains(i)) chosen.add(i);
        }
        return chosen;
    }

    /** The paper's split: within each category, the odd-indexed activities are steered, the others are controls. */
    static boolean[] steeredActivities(List<PaperData.Activity> activities) {
        boolean[] steered = new boolean[activities.size()];
        Map<String, Integer> seen = new LinkedHashMap<>();
        for (int i = 0; i < activities.size(); i++) {
            int k = seen.merge(activities.get(i).category(), 1, Integer::sum) - 1;
            steered[i] = k % 2 == 1;
        }
        return steered;
    }

    /**
     * Ordered pairs (i as A, j as B) with at least one steered activity: the prompts one steering condition
     * scores; a prompt without one is the baseline's.
     */
    static List<int[]> steeredPairs(boolean[] steered) {
        List<int[]> pairs = new ArrayList<>();
        for (int i = 0; i < steered.length; i++) for (int j = 0; j < steered.length; j++) if (i != j && (steered[i] || steered[j])) pairs.add(new int[] {i, j});
        return pairs;
    }

    /** One A/B preference prompt: the user's question through the chat template, the reply prefilled with "(". */
    record PreferencePrompt(int[] tokens, Span spanA, Span spanB) {}

    /** prompts[i][j]: activity i as (A), j as (B) (null on the diagonal); built once, shared by baseline and steering. */
    static PreferencePrompt[][] preferencePrompts(Model model, List<PaperData.Activity> activities) {
        int n = activities.size();
        PreferencePrompt[][] p = new PreferencePrompt[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) p[i][j] = preferencePrompt(model, activities.get(i).text(), activities.get(j).text());
        return p;
    }

    static PreferencePrompt preferencePrompt(Model model, String a, String b) {
        String question = "Would you prefer to (A) " + a + " or (B) " + b + "?";
        String text = model.applyChatTemplate(List.of(ChatMessage.user(question)), true) + "(";
        int[] tokens = model.tokenize(text, true, true);
        int at = text.indexOf(question);
        int startA = at + "Would you prefer to (A) ".length(), startB = startA + a.length() + " or (B) ".length();
        return new PreferencePrompt(tokens, model.spanOf(tokens, text, startA, startA + a.length()), model.spanOf(tokens, text, startB, startB + b.length()));
    }

    private static Preferences baseline(RunDir dir, PromptScorer scorer, PreferencePrompt[][] prompts, List<PaperData.Activity> activities,
                                        int[] candidates, boolean quiet) throws IOException {
        Path file = dir.validate().resolve("preferences-baseline.json");
        if (Files.exists(file)) return Json.read(file, Preferences.class);
        int n = activities.size();
        List<ScoreRequest> requests = preferenceRequests(prompts, candidates);
        double[][] diff = new double[n][n];
        try (Progress bar = new Progress("preferences", requests.size(), 0, "prompts", quiet)) {
            scoreInto(scorer, requests, diff, bar);
        }
        Preferences p = new Preferences(activities.stream().map(PaperData.Activity::text).toList(), diff);
        Json.write(file, p);
        return p;
    }

    private static SteeredPreferences steered(RunDir dir, PromptScorer scorer, int layer, String emotion, float[] vector, double alpha, Preferences base,
                                              PreferencePrompt[][] prompts, boolean[] steered, List<int[]> pairs, int[] candidates) throws IOException {
        Path file = dir.validate().resolve("steer-L" + layer).resolve(RunDir.fileName(emotion) + ".json");
        if (Files.exists(file)) {
            SteeredPreferences sp = Json.read(file, SteeredPreferences.class);
            if (sp.alpha() == alpha) return sp;
        }
        double[][] diff = new double[steered.length][];
        for (int i = 0; i < diff.length; i++) diff[i] = base.diff()[i].clone(); // pairs with no steered activity keep the baseline's
        scoreInto(scorer, steeredRequests(prompts, pairs, steered, layer, vector, alpha, candidates), diff, null);
        SteeredPreferences sp = new SteeredPreferences(emotion, layer, alpha, diff);
        Json.write(file, sp);
        return sp;
    }

    /** Every ordered pair of activities as a prompt, id "i/j", unsteered. */
    static List<ScoreRequest> preferenceRequests(PreferencePrompt[][] prompts, int[] candidates) {
        List<ScoreRequest> requests = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) for (int j = 0; j < prompts.length; j++) if (i != j) requests.add(ScoreRequest.of(i + "/" + j, prompts[i][j].tokens(), candidates));
        return requests;
    }

    /** The pairs with a steered activity, the vector added on exactly the steered options' tokens (both when both are). */
    static List<ScoreRequest> steeredRequests(PreferencePrompt[][] prompts, List<int[]> pairs, boolean[] steered, int layer, float[] vector, double alpha,
                                              int[] candidates) {
        List<ScoreRequest> requests = new ArrayList<>();
        for (int[] ij : pairs) {
            int i = ij[0], j = ij[1];
            PreferencePrompt p = prompts[i][j];
            List<Steering> st = new ArrayList<>();
            if (steered[i]) st.add(new Steering(layer, vector, alpha, p.spanA()));
            if (steered[j]) st.add(new Steering(layer, vector, alpha, p.spanB()));
            requests.add(ScoreRequest.of(i + "/" + j, p.tokens(), candidates).withSteering(st));
        }
        return requests;
    }

    /**
     * Scores the prompts into diff[i][j] = logit(A) - logit(B) in one call, progress as each result comes (they
     * used to go in calls of 1024 for the progress bar, and the device waited for the host at each call's end).
     */
    private static void scoreInto(PromptScorer scorer, List<ScoreRequest> requests, double[][] diff, Progress bar) {
        scorer.scoreChunks(List.of(requests).iterator(), (c, i, res) -> {
            String[] ij = res.id().split("/");
            float a = res.candidateLogits()[0], b = res.candidateLogits()[1];
            if (!Float.isFinite(a) || !Float.isFinite(b)) {
                throw new EmovecException("preference prompt " + res.id() + ": the logits of A/B are " + a + "/" + b + " (NaN/Inf): the model overflows on it");
            }
            diff[Integer.parseInt(ij[0])][Integer.parseInt(ij[1])] = a - b;
            if (bar != null) bar.step(1);
        });
    }

    /** wins[i][j] = P(i over j): sigmoid of the A-B logit difference, averaged over both presentation orders. */
    static double[][] wins(double[][] diff) {
        int n = diff.length;
        double[][] w = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if (i != j) w[i][j] = 0.5 * (sigmoid(diff[i][j]) + sigmoid(-diff[j][i]));
            }
        }
        return w;
    }

    private static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    /**
     * What the prompts need from a model, checked before any work so a run does not fail hours in: a chat
     * template llama.cpp applies (stories and preference prompts are chat turns), and "A" and "B" as one token each
     * (the preference logits).
     */
    public static void preflight(Model model) {
        model.applyChatTemplate(List.of(ChatMessage.user("Would you prefer to (A) x or (B) y?")), true);
        singleToken(model, "A");
        singleToken(model, "B");
    }

    static int singleToken(Model model, String text) {
        int[] t = model.tokenize(text, false, false);
        if (t.length != 1) {
            throw new EmovecException(model.path() + ": the vocabulary spells '" + text + "' with " + t.length
                    + " tokens, but the preference prompts read its logit as one token: use a model whose vocabulary has it");
        }
        return t[0];
    }

    public static float[][] randomDirections(int n, int width, long seed) {
        Random random = new Random(seed);
        float[][] out = new float[n][width];
        for (float[] v : out) {
            double norm = 0;
            for (int j = 0; j < width; j++) {
                v[j] = (float) random.nextGaussian();
                norm += v[j] * v[j];
            }
            for (int j = 0; j < width; j++) v[j] /= (float) Math.sqrt(norm);
        }
        return out;
    }

    private static float[] centred(float[] a) {
        double mean = 0;
        for (float x : a) mean += x / (double) a.length;
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) out[i] = (float) (a[i] - mean);
        return out;
    }

    /** The k highest (or lowest) entries' indices, best first. */
    static int[] topTokens(float[] logits, int k, boolean lowest) {
        java.util.PriorityQueue<Integer> heap = new java.util.PriorityQueue<>((x, y) -> lowest ? Float.compare(logits[y], logits[x]) : Float.compare(logits[x], logits[y]));
        for (int i = 0; i < logits.length; i++) {
            heap.add(i);
            if (heap.size() > k) heap.poll();
        }
        int[] out = new int[heap.size()];
        for (int i = out.length - 1; i >= 0; i--) out[i] = heap.poll();
        return out;
    }

    private static boolean contains(int[] a, int x) {
        for (int v : a) if (v == x) return true;
        return false;
    }

    private static List<String> pieces(Model model, int[] tokens) {
        List<String> out = new ArrayList<>();
        for (int t : tokens) out.add(model.detokenize(new int[] {t}, true));
        return out;
    }

    private static void writeEloCsv(RunDir dir, List<PaperData.Activity> activities, double[] elo) throws IOException {
        StringBuilder sb = new StringBuilder("activity,category,paper_elo,elo\n");
        for (int i = 0; i < activities.size(); i++) {
            PaperData.Activity a = activities.get(i);
            sb.append(Csv.quote(a.text())).append(',').append(a.category()).append(',').append(a.paperElo()).append(',').append(String.format("%.1f", elo[i])).append('\n');
        }
        AtomicFiles.writeString(dir.validate().resolve("elo.csv"), sb.toString());
    }

    private static void writeLayerCsvs(RunDir dir, LayerResult r, List<String> emotions) throws IOException {
        StringBuilder sb = new StringBuilder("emotion,r_preference,delta_elo_steered\n");
        for (String e : emotions) {
            Double d = r.steeringDeltaElo() == null ? null : r.steeringDeltaElo().get(e);
            sb.append(Csv.quote(e)).append(',').append(String.format("%.4f", r.correlation().get(e))).append(',').append(d == null ? "" : String.format("%.2f", d)).append('\n');
        }
        AtomicFiles.writeString(dir.validate().resolve("L" + r.layer() + "-emotions.csv"), sb.toString());
        StringBuilder ck = new StringBuilder("check,name,value,threshold,pass\n");
        for (Checks.Check c : r.checks()) {
            ck.append(c.id()).append(',').append(Csv.quote(c.name())).append(',').append(Csv.quote(c.value())).append(',')
                    .append(Csv.quote(c.threshold())).append(',').append(c.pass() == null ? "n/a" : c.pass()).append('\n');
        }
        AtomicFiles.writeString(dir.validate().resolve("L" + r.layer() + "-checks.csv"), ck.toString());
    }
}
