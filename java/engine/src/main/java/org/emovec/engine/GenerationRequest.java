package org.emovec.engine;

import java.util.List;

/**
 * One sequence to generate: an id to match the result, the prompt as token ids, sampling, a length cap, and
 * optionally a capture of its residual stream and steering (positions count prompt and generated tokens).
 */
public record GenerationRequest(String id, int[] prompt, Sampling sampling, int maxNewTokens, CaptureRequest capture, List<Steering> steering) {
    public GenerationRequest {
        if (prompt.length == 0) throw new IllegalArgumentException("request " + id + " has an empty prompt");
        if (maxNewTokens < 1) throw new IllegalArgumentException("request " + id + ": maxNewTokens must be at least 1");
        if (steering == null) steering = List.of();
    }

    public GenerationRequest(String id, int[] prompt, Sampling sampling, int maxNewTokens) {
        this(id, prompt, sampling, maxNewTokens, null, List.of());
    }

    /** Whether it may share its prompt's KV cache with other requests: nothing captured or steered reads it. */
    public boolean mayShare() { return capture == null && steering.isEmpty() && prompt.length >= 2; }

    public GenerationRequest withCapture(CaptureRequest c) { return new GenerationRequest(id, prompt, sampling, maxNewTokens, c, steering); }

    public GenerationRequest withSteering(List<Steering> s) { return new GenerationRequest(id, prompt, sampling, maxNewTokens, capture, s); }
}
