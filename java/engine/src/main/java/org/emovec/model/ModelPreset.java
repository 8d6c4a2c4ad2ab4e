package org.emovec.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Shapes of the Llama-architecture models emovec writes itself (random weights, real Llama 3 tokenizer).
 * Throughput does not depend on weight values, so {@link #LLAMA_3_1_8B} stands in for the real model in
 * benchmarks; {@link #TINY} keeps tests and the demo fast.
 */
public enum ModelPreset {
    /**
     * A few layers, narrow: tests, the demo, the plain-Java reference. Output tied to the embeddings. Heads of 32
     * (GQA 2/1), the least a quantized KV cache takes (llama.cpp's q8_0 and q4_0 blocks hold 32 values).
     */
    TINY("tiny", 4, 64, 2, 1, 192, 8192, true),
    /** Exactly Llama 3.1 8B's shape (32 layers, 4096 wide, GQA 32/8, FFN 14336, Llama 3 RoPE scaling). */
    LLAMA_3_1_8B("llama-3.1-8b", 32, 4096, 32, 8, 14336, 131072, false),
    /** The 8B shape cut to 4 layers: references against HF transformers on the GPU at full width, quickly. */
    LLAMA_3_1_8B_4L("llama-3.1-8b-4l", 4, 4096, 32, 8, 14336, 131072, false);

    public final String id;
    public final int layers;
    public final int width;
    public final int heads;
    public final int kvHeads;
    public final int ffn;
    public final int trainedContext;
    public final boolean tiedOutput;

    // Llama 3.1's published hyper-parameters, shared by both presets.
    public static final float ROPE_THETA = 500000f;
    public static final float RMS_EPS = 1e-5f;
    public static final float ROPE_SCALE_FACTOR = 8f;
    public static final float ROPE_LOW_FREQ_FACTOR = 1f;
    public static final float ROPE_HIGH_FREQ_FACTOR = 4f;
    public static final int ROPE_ORIGINAL_CONTEXT = 8192;

    ModelPreset(String id, int layers, int width, int heads, int kvHeads, int ffn, int trainedContext, boolean tiedOutput) {
        this.id = id;
        this.layers = layers;
        this.width = width;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.ffn = ffn;
        this.trainedContext = trainedContext;
        this.tiedOutput = tiedOutput;
    }

    public int headDim() { return width / heads; }

    /** The shape in a file name: layers, width, heads, KV heads, FFN (a cached model of another shape is not reused). */
    public String shape() { return layers + "L" + width + "w" + heads + "h" + kvHeads + "kv" + ffn + "f"; }

    public static ModelPreset byId(String id) {
        for (ModelPreset p : values()) if (p.id.equals(id)) return p;
        throw new IllegalArgumentException("unknown model preset '" + id + "': choose one of " + ids());
    }

    public static String ids() {
        return Arrays.stream(values()).map(p -> p.id).collect(Collectors.joining(", "));
    }
}
