package org.emovec.engine;

/**
 * How a {@link PromptScorer} packs prompts: up to {@code sequences} prompts and {@code batchTokens} tokens per
 * llama_decode, which llama.cpp runs in ubatches of {@code ubatchTokens}. {@code kvPerSequence}: a KV stream
 * per sequence, each holding {@code streamTokens} cells (0: a whole batch; prompts are padded to equal lengths
 * in a batch, as llama.cpp splits such batches "equally" across sequences), instead of one shared stream (split
 * in order). {@code exactF32}: F32 KV cache and no flash attention, for comparisons with references.
 * {@code lanes}: contexts that decode in turn so that the GPU never waits for the host between batches (0: two
 * where the model runs on a GPU, else one; each holds its own KV cache and compute buffers).
 */
public record ScorerOptions(int sequences, int batchTokens, int ubatchTokens, int threads, boolean kvPerSequence, int streamTokens,
                            boolean exactF32, int lanes) {
    public ScorerOptions {
        if (sequences < 1 || sequences > 256) throw new IllegalArgumentException("sequences must be 1..256 (llama.cpp's n_seq_max), not " + sequences);
        if (batchTokens < 1 || ubatchTokens < 1) throw new IllegalArgumentException("batch sizes must be positive");
        if (streamTokens < 0) throw new IllegalArgumentException("stream cells must be 0 (a batch) or more, not " + streamTokens);
        if (lanes < 0) throw new IllegalArgumentException("lanes must be 0 (automatic) or more, not " + lanes);
    }

    public static ScorerOptions defaults() {
        return new ScorerOptions(64, 8192, 512, Runtime.getRuntime().availableProcessors(), false, 0, false, 0);
    }

    /** The KV cells each stream holds: the whole batch with one stream, or streamTokens (else a batch) per sequence. */
    public int cellsPerStream() { return kvPerSequence && streamTokens > 0 ? Math.min(streamTokens, batchTokens) : batchTokens; }

    public ScorerOptions withSequences(int n) { return new ScorerOptions(n, batchTokens, ubatchTokens, threads, kvPerSequence, streamTokens, exactF32, lanes); }
    public ScorerOptions withBatch(int batch, int ubatch) { return new ScorerOptions(sequences, batch, ubatch, threads, kvPerSequence, streamTokens, exactF32, lanes); }
    public ScorerOptions withKvPerSequence(boolean b) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, b, streamTokens, exactF32, lanes); }
    public ScorerOptions withStreamTokens(int n) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, kvPerSequence, n, exactF32, lanes); }
    public ScorerOptions withExactF32(boolean b) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, kvPerSequence, streamTokens, b, lanes); }
    public ScorerOptions withLanes(int n) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, kvPerSequence, streamTokens, exactF32, n); }
}
