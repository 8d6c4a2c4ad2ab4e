package org.emovec.engine;

/** One sequence to generate: an id to match the result, the prompt as token ids, sampling, and a length cap. */
public record GenerationRequest(String id, int[] prompt, Sampling sampling, int maxNewTokens) {
    public GenerationRequest {
        if (prompt.length == 0) throw new IllegalArgumentException("request " + id + " has an empty prompt");
        if (maxNewTokens < 1) throw new IllegalArgumentException("request " + id + ": maxNewTokens must be at least 1");
    }
}
