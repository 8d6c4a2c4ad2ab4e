package org.emovec.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The embedded default: the tiny preset (F32, seed 0), written to the cache on first use. */
public final class DefaultModel {
    public static final long SEED = 0;

    private DefaultModel() {}

    public static Path cacheDir() {
        String env = System.getenv("EMOVEC_CACHE");
        return env != null && !env.isEmpty() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "emovec");
    }

    public static synchronized Path tiny() throws IOException {
        Path p = cacheDir().resolve("models").resolve("emovec-tiny-" + ModelPreset.TINY.shape() + "-f32-seed" + SEED + ".gguf");
        if (!Files.exists(p)) ModelMaker.make(ModelPreset.TINY, WeightFormat.F32, SEED, p);
        return p;
    }
}
