// The eval hook: after llama.cpp computes a ubatch's logits (tensor "result_output"), reduce every row to its
// k best candidates where the tensor lives -- a CUDA kernel on the GPU, the host top-k on the CPU -- so that
// sampling reads k values a row instead of the whole vocabulary (128k floats a row, 131 MB a step at 256 rows).
#include "hooks.h"

#include "ggml-backend.h"
#include "pool.h"

#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

bool on_eval(struct ggml_tensor * t, bool ask, void * user) {
    auto * h = static_cast<emovec_hooks *>(user);
    if (ask) return h->k > 0 && std::strcmp(t->name, "result_output") == 0;
    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) return true;
    const int64_t n_vocab = t->ne[0], n_rows = ggml_nrows(t);
    const int32_t k = (int32_t) std::min<int64_t>(h->k, n_vocab);
    const int32_t first = h->rows;
    h->rows += (int32_t) n_rows;
    h->counts.resize(h->rows, -1);
    h->cand.resize((size_t) h->rows * h->k);

    if (ggml_backend_buffer_is_host(t->buffer)) {
        const float * x = static_cast<const float *>(t->data);
        const int32_t n_threads = (int32_t) std::max(1u, std::thread::hardware_concurrency());
        emovec::Pool::shared().run(std::min<int32_t>(n_threads, (int32_t) n_rows), (int32_t) n_rows, [&](int32_t r) {
            static thread_local std::vector<emovec::Candidate> c;
            emovec::top_k(x + (size_t) r * n_vocab, (int32_t) n_vocab, k, c);
            std::copy(c.begin(), c.end(), h->cand.begin() + (size_t) (first + r) * h->k);
            h->counts[first + r] = k;
        });
        return true;
    }
#ifdef EMOVEC_CUDA
    static const bool cuda_off = std::getenv("EMOVEC_HOOK_CUDA") != nullptr && std::strcmp(std::getenv("EMOVEC_HOOK_CUDA"), "0") == 0;
    if (cuda_off) return true; // diagnostics: the hook runs, the kernel does not
    const int32_t cap = h->k + 256; // room for ties at the k-th value
    std::vector<int32_t> counts(n_rows), ids((size_t) n_rows * cap);
    std::vector<float> vals((size_t) n_rows * cap);
    if (emovec_cuda_topk(&h->gpu, static_cast<const float *>(t->data), n_vocab, n_rows, k, cap,
                         counts.data(), ids.data(), vals.data()) != 0) {
        return true; // rows stay at -1: the sampler reads the full logits for them
    }
    std::vector<emovec::Candidate> c;
    for (int64_t r = 0; r < n_rows; ++r) {
        if (counts[r] > cap) continue;
        c.resize(counts[r]);
        for (int32_t j = 0; j < counts[r]; ++j) c[j] = {vals[r * cap + j], ids[r * cap + j]};
        std::sort(c.begin(), c.end(), emovec::higher);
        std::copy(c.begin(), c.begin() + k, h->cand.begin() + (size_t) (first + r) * h->k);
        h->counts[first + r] = k;
    }
#endif
    return true;
}

}  // namespace

extern "C" {

struct emovec_hooks * emovec_hooks_new(int32_t top_k) {
    auto * h = new emovec_hooks();
    h->k = std::max(0, top_k);
    return h;
}

void emovec_hooks_free(struct emovec_hooks * h) {
#ifdef EMOVEC_CUDA
    if (h != nullptr && h->gpu != nullptr) emovec_cuda_free(h->gpu);
#endif
    delete h;
}

ggml_backend_sched_eval_callback emovec_hooks_callback(void) { return on_eval; }

void emovec_hooks_reset(struct emovec_hooks * h) {
    h->rows = 0;
    h->counts.clear();
}

int32_t emovec_hooks_rows(const struct emovec_hooks * h) { return h->rows; }

}
