package org.emovec.engine;

/**
 * A finished sequence. stop: "eog" (the model ended its turn; the end token is not in tokens), "length"
 * (maxNewTokens reached), "context" (the per-sequence context filled), or "prompt_too_long" (nothing generated).
 * captured: what the request's capture read (null when none) -- over the tokens decoded, i.e. the prompt and
 * every generated token but the last, which the model never reads back.
 */
public record GenerationResult(String id, int promptTokens, int[] tokens, String text, String stop, Captured captured) {
    public GenerationResult(String id, int promptTokens, int[] tokens, String text, String stop) {
        this(id, promptTokens, tokens, text, stop, null);
    }
}
