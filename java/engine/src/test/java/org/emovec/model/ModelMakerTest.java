package org.emovec.model;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

import org.emovec.engine.BatchGenerator;
import org.emovec.engine.GenerationRequest;
import org.emovec.engine.GenerationResult;
import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.Model;
import org.emovec.engine.Sampling;
import org.emovec.gguf.GgufFile;
import org.emovec.gguf.ModelSummary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ModelMakerTest {
    @TempDir Path dir;

    private static String sha256(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherBytes() throws Exception {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        ModelMaker.make(ModelPreset.TINY, WeightFormat.F16, 7, a);
        ModelMaker.make(ModelPreset.TINY, WeightFormat.F16, 7, b);
        ModelMaker.make(ModelPreset.TINY, WeightFormat.F16, 8, c);
        assertEquals(sha256(a), sha256(b));
        assertNotEquals(sha256(a), sha256(c));
    }

    @Test
    void tinyModelHasTheLlamaLayoutAndTheRealVocabulary() {
        try (GgufFile f = GgufFile.open(TestModels.tiny())) {
            ModelSummary s = ModelSummary.of(f);
            assertEquals("llama", s.architecture());
            assertEquals(ModelPreset.TINY.layers, s.layers());
            assertEquals(128256, s.vocab());
            assertEquals("llama3", s.chatTemplate());
            assertEquals("llama-bpe", f.string("tokenizer.ggml.pre"));
            float[] w = f.floats("blk.0.attn_q.weight");
            double sum2 = 0;
            for (float v : w) sum2 += v * v;
            assertEquals(0.02, Math.sqrt(sum2 / w.length), 0.002, "weights have the stated standard deviation");
        }
    }

    @Test
    void llama8bPresetHasExactlyLlama31_8bParameterCount() {
        long n = ModelMaker.weights(ModelPreset.LLAMA_3_1_8B, 128256).stream().mapToLong(ModelMaker.Weight::elements).sum();
        assertEquals(8_030_261_248L, n); // Meta's published count for Llama 3.1 8B
    }

    @Test
    void ropeFactorsFollowLlama3Scaling() {
        float[] f = ModelMaker.llama3RopeFactors(128);
        assertEquals(64, f.length);
        assertEquals(1f, f[0]);          // highest frequency: untouched
        assertEquals(8f, f[63]);         // lowest frequency: divided by the scale factor
        for (int i = 1; i < f.length; i++) assertTrue(f[i] >= f[i - 1], "monotone");
    }

    @ParameterizedTest
    @EnumSource(WeightFormat.class)
    void llamaCppLoadsEveryFormatAndGeneratesFromIt(WeightFormat format) throws Exception {
        Path p = dir.resolve("tiny-" + format.id + ".gguf");
        ModelMaker.make(ModelPreset.TINY, format, 3, p);
        try (Model m = Model.load(p, 0); BatchGenerator g = new BatchGenerator(m, GeneratorOptions.of(2, 64))) {
            assertEquals(ModelPreset.TINY.layers, m.layers());
            assertEquals(ModelPreset.TINY.width, m.width());
            List<GenerationResult> r = g.generateAll(List.of(
                    new GenerationRequest("x", m.tokenize("Hello", true, false), Sampling.defaults(1), 8)));
            assertEquals(8, r.get(0).tokens().length);
        }
    }
}
