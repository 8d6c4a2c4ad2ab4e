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
        Map<String, PaperData.Valence> valence = new LinkedHashMap<>();
        for (PaperData.Emotion e : PaperData.emotions()) valence.put(e.word(), e.valence());
        assertTrue(Checks.v8(emotions, valence, new double[] {0.9, 0.8, 0.7, -0.7, -0.8, -0.9}).pass());
        assertFalse(Checks.v8(emotions, valence, new double[] {-0.9, -0.8, -0.7, 0.7, 0.8, 0.9}).pass());
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
