package org.emovec.engine;

/**
 * A finished sequence. stop: "eog" (the model ended its turn; the end token is not in tokens), "length"
 * (maxNewTokens reached), "context" (the per-sequence context filled), or "prompt_too_long" (nothing generated).
 */
public record GenerationResult(String id, int promptTokens, int[] tokens, String text, String stop) {}
