// The hooks on llama.cpp's graph evaluation. Each of llama.cpp's backends computes through split_compute
// (llama_internals.cpp wraps them) which, for a decode that needs it, cuts the graph after the tensors emovec wants:
//  - "l_out-L" (the residual stream after block L) at captured or steered layers: see residual.cpp; on a GPU the
//    work is queued between the views, ordered by events, and the host never waits;
//  - "result_output" (the logits) of a ubatch before the last, whose memory the next ubatch reuses: each row
//    reduced to its k best candidates where the tensor lives -- a CUDA kernel on the GPU, the host top-k on the
//    CPU -- so that sampling reads k values a row instead of the whole vocabulary (128k floats a row, 131 MB a
//    step at 256 rows). The usual decode, all its output rows in its last ubatch, is not split for them:
//    emovec_hooks_end reduces them after the decode. Where the sampler needs nothing but the candidates,
//    llama.cpp does not even copy the logits to the host.
// A decode that needs neither is computed by llama.cpp's own code, untouched.
// The hooks know which sequence and position each tensor row holds from the batch described to them by
// emovec_hooks_begin and llama.cpp's split of that batch (ubatch_plan.cpp), checked against what llama.cpp
// actually computes.
#include "hooks.h"

#include "ggml-backend.h"
#include "pool.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <thread>
#include <unordered_set>

namespace {

void fail(emovec_hooks * h, const std::string & why) {
    if (h->error.empty()) h->error = why;
}

void reduce_logits(emovec_hooks * h, ggml_tensor * t) {
    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) return;
    const int64_t n_vocab = t->ne[0], n_rows = ggml_nrows(t);
    const int32_t k = (int32_t) std::min<int64_t>(h->k, n_vocab);
    const int32_t first = h->rows;
    h->rows += (int32_t) n_rows;
    h->counts.resize(h->rows, -1);
    h->cand.resize((size_t) h->rows * h->k);
    const int32_t n_threads = std::min<int32_t>((int32_t) std::max(1u, std::thread::hardware_concurrency()), (int32_t) n_rows);

    if (ggml_backend_buffer_is_host(t->buffer)) {
        const float * x = static_cast<const float *>(t->data);
        emovec::Pool::shared().run(n_threads, (int32_t) n_rows, [&](int32_t r) {
            static thread_local std::vector<emovec::Candidate> c;
            emovec::top_k(x + (size_t) r * n_vocab, (int32_t) n_vocab, k, c);
            std::copy(c.begin(), c.end(), h->cand.begin() + (size_t) (first + r) * h->k);
            h->counts[first + r] = k;
        });
        return;
    }
#ifdef EMOVEC_CUDA
    static const bool cuda_off = std::getenv("EMOVEC_HOOK_CUDA") != nullptr && std::strcmp(std::getenv("EMOVEC_HOOK_CUDA"), "0") == 0;
    if (cuda_off) return; // diagnostics: the hook runs, the kernel does not
    const int32_t cap = h->k + 256; // room for ties at the k-th value
    const int32_t * counts = nullptr;
    const int32_t * ids = nullptr;
    const float * vals = nullptr;
    if (emovec_cuda_topk(&h->gpu, static_cast<const float *>(t->data), n_vocab, n_rows, k, cap, &counts, &ids, &vals) != 0) {
        return; // rows stay at -1: the sampler reads the full logits for them
    }
    // each row's few candidates sorted to (logit desc, id asc), rows spread over the pool: a step's 256 rows
    // on one thread took a good part of a millisecond
    emovec::Pool::shared().run(n_threads, (int32_t) n_rows, [&](int32_t r) {
        if (counts[r] > cap) return;
        static thread_local std::vector<emovec::Candidate> c;
        c.resize(counts[r]);
        for (int32_t j = 0; j < counts[r]; ++j) c[j] = {vals[(size_t) r * cap + j], ids[(size_t) r * cap + j]};
        std::partial_sort(c.begin(), c.begin() + k, c.end(), emovec::higher);
        std::copy(c.begin(), c.begin() + k, h->cand.begin() + (size_t) (first + r) * h->k);
        h->counts[first + r] = k;
    });
#endif
}

// The positions llama.cpp fed to RoPE in this ubatch: the second source of a ROPE node upstream of t.
bool read_positions(ggml_tensor * t, std::vector<int32_t> & pos) {
    std::vector<ggml_tensor *> todo{t};
    std::unordered_set<ggml_tensor *> seen;
    for (size_t i = 0; i < todo.size() && i < 512; ++i) {
        ggml_tensor * n = todo[i];
        if (n->op == GGML_OP_ROPE && n->src[1] != nullptr && n->src[1]->type == GGML_TYPE_I32) {
            ggml_tensor * p = n->src[1];
            pos.resize(p->ne[0]);
            if (p->buffer != nullptr && ggml_backend_buffer_is_host(p->buffer)) {
                std::memcpy(pos.data(), p->data, pos.size() * sizeof(int32_t));
                return true;
            }
#ifdef EMOVEC_CUDA
            return emovec_cuda_to_host(pos.data(), p->data, pos.size() * sizeof(int32_t)).empty();
#else
            return false;
#endif
        }
        for (ggml_tensor * s : n->src) {
            if (s != nullptr && seen.insert(s).second) todo.push_back(s);
        }
    }
    return false;
}

// Whether the tokens llama.cpp evaluates in tensor t are those of planned ubatch u, in its order (their positions).
bool check_positions(emovec_hooks * h, ggml_tensor * t, int32_t u) {
    const std::vector<int32_t> & ub = h->ubatches[u];
    std::vector<int32_t> pos;
    if (!read_positions(t, pos) || pos.size() != ub.size()) {
        fail(h, "cannot read the token positions of ubatch " + std::to_string(u) + " from llama.cpp's graph");
        return false;
    }
    for (size_t i = 0; i < ub.size(); ++i) {
        if (pos[i] != h->batch[ub[i]].pos) {
            fail(h, "ubatch " + std::to_string(u) + " row " + std::to_string(i) + " is at position " + std::to_string(pos[i]) +
                        ", emovec expected " + std::to_string(h->batch[ub[i]].pos) + ": llama.cpp split the batch differently");
            return false;
        }
    }
    return true;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void on_residual_work(emovec_hooks * h, ggml_tensor * t, int32_t layer, ggml_backend_t backend);

void on_residual(emovec_hooks * h, ggml_tensor * t, int32_t layer, ggml_backend_t backend) {
    const auto t0 = std::chrono::steady_clock::now();
    on_residual_work(h, t, layer, backend);
    h->prof_calls++;
    h->prof_total += seconds_since(t0);
}

void on_residual_work(emovec_hooks * h, ggml_tensor * t, int32_t layer, ggml_backend_t backend) {
    if (layer <= h->last_layer) { // a new ubatch starts with its first hooked layer
        ++h->ubatch;
        h->positions_checked = false;
    }
    h->last_layer = layer;
    if (!h->error.empty() || (h->diagnostics & 1) != 0) return;
    if (h->ubatch >= (int32_t) h->ubatches.size()) {
        fail(h, "llama.cpp evaluated more ubatches than the batch described to emovec_hooks_begin splits into");
        return;
    }
    const std::vector<int32_t> & ub = h->ubatches[h->ubatch];
    std::vector<int32_t> rows;
    if (t->ne[1] == (int64_t) ub.size()) {
        rows = ub;
    } else if (layer == h->n_layer - 1) { // llama.cpp keeps only the output rows after the last block
        for (int32_t i : ub) if (h->batch[i].output) rows.push_back(i);
    }
    if ((int64_t) rows.size() != t->ne[1]) {
        fail(h, "ubatch " + std::to_string(h->ubatch) + " of layer " + std::to_string(layer) + " has " + std::to_string(t->ne[1]) +
                    " rows, emovec expected " + std::to_string(ub.size()) + ": llama.cpp split the batch differently");
        return;
    }
    if (!h->positions_checked) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!check_positions(h, t, h->ubatch)) return;
        h->positions_checked = true;
        h->prof_positions += seconds_since(t0);
    }
    const auto t1 = std::chrono::steady_clock::now();
    emovec::residual_eval(h, t, layer, rows, backend);
    h->prof_eval += seconds_since(t1);
}

int32_t residual_layer(const emovec_hooks * h, const char * name) {
    if (std::strncmp(name, "l_out-", 6) != 0) return -1;
    const int32_t layer = std::atoi(name + 6);
    if (layer < 0 || layer >= h->n_layer) return -1;
    const bool captured = !h->capture_users.empty() && h->capture_users[layer] > 0;
    const bool steered = !h->steered_layer.empty() && h->steered_layer[layer];
    return captured || steered ? layer : -1;
}

// The logits of one ubatch: their row count checked against the planned split, by which the sampler finds each
// batch row's candidates (the positions the residual hook checks are overwritten by now), then reduced.
void on_logits(emovec_hooks * h, ggml_tensor * t) {
    const int64_t n_rows = ggml_nrows(t);
    if (n_rows == 0 || !h->error.empty()) return;
    int32_t & u = h->logits_ubatch;
    while (u < (int32_t) h->ubatches.size() && h->ubatch_outputs[u] == 0) ++u;
    if (u >= (int32_t) h->ubatches.size() || h->ubatch_outputs[u] != n_rows) {
        fail(h, "llama.cpp computed " + std::to_string(n_rows) + " logits rows in a ubatch where emovec expected " +
                    (u < (int32_t) h->ubatches.size() ? std::to_string(h->ubatch_outputs[u]) : std::string("none")) +
                    ": llama.cpp split the batch differently");
        return;
    }
    ++u;
    reduce_logits(h, t);
}

}  // namespace

namespace emovec {

enum ggml_status split_compute(emovec_hooks * h, ggml_backend_t backend, ggml_cgraph * graph, GraphCompute compute) {
    const int n = ggml_graph_n_nodes(graph);
    int j0 = 0;
    for (int j = 0; j < n; ++j) {
        ggml_tensor * t = ggml_graph_node(graph, j);
        const bool logits = h->logits_in_graph && std::strcmp(t->name, "result_output") == 0;
        const int32_t layer = logits ? -1 : residual_layer(h, t->name);
        if (!logits && layer < 0) continue;
        const ggml_status status = llama_compute_view(backend, graph, j0, j + 1, compute);
        if (status != GGML_STATUS_SUCCESS) return status;
        j0 = j + 1;
        if (logits) {
            const auto t0 = std::chrono::steady_clock::now();
            ggml_backend_synchronize(backend); // the top-k reads the logits now
            h->prof_logits_wait += seconds_since(t0);
            h->last_layer = 1 << 30;
            on_logits(h, t);
        } else {
            on_residual(h, t, layer, backend);
        }
    }
    if (j0 == 0) return compute(backend, graph);
    return j0 == n ? GGML_STATUS_SUCCESS : llama_compute_view(backend, graph, j0, n, compute);
}

const float * logits_row(const ggml_tensor * t, int32_t r, std::vector<float> & buf) {
    const float * row = static_cast<const float *>(t->data) + (size_t) r * t->ne[0];
    if (ggml_backend_buffer_is_host(t->buffer)) return row;
    buf.resize(t->ne[0]);
#ifdef EMOVEC_CUDA
    if (emovec_cuda_to_host(buf.data(), row, buf.size() * sizeof(float)).empty()) return buf.data();
#endif
    return nullptr;
}

}  // namespace emovec

extern "C" {

struct emovec_hooks * emovec_hooks_new(int32_t top_k) {
    auto * h = new emovec_hooks();
    h->k = std::max(0, top_k);
    return h;
}

void emovec_hooks_free(struct emovec_hooks * h) {
    if (h != nullptr && std::getenv("EMOVEC_HOOK_PROFILE") != nullptr) {
        if (h->prof_calls > 0) {
            fprintf(stderr, "emovec hooks: %lld residual calls, %.1f ms in the hook (position checks %.1f ms, capture/steer %.1f ms)\n",
                    (long long) h->prof_calls, 1e3 * h->prof_total, 1e3 * h->prof_positions, 1e3 * h->prof_eval);
        }
        if (h->prof_whole_graphs + h->prof_split_graphs > 0) {
            fprintf(stderr, "emovec hooks: %lld graphs computed whole, %lld in views; %.1f ms in graph compute calls, of which %.1f ms waiting for early logits\n",
                    (long long) h->prof_whole_graphs, (long long) h->prof_split_graphs, 1e3 * h->prof_compute, 1e3 * h->prof_logits_wait);
        }
    }
    if (h != nullptr) emovec::llama_hooks_free(h);
#ifdef EMOVEC_CUDA
    if (h != nullptr && h->gpu != nullptr) emovec_cuda_free(h->gpu);
    if (h != nullptr && h->residual_gpu != nullptr) emovec_cuda_residual_free(h->residual_gpu);
#endif
    delete h;
}

void emovec_hooks_attach(struct emovec_hooks * h, struct llama_context * ctx) {
    emovec::llama_hooks_free(h);
    h->ctx = ctx;
    emovec::llama_wrap_backends(h);
}

void emovec_hooks_begin(struct emovec_hooks * h, int32_t n, const int32_t * pos, const int32_t * seqs,
                        const int8_t * want_logits, int32_t n_ubatch, int32_t seqs_per_stream, bool host_logits) {
    h->rows = 0;
    h->counts.clear();
    h->error.clear();
    h->ubatch = -1;
    h->last_layer = 1 << 30;
    h->groups_ubatch = -1; // a new batch: capture groups are built again
    h->batch.resize(n);
    for (int32_t i = 0; i < n; ++i) h->batch[i] = {seqs[i], pos[i], want_logits[i] != 0};
    // planned for every batch: the hooks need it, and the ubatch count is a throughput figure
    h->ubatches = emovec::plan_ubatches(h->batch, n_ubatch, seqs_per_stream);
    h->out_row.assign(n, -1);
    h->ubatch_outputs.assign(h->ubatches.size(), 0);
    h->n_outputs = 0;
    h->logits_ubatch = 0;
    for (size_t u = 0; u < h->ubatches.size(); ++u) {
        for (int32_t i : h->ubatches[u]) {
            if (!h->batch[i].output) continue;
            h->out_row[i] = h->n_outputs++;
            h->ubatch_outputs[u]++;
        }
    }
    // The graph is split to capture or steer, and to reduce logits of any ubatch but the last (llama.cpp reuses
    // the memory of earlier ones); otherwise llama.cpp computes it whole, as its own tools do.
    bool residual = false;
    for (int32_t l = 0; l < h->n_layer && !residual; ++l) {
        residual = (!h->capture_users.empty() && h->capture_users[l] > 0) || (!h->steered_layer.empty() && h->steered_layer[l]);
    }
    const bool logits_early = h->k > 0 && !h->ubatches.empty() && h->ubatch_outputs.back() != h->n_outputs;
    if (h->ctx == nullptr && residual) fail(h, "the hooks capture or steer but were never attached to a context (emovec_hooks_attach)");
    h->logits_in_graph = logits_early;
    h->split = residual || logits_early;
    // The logits stay on the device when the sampler needs only the candidates and every output row is in the
    // last ubatch, whose logits tensor outlives the decode (reduced by emovec_hooks_end).
    h->host_logits = h->ctx == nullptr || h->k == 0 || host_logits || logits_early || (h->diagnostics & 4) != 0;
    if (h->ctx != nullptr) emovec::llama_hide_logits(h, !h->host_logits);
    h->logits_copied = true;
    h->device_logits = nullptr;
}

void emovec_hooks_end(struct emovec_hooks * h) {
    h->split = false; // a decode not described by emovec_hooks_begin is llama.cpp's alone
    if (h->ctx == nullptr || h->k == 0 || h->n_outputs == 0 || h->logits_in_graph) return;
    bool copied = true;
    ggml_tensor * t = emovec::llama_decoded_logits(h, &copied);
    h->logits_copied = copied;
    if (t == nullptr || ggml_nrows(t) != h->n_outputs) {
        // rows stay unreduced: the sampler reads whole rows, which it can only where llama.cpp copied them
        if (!copied) fail(h, "the logits stayed on the device but their tensor has not the rows emovec expected");
        return;
    }
    h->device_logits = t;
    if (h->error.empty()) reduce_logits(h, t);
}

void emovec_hooks_diagnostics(struct emovec_hooks * h, int32_t flags) { h->diagnostics = flags; }

const char * emovec_hooks_error(const struct emovec_hooks * h) { return h->error.c_str(); }

bool emovec_hooks_logits_copied(const struct emovec_hooks * h) { return h->logits_copied; }

int32_t emovec_hooks_rows(const struct emovec_hooks * h) { return h->rows; }

int32_t emovec_hooks_ubatches(const struct emovec_hooks * h) { return (int32_t) h->ubatches.size(); }

}
