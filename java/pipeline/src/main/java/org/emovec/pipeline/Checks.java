package org.emovec.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;
import org.apache.commons.math3.stat.correlation.SpearmansCorrelation;
import org.emovec.paperdata.PaperData;

/**
 * The checks V1-V11 as arithmetic on what the model produced (no model here, so each is testable alone).
 * Thresholds are the reproduction's for 171 emotions (see paperdata/SOURCES.md); with fewer emotions, or
 * fewer items, a count threshold keeps its share (e.g. V1's 20 of 171 becomes 4 of 30). A check whose inputs
 * are missing from a run (e.g. its emotions were not chosen) is "n/a", never a pass. Count checks must also
 * beat chance (p &lt; 0.05 under the null the check's "how" names): at a screening run's few emotions the
 * reproduction's counts are reached by noise alone, and a random model must not pass.
 */
public final class Checks {
    /** One check's outcome: pass is null when it could not be run. */
    public record Check(String id, String name, String value, String threshold, Boolean pass, String how) {}

    /** The five opposite-valence pairs of V2 (emotions of the paper's Table 1). */
    static final List<List<String>> OPPOSITE_PAIRS = List.of(List.of("happy", "sad"), List.of("calm", "afraid"),
            List.of("loving", "angry"), List.of("proud", "guilty"), List.of("inspired", "desperate"));

    private Checks() {}

    /** P(X >= k) for X ~ Binomial(n, p0): how often chance alone gives k or more of n. */
    static double chanceP(long k, int n, double p0) {
        return k <= 0 ? 1 : 1 - new org.apache.commons.math3.distribution.BinomialDistribution(n, p0).cumulativeProbability((int) k - 1);
    }

    /** count of n scaled from the reproduction's count of of: the same share, rounded up. */
    static int scaled(int count, int of, int n) { return (int) Math.ceil(count * (double) n / of - 1e-9); }

    static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    static double cosine(float[] a, float[] b) { return dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)); }

    /** V1: how many emotions have their own word's token among their vector's top-k logit-lens tokens. */
    static Check v1(int hits, int n, int topK, Integer randomHits) {
        int need = scaled(20, 171, n);
        return new Check("V1", "self-recognition (logit lens)", hits + " of " + n + (randomHits == null ? "" : "; random directions: " + randomHits),
                ">= " + need + " (20 of 171)", hits >= need,
                "the first token of ' <emotion>' is among the top " + topK + " tokens of W_U(g*v), g the final norm's weight");
    }

    /**
     * V2: opposite-valence pairs whose logit-lens vectors (centred over the vocabulary) have a negative dot
     * product. Vectors are each emotion minus the mean of all, so any two lean slightly negative: the check
     * also needs the count to beat that chance (binomial p < 0.05 at the share of all emotion pairs that are
     * negative), or five pairs of a random model pass one time in twenty.
     */
    static Check v2(Map<String, Double> pairDots, double allPairsNegative) {
        int n = pairDots.size();
        long negative = pairDots.values().stream().filter(d -> d < 0).count();
        if (n == 0) return new Check("V2", "opposite valence in logit space", "n/a", ">= 4 of 5", null, "none of the pairs' emotions were extracted");
        int need = scaled(4, 5, n);
        double p = chanceP(negative, n, allPairsNegative);
        return new Check("V2", "opposite valence in logit space", String.format("%d of %d; all emotion pairs: %.0f%% negative, chance p = %.3f", negative, n, 100 * allPairsNegative, p),
                ">= " + need + " (4 of 5) and p < 0.05", negative >= need && p < 0.05,
                "pairs " + pairDots.keySet() + ": dot product of mean-centred logit-lens vectors < 0");
    }

    /** Scenario-by-emotion cosine matrix, optionally centred per emotion across scenarios. */
    static double[][] scenarioMatrix(float[][] acts, float[][] targetVectors, boolean centreColumns) {
        double[][] m = new double[acts.length][targetVectors.length];
        for (int s = 0; s < acts.length; s++) for (int e = 0; e < targetVectors.length; e++) m[s][e] = cosine(acts[s], targetVectors[e]);
        if (centreColumns) {
            for (int e = 0; e < targetVectors.length; e++) {
                double mean = 0;
                for (double[] row : m) mean += row[e] / m.length;
                for (double[] row : m) row[e] -= mean;
            }
        }
        return m;
    }

    /** Rank (1 = best) of the diagonal entry within each row. */
    static int[] diagonalRanks(double[][] m) {
        int[] ranks = new int[m.length];
        for (int s = 0; s < m.length; s++) {
            int r = 1;
            for (int e = 0; e < m[s].length; e++) if (e != s && m[s][e] > m[s][s]) r++;
            ranks[s] = r;
        }
        return ranks;
    }

    static Check v3(int[] ranks, int[] randomRanks) {
        int n = ranks.length;
        if (n < 2) return new Check("V3", "implicit scenarios: own emotion is the argmax", "n/a", ">= 8 of 12", null, "fewer than 2 of the 12 scenario emotions were extracted");
        long hits = Arrays.stream(ranks).filter(r -> r == 1).count();
        int need = scaled(8, 12, n);
        return new Check("V3", "implicit scenarios: own emotion is the argmax", hits + " of " + n + randomNote(randomRanks == null ? null : Arrays.stream(randomRanks).filter(r -> r == 1).count() + " of " + n),
                ">= " + need + " (8 of 12)", hits >= need, "cosine of the activation before the reply with each scenario emotion's vector; argmax over those " + n + " emotions");
    }

    static Check v4(int[] ranks, int[] randomRanks) {
        int n = ranks.length;
        if (n < 2) return new Check("V4", "implicit scenarios: mean diagonal rank", "n/a", "<= 3.0 of 12", null, "fewer than 2 scenario emotions");
        double mean = Arrays.stream(ranks).average().orElse(Double.NaN);
        double need = 3.0 * n / 12;
        return new Check("V4", "implicit scenarios: mean diagonal rank", String.format("%.2f", mean) + randomNote(randomRanks == null ? null : String.format("%.2f", Arrays.stream(randomRanks).average().orElse(Double.NaN))),
                String.format("<= %.2f (3.0 of 12; chance %.1f)", need, (n + 1) / 2.0), mean <= need, "rank of the scenario's own emotion among the " + n + " scenario emotions");
    }

    private static String randomNote(String random) { return random == null ? "" : "; random directions: " + random; }

    /** One numerical series: a template's values, one emotion's probe, and the trend the paper reports (0: none). */
    public record Series(String template, String emotion, int expectedSign, double[] x, double[] probe) {
        public double rho() { return new SpearmansCorrelation().correlation(x, probe); }
    }

    static Check v5(List<Series> all) {
        List<Series> series = all.stream().filter(s -> s.expectedSign() != 0).toList();
        int n = series.size();
        if (n == 0) return new Check("V5", "numerical modulation: trend sign", "n/a", ">= 17 of 24", null, "no tracked emotion was extracted");
        long right = series.stream().filter(s -> Math.signum(s.rho()) == s.expectedSign()).count();
        int need = scaled(17, 24, n);
        double p = chanceP(right, n, 0.5);
        return new Check("V5", "numerical modulation: trend sign", String.format("%d of %d, chance p = %.3f", right, n, p), ">= " + need + " (17 of 24) and p < 0.05",
                right >= need && p < 0.05, "Spearman rho between X and the probe (activation . vector) has the sign the paper reports (chance: a coin per series)");
    }

    static Check v6(List<Series> all) {
        List<Series> series = all.stream().filter(s -> s.expectedSign() != 0).toList();
        int n = series.size();
        if (n == 0) return new Check("V6", "numerical modulation: strength", "n/a", ">= 12 of 24", null, "no tracked emotion was extracted");
        long strong = series.stream().filter(s -> Math.abs(s.rho()) > 0.7).count();
        int need = scaled(12, 24, n);
        return new Check("V6", "numerical modulation: strength", strong + " of " + n, ">= " + need + " (12 of 24)", strong >= need, "|Spearman rho| > 0.7");
    }

    /** Mean Elo per category, highest first. */
    static Map<String, Double> categoryElo(List<PaperData.Activity> activities, double[] elo) {
        Map<String, double[]> acc = new LinkedHashMap<>();
        for (int i = 0; i < activities.size(); i++) {
            double[] a = acc.computeIfAbsent(activities.get(i).category(), k -> new double[2]);
            a[0] += elo[i];
            a[1]++;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        acc.entrySet().stream().sorted(Comparator.comparingDouble((Map.Entry<String, double[]> e) -> -e.getValue()[0] / e.getValue()[1]))
                .forEach(e -> out.put(e.getKey(), e.getValue()[0] / e.getValue()[1]));
        return out;
    }

    static Check v7(Map<String, Double> byCategory) {
        List<Map.Entry<String, Double>> list = new ArrayList<>(byCategory.entrySet());
        Map.Entry<String, Double> top = list.get(0), bottom = list.get(list.size() - 1);
        double gap = top.getValue() - bottom.getValue();
        return new Check("V7", "preference: category Elo gap", String.format("%.0f (%s %.0f ... %s %.0f)", gap, top.getKey(), top.getValue(), bottom.getKey(), bottom.getValue()),
                "> 200", gap > 200, "all 2016 pairs in both orders, '(' prefilled, P = sigmoid(logit A - logit B) averaged over orders, Elo K = 32");
    }

    /** Pearson r between each emotion's probe on the activities and the activities' Elo. */
    static double[] correlations(float[][] vectors, float[][] feelingActs, double[] elo) {
        double[] r = new double[vectors.length];
        for (int e = 0; e < vectors.length; e++) r[e] = new PearsonsCorrelation().correlation(probe(feelingActs, vectors[e]), elo);
        return r;
    }

    /** A probe's reading on each activation: activation . vector. */
    static double[] probe(float[][] acts, float[] vector) {
        double[] p = new double[acts.length];
        for (int a = 0; a < acts.length; a++) p[a] = dot(acts[a], vector);
        return p;
    }

    /** Indices sorted by value, highest first. */
    static int[] byValueDescending(double[] v) {
        return IntStream.range(0, v.length).boxed().sorted(Comparator.comparingDouble(i -> -v[i])).mapToInt(Integer::intValue).toArray();
    }

    /**
     * V8: of the 3 emotions whose probe correlates most with Elo, at least 2 positive, and of the 3 lowest at least 2
     * negative. A shuffled ranking does that often (about one time in five with 30 emotions), so it must also beat
     * chance: p = share of 2000 seeded shuffles of the valence labels that do at least as well on both ends.
     */
    static Check v8(List<String> emotions, Map<String, PaperData.Valence> valence, double[] r, long seed) {
        int[] order = byValueDescending(r);
        int k = Math.min(3, order.length / 2);
        List<String> top = new ArrayList<>(), bottom = new ArrayList<>();
        boolean[] positive = new boolean[order.length];
        for (int i = 0; i < order.length; i++) positive[i] = valence.get(emotions.get(order[i])) == PaperData.Valence.POSITIVE;
        for (int i = 0; i < k; i++) {
            top.add(emotions.get(order[i]));
            bottom.add(emotions.get(order[order.length - 1 - i]));
        }
        int pos = ends(positive, k, true), neg = ends(positive, k, false);
        java.util.Random random = new java.util.Random(seed);
        int asGood = 0, shuffles = 2000;
        boolean[] shuffled = positive.clone();
        for (int t = 0; t < shuffles; t++) {
            for (int i = shuffled.length - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                boolean x = shuffled[i];
                shuffled[i] = shuffled[j];
                shuffled[j] = x;
            }
            if (ends(shuffled, k, true) >= pos && ends(shuffled, k, false) >= neg) asGood++;
        }
        double p = (asGood + 1.0) / (shuffles + 1);
        return new Check("V8", "preference correlation: valence of extremes", String.format("top %s %d positive; bottom %s %d negative; chance p = %.3f", top, pos, bottom, neg, p),
                ">= 2 each and p < 0.05", pos >= 2 && neg >= 2 && p < 0.05,
                "emotions ranked by r(probe on the activity's tokens in 'How would you feel about {activity}?', Elo)");
    }

    /** Positive labels among the first k (top) or negative ones among the last k (bottom) of a ranking. */
    private static int ends(boolean[] positive, int k, boolean top) {
        int count = 0;
        for (int i = 0; i < k; i++) {
            if (top && positive[i]) count++;
            if (!top && !positive[positive.length - 1 - i]) count++;
        }
        return count;
    }

    /**
     * V9: emotions with |r| > 0.3. Must beat chance twice over: the rate of |r| > 0.3 between unrelated variables
     * over `items` activities (binomial), and random directions of the same width (empirical p over the sets in
     * randomCounts; random directions still see the activities' lexical features, which drive preferences too).
     */
    static Check v9(double[] r, int[] randomCounts, int items) {
        long count = Arrays.stream(r).filter(x -> Math.abs(x) > 0.3).count();
        int need = scaled(5, 171, r.length);
        double p = chanceP(count, r.length, pearsonP(0.3, items));
        double pRandom = (Arrays.stream(randomCounts).filter(c -> c >= count).count() + 1.0) / (randomCounts.length + 1);
        double median = Arrays.stream(randomCounts).sorted().toArray()[randomCounts.length / 2];
        return new Check("V9", "preference correlation: strength", String.format("%d of %d, chance p = %.3f; random directions: median %.0f, p = %.3f",
                count, r.length, p, median, pRandom), ">= " + need + " (5 of 171) and both p < 0.05", count >= need && p < 0.05 && pRandom < 0.05,
                "|r| > 0.3 (chance: " + String.format("%.1f%%", 100 * pearsonP(0.3, items)) + " per emotion; " + randomCounts.length + " sets of random directions)");
    }

    /**
     * V10: the reproduction's r > 0.4, and significant (two-sided p < 0.05 for Pearson's r with n - 2 degrees of
     * freedom): with the handful of emotions of a screening run, r > 0.4 arises by chance alone.
     */
    static Check v10(double[] r, double[] deltaElo) {
        if (r.length < 3) return new Check("V10", "steering follows correlation", "n/a", "r > 0.4", null, "fewer than 3 steered emotions");
        int n = r.length;
        double c = new PearsonsCorrelation().correlation(r, deltaElo);
        double p = pearsonP(c, n);
        return new Check("V10", "steering follows correlation", String.format("r = %.3f (n = %d, p = %.3g)", c, n, p), "r > 0.4 and p < 0.05", c > 0.4 && p < 0.05,
                "Pearson r between each steered emotion's preference correlation and its mean Elo change on the steered activities");
    }

    /** Two-sided p-value of Pearson's r over n pairs (t with n - 2 degrees of freedom). */
    static double pearsonP(double r, int n) {
        if (Math.abs(r) >= 1) return 0;
        double t = r * Math.sqrt((n - 2) / (1 - r * r));
        return 2 * (1 - new org.apache.commons.math3.distribution.TDistribution(n - 2).cumulativeProbability(Math.abs(t)));
    }

    static Check v11(double[] r, double[] deltaElo) {
        int n = r.length;
        if (n < 3) return new Check("V11", "steering sign consistency", "n/a", ">= 24 of 36", null, "fewer than 3 steered emotions");
        long same = IntStream.range(0, n).filter(i -> Math.signum(r[i]) == Math.signum(deltaElo[i]) && deltaElo[i] != 0).count();
        int need = scaled(24, 36, n);
        double p = chanceP(same, n, 0.5);
        return new Check("V11", "steering sign consistency", String.format("%d of %d, chance p = %.3f", same, n, p), ">= " + need + " (24 of 36) and p < 0.05",
                same >= need && p < 0.05, "sign of the Elo change = sign of r (chance: a coin per emotion)");
    }
}
