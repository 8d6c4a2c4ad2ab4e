package org.emovec.pipeline;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.emovec.paperdata.PaperData;
import org.junit.jupiter.api.Test;

/** The method's arithmetic (Elo, PCA, checks, the steering split), each against what it must give. */
class MethodTest {
    @Test
    void eloOfEvenGamesStaysAtTheStartAndADominantItemRisesAboveTheRest() {
        int n = 6;
        double[][] even = new double[n][n];
        for (double[] row : even) java.util.Arrays.fill(row, 0.5);
        for (double r : Elo.ratings(even, 1000, 32, 10, 1)) assertEquals(1000, r, 1e-9);
        double[][] wins = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) wins[i][j] = i < j ? 0.9 : 0.1; // 0 beats all, 5 loses all
        double[] r = Elo.ratings(wins, 1000, 32, 50, 1);
        for (int i = 1; i < n; i++) assertTrue(r[i - 1] > r[i], "order " + java.util.Arrays.toString(r));
        assertEquals(1000 * n, java.util.Arrays.stream(r).sum(), 1e-6); // Elo moves points, never makes them
        assertArrayEquals(r, Elo.ratings(wins, 1000, 32, 50, 1)); // seeded orders: the same ratings every time
    }

    @Test
    void pcaFindsThePlantedDirectionsAndProjectionRemovesThem() {
        int d = 40, n = 25;
        Random rnd = new Random(2);
        double[] u1 = unit(rnd, d), u2 = Pca.projectOut(unit(rnd, d), new double[][] {u1});
        double n2 = Math.sqrt(dot(u2, u2));
        for (int j = 0; j < d; j++) u2[j] /= n2;
        float[][] rows = new float[n][d];
        for (int i = 0; i < n; i++) {
            double a = 10 * rnd.nextGaussian(), b = 3 * rnd.nextGaussian();
            for (int j = 0; j < d; j++) rows[i][j] = (float) (5 + a * u1[j] + b * u2[j] + 0.01 * rnd.nextGaussian());
        }
        Pca.Result one = Pca.top(rows, 0.5);
        assertEquals(1, one.components().length, "the first direction carries ~90% of the variance");
        assertEquals(1, Math.abs(dot(one.components()[0], u1)), 0.01, "the sample's top direction is the planted one, up to sampling noise");
        Pca.Result two = Pca.top(rows, 0.99);
        assertEquals(2, two.components().length);
        double[] cleaned = Pca.projectOut(u2.clone(), two.components());
        assertEquals(0, Math.sqrt(dot(cleaned, cleaned)), 0.01);
    }

    /** Expected numbers from numpy (np.corrcoef, np.linalg.svd), computed independently of this code. */
    @Test
    void statisticsMatchNumpy() {
        double[] x = {1, 2, 3, 4, 5, 6}, y = {2, 1, 4, 3, 7, 5};
        assertEquals(0.7917946548886295, new org.apache.commons.math3.stat.correlation.PearsonsCorrelation().correlation(x, y), 1e-12);
        assertEquals(0.8285714285714287, new Checks.Series("t", "e", 1, x, y).rho(), 1e-12);
        // the correlations() used by V8/V9: probe = activation . vector, against Elo
        float[][] acts = new float[6][];
        for (int i = 0; i < 6; i++) acts[i] = new float[] {(float) x[i], 0};
        assertEquals(0.7917946548886295, Checks.correlations(new float[][] {{1, 0}}, acts, y)[0], 1e-6);
        float[][] rows = {{2, 0, 1}, {0, 1, 3}, {4, 1, 0}, {1, 3, 2}, {3, 2, 2}};
        Pca.Result all = Pca.top(rows, 0.999);
        assertArrayEquals(new double[] {0.70737563, 0.24739281, 0.04523156}, all.shares(), 1e-8);
        double[] first = all.components()[0], numpy = {-0.80413244, 0.196521, 0.56102631};
        assertEquals(1, Math.abs(dot(first, numpy)), 1e-8, "same direction up to sign");
        assertEquals(1, Pca.top(rows, 0.5).components().length, "0.707 of the variance is past 50%");
        assertEquals(0.03319224965180989, Checks.pearsonP(-0.747, 8), 1e-6, "2 * scipy.stats.t.sf(t, 6) for r = -0.747, n = 8");
    }

    @Test
    void countChecksMustBeatChance() {
        assertEquals(1 / 32.0, Checks.chanceP(5, 5, 0.5), 1e-12);
        assertEquals(0.19384765625, Checks.chanceP(8, 12, 0.5), 1e-12, "scipy.stats.binom.sf(7, 12, 0.5)");
        double[] r = new double[12], same = new double[12];
        for (int i = 0; i < 12; i++) {
            r[i] = i % 2 == 0 ? 0.5 : -0.5;
            same[i] = i < 8 ? r[i] : -r[i]; // 8 of 12 agree: the reproduction's share, but a coin does it one time in five
        }
        assertFalse(Checks.v11(r, same).pass());
        assertTrue(Checks.v11(r, r).pass());
        double[] weak = new double[12];
        weak[0] = 0.5; // 1 of 12 above 0.3: the scaled threshold, and what chance gives one time in five
        assertFalse(Checks.v9(weak, new int[] {0, 0, 1, 0}, 64).pass());
        double[] strongR = new double[171];
        for (int i = 0; i < 20; i++) strongR[i] = 0.5;
        int[] randomCounts = new int[39];
        java.util.Arrays.fill(randomCounts, 3);
        assertTrue(Checks.v9(strongR, randomCounts, 64).pass(), "20 of 171 where random directions give 3");
        java.util.Arrays.fill(randomCounts, 25);
        assertFalse(Checks.v9(strongR, randomCounts, 64).pass(), "20 of 171 where random directions give 25: lexical, not emotional");
    }

    @Test
    void oneGameOfEloMovesHalfOfK() {
        double[] r = Elo.ratings(new double[][] {{0, 1}, {0, 0}}, 1000, 32, 3, 1);
        assertArrayEquals(new double[] {1016, 984}, r, 1e-9);
    }

    @Test
    void countThresholdsKeepTheReproductionsShare() {
        assertEquals(20, Checks.scaled(20, 171, 171));
        assertEquals(4, Checks.scaled(20, 171, 30));
        assertEquals(8, Checks.scaled(8, 12, 12));
        assertEquals(24, Checks.scaled(24, 36, 36));
    }

    @Test
    void scenarioRanksAndV2NeedsToBeatChance() {
        double[][] m = {{0.9, 0.1, 0.2}, {0.5, 0.4, 0.1}, {0.0, 0.1, 0.3}};
        assertArrayEquals(new int[] {1, 2, 1}, Checks.diagonalRanks(m));
        Map<String, Double> pairs = new LinkedHashMap<>();
        for (int i = 0; i < 5; i++) pairs.put("p" + i, -1.0);
        assertTrue(Checks.v2(pairs, 0.3).pass(), "5 of 5 when 30% of pairs are negative: not chance");
        assertFalse(Checks.v2(pairs, 0.6).pass(), "5 of 5 when 60% of pairs are negative: chance p = 0.078");
        assertNull(Checks.v2(Map.of(), 0.5).pass(), "no pairs: n/a, never a pass");
    }

    @Test
    void v8AsksForValenceAtBothEnds() {
        List<String> emotions = List.of("happy", "calm", "proud", "sad", "afraid", "angry");
        Map<String, PaperData.Valence> valence = PaperData.valences();
        assertFalse(Checks.v8(emotions, valence, new double[] {-0.9, -0.8, -0.7, 0.7, 0.8, 0.9}, 1).pass());
        // 3 + 3 of 6 emotions: a shuffle does as well 1 time in 20 (exactly 1/C(6,3)), so even that is not enough here
        assertFalse(Checks.v8(emotions, valence, new double[] {0.9, 0.8, 0.7, -0.7, -0.8, -0.9}, 1).pass());
        List<String> many = Settings.screeningEmotions(60);
        double[] r = new double[many.size()];
        for (int i = 0; i < r.length; i++) r[i] = (valence.get(many.get(i)) == PaperData.Valence.POSITIVE ? 1 : -1) * (1 + i % 7) / 10.0;
        Checks.Check strong = Checks.v8(many, valence, r, 1);
        assertTrue(strong.pass(), "valence sorts the ranking: " + strong.value());
    }

    @Test
    void halfOfEachCategoryIsSteered() {
        boolean[] steered = Validate.steeredActivities(PaperData.activities());
        Map<String, Integer> perCategory = new LinkedHashMap<>();
        for (int i = 0; i < steered.length; i++) if (steered[i]) perCategory.merge(PaperData.activities().get(i).category(), 1, Integer::sum);
        assertEquals(8, perCategory.size());
        perCategory.values().forEach(v -> assertEquals(4, v));
    }

    @Test
    void screeningSubsetKeepsTheKeyEmotionsAndEverySettingIsChecked() {
        List<String> s = Settings.screeningEmotions(30);
        assertEquals(30, s.size());
        assertTrue(s.containsAll(Settings.KEY_EMOTIONS));
        Settings p = Settings.paper(32);
        assertEquals(21, p.layer());
        assertEquals(31, p.layers().size(), "every block but the last");
        assertEquals(171, p.emotions().size());
        var e = assertThrows(org.emovec.engine.EmovecException.class, () -> p.with(Map.of("emotions", List.of("happy", "glorp"))));
        assertTrue(e.getMessage().contains("glorp"), e.getMessage());
        assertEquals(p, p.with(Map.of()), "settings survive the JSON round trip of with()");
    }

    private static double[] unit(Random r, int d) {
        double[] v = new double[d];
        for (int j = 0; j < d; j++) v[j] = r.nextGaussian();
        double n = Math.sqrt(dot(v, v));
        for (int j = 0; j < d; j++) v[j] /= n;
        return v;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
