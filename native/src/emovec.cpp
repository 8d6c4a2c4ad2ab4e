// Logging and small helpers of emovec's native layer. Sampling lives in sampling.cpp.
#include "emovec.h"

#include "llama.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

// F16 matrix products on NVIDIA GPUs accumulate in F32 and write F32 in emovec's own process (llama.cpp's default
// there: F16 accumulation, F16 output converted back to F32 after every product), unless the environment already
// says (EMOVEC_CUBLAS_F16_F32_OUTPUT=0: llama.cpp's way). The switch is emovec's llama.cpp patch
// (cmake/llama/patches/ggml-cuda-f16-f32-output.patch), read once at the first product, so it is set as the library
// loads; llama-batched-bench, built from the same tree for the benchmark's peers, keeps llama.cpp's default.
[[maybe_unused]] static const int g_f16_f32_output = setenv("EMOVEC_CUBLAS_F16_F32_OUTPUT", "1", 0);

static std::atomic<int> g_min_level{GGML_LOG_LEVEL_WARN};
static std::mutex g_error_mutex;
static std::string g_last_error;

static void emovec_log(enum ggml_log_level level, const char * text, void * /*user*/) {
    // CONT lines continue the previous message; keep them only when its level would have shown.
    static thread_local bool last_shown = true;
    bool show = level == GGML_LOG_LEVEL_CONT ? last_shown : (int) level >= g_min_level.load();
    if (level != GGML_LOG_LEVEL_CONT) last_shown = show;
    if (show) {
        fputs(text, stderr);
        fflush(stderr);
    }
    if (level == GGML_LOG_LEVEL_ERROR) {
        std::lock_guard<std::mutex> lock(g_error_mutex);
        g_last_error = text;
        while (!g_last_error.empty() && (g_last_error.back() == '\n' || g_last_error.back() == ' ')) g_last_error.pop_back();
    }
}

extern "C" {

const char * emovec_native_version(void) { return "0.6.0"; }

bool emovec_llama_switch(const char * variable) {   // the patches' own reading of their switches
    const char * e = std::getenv(variable);
    return e != nullptr && e[0] == '1';
}

struct llama_context * emovec_init_context(struct llama_model * model, struct llama_context_params params, int32_t seqs_per_stream) {
    // the patch reads its switch as the cache is made: set for this call only, one context at a time
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    setenv("EMOVEC_KV_SEQS_PER_STREAM", std::to_string(seqs_per_stream > 1 ? seqs_per_stream : 1).c_str(), 1);
    struct llama_context * ctx = llama_init_from_model(model, params);
    unsetenv("EMOVEC_KV_SEQS_PER_STREAM");
    return ctx;
}

void emovec_log_set_min_level(int32_t min_level) {
    g_min_level.store(min_level);
    llama_log_set(emovec_log, nullptr);
}

const char * emovec_last_error(void) {
    static thread_local std::string copy;
    std::lock_guard<std::mutex> lock(g_error_mutex);
    copy = g_last_error;
    return copy.c_str();
}

void emovec_batch_fill(struct llama_batch * batch, int32_t n, const int32_t * tokens, const int32_t * pos,
                       const int32_t * seqs, const int8_t * want_logits) {
    for (int32_t i = 0; i < n; ++i) {
        batch->token[i] = tokens[i];
        batch->pos[i] = pos[i];
        batch->n_seq_id[i] = 1;
        batch->seq_id[i][0] = seqs[i];
        batch->logits[i] = want_logits[i];
    }
    batch->n_tokens = n;
}

void emovec_clear_last_error(void) {
    std::lock_guard<std::mutex> lock(g_error_mutex);
    g_last_error.clear();
}

int32_t emovec_dequantize(int32_t type, const void * src, float * dst, int64_t n) {
    if (type == GGML_TYPE_F32) {
        memcpy(dst, src, (size_t) n * sizeof(float));
        return 0;
    }
    if (type < 0 || type >= GGML_TYPE_COUNT) return -1;
    const struct ggml_type_traits * traits = ggml_get_type_traits((enum ggml_type) type);
    if (traits == nullptr || traits->to_float == nullptr || traits->blck_size <= 0 || n % traits->blck_size != 0) return -1;
    traits->to_float(src, dst, n);
    return 0;
}

}
