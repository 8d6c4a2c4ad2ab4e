package org.emovec.engine;

/**
 * How big the generator and scorer contexts are: up to {@code parallel} sequences, and where a device-memory
 * budget is set ({@link VramPlan}, else null), no more than its KV share holds, in its micro-batch.
 */
public record Sizing(int parallel, VramPlan plan) {
    public static Sizing of(int parallel) { return new Sizing(parallel, null); }

    /** --parallel within --vram-budget (a size like 8G; null: no budget), planned from the model's GGUF. */
    public static Sizing of(int parallel, java.nio.file.Path gguf, String vramBudget) {
        return new Sizing(parallel, vramBudget == null ? null : VramPlan.of(gguf, VramPlan.parseBytes(vramBudget)));
    }

    /** Options for generating requests of up to contextPerSequence tokens (prompt and new). */
    public GeneratorOptions generator(int contextPerSequence, int requests) {
        int n = Math.max(1, Math.min(parallel, requests));
        if (plan == null) return new GeneratorOptions(n, contextPerSequence, Math.max(2048, n), 0, false, GeneratorOptions.Sampler.HOST);
        n = plan.sequences(contextPerSequence, n);
        return new GeneratorOptions(n, contextPerSequence, Math.max(plan.ubatchTokens(), n), 0, false, GeneratorOptions.Sampler.HOST);
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
}
