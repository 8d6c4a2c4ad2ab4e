// emovec_hooks: what emovec attaches to llama.cpp's graph evaluation (cb_eval), shared by the C++ sources.
#pragma once

#include "emovec.h"
#include "topk.h"

#include <vector>

struct emovec_hooks {
    int32_t k = 0;                       // candidates kept per logits row (0: the reduction is off)
    int32_t rows = 0;                    // logits rows reduced since the last emovec_hooks_reset
    std::vector<int32_t> counts;         // per row: candidates held, or -1 when the row could not be reduced
    std::vector<emovec::Candidate> cand; // rows x k, each row best first
    void * gpu = nullptr;                // device scratch (CUDA builds)
};

#ifdef EMOVEC_CUDA
// Reduces n_rows device-resident rows of n_vocab logits to each row's candidates with key >= the k-th largest
// (at most cap of them). Writes counts[n_rows] (> cap: too many ties to hold) and ids/vals[n_rows * cap].
// Returns 0, or a CUDA error code.
int emovec_cuda_topk(void ** scratch, const float * d_logits, int64_t n_vocab, int64_t n_rows, int32_t k, int32_t cap,
                     int32_t * counts, int32_t * ids, float * vals);
void emovec_cuda_free(void * scratch);
#endif
