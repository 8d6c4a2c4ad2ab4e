// Host-side sampling for the batched generator: cheap (top-k selection, no full sort) and deterministic
// per sequence (counter-based random numbers keyed by seed and step).
#include "emovec.h"

#include "llama.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace {

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

struct Candidate { float logit; int32_t id; };

// Ties are broken by token id, so the candidate order is fully defined.
bool higher(const Candidate & a, const Candidate & b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The k best tokens, best first. Small k: one pass with a min-heap of k (most tokens cost one compare
// against the heap's worst); large k or the whole vocabulary: selection over a full copy.
void top_k(const float * logits, int32_t n_vocab, int32_t k, std::vector<Candidate> & cand) {
    cand.clear();
    if (k <= 1024) {
        for (int32_t i = 0; i < n_vocab; ++i) {
            // Scanning ids upwards, an equal logit always loses to the earlier id already held.
            if ((int32_t) cand.size() < k) {
                cand.push_back({logits[i], i});
                std::push_heap(cand.begin(), cand.end(), higher);
            } else if (logits[i] > cand.front().logit) {
                std::pop_heap(cand.begin(), cand.end(), higher);
                cand.back() = {logits[i], i};
                std::push_heap(cand.begin(), cand.end(), higher);
            }
        }
    } else {
        cand.resize(n_vocab);
        for (int32_t i = 0; i < n_vocab; ++i) cand[i] = {logits[i], i};
        if (k < n_vocab) std::nth_element(cand.begin(), cand.begin() + k, cand.end(), higher);
        cand.resize(k);
    }
    std::sort(cand.begin(), cand.end(), higher);
}

int32_t sample_row(const float * logits, int32_t n_vocab, float temp, int32_t k, float top_p,
                   uint64_t seed, int32_t step, std::vector<Candidate> & cand, std::vector<double> & p) {
    if (temp <= 0.0f) {
        return (int32_t) (std::max_element(logits, logits + n_vocab) - logits);
    }
    if (k <= 0 || k > n_vocab) k = n_vocab;
    top_k(logits, n_vocab, k, cand);

    const double max_l = cand[0].logit;
    p.resize(k);
    double sum = 0.0;
    for (int32_t i = 0; i < k; ++i) { p[i] = std::exp((cand[i].logit - max_l) / temp); sum += p[i]; }
    int32_t keep = k;
    if (top_p < 1.0f) {
        double run = 0.0;
        for (int32_t i = 0; i < k; ++i) {
            run += p[i] / sum;
            if (run >= top_p) { keep = i + 1; break; }
        }
        sum = 0.0;
        for (int32_t i = 0; i < keep; ++i) sum += p[i];
    }
    double target = uniform(seed, step) * sum, run = 0.0;
    for (int32_t i = 0; i < keep; ++i) {
        run += p[i];
        if (run > target) return cand[i].id;
    }
    return cand[keep - 1].id;
}

}  // namespace

extern "C" int32_t emovec_sample(struct llama_context * ctx, int32_t n, const int32_t * rows,
                                 const float * temps, const int32_t * top_ks, const float * top_ps,
                                 const uint64_t * seeds, const int32_t * steps, int32_t * out_tokens,
                                 int32_t n_threads) {
    const llama_vocab * vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<const float *> logits(n);
    for (int32_t i = 0; i < n; ++i) {
        logits[i] = llama_get_logits_ith(ctx, rows[i]);
        if (logits[i] == nullptr) return -1;
    }
    n_threads = std::max(1, std::min(n_threads, n));
    auto work = [&](int32_t t) {
        std::vector<Candidate> cand;
        std::vector<double> p;
        for (int32_t i = t; i < n; i += n_threads) {
            out_tokens[i] = sample_row(logits[i], n_vocab, temps[i], top_ks[i], top_ps[i], seeds[i], steps[i], cand, p);
        }
    };
    std::vector<std::thread> pool;
    for (int32_t t = 1; t < n_threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto & th : pool) th.join();
    return 0;
}
