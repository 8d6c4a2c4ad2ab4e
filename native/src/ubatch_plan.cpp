// Which tokens of a batch llama.cpp evaluates together, and in which row order: a transcription of
// llama_batch_allocr::split_simple (one KV stream) and split_equal(sequential = true) (several KV streams, each
// of seqs_per_stream sequences: emovec's patch of it) of the llama.cpp version we build, for batches whose tokens
// each belong to one sequence.
// The hooks check every ubatch against this plan (row count, and the positions llama.cpp actually fed
// to RoPE), so a change in llama.cpp's splitting becomes a clear error, never a silently shifted token.
#include "hooks.h"

#include <map>

namespace emovec {

std::vector<std::vector<int32_t>> plan_ubatches(const std::vector<BatchToken> & batch, int32_t n_ubatch, int32_t seqs_per_stream) {
    const int32_t n = (int32_t) batch.size();
    std::vector<std::vector<int32_t>> out;
    std::vector<bool> used(n, false);
    if (seqs_per_stream == 0) {
        for (int32_t i = 0; i < n; i += n_ubatch) {
            out.emplace_back();
            for (int32_t j = i; j < std::min(n, i + n_ubatch); ++j) out.back().push_back(j);
        }
        return out;
    }
    std::map<int32_t, std::vector<int32_t>> by_seq; // batch indices of each sequence, in batch order
    for (int32_t i = 0; i < n; ++i) by_seq[batch[i].seq].push_back(i);
    while (true) {
        // the sequences of this ubatch: first unused tokens' sequences with consecutive increasing ids, or one
        // sequence of each of consecutive streams
        std::vector<int32_t> seqs;
        int32_t last = -1;
        bool one_per_stream = true;
        for (int32_t i = 0; i < n; ++i) {
            if (used[i]) continue;
            const int32_t s = batch[i].seq;
            // seqs holds increasing ids up to last, so either test is also "not in seqs yet"
            const bool next_stream = one_per_stream && s / seqs_per_stream == last / seqs_per_stream + 1;
            if (seqs.empty() || s == last + 1 || next_stream) {
                if (!seqs.empty()) one_per_stream = next_stream;
                seqs.push_back(s);
                last = s;
                if ((int32_t) seqs.size() > n_ubatch) break;
            }
        }
        if (seqs.empty()) return out;
        const size_t n_seqs = seqs.size();
        std::vector<size_t> cur(n_seqs, 0);
        for (size_t s = 0; s < n_seqs; ++s) {
            while (used[by_seq[seqs[s]][cur[s]]]) ++cur[s];
        }
        std::vector<std::vector<int32_t>> per_seq(n_seqs);
        while (true) {
            bool can_expand = true;
            for (size_t s = 0; s < n_seqs; ++s) can_expand = can_expand && cur[s] < by_seq[seqs[s]].size();
            if (!can_expand) break;
            for (size_t s = 0; s < n_seqs; ++s) {
                const int32_t idx = by_seq[seqs[s]][cur[s]++];
                per_seq[s].push_back(idx);
                used[idx] = true;
            }
            if ((per_seq[0].size() + 1) * n_seqs > (size_t) n_ubatch) break;
        }
        out.emplace_back();
        for (auto & v : per_seq) out.back().insert(out.back().end(), v.begin(), v.end());
    }
}

}  // namespace emovec
