package org.emovec.engine;

/**
 * Adds {@code alpha * vector} to one sequence's residual stream after block {@code layer} (llama.cpp
 * "l_out-L", HF {@code hidden_states[L+1]}) at exactly the positions of span; every other position is left
 * bit-for-bit untouched. The study steers an A/B prompt on the tokens of one option only.
 */
public record Steering(int layer, float[] vector, double alpha, Span span) {
    /**
     * Alpha as a multiple of the mean residual norm at the layer (the paper: 0.5), measured with
     * {@link PromptScorer#meanResidualNorm}; with a unit vector the added norm is multiple x that mean.
     */
    public static Steering scaledToNorm(int layer, float[] vector, double multiple, double meanNorm, Span span) {
        return new Steering(layer, vector, multiple * meanNorm, span);
    }
}
