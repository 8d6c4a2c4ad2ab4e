package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;

import org.emovec.gguf.GgufFile;
import org.emovec.gguf.TensorInfo;
import org.emovec.model.TestModels;
import org.junit.jupiter.api.Test;

class VramPlanTest {
    @Test
    void memorySizesParseAndNonsenseIsNamed() {
        assertEquals(8L << 30, VramPlan.parseBytes("8G"));
        assertEquals(6L << 30, VramPlan.parseBytes("6GiB"));
        assertEquals(7500L << 20, VramPlan.parseBytes("7500m"));
        assertEquals(3L << 29, VramPlan.parseBytes("1.5G"));
        EmovecException e = assertThrows(EmovecException.class, () -> VramPlan.parseBytes("eight"));
        assertTrue(e.getMessage().contains("'eight' is not a memory size"), e.getMessage());
        assertThrows(EmovecException.class, () -> VramPlan.parseBytes("-1G"));
    }

    @Test
    void thePlanCountsTheGpuWeightsAndFitsSequencesInWhatIsLeft() {
        Path tiny = TestModels.tiny();
        long weights = 0;
        try (GgufFile f = GgufFile.open(tiny)) {
            boolean tied = !f.tensors().containsKey("output.weight"); // then llama.cpp puts a copy of the embeddings on the GPU as the output
            for (TensorInfo t : f.tensors().values()) if (!t.name().equals("token_embd.weight") || tied) weights += t.bytes();
        }
        VramPlan p = VramPlan.of(tiny, 2L << 30);
        assertEquals(weights, p.weightBytes(), "every tensor but the input embeddings (unless they are the output too)");
        assertEquals(512, p.ubatchTokens());
        long perSequence = p.kvBytesPerToken() * 768; // 600 tokens: llama.cpp pads a stream to 768 cells
        var f16 = GeneratorOptions.KvCache.F16;
        assertEquals(Math.min(256, p.kvBytes() / perSequence), p.sequences(600, 256, f16));
        assertEquals(3, p.sequences(600, 3, f16), "never more than asked for");
        // a q8_0 cache: blocks of 32 values in 34 bytes, against F16's 64
        assertEquals(p.kvBytes() / (perSequence / 64 * 34), p.sequences(600, Integer.MAX_VALUE, GeneratorOptions.KvCache.Q8_0));
        assertTrue(p.tokens(1 << 30, 100) % 256 == 0 && p.tokens(1 << 30, 100) <= p.kvBytes() / p.kvBytesPerToken());
        // A budget below the CUDA reserve holds nothing: refused with what it would take.
        EmovecException e = assertThrows(EmovecException.class, () -> VramPlan.of(tiny, 100L << 20));
        assertTrue(e.getMessage().startsWith("a device-memory budget of 0.10 GiB cannot hold"), e.getMessage());
        assertTrue(e.getMessage().contains("raise --vram-budget"), e.getMessage());
    }

    @Test
    void sizingWithABudgetCapsTheGeneratorAndScorer() {
        VramPlan p = VramPlan.of(TestModels.tiny(), 1L << 30);
        Sizing s = new Sizing(256, p, 0, null);
        assertEquals(p.sequences(700, 256, GeneratorOptions.KvCache.F16), s.generator(700, 1000).parallel());
        Sizing q8 = s.withStoryCache(GeneratorOptions.KvCache.Q8_0);
        assertEquals(p.sequences(700, 256, GeneratorOptions.KvCache.Q8_0), q8.generator(700, 1000).parallel());
        assertEquals(GeneratorOptions.KvCache.Q8_0, q8.generator(700, 1000).kvCache());
        assertEquals(10, s.generator(700, 10).parallel(), "no more sequences than requests");
        assertEquals(64, Sizing.of(64).generator(700, 1000).parallel());
        assertEquals(1, s.withLanes(2).generator(700, 1000).lanes(), "a budget plans one context's KV cache");
        assertEquals(2, Sizing.of(64).withLanes(2).generator(700, 1000).lanes());
        assertTrue(s.scorer(8192, 512, 600).batchTokens() >= 600);
    }
}
