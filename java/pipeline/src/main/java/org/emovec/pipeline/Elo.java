package org.emovec.pipeline;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Elo ratings from soft pairwise outcomes, as the paper rates activities: every pair (i, j) is one game whose
 * score for i is P(i preferred over j) (the preference probability averaged over both presentation orders);
 * ratings start at `start` and move by K * (score - expected). Elo depends on the order of games, so the
 * ratings are averaged over `orders` seeded random orders of all pairs; steered and baseline ratings use the
 * same orders, so their difference is the steering's alone.
 */
final class Elo {
    private Elo() {}

    /** wins[i][j] = P(i preferred over j) (wins[j][i] = 1 - wins[i][j]); returns each item's mean rating. */
    static double[] ratings(double[][] wins, double start, double k, int orders, long seed) {
        int n = wins.length;
        List<int[]> pairs = new ArrayList<>();
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) pairs.add(new int[] {i, j});
        double[] mean = new double[n];
        Random random = new Random(seed);
        for (int o = 0; o < orders; o++) {
            Collections.shuffle(pairs, random);
            double[] r = new double[n];
            java.util.Arrays.fill(r, start);
            for (int[] p : pairs) {
                double expected = 1 / (1 + Math.pow(10, (r[p[1]] - r[p[0]]) / 400));
                double delta = k * (wins[p[0]][p[1]] - expected);
                r[p[0]] += delta;
                r[p[1]] -= delta;
            }
            for (int i = 0; i < n; i++) mean[i] += r[i] / orders;
        }
        return mean;
    }
}
