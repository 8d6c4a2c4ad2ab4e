package org.emovec.engine;

/**
 * How a {@link PromptScorer} packs prompts: up to {@code sequences} prompts and {@code batchTokens} tokens per
 * llama_decode, which llama.cpp runs in ubatches of {@code ubatchTokens}. {@code kvPerSequence}: a KV stream
 * per sequence (llama.cpp splits batches "equally" across sequences) instead of one shared stream (split in
 * order). {@code exactF32}: F32 KV cache and no flash attention, for comparisons with references.
 */
public record ScorerOptions(int sequences, int batchTokens, int ubatchTokens, int threads, boolean kvPerSequence, boolean exactF32) {
    public ScorerOptions {
        if (sequences < 1 || sequences > 256) throw new IllegalArgumentException("sequences must be 1..256 (llama.cpp's n_seq_max), not " + sequences);
        if (batchTokens < 1 || ubatchTokens < 1) throw new IllegalArgumentException("batch sizes must be positive");
    }

    public static ScorerOptions defaults() {
        return new ScorerOptions(64, 8192, 512, Runtime.getRuntime().availableProcessors(), false, false);
    }

    public ScorerOptions withSequences(int n) { return new ScorerOptions(n, batchTokens, ubatchTokens, threads, kvPerSequence, exactF32); }
    public ScorerOptions withBatch(int batch, int ubatch) { return new ScorerOptions(sequences, batch, ubatch, threads, kvPerSequence, exactF32); }
    public ScorerOptions withKvPerSequence(boolean b) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, b, exactF32); }
    public ScorerOptions withExactF32(boolean b) { return new ScorerOptions(sequences, batchTokens, ubatchTokens, threads, kvPerSequence, b); }
}
