// Host-side sampling for the batched generator: cheap and deterministic per sequence.
//  - same semantics and order as llama.cpp's sampler chain top_k -> top_p -> temp -> dist
//    (top-p is measured on the untempered softmax, as llama.cpp does);
//  - top-k in one pass that skips whole blocks below the current k-th best (most of a 128k vocabulary);
//  - the random draw is a pure function of (seed, step): no sampler state, no dependence on the batch;
//  - rows are spread over a persistent thread pool (thread start-up per step would cost more than the work);
//  - where the hooks already reduced a row to its best candidates (see hooks.cpp), only those are read.
#include "emovec.h"

#include "llama.h"
#include "hooks.h"
#include "pool.h"
#include "topk.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using emovec::Candidate;
using emovec::top_k;

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1), a pure function of (seed, step).
double uniform(uint64_t seed, int32_t step) {
    uint64_t bits = splitmix64(splitmix64(seed) ^ (uint64_t) (uint32_t) step);
    return (double) (bits >> 11) * (1.0 / 9007199254740992.0);
}

// Samples from candidates sorted best first (the top-k already applied).
int32_t sample_from(const Candidate * cand, int32_t k, float temp, float top_p, uint64_t seed, int32_t step,
                    std::vector<double> & p) {
    if (temp <= 0.0f) return cand[0].id; // the argmax, lowest id on ties, as std::max_element finds it
    const double max_l = cand[0].logit;
    p.resize(k);
    int32_t keep = k;
    if (top_p < 1.0f) {  // on the untempered distribution, as llama.cpp's top_p before temp
        double sum = 0.0;
        for (int32_t i = 0; i < k; ++i) { p[i] = std::exp(cand[i].logit - max_l); sum += p[i]; }
        double run = 0.0;
        for (int32_t i = 0; i < k; ++i) {
            run += p[i] / sum;
            if (run >= top_p) { keep = i + 1; break; }
        }
    }
    double sum = 0.0;
    for (int32_t i = 0; i < keep; ++i) { p[i] = std::exp((cand[i].logit - max_l) / temp); sum += p[i]; }
    const double target = uniform(seed, step) * sum;
    double run = 0.0;
    for (int32_t i = 0; i < keep; ++i) {
        run += p[i];
        if (run > target) return cand[i].id;
    }
    return cand[keep - 1].id;
}

// True when the hooks' candidates for a row are exactly those of this logits row (same values at their ids).
bool candidates_match(const Candidate * cand, int32_t k, const float * logits) {
    return logits[cand[0].id] == cand[0].logit && logits[cand[k - 1].id] == cand[k - 1].logit;
}

}  // namespace

extern "C" int32_t emovec_sample(struct llama_context * ctx, const struct emovec_hooks * hooks, int32_t n,
                                 const int32_t * rows, const float * temps, const int32_t * top_ks,
                                 const float * top_ps, const uint64_t * seeds, const int32_t * steps,
                                 int32_t * out_tokens, int32_t n_threads) {
    const llama_vocab * vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    // The hooks hold a row's candidates when they reduced every output row of this decode (the row of batch index
    // i: hooks->out_row[i], from llama.cpp's split of the batch). Where llama.cpp copied the logits to the host
    // each is checked against them; where the logits stayed on the device a row the candidates cannot serve is
    // fetched from there.
    const bool reduced = hooks != nullptr && hooks->k > 0 && hooks->rows == hooks->n_outputs;
    const bool on_host = hooks == nullptr || hooks->logits_copied;
    if (!on_host && hooks->device_logits == nullptr) return -1;
    std::vector<const float *> logits(n, nullptr);
    for (int32_t i = 0; i < n && on_host; ++i) {
        logits[i] = llama_get_logits_ith(ctx, rows[i]);
        if (logits[i] == nullptr) return -1;
    }
    std::atomic<int32_t> from_candidates{0};
    std::atomic<bool> failed{false};
    emovec::Pool::shared().run(std::max(1, std::min(n_threads, n)), n, [&](int32_t i) {
        static thread_local std::vector<Candidate> cand;
        static thread_local std::vector<double> p;
        static thread_local std::vector<float> fetched;
        const int32_t k = (top_ks[i] <= 0 || top_ks[i] > n_vocab) ? n_vocab : top_ks[i];
        const int32_t want = temps[i] <= 0.0f ? 1 : k;
        const int32_t r = hooks != nullptr && rows[i] >= 0 && rows[i] < (int32_t) hooks->out_row.size() ? hooks->out_row[rows[i]] : -1;
        if (reduced && r >= 0 && hooks->counts[r] >= want && want <= hooks->k) {
            const Candidate * c = hooks->cand.data() + (size_t) r * hooks->k;
            if (!on_host || candidates_match(c, want, logits[i])) {
                out_tokens[i] = sample_from(c, want, temps[i], top_ps[i], seeds[i], steps[i], p);
                from_candidates.fetch_add(1);
                return;
            }
        }
        const float * row = on_host ? logits[i] : r >= 0 ? emovec::logits_row(hooks->device_logits, r, fetched) : nullptr;
        if (row == nullptr) {
            failed.store(true);
            return;
        }
        if (temps[i] <= 0.0f) {
            out_tokens[i] = (int32_t) (std::max_element(row, row + n_vocab) - row);
            return;
        }
        top_k(row, n_vocab, k, cand);
        out_tokens[i] = sample_from(cand.data(), k, temps[i], top_ps[i], seeds[i], steps[i], p);
    });
    return failed.load() ? -1 : from_candidates.load();
}
