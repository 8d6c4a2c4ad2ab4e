package org.emovec.engine;

import java.nio.file.Path;
import java.util.Locale;

import org.emovec.gguf.GgufFile;
import org.emovec.gguf.ModelSummary;
import org.emovec.gguf.TensorInfo;

/**
 * How much of a device-memory budget each part takes, from the GGUF's own tensor table (before anything is
 * loaded): the weights llama.cpp puts on the GPU (every tensor but the input embeddings, which stay on the host),
 * a compute buffer for one micro-batch (its logits rows dominate), a reserve for the CUDA context, cuBLAS
 * workspace and pool slack, and what is left for the KV cache (kvBytesPerToken: F16's), which sets how many sequences run together.
 * All layers go on the GPU: a budget that cannot hold them is refused (offloading layers to the CPU would make
 * a paper-scale run take days).
 */
public record VramPlan(long budgetBytes, long weightBytes, long kvBytesPerToken, long computeBytes, long reserveBytes, int ubatchTokens) {
    /** CUDA context (~0.5 GiB on Hopper), cuBLAS workspace and the ggml pool's slack; calibrated on the H100. */
    static final long RESERVE = 768L << 20;

    /** What a model needs on the GPU with all layers there: its weights, and KV cache bytes per token. */
    public record Footprint(ModelSummary model, long weightBytes, long kvBytesPerToken) {
        public static Footprint of(Path gguf) {
            try (GgufFile f = GgufFile.open(gguf)) {
                ModelSummary m = ModelSummary.of(f);
                boolean tied = f.tensors().get("output.weight") == null; // then the embeddings are the output too
                long weights = 0;
                for (TensorInfo t : f.tensors().values()) if (!t.name().equals("token_embd.weight") || tied) weights += t.bytes();
                long headDim = m.width() / m.heads();
                return new Footprint(m, weights, m.layers() * 2 * m.kvHeads() * headDim * 2); // K and V, F16
            }
        }
    }

    public static VramPlan of(Path gguf, long budgetBytes) {
        Footprint fp = Footprint.of(gguf);
        ModelSummary m = fp.model();
        long weights = fp.weightBytes(), kvPerToken = fp.kvBytesPerToken();
        long kvForOneStory = kvPerToken * 1024;
        for (int ubatch = 512; ubatch >= 64; ubatch /= 2) {
            long compute = computeBytes(m, ubatch);
            if (budgetBytes - RESERVE - weights - compute >= kvForOneStory) return new VramPlan(budgetBytes, weights, kvPerToken, compute, RESERVE, ubatch);
        }
        long least = RESERVE + weights + computeBytes(m, 64) + kvForOneStory;
        throw new EmovecException(String.format(Locale.ROOT, "a device-memory budget of %s cannot hold %s: its weights take %s on the GPU, and with CUDA's"
                + " own %s and room for one sequence it needs at least %s: raise --vram-budget or use a smaller quantization (e.g. Q4_K_M)",
                gib(budgetBytes), gguf.getFileName(), gib(weights), gib(RESERVE), gib(least)));
    }

    /** One micro-batch's activations: logits for every row (llama.cpp reserves for the worst case), FFN and attention temporaries. */
    private static long computeBytes(ModelSummary m, int ubatch) {
        return (long) ubatch * 4 * (m.vocab() + 3 * m.ffn() + 12 * m.width());
    }

    /** Bytes left for KV caches. */
    public long kvBytes() { return budgetBytes - weightBytes - computeBytes - reserveBytes; }

    /** llama.cpp rounds each sequence's KV stream (and a whole context) up to a multiple of 256 cells. */
    static long padded(long tokens) { return (tokens + 255) / 256 * 256; }

    /** How many sequences of contextPerSequence tokens fit in a cache of that type, at most wanted (and at least 1). */
    public int sequences(int contextPerSequence, int wanted, GeneratorOptions.KvCache cache) {
        long n = kvBytes() / cache.bytesFor(kvBytesPerToken * padded(contextPerSequence));
        return (int) Math.max(1, Math.min(wanted, n));
    }

    /** KV tokens a scoring context may hold: at most wanted, at least atLeast (a longer prompt must still fit). */
    public int tokens(int wanted, int atLeast) {
        long n = kvBytes() / kvBytesPerToken / 256 * 256;
        return (int) Math.max(atLeast, Math.min(wanted, n));
    }

    public String describe() {
        return String.format(Locale.ROOT, "budget %s: weights %s, compute %s (micro-batch %d), CUDA reserve %s, KV cache %s (%d tokens)",
                gib(budgetBytes), gib(weightBytes), gib(computeBytes), ubatchTokens, gib(reserveBytes), gib(kvBytes()), kvBytes() / kvBytesPerToken);
    }

    /** "8G", "6GiB", "7500M", "1.5g" to bytes (powers of 1024). */
    public static long parseBytes(String s) {
        String t = s.strip().toUpperCase(Locale.ROOT).replaceAll("I?B$", "");
        long unit = switch (t.isEmpty() ? ' ' : t.charAt(t.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            case 'T' -> 1L << 40;
            default -> 1;
        };
        try {
            double v = Double.parseDouble(unit == 1 ? t : t.substring(0, t.length() - 1));
            if (v <= 0) throw new NumberFormatException();
            return (long) (v * unit);
        } catch (NumberFormatException e) {
            throw new EmovecException("'" + s + "' is not a memory size: write it like 8G, 6GiB or 7500M");
        }
    }

    static String gib(long bytes) { return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30)); }
}
