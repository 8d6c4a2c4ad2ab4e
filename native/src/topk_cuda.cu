// Per-row top-k candidates of logits on the GPU, exact and cheap for small k (k <= threads per block):
//  1. each thread takes the maximum of its strided share of the row;
//  2. the k-th largest of those maxima, t, is a lower bound of the row's k-th largest value (the k largest
//     maxima are k distinct elements >= t);
//  3. every element >= t is gathered -- a superset of the top k, usually barely larger than k.
// The host sorts the few candidates by (logit desc, id asc) and keeps k. Two reads of the row, no histograms.
#include "hooks.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace {

constexpr int kThreads = 512;

__global__ void topk_kernel(const float * logits, int64_t n_vocab, int32_t k, int32_t cap,
                            int32_t * counts, int32_t * ids, float * vals) {
    const int64_t row = blockIdx.x;
    const float * x = logits + row * n_vocab;
    __shared__ float local_max[kThreads];
    __shared__ float threshold;
    __shared__ int32_t n_out;

    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n_vocab; i += kThreads) m = fmaxf(m, x[i]);
    local_max[threadIdx.x] = m;
    if (threadIdx.x == 0) n_out = 0;
    __syncthreads();

    // Rank of this thread's maximum among all (ties by thread index); rank k-1 is the k-th largest.
    int32_t rank = 0;
    for (int j = 0; j < kThreads; ++j) {
        const float o = local_max[j];
        rank += (o > m) || (o == m && j < (int) threadIdx.x);
    }
    if (rank == k - 1) threshold = m;
    __syncthreads();

    const float t = threshold;
    for (int64_t i = threadIdx.x; i < n_vocab; i += kThreads) {
        const float v = x[i];
        if (v >= t) {
            const int32_t slot = atomicAdd(&n_out, 1);
            if (slot < cap) {
                ids[row * cap + slot] = (int32_t) i;
                vals[row * cap + slot] = v;
            }
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) counts[row] = n_out; // > cap: too many candidates to hold; the host reads the row
}

struct Scratch {
    cudaStream_t stream = nullptr;
    void * buf = nullptr;   // device: counts, ids, vals
    void * host = nullptr;  // pinned copy of buf: a pageable copy would be staged by the driver, slower
    size_t size = 0;
};

}  // namespace

// On failure: say once which call failed, and clear CUDA's sticky last error so that llama.cpp's next
// cudaGetLastError() does not blame its own kernel; the caller then samples from the full logits.
#define EMOVEC_CUDA_TRY(call)                                                                              \
    do {                                                                                                   \
        cudaError_t e_ = (call);                                                                           \
        if (e_ == cudaSuccess) e_ = cudaGetLastError();                                                    \
        if (e_ != cudaSuccess) {                                                                           \
            static bool said = false;                                                                      \
            if (!said) fprintf(stderr, "emovec: CUDA top-k disabled for this step: %s: %s\n", #call, cudaGetErrorString(e_)); \
            said = true;                                                                                   \
            cudaGetLastError();                                                                            \
            return (int) e_;                                                                               \
        }                                                                                                  \
    } while (0)

int emovec_cuda_topk(void ** scratch, const float * d_logits, int64_t n_vocab, int64_t n_rows, int32_t k, int32_t cap,
                     const int32_t ** counts, const int32_t ** ids, const float ** vals) {
    if (n_rows <= 0) return 0;
    auto * s = static_cast<Scratch *>(*scratch);
    if (s == nullptr) {
        s = new Scratch();
        *scratch = s;
        EMOVEC_CUDA_TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    }
    const size_t need = (size_t) n_rows * (sizeof(int32_t) + (size_t) cap * (sizeof(int32_t) + sizeof(float)));
    if (s->size < need) {
        if (s->buf != nullptr) cudaFree(s->buf);
        if (s->host != nullptr) cudaFreeHost(s->host);
        s->buf = s->host = nullptr;
        s->size = 0;
        EMOVEC_CUDA_TRY(cudaMalloc(&s->buf, need));
        EMOVEC_CUDA_TRY(cudaMallocHost(&s->host, need));
        s->size = need;
    }
    auto * d_counts = static_cast<int32_t *>(s->buf);
    auto * d_ids = d_counts + n_rows;
    auto * d_vals = reinterpret_cast<float *>(d_ids + n_rows * cap);
    if (k < 1 || k > kThreads || n_vocab < kThreads) return 1; // outside what the kernel handles: full rows
    topk_kernel<<<(unsigned) n_rows, kThreads, 0, s->stream>>>(d_logits, n_vocab, k, cap, d_counts, d_ids, d_vals);
    EMOVEC_CUDA_TRY(cudaPeekAtLastError());
    EMOVEC_CUDA_TRY(cudaMemcpyAsync(s->host, s->buf, need, cudaMemcpyDeviceToHost, s->stream)); // the three arrays at once
    EMOVEC_CUDA_TRY(cudaStreamSynchronize(s->stream));
    *counts = static_cast<const int32_t *>(s->host);
    *ids = *counts + n_rows;
    *vals = reinterpret_cast<const float *>(*ids + n_rows * cap);
    return 0;
}

void emovec_cuda_free(void * scratch) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr) return;
    if (s->buf != nullptr) cudaFree(s->buf);
    if (s->host != nullptr) cudaFreeHost(s->host);
    if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    delete s;
}
