package org.emovec.engine;

/**
 * Sizes of a batched generator. parallel: sequences decoded together (1..256, llama.cpp's n_seq_max limit);
 * contextPerSequence: prompt plus generated tokens one sequence may hold; batchTokens: tokens per llama_decode
 * call (prompts are split across calls when longer); threads: CPU threads (0: all cores); ignoreEndOfTurn:
 * keep generating past the model's end-of-turn token (throughput runs that must produce exact lengths);
 * sampler: where tokens are drawn (see {@link Sampler}); sharePrompts: requests with the same prompt (and no capture
 * or steering) copy its KV cache from a sequence that already holds it instead of prefilling it again; lanes:
 * llama.cpp contexts of parallel sequences each, stepped in turn so that the GPU does not wait for the host
 * between steps (0: two where llama.cpp offloads to a GPU, else one; each holds its own KV cache).
 */
public record GeneratorOptions(int parallel, int contextPerSequence, int batchTokens, int threads,
                               boolean ignoreEndOfTurn, Sampler sampler, boolean sharePrompts, int lanes) {
    /**
     * HOST: emovec's native sampler over the logits llama.cpp copies back (a pure function of seed and step).
     * BACKEND: llama.cpp's experimental on-device sampler chains (top-k, top-p, temperature, dist), one per
     * sequence; only the sampled token crosses to the host. Same semantics, a different random stream.
     */
    public enum Sampler { HOST, BACKEND }

    public static final int MAX_PARALLEL = 256;

    public GeneratorOptions {
        if (parallel < 1 || parallel > MAX_PARALLEL) throw new EmovecException("--parallel must be 1.." + MAX_PARALLEL + " (llama.cpp's n_seq_max limit), not " + parallel);
        if (contextPerSequence < 8) throw new EmovecException("--ctx must be at least 8 tokens per sequence, not " + contextPerSequence);
        if (batchTokens < parallel) batchTokens = parallel;
        if (threads <= 0) threads = Runtime.getRuntime().availableProcessors();
        if (sampler == null) sampler = Sampler.HOST;
        if (lanes < 0) throw new EmovecException("--lanes must be 0 (automatic) or more, not " + lanes);
    }

    /** One context, prompts shared. */
    public GeneratorOptions(int parallel, int contextPerSequence, int batchTokens, int threads, boolean ignoreEndOfTurn, Sampler sampler) {
        this(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, true, 1);
    }

    public GeneratorOptions withSharePrompts(boolean share) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, share, lanes);
    }

    public GeneratorOptions withLanes(int n) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, sharePrompts, n);
    }

    public static GeneratorOptions of(int parallel, int contextPerSequence) {
        return new GeneratorOptions(parallel, contextPerSequence, Math.max(2048, parallel), 0, false, Sampler.HOST);
    }
}
