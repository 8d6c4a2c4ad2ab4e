package org.emovec.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutation fuzzing of the GGUF reader: flipped bytes, overwritten counts and lengths (the lies a corrupt
 * header tells), truncations and splices of a valid file holding every metadata type. Opening a mutant and
 * reading its tensors must succeed or throw a one-line {@link GgufException}; anything else (an out-of-memory
 * from a lying length, an index error, a hang) fails. A short run in CI; {@code mvn -Pfuzz test} runs minutes
 * (system property emovec.fuzz.seconds). A failure prints the seed and iteration that reproduce it.
 */
class GgufFuzzTest {
    @TempDir Path dir;

    private static byte[] seedFile(Path dir) throws Exception {
        Path p = dir.resolve("seed.gguf");
        ByteBuffer f32 = ByteBuffer.allocate(64 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 64; i++) f32.putFloat(i * 0.5f);
        ByteBuffer f16 = ByteBuffer.allocate(32 * 2).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer q8 = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
        new GgufWriter().put("general.architecture", GgufValue.of("llama"))
                .put("llama.block_count", GgufValue.u32(4))
                .put("llama.rope.freq_base", GgufValue.f32(500000f))
                .put("flag", GgufValue.bool(true))
                .put("tokens", GgufValue.array(GgufValueType.STRING, new String[] {"a", "bb", "ccc", "<|eot_id|>"}))
                .put("scores", GgufValue.array(GgufValueType.FLOAT32, new float[] {0.1f, 0.2f, 0.3f}))
                .put("ids", GgufValue.array(GgufValueType.INT32, new int[] {1, 2, 3, 4, 5}))
                .tensor("w.f32", new long[] {8, 8}, GgmlType.F32, f32.flip())
                .tensor("w.f16", new long[] {32}, GgmlType.F16, f16)
                .tensor("w.q8", new long[] {32}, GgmlType.Q8_0, q8)
                .write(p);
        return Files.readAllBytes(p);
    }

    private static byte[] mutate(byte[] seed, Random r) {
        byte[] b = seed.clone();
        int edits = 1 + r.nextInt(4);
        for (int e = 0; e < edits && b.length > 0; e++) {
            int header = Math.min(b.length, 400); // most structure lives in the header
            int at = r.nextInt(r.nextInt(4) == 0 ? b.length : header);
            switch (r.nextInt(6)) {
                case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b[at] = (byte) r.nextInt(256);
                case 2 -> { // a lying 64-bit count or length: huge, negative or off by a little
                    long lie = switch (r.nextInt(4)) {
                        case 0 -> Long.MAX_VALUE - r.nextInt(1000);
                        case 1 -> -1L - r.nextInt(1000);
                        case 2 -> 1L << (20 + r.nextInt(40));
                        default -> r.nextInt(64);
                    };
                    for (int k = 0; k < 8 && at + k < b.length; k++) b[at + k] = (byte) (lie >>> (8 * k));
                }
                case 3 -> b = java.util.Arrays.copyOf(b, Math.max(0, at)); // truncate
                case 4 -> { // splice a chunk of the file over another place
                    int len = Math.min(1 + r.nextInt(32), b.length - at);
                    int from = r.nextInt(seed.length - len + 1);
                    System.arraycopy(seed, from, b, at, len);
                }
                default -> { // a 32-bit type or dimension count set to a random value
                    int v = r.nextInt(40) - 5;
                    for (int k = 0; k < 4 && at + k < b.length; k++) b[at + k] = (byte) (v >>> (8 * k));
                }
            }
        }
        return b;
    }

    @Test
    void mutantsOpenOrFailWithAClearError() throws Exception {
        byte[] seed = seedFile(dir);
        double seconds = Double.parseDouble(System.getProperty("emovec.fuzz.seconds", "5"));
        long master = Long.getLong("emovec.fuzz.seed", 20261124L);
        Random r = new Random(master);
        Path p = dir.resolve("mutant.gguf");
        long end = System.nanoTime() + (long) (seconds * 1e9);
        int iterations = 0, opened = 0;
        while (System.nanoTime() < end || iterations < 200) {
            long caseSeed = r.nextLong();
            Files.write(p, mutate(seed, new Random(caseSeed)));
            try (GgufFile g = GgufFile.open(p)) {
                for (TensorInfo t : g.tensors().values()) {
                    try {
                        g.floats(t.name());
                    } catch (GgufException expected) {
                        // e.g. a type emovec does not dequantize: a clear error is the right answer
                    }
                }
                opened++;
            } catch (GgufException e) {
                assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            } catch (Throwable t) {
                fail("seed " + master + ", case " + caseSeed + " (iteration " + iterations + "): " + t, t);
            }
            iterations++;
        }
        System.out.printf("GGUF fuzz: %d mutants in %.0f s, %d still opened%n", iterations, seconds, opened);
        assertTrue(opened > 0 && opened < iterations, "the mutations should sometimes, not always, break the file");
    }
}
