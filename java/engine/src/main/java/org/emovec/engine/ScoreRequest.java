package org.emovec.engine;

import java.util.List;

/**
 * One prompt to run through the model without generating: read the logits of some candidate next tokens after
 * its last token (e.g. "A" and "B"), optionally every position's logits, optionally capture its residual
 * stream, optionally steered.
 */
public record ScoreRequest(String id, int[] tokens, int[] candidates, boolean allLogits, CaptureRequest capture, List<Steering> steering) {
    public ScoreRequest {
        if (tokens.length == 0) throw new IllegalArgumentException(id + ": empty prompt");
        if (candidates == null) candidates = new int[0];
        if (steering == null) steering = List.of();
    }

    public static ScoreRequest of(String id, int[] tokens, int... candidates) {
        return new ScoreRequest(id, tokens, candidates, false, null, List.of());
    }

    public ScoreRequest withCapture(CaptureRequest c) { return new ScoreRequest(id, tokens, candidates, allLogits, c, steering); }

    public ScoreRequest withSteering(List<Steering> s) { return new ScoreRequest(id, tokens, candidates, allLogits, capture, s); }

    public ScoreRequest withAllLogits() { return new ScoreRequest(id, tokens, candidates, true, capture, steering); }
}
