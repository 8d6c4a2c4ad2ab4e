// Exact top-k of a row of logits, shared by the host sampler and the hooks' CPU path.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace emovec {

struct Candidate { float logit; int32_t id; };

// Ties are broken by token id, so the candidate order is fully defined.
inline bool higher(const Candidate & a, const Candidate & b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

inline float block_max(const float * x, int32_t n) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int32_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

// The k best tokens, best first. Small k: a min-heap of k, skipping every block of 64 logits whose maximum
// cannot enter it; large k or the whole vocabulary: selection over a full copy.
inline void top_k(const float * logits, int32_t n_vocab, int32_t k, std::vector<Candidate> & cand) {
    cand.clear();
    if (k <= 0 || k > n_vocab) k = n_vocab;
    if (k <= 1024) {
        constexpr int32_t B = 64;
        for (int32_t b0 = 0; b0 < n_vocab; b0 += B) {
            const int32_t b1 = std::min(b0 + B, n_vocab);
            if ((int32_t) cand.size() == k && block_max(logits + b0, b1 - b0) <= cand.front().logit) continue;
            for (int32_t i = b0; i < b1; ++i) {
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
        }
    } else {
        cand.resize(n_vocab);
        for (int32_t i = 0; i < n_vocab; ++i) cand[i] = {logits[i], i};
        if (k < n_vocab) std::nth_element(cand.begin(), cand.begin() + k, cand.end(), higher);
        cand.resize(k);
    }
    std::sort(cand.begin(), cand.end(), higher);
}

}  // namespace emovec
