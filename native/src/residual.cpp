// The residual stream after block L (llama.cpp "l_out-L" = HF hidden_states[L+1]): capture and steering.
// Capture sums, per sequence and captured layer, the rows whose positions lie in the sequence's span (and
// keeps the rows themselves when asked); steering adds coef * vector to the rows of a sequence whose positions
// lie in its span, before capture sees them. Both run where the tensor lives: plain loops on the CPU, the
// kernels of residual_cuda.cu on the GPU, so only the sums cross to the host.
#include "hooks.h"

#include "ggml-backend.h"

#include <algorithm>
#include <cmath>
#include <climits>
#include <cstring>

namespace emovec {

namespace {

int64_t acc_row(const emovec_hooks * h, int32_t seq, int32_t capture) {
    return (int64_t) seq * (int64_t) h->capture_layers.size() + capture;
}

// Groups the tensor's rows by capturing sequence (rows in the sequence's span), once per ubatch and row set.
const std::vector<Group> & capture_groups(emovec_hooks * h, const std::vector<int32_t> & rows) {
    if (h->groups_ubatch == h->ubatch && h->groups_rows == (int64_t) rows.size()) return h->groups;
    h->groups.clear();
    std::map<int32_t, size_t> group_of;
    for (size_t r = 0; r < rows.size(); ++r) {
        const BatchToken & tok = h->batch[rows[r]];
        auto it = h->captures.find(tok.seq);
        if (it == h->captures.end() || !it->second.span.has(tok.pos)) continue;
        auto g = group_of.emplace(tok.seq, h->groups.size());
        if (g.second) h->groups.push_back({tok.seq, {}, &it->second});
        h->groups[g.first->second].rows.push_back((int32_t) r);
    }
    h->groups_ubatch = h->ubatch;
    h->groups_rows = (int64_t) rows.size();
    h->plan_id++;
    return h->groups;
}

}  // namespace

void residual_eval(emovec_hooks * h, ggml_tensor * t, int32_t layer, const std::vector<int32_t> & rows, ggml_backend_t backend) {
    const int64_t n_embd = t->ne[0], n_rows = (int64_t) rows.size();
    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t) || n_embd != h->n_embd) {
        h->error = "l_out-" + std::to_string(layer) + " is not a contiguous F32 tensor of width " + std::to_string(h->n_embd);
        return;
    }
    // steering: the vector and coefficient of each row (a sequence's steers at one layer cover disjoint spans)
    std::vector<int32_t> row_vector;
    std::vector<float> row_coef;
    bool steer = false;
    if (h->steered_layer[layer]) {
        row_vector.assign(n_rows, -1);
        row_coef.assign(n_rows, 0.0f);
        for (int64_t r = 0; r < n_rows; ++r) {
            const BatchToken & tok = h->batch[rows[r]];
            auto it = h->steers.find(tok.seq);
            if (it == h->steers.end()) continue;
            for (const SteerSpec & s : it->second) {
                if (s.layer == layer && s.span.has(tok.pos)) {
                    row_vector[r] = s.vector;
                    row_coef[r] = s.coef;
                    steer = true;
                }
            }
        }
    }
    // capture: rows grouped by sequence; usually every capturing sequence wants every captured layer
    const int32_t capture = h->capture_index[layer];
    std::vector<Group> filtered;
    const std::vector<Group> * chosen = &filtered;
    int64_t plan_id = 0;
    if (capture >= 0 && h->capture_users[layer] > 0) {
        const std::vector<Group> & all = capture_groups(h, rows);
        bool every = true;
        for (const Group & g : all) every = every && g.spec->wants[capture];
        if (every) {
            chosen = &all;
            plan_id = h->plan_id;
        } else {
            for (const Group & g : all) if (g.spec->wants[capture]) filtered.push_back(g);
            plan_id = -(++h->filtered_plan_id); // its own id space: never mistaken for the cached groups' plan
        }
    }
    const std::vector<Group> & groups = *chosen;
    if (!steer && groups.empty()) return;

    auto keep_row = [&](const Group & g, int32_t r, const float * host_row, const float * device_row) {
        const size_t slot = (size_t) (h->batch[rows[r]].pos - g.spec->span.from) * h->capture_layers.size() + capture;
        float * dst = h->kept_rows[g.seq].data() + slot * n_embd;
        if (host_row != nullptr) std::memcpy(dst, host_row, n_embd * sizeof(float));
#ifdef EMOVEC_CUDA
        else if (!emovec_cuda_to_host(dst, device_row, n_embd * sizeof(float)).empty()) return;
#endif
        h->kept_have[g.seq][slot] = 1;
    };

    if (ggml_backend_buffer_is_host(t->buffer)) {
        float * x = static_cast<float *>(t->data);
        if (!groups.empty() && !h->host_used) {
            h->sums.assign((size_t) h->n_slots * h->capture_layers.size() * h->n_embd, 0.0);
            h->norm_sums.assign((size_t) h->n_slots * h->capture_layers.size(), 0.0);
            h->host_used = true;
        }
        if (steer) {
            for (int64_t r = 0; r < n_rows; ++r) {
                if (row_vector[r] < 0) continue;
                const float * v = h->vectors.data() + (size_t) row_vector[r] * n_embd;
                float * row = x + r * n_embd;
                for (int64_t j = 0; j < n_embd; ++j) row[j] += row_coef[r] * v[j];
            }
        }
        for (const Group & g : groups) {
            const int64_t a = acc_row(h, g.seq, capture);
            double * sum = h->sums.data() + a * n_embd;
            for (int32_t r : g.rows) {
                const float * row = x + (int64_t) r * n_embd;
                double sq = 0;
                for (int64_t j = 0; j < n_embd; ++j) {
                    sum[j] += row[j];
                    sq += (double) row[j] * row[j];
                }
                h->norm_sums[a] += std::sqrt(sq);
                if (g.spec->keep_rows) keep_row(g, r, row, nullptr);
            }
            h->row_counts[a] += (int64_t) g.rows.size();
        }
        return;
    }
#ifdef EMOVEC_CUDA
    ResidualCudaPlan plan{row_vector.data(), row_coef.data(), layer, h->n_layer, plan_id, &groups, capture, (int32_t) h->capture_layers.size()};
    float * x = static_cast<float *>(t->data);
    // llama.cpp has only queued the computation of t. Our kernels wait for it on the GPU and llama.cpp's next work
    // waits for them; kept rows are copied to the host below, so for them the host waits too.
    bool host_reads = false;
    for (const Group & g : groups) host_reads = host_reads || g.spec->keep_rows;
    void * ready = nullptr;
    void * done = nullptr;
    if (host_reads || !llama_stream_events(h, backend, &ready, &done)) {
        ggml_backend_synchronize(backend);
        ready = done = nullptr;
    }
    const std::string err = emovec_cuda_residual(&h->residual_gpu, x, n_embd, n_rows, plan, steer, h->vectors.data(),
                                                 h->n_vectors, h->vectors_version, (int64_t) h->n_slots * h->capture_layers.size(), ready, done);
    if (!err.empty()) {
        h->error = "CUDA residual hook at layer " + std::to_string(layer) + ": " + err;
        return;
    }
    if (done != nullptr) llama_stream_wait(h, backend);
    for (const Group & g : groups) {
        h->row_counts[acc_row(h, g.seq, capture)] += (int64_t) g.rows.size();
        if (!g.spec->keep_rows) continue;
        for (int32_t r : g.rows) keep_row(g, r, nullptr, x + (int64_t) r * n_embd);
    }
#else
    h->error = "l_out-" + std::to_string(layer) + " is not in host memory, and this libemovec was built without CUDA";
#endif
}

}  // namespace emovec

using emovec::acc_row;

extern "C" {

int32_t emovec_residual_init(struct emovec_hooks * h, int32_t n_embd, int32_t n_layer, int32_t n_slots,
                             int32_t n_captures, const int32_t * capture_layers) {
    std::vector<int32_t> layers(capture_layers, capture_layers + n_captures);
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    for (int32_t l : layers) {
        if (l < 0 || l >= n_layer) return -1;
    }
#ifdef EMOVEC_CUDA
    if (h->residual_gpu != nullptr) emovec_cuda_residual_free(h->residual_gpu);
    h->residual_gpu = nullptr;
#endif
    h->n_embd = n_embd;
    h->n_layer = n_layer;
    h->n_slots = n_slots;
    h->capture_layers = layers;
    h->capture_index.assign(n_layer, -1);
    h->capture_users.assign(n_layer, 0);
    for (size_t i = 0; i < layers.size(); ++i) h->capture_index[layers[i]] = (int32_t) i;
    h->steered_layer.assign(n_layer, false);
    h->captures.clear();
    h->steers.clear();
    h->kept_rows.clear();
    h->kept_have.clear();
    h->sums.clear();
    h->norm_sums.clear();
    h->host_used = false;
    h->row_counts.assign((size_t) n_slots * layers.size(), 0);
    return 0;
}

int32_t emovec_residual_vectors(struct emovec_hooks * h, int32_t n_vectors, const float * data) {
    if (h->n_embd <= 0) return -1;
    h->vectors.assign(data, data + (size_t) n_vectors * h->n_embd);
    h->n_vectors = n_vectors;
    ++h->vectors_version;
    return 0;
}

void emovec_capture_clear(struct emovec_hooks * h, int32_t seq) {
    if (seq < 0 || seq >= h->n_slots) return;
    auto it = h->captures.find(seq);
    if (it != h->captures.end()) {
        for (size_t c = 0; c < it->second.wants.size(); ++c) {
            if (it->second.wants[c]) h->capture_users[h->capture_layers[c]]--;
        }
        h->captures.erase(it);
    }
    h->kept_rows.erase(seq);
    h->kept_have.erase(seq);
    const int32_t n_cap = (int32_t) h->capture_layers.size();
    for (int32_t c = 0; c < n_cap; ++c) {
        const int64_t a = acc_row(h, seq, c);
        if (h->host_used) {
            std::fill(h->sums.begin() + a * h->n_embd, h->sums.begin() + (a + 1) * h->n_embd, 0.0);
            h->norm_sums[a] = 0;
        }
        h->row_counts[a] = 0;
    }
#ifdef EMOVEC_CUDA
    if (h->residual_gpu != nullptr && n_cap > 0) emovec_cuda_residual_clear(h->residual_gpu, acc_row(h, seq, 0), n_cap, h->n_embd);
#endif
}

int32_t emovec_capture_set(struct emovec_hooks * h, int32_t seq, int32_t from, int32_t to, int32_t keep_rows,
                           int32_t n_layers, const int32_t * layers) {
    if (seq < 0 || seq >= h->n_slots || from < 0 || to < from || h->capture_layers.empty() || n_layers <= 0) return -1;
    if (keep_rows && (int64_t) (to - from) * h->capture_layers.size() * h->n_embd > (int64_t) 1 << 31) return -1;
    std::vector<uint8_t> wants(h->capture_layers.size(), 0);
    for (int32_t i = 0; i < n_layers; ++i) {
        if (layers[i] < 0 || layers[i] >= h->n_layer || h->capture_index[layers[i]] < 0) return -1;
        wants[h->capture_index[layers[i]]] = 1;
    }
    emovec_capture_clear(h, seq);
    for (size_t c = 0; c < wants.size(); ++c) {
        if (wants[c]) h->capture_users[h->capture_layers[c]]++;
    }
    h->captures[seq] = {{from, to}, keep_rows != 0, wants};
    if (keep_rows) {
        h->kept_rows[seq].assign((size_t) (to - from) * h->capture_layers.size() * h->n_embd, 0.0f);
        h->kept_have[seq].assign((size_t) (to - from) * h->capture_layers.size(), 0);
    }
    return 0;
}

int32_t emovec_capture_read(struct emovec_hooks * h, int32_t n_seqs, const int32_t * seqs, int32_t n_layers,
                            const int32_t * layers, float * means, float * mean_norms, int64_t * counts) {
    if (n_seqs <= 0 || n_layers <= 0) return 0;
    std::vector<int32_t> cap(n_layers);
    for (int32_t i = 0; i < n_layers; ++i) {
        if (layers[i] < 0 || layers[i] >= h->n_layer || h->capture_index[layers[i]] < 0) return -1;
        cap[i] = h->capture_index[layers[i]];
    }
    int64_t lo = INT64_MAX, hi = -1;
    for (int32_t k = 0; k < n_seqs; ++k) {
        if (seqs[k] < 0 || seqs[k] >= h->n_slots) return -1;
        for (int32_t c : cap) {
            lo = std::min(lo, acc_row(h, seqs[k], c));
            hi = std::max(hi, acc_row(h, seqs[k], c));
        }
    }
    // the device accumulators from the first to the last row wanted, in one copy (none: nothing on the device)
    const float * dev = nullptr;
    const float * dev_norms = nullptr;
#ifdef EMOVEC_CUDA
    if (h->residual_gpu != nullptr && !emovec_cuda_residual_read(h->residual_gpu, lo, hi - lo + 1, h->n_embd, &dev, &dev_norms).empty()) return -1;
#endif
    for (int32_t k = 0; k < n_seqs; ++k) {
        for (int32_t i = 0; i < n_layers; ++i) {
            const int64_t a = acc_row(h, seqs[k], cap[i]), o = (int64_t) k * n_layers + i;
            const int64_t count = h->row_counts[a];
            counts[o] = count;
            const double norm = (dev_norms ? dev_norms[a - lo] : 0.0) + (h->host_used ? h->norm_sums[a] : 0.0);
            mean_norms[o] = count > 0 ? (float) (norm / count) : 0.0f;
            const float * d = dev ? dev + (a - lo) * h->n_embd : nullptr;
            const double * hs = h->host_used ? h->sums.data() + a * h->n_embd : nullptr;
            float * out = means + o * h->n_embd;
            if (count == 0) std::fill(out, out + h->n_embd, 0.0f);
            else for (int32_t j = 0; j < h->n_embd; ++j) out[j] = (float) (((d ? d[j] : 0.0) + (hs ? hs[j] : 0.0)) / count);
        }
    }
    return 0;
}

int32_t emovec_capture_rows(const struct emovec_hooks * h, int32_t seq, float * rows, uint8_t * have) {
    auto r = h->kept_rows.find(seq);
    auto k = h->kept_have.find(seq);
    if (r == h->kept_rows.end() || k == h->kept_have.end()) return -1;
    std::copy(r->second.begin(), r->second.end(), rows);
    std::copy(k->second.begin(), k->second.end(), have);
    return 0;
}

int32_t emovec_steer_add(struct emovec_hooks * h, int32_t seq, int32_t layer, int32_t vector, float coef, int32_t from, int32_t to) {
    if (layer < 0 || layer >= h->n_layer || vector < 0 || vector >= h->n_vectors || from < 0 || to < from) return -1;
    auto & list = h->steers[seq];
    for (auto & s : list) {
        // Several steers of one sequence and layer must cover disjoint positions (e.g. both options of an A/B
        // prompt), so that each row gets at most one vector; one that overlaps an earlier one replaces it.
        if (s.layer == layer && from < s.span.to && s.span.from < to) {
            s = {layer, vector, coef, {from, to}};
            return 0;
        }
    }
    list.push_back({layer, vector, coef, {from, to}});
    h->steered_layer[layer] = true;
    return 0;
}

void emovec_steer_clear(struct emovec_hooks * h, int32_t seq) {
    h->steers.erase(seq);
    if (h->n_layer <= 0) return;
    h->steered_layer.assign(h->n_layer, false);
    for (auto & e : h->steers) for (auto & s : e.second) h->steered_layer[s.layer] = true;
}

}
