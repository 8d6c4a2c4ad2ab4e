package org.emovec.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.emovec.engine.EmovecException;
import org.emovec.engine.Quantizer;
import org.emovec.engine.Seeds;
import org.emovec.gguf.Dequantize;
import org.emovec.gguf.GgmlType;
import org.emovec.gguf.GgufFile;
import org.emovec.gguf.GgufValue;
import org.emovec.gguf.GgufWriter;

/**
 * Writes Llama-architecture GGUF models with seeded random weights, the real Llama 3 tokenizer (llama.cpp's
 * models/ggml-vocab-llama-bpe.gguf) and the Llama 3.1 Instruct chat template. Same preset, format and seed
 * give the same bytes: every block of values has its own generator seeded from (seed, tensor, block).
 *
 * Weights are uniform with standard deviation 0.02 (Llama's initialiser scale); norms are 1.
 */
public final class ModelMaker {
    static final String VOCAB_RESOURCE = "ggml-vocab-llama-bpe.gguf";
    static final String TEMPLATE_RESOURCE = "meta-llama-Llama-3.1-8B-Instruct.jinja";
    private static final float INIT_STD = 0.02f;
    private static final int BLOCK = 1 << 20; // values per independently seeded block

    private ModelMaker() {}

    public static void make(ModelPreset preset, WeightFormat format, long seed, Path out) throws IOException {
        if (format.written != null) {
            writeRandom(preset, format, seed, out);
            return;
        }
        // llama.cpp quantizes from a float file; tiny models from F32, the big one from F16 to save disk.
        WeightFormat source = preset == ModelPreset.TINY ? WeightFormat.F32 : WeightFormat.F16;
        Path tmp = out.resolveSibling("." + out.getFileName() + "." + source.id + ".tmp");
        try {
            writeRandom(preset, source, seed, tmp);
            Quantizer.quantize(tmp, out, format.llamaFtype);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    static void writeRandom(ModelPreset p, WeightFormat format, long seed, Path out) throws IOException {
        Path vocabFile = Files.createTempFile("emovec-vocab", ".gguf");
        try {
            try (InputStream in = resource(VOCAB_RESOURCE)) {
                Files.copy(in, vocabFile, StandardCopyOption.REPLACE_EXISTING);
            }
            GgufWriter w = new GgufWriter();
            String name = "emovec-random-" + p.id;
            w.put("general.architecture", GgufValue.of("llama"));
            w.put("general.name", GgufValue.of(name));
            w.put("general.description", GgufValue.of("random weights (seed " + seed + ") in the " + p.id + " shape, written by emovec make-model"));
            w.put("general.file_type", GgufValue.u32(format.llamaFtype));
            w.put("general.alignment", GgufValue.u32(GgufFile.DEFAULT_ALIGNMENT));
            w.put("llama.context_length", GgufValue.u32(p.trainedContext));
            w.put("llama.embedding_length", GgufValue.u32(p.width));
            w.put("llama.block_count", GgufValue.u32(p.layers));
            w.put("llama.feed_forward_length", GgufValue.u32(p.ffn));
            w.put("llama.attention.head_count", GgufValue.u32(p.heads));
            w.put("llama.attention.head_count_kv", GgufValue.u32(p.kvHeads));
            w.put("llama.rope.freq_base", GgufValue.f32(ModelPreset.ROPE_THETA));
            w.put("llama.rope.dimension_count", GgufValue.u32(p.headDim()));
            w.put("llama.attention.layer_norm_rms_epsilon", GgufValue.f32(ModelPreset.RMS_EPS));
            try (GgufFile vocab = GgufFile.open(vocabFile)) {
                int nVocab = vocab.get("tokenizer.ggml.tokens").arrayLength();
                w.put("llama.vocab_size", GgufValue.u32(nVocab));
                vocab.metadata().forEach((k, v) -> {
                    if (k.startsWith("tokenizer.")) w.put(k, v);
                });
                w.put("tokenizer.chat_template", GgufValue.of(new String(resource(TEMPLATE_RESOURCE).readAllBytes(), StandardCharsets.UTF_8)));
                addTensors(w, p, format.written, seed, nVocab);
            }
            w.write(out);
        } finally {
            Files.deleteIfExists(vocabFile);
        }
    }

    /** One weight tensor of a preset: ggml dims {inner, outer} (or {n} for norms); norms are ones, the rest random. */
    public record Weight(String name, long[] dims, boolean norm) {
        public long elements() { return dims.length == 1 ? dims[0] : dims[0] * dims[1]; }
    }

    /** The learned weights of a preset in file order (rope_freqs, a constant, is not among them). */
    public static List<Weight> weights(ModelPreset p, int nVocab) {
        int qDim = p.heads * p.headDim(), kvDim = p.kvHeads * p.headDim();
        List<Weight> w = new ArrayList<>();
        w.add(new Weight("token_embd.weight", new long[] {p.width, nVocab}, false));
        for (int l = 0; l < p.layers; l++) {
            String b = "blk." + l + ".";
            w.add(new Weight(b + "attn_norm.weight", new long[] {p.width}, true));
            w.add(new Weight(b + "attn_q.weight", new long[] {p.width, qDim}, false));
            w.add(new Weight(b + "attn_k.weight", new long[] {p.width, kvDim}, false));
            w.add(new Weight(b + "attn_v.weight", new long[] {p.width, kvDim}, false));
            w.add(new Weight(b + "attn_output.weight", new long[] {qDim, p.width}, false));
            w.add(new Weight(b + "ffn_norm.weight", new long[] {p.width}, true));
            w.add(new Weight(b + "ffn_gate.weight", new long[] {p.width, p.ffn}, false));
            w.add(new Weight(b + "ffn_up.weight", new long[] {p.width, p.ffn}, false));
            w.add(new Weight(b + "ffn_down.weight", new long[] {p.ffn, p.width}, false));
        }
        w.add(new Weight("output_norm.weight", new long[] {p.width}, true));
        if (!p.tiedOutput) w.add(new Weight("output.weight", new long[] {p.width, nVocab}, false));
        return w;
    }

    private static void addTensors(GgufWriter w, ModelPreset p, GgmlType type, long seed, int nVocab) {
        w.tensor("rope_freqs.weight", new long[] {p.headDim() / 2}, GgmlType.F32, floats(llama3RopeFactors(p.headDim())));
        for (Weight t : weights(p, nVocab)) {
            if (t.norm()) ones(w, t.name(), (int) t.dims()[0]);
            else random(w, t.name(), type, seed, t.dims()[0], t.dims()[1]);
        }
    }

    /**
     * Llama 3's RoPE frequency factors (the "llama3" rope_scaling of HF configs), as llama.cpp's converter
     * stores them: 1 for short wavelengths, the scale factor for long ones, a smooth blend between.
     */
    public static float[] llama3RopeFactors(int headDim) {
        float[] f = new float[headDim / 2];
        double lowWavelen = ModelPreset.ROPE_ORIGINAL_CONTEXT / ModelPreset.ROPE_LOW_FREQ_FACTOR;
        double highWavelen = ModelPreset.ROPE_ORIGINAL_CONTEXT / ModelPreset.ROPE_HIGH_FREQ_FACTOR;
        for (int i = 0; i < f.length; i++) {
            double freq = 1.0 / Math.pow(ModelPreset.ROPE_THETA, (2.0 * i) / headDim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) f[i] = 1f;
            else if (wavelen > lowWavelen) f[i] = ModelPreset.ROPE_SCALE_FACTOR;
            else {
                double smooth = (ModelPreset.ROPE_ORIGINAL_CONTEXT / wavelen - ModelPreset.ROPE_LOW_FREQ_FACTOR)
                        / (ModelPreset.ROPE_HIGH_FREQ_FACTOR - ModelPreset.ROPE_LOW_FREQ_FACTOR);
                f[i] = (float) (1.0 / ((1 - smooth) / ModelPreset.ROPE_SCALE_FACTOR + smooth));
            }
        }
        return f;
    }

    private static void ones(GgufWriter w, String name, int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        w.tensor(name, new long[] {n}, GgmlType.F32, floats(v));
    }

    private static ByteBuffer floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return b;
    }

    /** A matrix in ggml order (dims {inner, outer}), its values generated block by block in parallel. */
    private static void random(GgufWriter w, String name, GgmlType type, long seed, long inner, long outer) {
        long total = inner * outer;
        long tensorSeed = Seeds.mix(seed ^ Seeds.mix(name.hashCode()));
        w.tensor(name, new long[] {inner, outer}, type, ch -> {
            int threads = Runtime.getRuntime().availableProcessors();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                long nBlocks = (total + BLOCK - 1) / BLOCK;
                for (long first = 0; first < nBlocks; first += threads) {
                    List<Future<ByteBuffer>> parts = new ArrayList<>();
                    for (long b = first; b < Math.min(nBlocks, first + threads); b++) {
                        long block = b;
                        int n = (int) Math.min(BLOCK, total - block * BLOCK);
                        parts.add(pool.submit(() -> block(type, new SplittableRandom(Seeds.mix(tensorSeed + block)), n)));
                    }
                    for (Future<ByteBuffer> f : parts) {
                        ByteBuffer buf = f.get();
                        while (buf.hasRemaining()) ch.write(buf);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while writing " + name, e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IOException("failed to generate " + name, e.getCause());
            } finally {
                pool.shutdownNow();
            }
        });
    }

    private static ByteBuffer block(GgmlType type, SplittableRandom rng, int n) {
        double a = INIT_STD * Math.sqrt(3); // uniform(-a, a) has standard deviation INIT_STD
        ByteBuffer buf = ByteBuffer.allocate(n * (type == GgmlType.F32 ? 4 : 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float v = (float) ((rng.nextDouble() * 2 - 1) * a);
            switch (type) {
                case F32 -> buf.putFloat(v);
                case F16 -> buf.putShort(Dequantize.floatToHalf(v));
                case BF16 -> buf.putShort(Dequantize.floatToBf16(v));
                default -> throw new IllegalArgumentException("emovec writes F32, F16 or BF16, not " + type);
            }
        }
        return buf.flip();
    }

    static InputStream resource(String name) {
        InputStream in = ModelMaker.class.getResourceAsStream(name);
        if (in == null) throw new EmovecException("resource " + name + " is missing from the emovec jar: rebuild with 'mvn install'");
        return in;
    }

}
