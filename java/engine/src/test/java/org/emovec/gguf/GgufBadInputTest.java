package org.emovec.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every bad file gives one GgufException whose message names the file and the problem. */
class GgufBadInputTest {
    @TempDir Path dir;

    private String error(Path p) {
        GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(p).close());
        assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
        return e.getMessage();
    }

    private Path small() throws Exception {
        Path p = dir.resolve("small.gguf");
        ByteBuffer t = ByteBuffer.allocate(64 * 4).order(ByteOrder.LITTLE_ENDIAN);
        new GgufWriter().put("general.architecture", GgufValue.of("llama"))
                .put("names", GgufValue.array(GgufValueType.STRING, new String[] {"x", "y"}))
                .tensor("w", new long[] {64}, GgmlType.F32, t).write(p);
        return p;
    }

    @Test
    void missingFile() {
        assertTrue(error(dir.resolve("nope.gguf")).contains("no such file"));
    }

    @Test
    void notAGguf() throws Exception {
        Path p = dir.resolve("model.gguf");
        Files.writeString(p, "this is a text file, not a model\n");
        assertTrue(error(p).contains("not a GGUF file"));
        Path empty = dir.resolve("empty.gguf");
        Files.write(empty, new byte[0]);
        assertTrue(error(empty).contains("not a GGUF file"));
    }

    @Test
    void truncatedAnywhere() throws Exception {
        byte[] all = Files.readAllBytes(small());
        Path p = dir.resolve("cut.gguf");
        for (int len = 4; len < all.length; len += 7) {
            Files.write(p, Arrays.copyOf(all, len));
            String msg = error(p);
            assertTrue(msg.contains("truncated") || msg.contains("more than the file can hold"), len + ": " + msg);
        }
    }

    @Test
    void lyingCountsAllocateNothingHuge() throws Exception {
        byte[] all = Files.readAllBytes(small());
        // Tensor count (bytes 8..15) and metadata count (16..23) set to huge values.
        for (int at : new int[] {8, 16}) {
            byte[] bad = all.clone();
            ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putLong(at, Long.MAX_VALUE / 3);
            Path p = dir.resolve("lie" + at + ".gguf");
            Files.write(p, bad);
            assertTrue(error(p).contains("more than the file can hold"));
        }
        // The first key's length (bytes 24..31) claims 2^60 bytes.
        byte[] bad = all.clone();
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putLong(24, 1L << 60);
        Path p = dir.resolve("lie-key.gguf");
        Files.write(p, bad);
        assertTrue(error(p).contains("more than the file can hold"));
    }

    @Test
    void unknownVersion() throws Exception {
        byte[] bad = Files.readAllBytes(small());
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 99);
        Path p = dir.resolve("v99.gguf");
        Files.write(p, bad);
        assertTrue(error(p).contains("unsupported GGUF version 99"));
    }
}
