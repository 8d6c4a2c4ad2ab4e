package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.nio.file.Path;

import org.emovec.llama.llama_model_quantize_params;

/** llama.cpp's own quantizer (llama_model_quantize), so quantized test models match downloaded ones. */
public final class Quantizer {
    private Quantizer() {}

    /** Quantizes a float GGUF to llama_ftype ftype (e.g. 7 = Q8_0, 15 = Q4_K_M). */
    public static void quantize(Path in, Path out, int ftype) {
        Native.init();
        llama_model_quantize_params p = llama_model_quantize_default_params();
        p.ftype(ftype);
        p.nthread(Runtime.getRuntime().availableProcessors());
        Native.takeLastError();
        int rc = llama_model_quantize(in.toString(), out.toString(), p);
        if (rc != 0) {
            throw new EmovecException("llama.cpp could not quantize " + in + " to " + out + Native.lastErrorSuffix());
        }
    }
}
