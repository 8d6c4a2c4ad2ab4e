package org.emovec.gguf;

import java.util.Map;
import java.util.TreeMap;

/** What `emovec info` shows, read from the GGUF header alone (no weights loaded). */
public record ModelSummary(String path, String architecture, String name, long layers, long width, long heads,
                           long kvHeads, long ffn, long vocab, long trainedContext, String quantization,
                           Map<String, Integer> tensorTypes, long parameters, long fileBytes, String chatTemplate) {

    public static ModelSummary of(GgufFile f) {
        String arch = f.string("general.architecture");
        Map<String, Integer> types = new TreeMap<>();
        Map<GgmlType, Long> weightElems = new TreeMap<>();
        long params = 0;
        for (TensorInfo t : f.tensors().values()) {
            types.merge(t.type().name(), 1, Integer::sum);
            params += t.elements();
            if (t.dims().length >= 2) weightElems.merge(t.type(), t.elements(), Long::sum);
        }
        String quant = weightElems.entrySet().stream().max(Map.Entry.comparingByValue()).map(e -> e.getKey().name()).orElse("none");
        GgufValue ft = f.get("general.file_type");
        if (ft != null) quant = fileTypeName(ft.asLong()) + " (most weights " + quant + ")";
        GgufValue tokens = f.get("tokenizer.ggml.tokens");
        GgufValue tmpl = f.get("tokenizer.chat_template");
        return new ModelSummary(f.path().toString(), arch, f.get("general.name") == null ? "" : f.string("general.name"),
                num(f, arch + ".block_count"), num(f, arch + ".embedding_length"), num(f, arch + ".attention.head_count"),
                num(f, arch + ".attention.head_count_kv"), num(f, arch + ".feed_forward_length"),
                tokens == null ? -1 : tokens.arrayLength(), num(f, arch + ".context_length"), quant, types, params,
                f.fileSize(), tmpl == null ? "none" : (tmpl.asString().contains("<|start_header_id|>") ? "llama3" : "present"));
    }

    private static long num(GgufFile f, String key) {
        GgufValue v = f.get(key);
        if (v == null || v.type() == GgufValueType.ARRAY) return -1;
        return v.asLong();
    }

    /** llama.cpp's llama_ftype names. */
    public static String fileTypeName(long ft) {
        return switch ((int) ft) {
            case 0 -> "F32"; case 1 -> "F16"; case 2 -> "Q4_0"; case 3 -> "Q4_1"; case 7 -> "Q8_0"; case 8 -> "Q5_0";
            case 9 -> "Q5_1"; case 10 -> "Q2_K"; case 11 -> "Q3_K_S"; case 12 -> "Q3_K_M"; case 13 -> "Q3_K_L";
            case 14 -> "Q4_K_S"; case 15 -> "Q4_K_M"; case 16 -> "Q5_K_S"; case 17 -> "Q5_K_M"; case 18 -> "Q6_K";
            case 32 -> "BF16"; default -> "file_type " + ft;
        };
    }
}
