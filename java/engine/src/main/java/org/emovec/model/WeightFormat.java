package org.emovec.model;

import java.util.Arrays;
import java.util.stream.Collectors;

import org.emovec.gguf.GgmlType;

/**
 * How make-model stores weights. F32/F16/BF16 are written by emovec itself; Q8_0 and Q4_K_M are made from
 * an F16 (or, for tiny models, F32) file by llama.cpp's own quantizer, so they match what users download.
 */
public enum WeightFormat {
    F32("f32", GgmlType.F32, 0), F16("f16", GgmlType.F16, 1), BF16("bf16", GgmlType.BF16, 32),
    Q8_0("q8_0", null, 7), Q4_K_M("q4_k_m", null, 15);

    public final String id;
    /** The type emovec writes directly, or null when llama.cpp quantizes. */
    public final GgmlType written;
    /** llama.cpp's llama_ftype value (general.file_type). */
    public final int llamaFtype;

    WeightFormat(String id, GgmlType written, int llamaFtype) {
        this.id = id;
        this.written = written;
        this.llamaFtype = llamaFtype;
    }

    public static WeightFormat byId(String id) {
        for (WeightFormat f : values()) if (f.id.equalsIgnoreCase(id)) return f;
        throw new IllegalArgumentException("unknown weight format '" + id + "': choose one of "
                + Arrays.stream(values()).map(f -> f.id).collect(Collectors.joining(", ")));
    }
}
