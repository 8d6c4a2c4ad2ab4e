package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.emovec.gguf.GgmlType;
import org.emovec.gguf.GgufValue;
import org.emovec.gguf.GgufWriter;
import org.emovec.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad model files fail in Java with one line naming the file, the problem and the fix, before llama.cpp sees them. */
class ModelCheckTest {
    @TempDir Path dir;

    private String loadError(Path p) {
        EmovecException e = assertThrows(EmovecException.class, () -> Model.load(p, 0).close());
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void missingNotGgufTruncatedWrongArchitectureVocabOnly() throws Exception {
        assertTrue(loadError(dir.resolve("missing.gguf")).contains("no such file"));

        Path text = dir.resolve("notes.gguf");
        Files.writeString(text, "hello");
        assertTrue(loadError(text).contains("not a GGUF file"));

        byte[] all = Files.readAllBytes(TestModels.tiny());
        Path cut = dir.resolve("cut.gguf");
        Files.write(cut, Arrays.copyOf(all, all.length - 1000));
        assertTrue(loadError(cut).contains("truncated"));

        Path qwen = dir.resolve("qwen.gguf");
        new GgufWriter().put("general.architecture", GgufValue.of("qwen2"))
                .tensor("w", new long[] {4}, GgmlType.F32, ByteBuffer.allocate(16)).write(qwen);
        assertTrue(loadError(qwen).contains("unsupported architecture 'qwen2'"));

        Path vocabOnly = dir.resolve("vocab.gguf");
        new GgufWriter().put("general.architecture", GgufValue.of("llama")).write(vocabOnly);
        assertTrue(loadError(vocabOnly).contains("vocab-only"));
    }

    @Test
    void badGeneratorSizesAreRefusedClearly() {
        assertThrows(EmovecException.class, () -> new GeneratorOptions(257, 64, 512, 1, false, null));
        assertThrows(EmovecException.class, () -> new GeneratorOptions(0, 64, 512, 1, false, null));
    }
}
