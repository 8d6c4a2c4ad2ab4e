package org.emovec.engine;

import java.nio.IntBuffer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.emovec.gguf.GgmlType;

/**
 * Sizes of a batched generator. parallel: sequences decoded together (1..256, llama.cpp's n_seq_max limit);
 * contextPerSequence: prompt plus generated tokens one sequence may hold; batchTokens: tokens per llama_decode
 * call (prompts are split across calls when longer); threads: CPU threads (0: all cores); ignoreEndOfTurn:
 * keep generating past the model's end-of-turn token (throughput runs that must produce exact lengths);
 * sampler: where tokens are drawn (see {@link Sampler}); sharePrompts: requests with the same prompt (and no capture
 * or steering) copy its KV cache from a sequence that already holds it instead of prefilling it again; lanes:
 * llama.cpp contexts of parallel sequences each, stepped in turn so that the GPU does not wait for the host
 * between steps (0: two where llama.cpp offloads to a GPU, else one; each holds its own KV cache); kvCache: the
 * element type of the KV cache (see {@link KvCache}); seqsPerStream: sequences that share one KV stream (0:
 * automatic, see {@link #STREAM_SEQS}).
 */
public record GeneratorOptions(int parallel, int contextPerSequence, int batchTokens, int threads,
                               boolean ignoreEndOfTurn, Sampler sampler, boolean sharePrompts, int lanes, KvCache kvCache,
                               int seqsPerStream) {
    /**
     * HOST: emovec's native sampler over the logits llama.cpp copies back (a pure function of seed and step).
     * BACKEND: llama.cpp's experimental on-device sampler chains (top-k, top-p, temperature, dist), one per
     * sequence; only the sampled token crosses to the host. Same semantics, a different random stream.
     */
    public enum Sampler { HOST, BACKEND }

    /**
     * The generator's KV cache. F16: keys and values rounded as HF's float16 cache rounds them. Q8_0: llama.cpp's
     * 8-bit blocks (32 values and an F16 scale), 0.53x the bytes, so twice the sequences fit in the same memory. On
     * an H100 with memory to spare its decode runs at 0.6x F16's (ggml-cuda's vector attention kernel instead of
     * the tensor-core one); within a small --vram-budget, where a step of 10 sequences takes 1.5x one of 5, not
     * 2x, the extra sequences win (Q4_K_M stories: 1.16x F16's at 8G, 1.36x at 6G).
     * Its rounding moves the logits, so the stories differ from F16's token by token. Extraction and the checks
     * always keep F16: they measure activations.
     */
    public enum KvCache {
        F16(GgmlType.F16), Q8_0(GgmlType.Q8_0);

        public final GgmlType type;

        KvCache(GgmlType type) { this.type = type; }

        /** As --kv-cache names it: f16, q8_0. */
        public String id() { return name().toLowerCase(java.util.Locale.ROOT); }

        public static KvCache of(String id) {
            for (KvCache c : values()) if (c.id().equals(id)) return c;
            throw new EmovecException("--kv-cache must be f16 or q8_0, not " + id);
        }

        /** Whether a model's heads of headDim values split into this type's blocks (llama.cpp refuses the cache otherwise). */
        public boolean holds(int headDim) { return headDim % type.blockSize == 0; }

        /** Bytes a cache of this type takes for what F16 holds in f16Bytes. */
        public long bytesFor(long f16Bytes) { return f16Bytes / 2 / type.blockSize * type.blockBytes; }
    }

    public static final int MAX_PARALLEL = 256;

    /**
     * Sequences a KV stream holds by default on a GPU where prompts are shared (and repeat: forRequests), the KV cache
     * is F16 and 16 divides parallel (emovec's llama.cpp patch llama-kv-seqs-per-stream.patch; elsewhere one,
     * llama.cpp's stream per sequence). With a stream per sequence, attention reads each sequence's own copy of its
     * prompt; with 16 sequences in a stream, continuing a few prompts, one flash-attention block serves all 16 queries
     * and reads the stream once: a prompt is read once for the sequences that share it (the paper's 12 stories a
     * prompt), for attention arithmetic over the other sequences' masked cells. H100, 8B F16, 1,536 stories of 221 + up
     * to 300 tokens: 1.11x the stories' tok/s, 1.12x in decode-only steps (docs/measurements/2026-12-07-h100-streams).
     * On CPU a stream per sequence stays: there attention is arithmetic, not reads, and the masked cells would cost. So
     * it does with a q8_0 cache, whose attention ggml-cuda runs on its vector kernel: 7,217 stories tok/s with streams
     * of 16, 8,256 with a stream per sequence a session before on a like machine
     * (docs/measurements/2026-12-07-h100-onepass).
     */
    public static final int STREAM_SEQS = 16;

    public GeneratorOptions {
        if (parallel < 1 || parallel > MAX_PARALLEL) throw new EmovecException("--parallel must be 1.." + MAX_PARALLEL + " (llama.cpp's n_seq_max limit), not " + parallel);
        if (contextPerSequence < 8) throw new EmovecException("--ctx must be at least 8 tokens per sequence, not " + contextPerSequence);
        if (batchTokens < parallel) batchTokens = parallel;
        if (threads <= 0) threads = Runtime.getRuntime().availableProcessors();
        if (sampler == null) sampler = Sampler.HOST;
        if (lanes < 0) throw new EmovecException("--lanes must be 0 (automatic) or more, not " + lanes);
        if (kvCache == null) kvCache = KvCache.F16;
        if (seqsPerStream < 0 || (seqsPerStream > 0 && parallel % seqsPerStream != 0)) {
            throw new EmovecException("--seqs-per-stream must be 0 (automatic) or divide --parallel " + parallel + ", not " + seqsPerStream);
        }
    }

    /** One context, prompts shared. */
    public GeneratorOptions(int parallel, int contextPerSequence, int batchTokens, int threads, boolean ignoreEndOfTurn, Sampler sampler) {
        this(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, true, 1, KvCache.F16, 0);
    }

    public GeneratorOptions withSharePrompts(boolean share) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, share, lanes, kvCache, seqsPerStream);
    }

    public GeneratorOptions withLanes(int n) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, sharePrompts, n, kvCache, seqsPerStream);
    }

    public GeneratorOptions withKvCache(KvCache cache) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, sharePrompts, lanes, cache, seqsPerStream);
    }

    public GeneratorOptions withSeqsPerStream(int n) {
        return new GeneratorOptions(parallel, contextPerSequence, batchTokens, threads, ignoreEndOfTurn, sampler, sharePrompts, lanes, kvCache, n);
    }

    /**
     * These options for generating these requests: where KV streams are left automatic (seqsPerStream 0) and no two
     * requests that may share a prompt have the same one, a stream per sequence. Streams of STREAM_SEQS pay for
     * attention over each other's masked cells by reading a shared prompt once; with nothing shared they only cost
     * (H100, 8B F16, one context, 256 distinct prompts at 64 + 256 tokens: 9,600-10,700 decode-only tok/s with streams
     * of 16, docs/measurements/2026-12-07-h100-speedpatch2; 12,500-13,700 with a stream per sequence on another H100
     * in the twelfth session, docs/measurements/2026-12-07-h100-speedpatch).
     */
    public GeneratorOptions forRequests(List<GenerationRequest> requests) {
        if (seqsPerStream != 0 || !sharePrompts) return this;
        Set<IntBuffer> prompts = new HashSet<>();
        for (GenerationRequest r : requests) if (r.mayShare() && !prompts.add(IntBuffer.wrap(r.prompt()))) return this;
        return withSeqsPerStream(1);
    }

    public static GeneratorOptions of(int parallel, int contextPerSequence) {
        return new GeneratorOptions(parallel, contextPerSequence, Math.max(2048, parallel), 0, false, Sampler.HOST);
    }
}
