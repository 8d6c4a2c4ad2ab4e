package org.emovec.engine;

import java.util.Arrays;

/**
 * What to read from the residual stream of one sequence: at each layer L (the residual after block L:
 * llama.cpp "l_out-L", HF {@code hidden_states[L+1]}), either the mean over the span's positions or every row.
 * Captured rows are read after any steering at the same layer has been added.
 */
public record CaptureRequest(int[] layers, Reduction reduction, Span span) {
    public enum Reduction {
        /** The mean row (and mean row norm) over the span: d_model floats per layer cross to the host. */
        MEAN,
        /** Every row of the span, for references and diagnostics. */
        ROWS
    }

    public CaptureRequest {
        if (layers.length == 0) throw new IllegalArgumentException("a capture needs at least one layer");
        layers = Arrays.stream(layers).sorted().distinct().toArray();
    }

    public static CaptureRequest mean(Span span, int... layers) { return new CaptureRequest(layers, Reduction.MEAN, span); }

    public static CaptureRequest rows(Span span, int... layers) { return new CaptureRequest(layers, Reduction.ROWS, span); }
}
