package org.emovec.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Tiny models written once per test JVM, shared by the tests that only read them. */
public final class TestModels {
    private static Path dir;
    private static Path tinyF32;

    private TestModels() {}

    public static synchronized Path dir() {
        try {
            if (dir == null) {
                dir = Files.createTempDirectory("emovec-test");
                dir.toFile().deleteOnExit();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static synchronized Path tiny() {
        try {
            if (tinyF32 == null) {
                Path p = dir().resolve("tiny-f32.gguf");
                ModelMaker.make(ModelPreset.TINY, WeightFormat.F32, 0, p);
                p.toFile().deleteOnExit();
                tinyF32 = p;
            }
            return tinyF32;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
