package org.emovec.io;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.emovec.gguf.GgmlType;
import org.emovec.gguf.GgufFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExportTest {
    @TempDir Path dir;

    @Test
    void npyHasNumpysHeaderAndRoundTrips() throws Exception {
        float[][] rows = {{1f, -2.5f, 3e-8f}, {Float.MAX_VALUE, 0f, -0f}};
        Path p = dir.resolve("a.npy");
        Npy.write(p, rows);
        byte[] b = Files.readAllBytes(p);
        assertEquals((byte) 0x93, b[0]);
        assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.US_ASCII));
        int headerLen = ByteBuffer.wrap(b, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort();
        assertEquals(0, (10 + headerLen) % 64, "numpy aligns the data to 64 bytes");
        String header = new String(b, 10, headerLen, StandardCharsets.US_ASCII);
        assertTrue(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)"), header);
        assertEquals(10 + headerLen + 2 * 3 * 4, b.length);
        assertArrayEquals(rows, Npy.read(p));
        assertTrue(Files.list(dir).noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file left");
    }

    @Test
    void controlVectorFileHasLlamaCppsLayout() throws Exception {
        Path p = dir.resolve("cv.gguf");
        float[] v = {0.5f, -1f, 2f};
        ControlVectorFile.write(p, Map.of(3, v, 1, v), 2.0, 4, "llama");
        try (GgufFile g = GgufFile.open(p)) {
            assertEquals("controlvector", g.string("general.architecture"));
            assertEquals(4, g.integer("controlvector.layer_count"));
            assertEquals(2, g.tensors().size());
            assertEquals(GgmlType.F32, g.tensor("direction.3").type());
            assertArrayEquals(new float[] {1f, -2f, 4f}, g.floats("direction.1"));
        }
        assertThrows(IllegalArgumentException.class, () -> ControlVectorFile.write(dir.resolve("x.gguf"), Map.of(0, v), 1, 4, "llama"));
    }
}
