package org.emovec.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir Path dir;

    @Test
    void everyValueTypeAndTensorTypeSurvivesWriteThenRead() throws Exception {
        float[] values = {0f, 1f, -2.5f, 3.14159f, 65504f, 1e-6f, -0.0f, 0.333f};
        ByteBuffer f32 = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer f16 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer bf16 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            f32.putFloat(v);
            f16.putShort(Dequantize.floatToHalf(v));
            bf16.putShort(Dequantize.floatToBf16(v));
        }
        // One Q8_0 block: scale 0.5 (F16), then 32 signed bytes -16..15.
        ByteBuffer q8 = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN).putShort(Dequantize.floatToHalf(0.5f));
        for (int i = 0; i < 32; i++) q8.put((byte) (i - 16));

        GgufWriter w = new GgufWriter()
                .put("general.architecture", GgufValue.of("llama"))
                .put("u8", new GgufValue(GgufValueType.UINT8, null, 200L))
                .put("i8", new GgufValue(GgufValueType.INT8, null, -5L))
                .put("u16", new GgufValue(GgufValueType.UINT16, null, 60000L))
                .put("i16", new GgufValue(GgufValueType.INT16, null, -300L))
                .put("u32", GgufValue.u32(4000000000L))
                .put("i32", new GgufValue(GgufValueType.INT32, null, -7L))
                .put("f32", GgufValue.f32(1.5f))
                .put("bool", GgufValue.bool(true))
                .put("str", GgufValue.of("héllo ✓ 🙂"))
                .put("u64", new GgufValue(GgufValueType.UINT64, null, 1L << 40))
                .put("i64", new GgufValue(GgufValueType.INT64, null, -(1L << 40)))
                .put("f64", new GgufValue(GgufValueType.FLOAT64, null, Math.PI))
                .put("strings", GgufValue.array(GgufValueType.STRING, new String[] {"a", "", "ü"}))
                .put("ints", GgufValue.array(GgufValueType.INT32, new int[] {1, -2, 3}))
                .put("floats", GgufValue.array(GgufValueType.FLOAT32, new float[] {0.5f, -1f}))
                .tensor("f32", new long[] {8}, GgmlType.F32, f32.flip())
                .tensor("f16", new long[] {4, 2}, GgmlType.F16, f16.flip())
                .tensor("bf16", new long[] {8}, GgmlType.BF16, bf16.flip())
                .tensor("q8", new long[] {32}, GgmlType.Q8_0, q8.flip());
        Path file = dir.resolve("all.gguf");
        w.write(file);

        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(3, g.version());
            assertEquals(200L, g.get("u8").value());
            assertEquals(-5L, g.get("i8").value());
            assertEquals(60000L, g.get("u16").value());
            assertEquals(-300L, g.get("i16").value());
            assertEquals(4000000000L, g.get("u32").value());
            assertEquals(-7L, g.get("i32").value());
            assertEquals(1.5f, g.get("f32").value());
            assertEquals(true, g.get("bool").value());
            assertEquals("héllo ✓ 🙂", g.string("str"));
            assertEquals(1L << 40, g.get("u64").value());
            assertEquals(-(1L << 40), g.get("i64").value());
            assertEquals(Math.PI, g.get("f64").value());
            assertArrayEquals(new String[] {"a", "", "ü"}, (String[]) g.get("strings").value());
            assertArrayEquals(new int[] {1, -2, 3}, (int[]) g.get("ints").value());
            assertArrayEquals(new float[] {0.5f, -1f}, (float[]) g.get("floats").value());
            assertArrayEquals(values, g.floats("f32"));
            assertArrayEquals(new long[] {4, 2}, g.tensor("f16").dims());
            float[] h = g.floats("f16");
            for (int i = 0; i < values.length; i++) assertEquals(values[i], h[i], Math.abs(values[i]) * 1e-3 + 1e-7);
            float[] b = g.floats("bf16");
            for (int i = 0; i < values.length; i++) assertEquals(values[i], b[i], Math.abs(values[i]) * 1e-2 + 1e-7);
            float[] q = g.floats("q8");
            for (int i = 0; i < 32; i++) assertEquals(0.5f * (i - 16), q[i]);
            for (TensorInfo t : g.tensors().values()) assertEquals(0, t.offset() % 32, "aligned");
        }
    }

    @Test
    void rewritingTheLlama3VocabularyGivesTheSameBytes() throws Exception {
        Path original = dir.resolve("vocab.gguf");
        try (InputStream in = getClass().getResourceAsStream("/org/emovec/model/ggml-vocab-llama-bpe.gguf")) {
            assertNotNull(in, "vocab resource");
            Files.copy(in, original, StandardCopyOption.REPLACE_EXISTING);
        }
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile g = GgufFile.open(original)) {
            assertEquals(128256, g.get("tokenizer.ggml.tokens").arrayLength());
            GgufWriter w = new GgufWriter().putAll(g.metadata());
            for (TensorInfo t : g.tensors().values()) w.tensor(t.name(), t.dims(), t.type(), g.rawData(t));
            w.write(copy);
        }
        assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy));
    }

    @Test
    void halfPrecisionConversionIsExactForEveryHalfValue() {
        for (int bits = 0; bits < 0x10000; bits++) {
            short h = (short) bits;
            float f = Dequantize.halfToFloat(h);
            if (Float.isNaN(f)) continue;
            assertEquals(h, Dequantize.floatToHalf(f), "half 0x" + Integer.toHexString(bits));
        }
        // Round to nearest even at a tie: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
        assertEquals(Dequantize.floatToHalf(1f), Dequantize.floatToHalf(1f + 0x1p-11f));
        assertEquals(0x3c01, Dequantize.floatToHalf(1f + 0x1p-11f + 0x1p-20f));
        assertEquals(0x7c00, Dequantize.floatToHalf(70000f));
    }
}
