package org.emovec.engine;

/**
 * How big the generator and scorer contexts are: up to {@code parallel} sequences, and where a device-memory
 * budget is set ({@link VramPlan}, else null), no more than its KV share holds, in its micro-batch. lanes: the
 * llama.cpp contexts story generation steps in turn (0: two where llama.cpp offloads to a GPU, else one; always
 * one within a budget, since each holds its own KV cache); storyCache: the generator's KV cache (scoring keeps F16).
 */
public record Sizing(int parallel, VramPlan plan, int lanes, GeneratorOptions.KvCache storyCache) {
    public Sizing {
        if (storyCache == null) storyCache = GeneratorOptions.KvCache.F16;
    }

    public static Sizing of(int parallel) { return new Sizing(parallel, null, 0, null); }

    /** --parallel within --vram-budget (a size like 8G; null: no budget), planned from the model's GGUF. */
    public static Sizing of(int parallel, java.nio.file.Path gguf, String vramBudget) {
        return new Sizing(parallel, vramBudget == null ? null : VramPlan.of(gguf, VramPlan.parseBytes(vramBudget)), 0, null);
    }

    public Sizing withLanes(int n) { return new Sizing(parallel, plan, n, storyCache); }

    public Sizing withStoryCache(GeneratorOptions.KvCache cache) { return new Sizing(parallel, plan, lanes, cache); }

    /** Options for generating requests of up to contextPerSequence tokens (prompt and new). */
    public GeneratorOptions generator(int contextPerSequence, int requests) {
        int n = Math.max(1, Math.min(parallel, requests));
        if (plan == null) return new GeneratorOptions(n, contextPerSequence, Math.max(2048, n), 0, false, GeneratorOptions.Sampler.HOST).withLanes(lanes).withKvCache(storyCache);
        n = plan.sequences(contextPerSequence, n, storyCache);
        return new GeneratorOptions(n, contextPerSequence, Math.max(plan.ubatchTokens(), n), 0, false, GeneratorOptions.Sampler.HOST).withKvCache(storyCache);
    }

    /**
     * Options for scoring prompts of up to longest tokens, wanting batchTokens per llama_decode in micro-batches of
     * ubatchTokens (a budget plans its own micro-batch, for one context).
     */
    public ScorerOptions scorer(int batchTokens, int ubatchTokens, int longest) {
        ScorerOptions o = ScorerOptions.defaults().withSequences(Math.min(parallel, 256));
        if (plan == null) return o.withBatch(Math.max(batchTokens, longest), ubatchTokens);
        return o.withBatch(plan.tokens(Math.max(batchTokens, longest), longest), plan.ubatchTokens()).withLanes(1);
    }

    /**
     * Options for scoring texts of up to longest tokens each in a KV stream of its own, batchTokens per llama_decode
     * in one micro-batch (PromptScorer takes them shortest first and pads each batch to its longest, so llama.cpp
     * runs it whole, and a text's attention covers its own cells only). Each stream holds longest cells; there are
     * streams enough for texts of a quarter of that to fill a batch (at most parallel). Its memory is not planned:
     * within a budget, callers use scorer().
     */
    public ScorerOptions perText(int batchTokens, int longest) {
        int batch = Math.max(batchTokens, longest);
        int streams = Math.max(1, Math.min(Math.min(parallel, 256), 4 * batch / Math.max(1, longest)));
        return ScorerOptions.defaults().withBatch(batch, batch).withKvPerSequence(true).withStreamTokens(longest).withSequences(streams);
    }
}
