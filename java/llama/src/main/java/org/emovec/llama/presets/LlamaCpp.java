package org.emovec.llama.presets;

import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.javacpp.tools.Info;
import org.bytedeco.javacpp.tools.InfoMap;
import org.bytedeco.javacpp.tools.InfoMapper;

/**
 * Our own llama.cpp preset: JavaCPP's parser reads llama.h and emovec.h and writes the classes of
 * {@code org.emovec.llama} (one per struct) and {@code org.emovec.llama.global.LlamaCpp} (functions, enums).
 * ggml's headers are not parsed: the few ggml types llama.h uses are mapped below to ints and opaque pointers.
 */
@Properties(
        value = @Platform(
                include = {"llama.h", "emovec.h"},
                // Load order matters: each library needs the ones before it. ggml-cuda exists only in CUDA builds.
                preload = {"ggml-base@.0", "ggml-cpu@.0", "ggml-cuda@.0", "ggml@.0", "llama@.0"},
                link = {"ggml-base@.0", "ggml@.0", "llama@.0", "emovec"}),
        target = "org.emovec.llama",
        global = "org.emovec.llama.global.LlamaCpp")
public class LlamaCpp implements InfoMapper {
    @Override
    public void map(InfoMap infoMap) {
        infoMap.put(new Info("LLAMA_API", "GGML_API", "GGML_BACKEND_API").cppTypes().annotations())
                .put(new Info("DEPRECATED").cppText("#define DEPRECATED(func, hint) func").cppTypes())
                .put(new Info("LLAMA_SHARED", "__cplusplus").define(false))
                // ggml enums used by llama.h travel as plain ints.
                .put(new Info("ggml_type", "enum ggml_type", "ggml_numa_strategy", "enum ggml_numa_strategy",
                        "ggml_opt_optimizer_type", "enum ggml_opt_optimizer_type")
                        .cast().valueTypes("int").pointerTypes("IntPointer"))
                // ggml handles and callbacks are opaque here.
                .put(new Info("ggml_backend_buffer_type_t", "ggml_backend_dev_t", "ggml_threadpool_t",
                        "ggml_opt_dataset_t", "ggml_opt_result_t", "ggml_backend_sched_eval_callback",
                        "ggml_abort_callback", "ggml_log_callback", "ggml_opt_get_optimizer_params",
                        "ggml_opt_epoch_callback", "llama_memory_t", "llama_sampler_context_t")
                        .cast().valueTypes("Pointer").pointerTypes("PointerPointer"))
                .put(new Info("ggml_tensor", "ggml_context", "ggml_cgraph").pointerTypes("Pointer").cast())
                // Training and custom-sampler internals: not part of what emovec binds.
                .put(new Info("llama_opt_params", "llama_opt_init", "llama_opt_epoch", "llama_opt_param_filter",
                        "llama_opt_param_filter_all", "llama_sampler_i", "llama_sampler_data", "llama_sampler_init",
                        "llama_log_get", "llama_log_set", "llama_model_init_from_user",
                        "llama_model_set_tensor_data_t").skip())
                // These enums share their names with functions (llama_pooling_type(ctx), llama_vocab_type(vocab)):
                // C++ needs "enum" spelled out.
                .put(new Info("enum llama_pooling_type", "llama_pooling_type").cast().valueTypes("int").pointerTypes("IntPointer")
                        .cppTypes("enum llama_pooling_type"))
                .put(new Info("enum llama_vocab_type", "llama_vocab_type").cast().valueTypes("int").pointerTypes("IntPointer")
                        .cppTypes("enum llama_vocab_type"))
                // Its values are ggml macros; emovec reads rope types from GGUF metadata instead.
                .put(new Info("llama_rope_type", "enum llama_rope_type").skip());
    }
}
