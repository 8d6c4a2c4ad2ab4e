package org.emovec.engine;

import org.bytedeco.javacpp.Loader;
import org.emovec.llama.global.LlamaCpp;

/** Loads the native libraries (from the jar, via JavaCPP) and initialises llama.cpp once per process. */
public final class Native {
    private static final String EXPECTED_VERSION = "0.6.0";
    private static volatile boolean ready;

    private Native() {}

    public static synchronized void init() {
        if (ready) return;
        try {
            Loader.load(LlamaCpp.class);
        } catch (UnsatisfiedLinkError e) {
            throw new EmovecException("cannot load emovec's native libraries (" + e.getMessage()
                    + "): rebuild with 'mvn install' on this machine, or for CUDA check the driver and libcudart");
        }
        String v = LlamaCpp.emovec_native_version().getString();
        if (!EXPECTED_VERSION.equals(v)) {
            throw new EmovecException("native layer is version " + v + ", Java expects " + EXPECTED_VERSION + ": rebuild with 'mvn install'");
        }
        LlamaCpp.emovec_log_set_min_level(logLevel());
        LlamaCpp.llama_backend_init();
        ready = true;
    }

    /** Whether this libllama can offload to a GPU (a CUDA build). */
    public static boolean gpuBuild() {
        init();
        return LlamaCpp.llama_supports_gpu_offload();
    }

    /**
     * Whether one of emovec's llama.cpp patches is on here, by its switch (emovec.h, emovec_llama_switch; e.g.
     * EMOVEC_CUBLAS_F16_F32_OUTPUT, on by default); false on a CPU build, where they do not act.
     */
    public static boolean llamaPatchOn(String variable) {
        return gpuBuild() && LlamaCpp.emovec_llama_switch(variable);
    }

    /** ggml log level from EMOVEC_LOG (debug, info, warn, error); default warn. */
    private static int logLevel() {
        String s = System.getenv().getOrDefault("EMOVEC_LOG", "warn").toLowerCase();
        return switch (s) {
            case "debug" -> 1;
            case "info" -> 2;
            case "error" -> 4;
            default -> 3;
        };
    }

    /** " (the last error line llama.cpp logged)", or "" when none; clears it. For the end of an error message. */
    public static String lastErrorSuffix() {
        String why = takeLastError();
        return why.isEmpty() ? "" : " (" + why + ")";
    }

    /** The last error line llama.cpp logged, cleared after reading; "" when none. */
    public static String takeLastError() {
        String s = LlamaCpp.emovec_last_error().getString().trim();
        LlamaCpp.emovec_clear_last_error();
        return s;
    }
}
