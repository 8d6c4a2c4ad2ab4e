package org.emovec.engine;

/**
 * What a {@link CaptureRequest} read from one sequence: per captured layer (in {@code layers} order) the mean
 * row, the mean row norm and the number of rows; for a ROWS capture also {@code rows[position - span.from][layer index]},
 * null where the sequence never reached that position.
 */
public record Captured(int[] layers, Span span, float[][] means, double[] meanNorms, long[] counts, float[][][] rows) {
    /** Index of layer in {@link #layers()}. */
    public int indexOf(int layer) {
        for (int i = 0; i < layers.length; i++) if (layers[i] == layer) return i;
        throw new IllegalArgumentException("layer " + layer + " was not captured");
    }

    public float[] mean(int layer) { return means[indexOf(layer)]; }

    public float[] row(int position, int layer) { return rows[position - span.from()][indexOf(layer)]; }
}
