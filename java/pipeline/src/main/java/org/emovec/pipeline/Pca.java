package org.emovec.pipeline;

import java.util.Arrays;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * Principal components of a set of rows (centred on their mean), enough to explain a share of the variance.
 * With fewer rows than dimensions (a few hundred dialogues in 4096 dimensions) it decomposes the rows' Gram
 * matrix (n x n) instead of the covariance (d x d): the same components, far less work.
 */
final class Pca {
    /** components: orthonormal rows, largest variance first; shares: each one's share of the total variance. */
    record Result(double[][] components, double[] shares) {
        double explained() { return Arrays.stream(shares).sum(); }
    }

    private Pca() {}

    static Result top(float[][] rows, double share) {
        int n = rows.length, d = rows[0].length;
        double[] mean = new double[d];
        for (float[] r : rows) for (int j = 0; j < d; j++) mean[j] += r[j] / (double) n;
        double[][] x = new double[n][d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) x[i][j] = rows[i][j] - mean[j];
        boolean gram = n <= d;
        int m = gram ? n : d;
        double[][] g = new double[m][m];
        for (int a = 0; a < m; a++) {
            for (int b = a; b < m; b++) {
                double s = 0;
                if (gram) for (int j = 0; j < d; j++) s += x[a][j] * x[b][j];
                else for (int i = 0; i < n; i++) s += x[i][a] * x[i][b];
                g[a][b] = g[b][a] = s;
            }
        }
        EigenDecomposition eig = new EigenDecomposition(new Array2DRowRealMatrix(g, false));
        double[] values = eig.getRealEigenvalues();
        Integer[] order = new Integer[m];
        for (int i = 0; i < m; i++) order[i] = i;
        Arrays.sort(order, (p, q) -> Double.compare(values[q], values[p]));
        double total = 0;
        for (double v : values) total += Math.max(v, 0);
        if (total <= 0 || share <= 0) return new Result(new double[0][], new double[0]);
        int k = 0;
        double acc = 0;
        while (acc < share * total && k < m && values[order[k]] > 0) acc += values[order[k++]];
        double[][] comps = new double[k][];
        double[] shares = new double[k];
        RealMatrix vectors = eig.getV();
        for (int c = 0; c < k; c++) {
            double[] w = vectors.getColumn(order[c]);
            double[] u = new double[d];
            if (gram) { // component = X^T w, normalised
                for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) u[j] += x[i][j] * w[i];
            } else {
                u = w;
            }
            double norm = Math.sqrt(Arrays.stream(u).map(v -> v * v).sum());
            for (int j = 0; j < d; j++) u[j] /= norm;
            comps[c] = u;
            shares[c] = values[order[c]] / total;
        }
        return new Result(comps, shares);
    }

    /** v minus its projection on the (orthonormal) components. */
    static double[] projectOut(double[] v, double[][] components) {
        double[] out = v.clone();
        for (double[] u : components) {
            double dot = 0;
            for (int j = 0; j < v.length; j++) dot += v[j] * u[j];
            for (int j = 0; j < v.length; j++) out[j] -= dot * u[j];
        }
        return out;
    }
}
